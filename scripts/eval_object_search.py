"""Object stage before vs after, per interaction type, on rendered RGB-D frames.

    python scripts/eval_object_search.py --seed 4242 --sequences 6 --seq-len 2 --out DIR

Frames: the real renderer (`synth.frames.render_frame`), `--sequences` sequences of `--seq-len`
frames per interaction type (one camera, light and environment per sequence), default camera
distribution (640 x 480, 1.5-5 m). Persons and bodies as the pipeline makes them: MediaPipe Pose
(the registry's `mediapipe` detector, frames in order) and the anny fit (`BodyFitter.fit` with the
depth), the largest person first.

Methods (per frame, the largest detected person):
- before (depth): the former object stage's depth path without warm start: person mask on
  the fitted body surface, `segment_hand_objects`, `estimate_object` (every template x yaw),
  kept when its confidence reaches `PipelineConfig.min_object_confidence`;
- after (depth): `ObjectSearch` (candidates at hands / seat / feet / floor, recogniser, ICP from
  its starts, box for "other");
- before / after (RGB only): the ground-truth object mask as a detector mask with its COCO class
  and no depth: `estimate_object(mask=..., hands=wrists)` vs `ObjectSearch(depth=None)`.

Scores: found = an object is output for the person and its evidence is the true object (at least
half of the candidate's pixels, or IoU >= 0.3, on the object's visible mask; the RGB-only mask
is the true one); template accuracy over found objects; CD_object = Chamfer distance (cm, camera
frame, no alignment) between 3000 surface samples of the placed estimate (template or box) and of
the true object; time = object stage per frame [ms] and the pose initialisation per object [ms].
Rendered frames and fits are cached in OUT/frames.pkl (re-running reuses them).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")


def render(seed: int, sequences: int, seq_len: int):
    """Rendered frames, interaction types in `INTERACTIONS` order."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.camera import CameraSampler
    from scorehoi_node.core.synth.frames import SynthContext, render_frame, sample_view
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.render import Renderer
    from scorehoi_node.core.synth.scene import INTERACTIONS

    body = make_body_model("anny")
    library = load_library()
    gen, ctx = SceneGenerator(body, library), SynthContext.from_body(body, library)
    sampler = CameraSampler()
    renderer = Renderer(sampler.width, sampler.height)
    frames = []
    for i, kind in enumerate(INTERACTIONS):
        for s in range(sequences):
            for attempt in range(10):  # a forced interaction may find no plausible scene
                rng = np.random.default_rng([seed, i, s, attempt])
                try:
                    scenes = gen.sample_sequence(rng, seq_len, kind, stride=8)
                    break
                except RuntimeError:
                    continue
            view = sample_view(scenes[0], rng, ctx, sampler)
            frames += [render_frame(sc, rng, renderer, sampler, context=ctx, view=view)
                       for sc in scenes]
            print(f"rendered {kind} {s + 1}/{sequences}", flush=True)
    renderer.close()
    return frames


def detect_and_fit(frames):
    """[(person, human) of the largest detected person, or None] per frame."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.config import PipelineConfig
    from scorehoi_node.core.estimate.body_fit import get_fitter
    from scorehoi_node.core.estimate.human import HumanFitError
    from scorehoi_node.core.registry import PERSON_DETECTORS

    config = PipelineConfig()
    detector = PERSON_DETECTORS.get(config.detector).from_config(config)
    fitter = get_fitter(make_body_model("anny"))
    out = []
    for f in frames:
        persons = sorted(detector(f.rgb).persons,
                         key=lambda p: -(p.box[2] - p.box[0]) * (p.box[3] - p.box[1]))
        found = None
        for p in persons:
            try:
                found = (p, fitter.fit(p, f.camera, f.depth).human)
                break
            except HumanFitError:
                continue
        out.append(found)
    detector.close()
    return out


def before_depth(frame, person, human, library, min_confidence: float):
    """(estimate, mask, pose ms) of the current pipeline's depth path, or (None, None, 0)."""
    from scorehoi_node.core.detect.rgbd_objects import segment_hand_objects
    from scorehoi_node.core.estimate.objects import estimate_object
    from scorehoi_node.core.geometry import body_surface_mask
    from scorehoi_node.core.keypoints import person_wrists

    wrists_uv, wrist_scores = person_wrists(person)
    mask = body_surface_mask(human.vertices, frame.camera, frame.depth)
    if person.mask is not None:
        mask &= person.mask
    found = segment_hand_objects(frame.depth, frame.camera, mask, wrists_uv, wrist_scores)
    if not found:
        return None, None, 0.0
    t = time.perf_counter()
    est = estimate_object(frame.camera, library, class_name=None, points=found[0].points,
                          mask=found[0].detection.mask)
    ms = (time.perf_counter() - t) * 1e3
    if est is None or est.confidence < min_confidence:
        return None, None, ms
    return est, found[0].detection.mask, ms


def before_rgb(frame, human, library, det):
    from scorehoi_node.core.estimate.objects import estimate_object

    hands = human.joint_positions[[i for i, n in enumerate(human.joint_names) if "wrist" in n]]
    t = time.perf_counter()
    est = estimate_object(frame.camera, library, class_name=det.class_name, mask=det.mask,
                          hands=hands)
    return est, det.mask, (time.perf_counter() - t) * 1e3


def surface(est, template, n: int = 3000) -> np.ndarray:
    from scorehoi_node.core.objects import sample_surface

    pts = sample_surface(template.vertices, template.faces, n, np.random.default_rng(0))
    return pts @ est.rotation.T + est.translation


def score(frame, est, mask, template, library) -> dict:
    """found / template correct / CD_object of one estimate against the frame's ground truth."""
    from scorehoi_node.core import metrics
    from scorehoi_node.core.synth.frames import OBJECT_ID

    gt = frame.mask == OBJECT_ID
    row = {"output": est is not None, "found": False, "template_ok": None, "cd_cm": None}
    if est is None or mask is None:
        return row
    inter = float((mask & gt).sum())
    row["found"] = bool(inter >= 0.5 * mask.sum() or inter >= 0.3 * (mask | gt).sum())
    if row["found"]:
        true = library.by_id(frame.scene.object_id)
        row["template_ok"] = est.template_id == true.id
        gt_pts = surface(type("E", (), {"rotation": frame.object_rotmat.astype(float),
                                        "translation": frame.object_transl.astype(float)}),
                         true)
        row["cd_cm"] = metrics.chamfer_cm(surface(est, template), gt_pts)
    return row


def evaluate(frames, fits, weights: str | None) -> list[dict]:
    from scorehoi_node.core.config import PipelineConfig
    from scorehoi_node.core.estimate.object_recogniser import load_recogniser
    from scorehoi_node.core.estimate.object_search import ObjectSearch
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.frames import OBJECT_ID
    from scorehoi_node.core.types import ObjectDetection

    library = load_library()
    search = ObjectSearch(library, load_recogniser(library, weights))
    min_conf = PipelineConfig().min_object_confidence
    rows = []
    for k, (frame, fit) in enumerate(zip(frames, fits)):
        row = {"frame": k, "interaction": frame.scene.interaction,
               "object": frame.scene.object_id, "person": fit is not None}
        gt = frame.mask == OBJECT_ID
        vs, us = np.nonzero(gt) if gt.any() else (np.zeros(1), np.zeros(1))
        det = ObjectDetection(library.by_id(frame.scene.object_id).coco_class,
                              np.array([us.min(), vs.min(), us.max() + 1.0, vs.max() + 1.0]),
                              1.0, gt if gt.any() else None)
        for method in ("before_depth", "after_depth", "before_rgb", "after_rgb"):
            est = mask = template = None
            ms = pose_ms = 0.0
            if fit is not None and (det.mask is not None or "depth" in method):
                person, human = fit
                t = time.perf_counter()
                if method == "before_depth":
                    est, mask, pose_ms = before_depth(frame, person, human, library, min_conf)
                elif method == "before_rgb":
                    est, mask, pose_ms = before_rgb(frame, human, library, det)
                else:
                    depth = frame.depth if method == "after_depth" else None
                    dets = [] if depth is not None else [det]
                    res = search(frame.camera, [human], [person], depth=depth, detections=dets)
                    mine = [o for o in res.objects if o.person == 0] or res.objects[:1]
                    if mine:
                        est, mask, template = (mine[0].estimate, mine[0].candidate.mask,
                                               mine[0].template)
                        pose_ms = mine[0].timings_ms["pose"]
                ms = (time.perf_counter() - t) * 1e3
                if est is not None and template is None:
                    template = library.by_id(est.template_id)
            row[method] = {**score(frame, est, mask, template, library), "ms": ms,
                           "pose_ms": pose_ms,
                           "template": None if est is None else est.template_id}
        rows.append(row)
        print(k, row["interaction"], {m: (row[m]["found"], row[m]["template"])
                                      for m in ("before_depth", "after_depth", "after_rgb")},
              flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table: per interaction type and overall, found % / template % / CD cm / ms."""
    kinds = sorted({r["interaction"] for r in rows}, key=lambda k: [r["interaction"] for r in
                                                                     rows].index(k))
    methods = ("before_depth", "after_depth", "before_rgb", "after_rgb")
    head = "| interaction | frames | person | " + " | ".join(
        f"{m} found / tmpl / CD cm / ms" for m in methods) + " |"
    lines = [head, "|" + "---|" * (3 + len(methods))]
    for kind in [*kinds, "all"]:
        sel = [r for r in rows if kind in ("all", r["interaction"])]
        cells = []
        for m in methods:
            found = [r[m]["found"] for r in sel]
            ok = [r[m]["template_ok"] for r in sel if r[m]["found"]]
            cd = [r[m]["cd_cm"] for r in sel if r[m]["found"]]
            ms = [r[m]["ms"] for r in sel if r["person"]]
            cells.append(f"{100 * np.mean(found):.0f}% / "
                         f"{(100 * np.mean(ok)) if ok else float('nan'):.0f}% / "
                         f"{np.median(cd) if cd else float('nan'):.1f} / "
                         f"{np.median(ms) if ms else float('nan'):.0f}")
        lines.append(f"| {kind} | {len(sel)} | {sum(r['person'] for r in sel)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--sequences", type=int, default=6)
    parser.add_argument("--seq-len", type=int, default=2)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prepare-only", action="store_true",
                        help="render, detect and fit (cached in OUT/frames.pkl), then stop")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "frames.pkl"
    if cache.exists():
        frames, fits = pickle.loads(cache.read_bytes())
    else:
        frames = render(args.seed, args.sequences, args.seq_len)
        fits = detect_and_fit(frames)
        cache.write_bytes(pickle.dumps((frames, fits)))
    if args.prepare_only:
        return
    rows = evaluate(frames, fits, args.weights)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    md = table(rows)
    (args.out / "table.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
