"""Rendered frames of the data engine shared by the object-stage tests (rendered once per test
process): one frame per interaction type, the object visible, with the ground-truth body."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: interaction types the object-stage tests cover
KINDS = ("hold_one_hand", "carry_box", "sit", "kick_ball", "push_table", "nearby")


@lru_cache(maxsize=1)
def rendered_frames(seed: int = 7100, width: int = 424, height: int = 320):
    """{interaction: (frame, ground-truth HumanEstimate)} at 1.5-3 m, front views."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.camera import CameraSampler
    from scorehoi_node.core.synth.frames import (OBJECT_ID, SynthContext,
                                                 ground_truth_interaction, render_frame)
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.render import Renderer

    body = make_body_model("anny")
    library = load_library()
    gen, ctx = SceneGenerator(body, library), SynthContext.from_body(body, library)
    sampler = CameraSampler(width=width, height=height, distance_m=(1.5, 3.0),
                            back_view_prob=0.0, azimuth_deg=(-50.0, 50.0))
    renderer = Renderer(width, height)
    out = {}
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        for _ in range(8):  # redraw until the object is visible enough
            frame = render_frame(gen.sample(rng, kind), rng, renderer, sampler, context=ctx)
            if (frame.mask == OBJECT_ID).sum() >= 150:
                break
        out[kind] = (frame, ground_truth_interaction(frame, ctx).human)
    renderer.close()
    return out
