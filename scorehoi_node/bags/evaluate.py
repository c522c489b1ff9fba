"""Offline evaluation: replay a bag through the pipeline in-process and score it against the
ground truth it carries (`scorehoi eval BAG --out DIR`).

Every input image is accounted for: `frames_in` images, `frames_out` results, and each frame
that produced no result is counted under `dropped` with its reason. Scoring and the summary are
in `bags/scoring.py`, the files written in `bags/report.py`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scorehoi_node.bags.io import read_messages
from scorehoi_node.bags.report import Examples, write_outputs
from scorehoi_node.bags.scoring import FrameScore, score_frame, summarise
from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.types import Frame
from scorehoi_node.ros import conversions as conv


@dataclass(frozen=True)
class Topics:
    """Topic names of a bag (options of `scorehoi eval`)."""

    image: str = "/camera/image_raw"
    camera_info: str = "/camera/camera_info"
    depth: str = "/camera/depth"
    ground_truth: str = "/scorehoi/ground_truth"


@dataclass
class BagFrame:
    """The messages of one image stamp."""

    stamp_ns: int
    image: object = None
    camera_info: object = None
    depth: object = None
    ground_truth: object = None


def bag_frames(bag: str | Path, topics: Topics = Topics()) -> Iterator[BagFrame]:
    """Group a bag's messages by header stamp; yields one `BagFrame` per image, in bag order.

    The camera_info in force is the latest one received up to the image (cameras publish it
    with every image; a bag that has it only once still works). Depth and ground truth are
    matched by exact stamp."""
    by_stamp: dict[int, BagFrame] = {}
    order: list[int] = []
    latest_info = None
    names = {topics.image: "image", topics.camera_info: "camera_info", topics.depth: "depth",
             topics.ground_truth: "ground_truth"}
    for topic, _, _, msg in read_messages(bag, topics=list(names)):
        stamp = conv.stamp_to_ns(msg.header.stamp)
        key = names[topic]
        if key == "camera_info":
            latest_info = msg
        entry = by_stamp.get(stamp)
        if entry is None:
            entry = by_stamp[stamp] = BagFrame(stamp)
        setattr(entry, key, msg)
        if key == "image":
            if entry.camera_info is None:
                entry.camera_info = latest_info
            order.append(stamp)
    for stamp in order:
        yield by_stamp[stamp]


def frame_from_bag(bf: BagFrame) -> Frame:
    """BagFrame -> Frame; ConversionError / ValueError (with `.reason` where known) on bad
    input."""
    return Frame(rgb=conv.image_to_rgb(bf.image),
                 camera=conv.camera_info_to_intrinsics(bf.camera_info),
                 stamp_ns=bf.stamp_ns, frame_id=bf.image.header.frame_id,
                 depth=conv.depth_to_metres(bf.depth) if bf.depth is not None else None)


def evaluate_bag(bag: str | Path, out: str | Path, pipeline: Pipeline, body: BodyModel,
                 library: ObjectLibrary, topics: Topics = Topics(), progress=None,
                 on_result=None, n_frames: int | None = None, report: bool = True,
                 report_frames: tuple[int, ...] = ()) -> dict:
    """Run `pipeline` on every image of `bag` (in-process), write `out/metrics.json`,
    `out/frames.csv` and the report (`out/report.md` + plots).

    `progress()` is called after each frame, `on_result(index, frame, result)` with each
    result (overlays). Returns the metrics dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dropped: Counter[str] = Counter()
    rows: list[FrameScore] = []
    examples = Examples(stride=(n_frames or 4) // 4, wanted=report_frames)
    frames_in = 0
    t_total = 0.0
    for index, bf in enumerate(bag_frames(bag, topics)):
        frames_in += 1
        if bf.camera_info is None:
            dropped["no_camera_info"] += 1
            continue
        try:
            frame = frame_from_bag(bf)
        except ValueError as e:
            dropped[f"bad_input: {getattr(e, 'reason', type(e).__name__)}"] += 1
            continue
        t0 = time.perf_counter()
        result = pipeline.step(frame)
        t_total += time.perf_counter() - t0
        rows.append(score_frame(index, result, bf.ground_truth, body, library))
        examples.offer(index, frame, result, bf.ground_truth)
        if on_result is not None:
            on_result(index, frame, result)
        if progress is not None:
            progress()
    summary = summarise(rows, frames_in, dropped, t_total, pipeline.config.refine,
                        pipeline.config.detector, bag=str(bag), via_node=False)
    write_outputs(out, summary, rows, examples.items if report else None, body, library)
    return summary
