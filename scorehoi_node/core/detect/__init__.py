"""Detection backends behind one `Detector` protocol, chosen by name.

Heavy imports (mediapipe, ultralytics) stay inside the backend modules.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.types import Detections


class Detector(Protocol):
    """Finds persons (with keypoints) and objects in one RGB image."""

    name: str

    def __call__(self, rgb: np.ndarray) -> Detections:
        """(H, W, 3) uint8 RGB -> detections of this frame."""
        ...

    def close(self) -> None:
        """Release the backend's resources (models, GPU memory)."""
        ...


def make_detector(config: PipelineConfig) -> Detector:
    """Build the backend named by `config.detector`."""
    if config.detector == "mediapipe":
        from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector

        return MediaPipePoseDetector(
            model_complexity=config.mediapipe_model_complexity,
            min_score=config.min_person_score)
    raise ValueError(f"unknown detector {config.detector!r}")
