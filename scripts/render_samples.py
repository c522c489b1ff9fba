"""Render synthetic frames, measure render time and MediaPipe detection rate, save a sample grid.

    python scripts/render_samples.py --frames 48 --seed 0 --out /tmp/synth_samples.png
    python scripts/render_samples.py --frames 48 --seed 0 --out docs/synth_samples.png --force

`--out` is required, and an existing file is only replaced with `--force` (the README's picture,
docs/synth_samples.png, is a tracked file).

Each frame is a new scene and camera (sequences of length 1). A person counts as detected when
MediaPipe Pose (static image mode) returns a person whose box overlaps the box of the ground-
truth person mask with IoU >= 0.5. Prints a JSON summary (`--json PATH` also writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return float(inter / max(area(a) + area(b) - inter, 1e-9))


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    v, u = np.nonzero(mask)
    return None if len(u) == 0 else np.array([u.min(), v.min(), u.max() + 1, v.max() + 1], float)


def tile(frame, size=(320, 240)) -> np.ndarray:
    """Image with a mask inset (top-right) and a depth inset (bottom-right)."""
    import cv2

    from scorehoi_node.core.synth.frames import OBJECT_ID, PERSON_ID

    img = cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA)
    w, h = size[0] // 4, size[1] // 4
    mask = np.zeros((*frame.mask.shape, 3), np.uint8)
    mask[frame.mask == PERSON_ID] = (60, 160, 255)
    mask[frame.mask == OBJECT_ID] = (255, 140, 30)
    d = frame.depth.copy()
    finite = np.isfinite(d)
    lo, hi = (np.percentile(d[finite], [2, 98]) if finite.any() else (0, 1))
    d = np.where(finite, 255 * (1 - np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)), 0).astype(np.uint8)
    depth = cv2.applyColorMap(d, cv2.COLORMAP_VIRIDIS)[:, :, ::-1]
    img[:h, -w:] = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    img[-h:, -w:] = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="the sample grid (PNG) to write")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    for path in (args.out, args.json):
        if path is not None and path.exists() and not args.force:
            parser.error(f"{path} exists; pass --force to replace it")

    import cv2

    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.frames import PERSON_ID, SynthContext, synth_frames
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.render import Renderer

    body = make_body_model("anny")
    library = load_library()
    context = SynthContext.from_body(body, library)
    generator = SceneGenerator(body, library)
    renderer = Renderer(640, 480)
    gen_s = []

    def sequences(rng, n):
        t = time.perf_counter()
        out = generator.sample_sequence(rng, n)
        gen_s.append(time.perf_counter() - t)
        return out

    detector = MediaPipePoseDetector(static_image_mode=True)
    tiles, rows = [], []
    t_all = time.perf_counter()
    t_prev = t_all
    frame_s = []
    for frame in synth_frames(args.frames, args.seed, sequences=sequences, context=context,
                              renderer=renderer, seq_len=1):
        now = time.perf_counter()
        frame_s.append(now - t_prev)
        gt = mask_box(frame.mask == PERSON_ID)
        det = detector(frame.rgb)
        ious = [box_iou(p.box, gt) for p in det.persons] if gt is not None else []
        rows.append({"interaction": frame.scene.interaction, "object": frame.scene.object_id,
                     "person_px": int((frame.mask == PERSON_ID).sum()),
                     "person_h_px": int(gt[3] - gt[1]) if gt is not None else 0,
                     "iou": round(max(ious), 3) if ious else 0.0})
        if len(tiles) < 12:
            tiles.append(tile(frame))
        t_prev = time.perf_counter()
    renderer.close()
    detector.close()
    render_ms = 1000 * (np.array(frame_s) - np.array(gen_s))
    detected = [r["iou"] >= 0.5 for r in rows]
    by_kind: dict[str, list[bool]] = {}
    for r, d in zip(rows, detected):
        by_kind.setdefault(r["interaction"], []).append(d)
    summary = {
        "frames": len(rows), "seed": args.seed,
        "scene_generation_ms_median": round(1000 * float(np.median(gen_s)), 1),
        "render_and_gt_ms_median": round(float(np.median(render_ms)), 1),
        "mediapipe_detected": int(sum(detected)),
        "mediapipe_detection_rate": round(float(np.mean(detected)), 3),
        "detection_by_interaction": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())},
        "detection_by_person_height_px": {
            f"{lo}-{hi}": f"{sum(d for r, d in zip(rows, detected) if lo <= r['person_h_px'] < hi)}/"
                          f"{sum(lo <= r['person_h_px'] < hi for r in rows)}"
            for lo, hi in ((0, 150), (150, 250), (250, 10000))},
        "median_iou": round(float(np.median([r["iou"] for r in rows])), 3),
        "missed": [r for r, d in zip(rows, detected) if not d],
    }
    while len(tiles) < 12:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[r * 4:(r + 1) * 4], 1) for r in range(3)], 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), grid[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
