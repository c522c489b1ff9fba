"""The ROS-free pipeline: detect -> estimate (-> refine). The CLI and the node both call it."""

from __future__ import annotations

import time

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect import Detector, make_detector
from scorehoi_node.core.detect.tracking import DetectionTracker, TrackerConfig
from scorehoi_node.core.estimate.human import HumanFitError, estimate_human
from scorehoi_node.core.types import Frame, FrameResult, Interaction


class Pipeline:
    """Per-frame HOI reconstruction. Holds the models; keeps no per-frame global state.

    Args:
        config: pipeline configuration.
        detector: a ready detector (tests, external detections); built from `config` when None.
    """

    def __init__(self, config: PipelineConfig | None = None, detector: Detector | None = None):
        self.config = config or PipelineConfig()
        self.detector = detector if detector is not None else make_detector(self.config)
        self.tracker = DetectionTracker(TrackerConfig(max_age=self.config.track_max_age,
                                                      min_iou=self.config.track_min_iou))
        self.skipped_persons = 0  # persons detected but not reconstructable (counted, not hidden)

    def step(self, frame: Frame) -> FrameResult:
        """Reconstruct every person (and their object) in one frame."""
        stage_ms: dict[str, float] = {}
        t0 = time.perf_counter()
        detections = self.detector(frame.rgb)
        t1 = time.perf_counter()
        stage_ms["detect"] = (t1 - t0) * 1e3
        track_ids = self.tracker(detections).persons
        order = sorted(range(len(detections.persons)),
                       key=lambda i: -_box_area(detections.persons[i].box))
        interactions = []
        for i in order[: self.config.max_persons]:
            person = detections.persons[i]
            try:
                human = estimate_human(person, frame.camera, frame.depth,
                                       self.config.depth_body_offset_m)
            except HumanFitError:
                self.skipped_persons += 1
                continue
            interactions.append(Interaction(
                track_id=int(track_ids[i]), human=human, obj=None, contacts=[],
                penetration_depth=0.0, refinement=self.config.refine))
        stage_ms["estimate"] = (time.perf_counter() - t1) * 1e3
        return FrameResult(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id,
                           interactions=interactions, detections=detections, stage_ms=stage_ms)

    def close(self) -> None:
        self.detector.close()


def _box_area(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))
