"""Track stage: stable ids for the persons of a stream, the largest `max_persons` kept."""

from __future__ import annotations

import dataclasses

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect.tracking import BoxTracker, TrackerConfig
from scorehoi_node.core.types import Detections, TrackedPerson


def _area(box) -> float:
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


class TrackingStage:
    """IoU + centre-distance tracker over person boxes (`detect/tracking.py`); every detected
    person is tracked, then the `max_persons` largest boxes go on, largest first."""

    def __init__(self, config: PipelineConfig) -> None:
        self.tracker = BoxTracker(TrackerConfig(max_age=config.track_max_age,
                                                min_iou=config.track_min_iou))
        self.max_persons = config.max_persons

    def __call__(self, detections: Detections) -> list[TrackedPerson]:
        persons = detections.persons
        ids = self.tracker.update(np.array([p.box for p in persons]).reshape(-1, 4))
        order = sorted(range(len(persons)), key=lambda i: -_area(persons[i].box))
        return [TrackedPerson(int(ids[i]), persons[i]) for i in order[: self.max_persons]]

    def update(self, config: PipelineConfig) -> None:
        self.max_persons = config.max_persons
        self.tracker.config = dataclasses.replace(self.tracker.config, max_age=config.track_max_age,
                                                  min_iou=config.track_min_iou)
