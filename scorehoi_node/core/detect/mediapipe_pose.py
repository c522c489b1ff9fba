"""Offline person detector: MediaPipe Pose (legacy solution API, models ship in the wheel).

Gives 33 2D landmarks with visibility, 33 metric world landmarks (hip-centred) and a person
mask for the most prominent person. Runs ~30 ms per 640x480 frame on one CPU core.
"""

from __future__ import annotations

import functools

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.types import Detections, PersonDetection


class MediaPipePoseDetector:
    """MediaPipe Pose as a `Detector` (one person per frame, tracked between frames).

    Never silenced by its input: the graph is rebuilt when the image size changes or when it
    raises (counted in `recoveries`, reason in `last_recovery`).

    Args:
        model_complexity: 0 (lite) or 1 (full); both ship inside the mediapipe wheel.
        min_score: minimum detection confidence.
        static_image_mode: treat every image independently (no tracking between frames).
    """

    name = "mediapipe"

    def __init__(self, model_complexity: int = 1, min_score: float = 0.5,
                 static_image_mode: bool = False) -> None:
        try:
            import mediapipe as mp
        except ImportError as e:  # pragma: no cover - environment problem
            raise RuntimeError(f"detector 'mediapipe' needs the mediapipe package: {e}") from e
        self._solution = functools.partial(
            mp.solutions.pose.Pose,
            static_image_mode=static_image_mode,
            model_complexity=model_complexity,
            enable_segmentation=True,
            min_detection_confidence=min_score,
            min_tracking_confidence=min_score,
        )
        self._pose = self._solution()
        self._min_score = min_score
        self._size: tuple[int, int] | None = None  # (H, W) of the frames the graph has seen
        #: times the MediaPipe graph was rebuilt: the input size changed (its tracking and
        #: mask-smoothing calculators fail on a new size, and the graph then fails every later
        #: call with "Graph has errors") or `process` raised (the frame is retried once)
        self.recoveries = 0
        #: why the graph was last rebuilt (one line), "" before the first rebuild
        self.last_recovery = ""

    def _rebuild(self, why: str) -> None:
        """A fresh graph (the old one may be broken: its close() error is not ours to raise)."""
        try:
            self._pose.close()
        except Exception:  # a failed graph raises its error again on close
            pass
        self._pose = self._solution()
        self.recoveries += 1
        self.last_recovery = why

    def _process(self, rgb: np.ndarray):
        """The solution's result for `rgb`, on a fresh graph after a size change or an error."""
        size = rgb.shape[:2]
        if self._size is not None and size != self._size:
            self._rebuild(f"input size changed from {self._size[1]}x{self._size[0]} to "
                          f"{size[1]}x{size[0]}")
        self._size = size
        try:
            return self._pose.process(rgb)
        except Exception as e:  # MediaPipe's RuntimeError/ValueError: once more, then raise
            self._rebuild(f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")
            return self._pose.process(rgb)

    @classmethod
    def from_config(cls, config: PipelineConfig) -> "MediaPipePoseDetector":
        """The detector of a pipeline: `mediapipe_model_complexity`, `min_person_score`."""
        return cls(model_complexity=config.mediapipe_model_complexity,
                   min_score=config.min_person_score)

    def __call__(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        res = self._process(np.ascontiguousarray(rgb))
        persons: list[PersonDetection] = []
        if res.pose_landmarks is not None:
            lm = res.pose_landmarks.landmark
            uv = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float64)
            vis = np.array([p.visibility for p in lm], dtype=np.float64)
            world = None
            if res.pose_world_landmarks is not None:
                world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark],
                                 dtype=np.float64)
            mask = None
            if res.segmentation_mask is not None:
                mask = np.asarray(res.segmentation_mask) > 0.5
            seen = vis > 0.5
            pts = uv[seen] if seen.any() else uv
            box = np.array([*pts.min(0), *pts.max(0)], dtype=np.float64)
            box[[0, 2]] = box[[0, 2]].clip(0, w)
            box[[1, 3]] = box[[1, 3]].clip(0, h)
            score = float(np.mean(vis[[11, 12, 23, 24]]))  # torso visibility
            if score >= self._min_score:
                persons.append(PersonDetection(
                    keypoints_2d=uv, keypoint_scores=vis, keypoints_3d=world,
                    keypoint_layout="mediapipe33", box=box, score=score, mask=mask))
        return Detections(persons=persons, objects=[], detector=self.name)

    def close(self) -> None:
        self._pose.close()
