"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.camera import CameraSampler
from scorehoi_node.core.synth.frames import SynthContext, synth_frames
from scorehoi_node.core.synth.generator import SceneGenerator
from scorehoi_node.core.synth.render import Renderer


@pytest.fixture(scope="session")
def rendered():
    """One rendered 640x480 RGB-D frame of a person holding a ball or box with both hands
    (seed 11) and the object library: (SynthFrame, ObjectLibrary)."""
    body, library = make_body_model("anny"), load_library()
    sampler = CameraSampler(width=640, height=480)
    renderer = Renderer(sampler.width, sampler.height)
    gen = SceneGenerator(body, library)
    try:
        frames = list(synth_frames(1, 11, sequences=lambda rng, n: gen.sample_sequence(
            rng, n, interaction="hold_two_hands"), context=SynthContext.from_body(body, library),
            renderer=renderer, sampler=sampler, seq_len=1))
    finally:
        renderer.close()
    return frames[0], library
