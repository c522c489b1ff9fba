"""Detect stage: the person detector chosen by name (`core/registry.py` PERSON_DETECTORS)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.registry import PERSON_DETECTORS
from scorehoi_node.core.types import Detections, Frame


class PersonDetector(Protocol):
    """Finds persons (with keypoints) in one RGB image. Built by `from_config(config)`."""

    name: str
    #: times the backend rebuilt itself (input size change, an error) and why, last time; the
    #: node counts them on /diagnostics as `detector_recovered`
    recoveries: int
    last_recovery: str

    def __call__(self, rgb: np.ndarray) -> Detections:
        """(H, W, 3) uint8 RGB -> the persons (and any objects the backend sees) of this frame."""
        ...

    def close(self) -> None:
        """Release the backend's resources (models, GPU memory)."""
        ...


def make_person_detector(config: PipelineConfig) -> PersonDetector:
    """The backend named by `config.detector` (ValueError listing the choices otherwise)."""
    return PERSON_DETECTORS.get(config.detector).from_config(config)


class PersonStage:
    """Runs the person detector and drops persons below `min_person_score` (changeable at run
    time; the backend's own graph thresholds are set when it is built)."""

    def __init__(self, config: PipelineConfig, detector: PersonDetector | None = None) -> None:
        self.detector = detector if detector is not None else make_person_detector(config)
        self.min_score = config.min_person_score

    def __call__(self, frame: Frame) -> Detections:
        found = self.detector(frame.rgb)
        persons = [p for p in found.persons if p.score >= self.min_score]
        return Detections(persons=persons, objects=list(found.objects), detector=found.detector)

    def update(self, config: PipelineConfig) -> None:
        self.min_score = config.min_person_score

    def close(self) -> None:
        self.detector.close()
