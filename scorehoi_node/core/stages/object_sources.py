"""Object sources: where a frame's object candidates come from, chosen by name
(`core/registry.py` OBJECT_SOURCES; `PipelineConfig.object_source`).

    rgbd         depth clusters touching a person's hands (`detect/rgbd_objects.py`); needs depth
    ultralytics  YOLO-seg instance masks (+ depth points when present); with no weights here it
                 is replaced by rgbd and says so in `notes`
    external     2D boxes from another detector node (`ros/external_detections.py`)
    none         no objects

Detector sources (ultralytics, external) give candidates that belong to nobody yet
(`ObjectCandidate.person` None); the object stage assigns them. On frames where a detector
source has nothing, the object stage falls back to rgbd candidates when the frame has depth.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect.rgbd_objects import segment_hand_objects
from scorehoi_node.core.detect.ultralytics_seg import DetectorUnavailable, UltralyticsSegDetector
from scorehoi_node.core.geometry import backproject_image, body_surface_mask, box_mask
from scorehoi_node.core.keypoints import person_wrists
from scorehoi_node.core.types import Detections, Frame, ObjectCandidate, ObjectDetection, Person


class ObjectSource(Protocol):
    """Object candidates of one frame. Built by `from_config(config, device)`; `notes` holds
    one-line messages for the operator (fallbacks taken when it was built)."""

    name: str
    notes: list[str]

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectCandidate]:
        ...


class _Stateless:
    """A source without settings or models: built the same for every configuration."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @classmethod
    def from_config(cls, config: PipelineConfig, device: str = "cpu"):
        return cls()


class NoSource(_Stateless):
    """No objects (`object_source: none`)."""

    name = "none"

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectCandidate]:
        return []


class RGBDSource(_Stateless):
    """The depth clusters in each person's hands: person pixels (the detector's mask cut to the
    fitted body's surface, since segmenters paint a held object as part of the person) and
    support planes are removed, and clusters within reach of a wrist are kept, best first."""

    name = "rgbd"

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectCandidate]:
        if frame.depth is None:
            return []
        out = []
        for i, person in enumerate(persons):
            mask = person.detection.mask
            if person.human.vertices is not None:
                on_body = body_surface_mask(person.human.vertices, frame.camera, frame.depth)
                mask = on_body if mask is None else (mask & on_body)
            wrists_uv, wrist_scores = person_wrists(person.detection)
            for found in segment_hand_objects(frame.depth, frame.camera, mask, wrists_uv,
                                              wrist_scores):
                det = found.detection
                out.append(ObjectCandidate(source=self.name, class_name=None, box=det.box,
                                           score=det.score, mask=det.mask, points=found.points,
                                           person=i))
        return out


def _candidate(source: str, det: ObjectDetection, frame: Frame) -> ObjectCandidate:
    """A detector's object: its mask (a box-only detection's silhouette is its box) and, for a
    real mask on a frame with depth, the back-projected mask pixels."""
    points = None
    mask = det.mask
    if mask is None:
        mask = box_mask(det.box, frame.rgb.shape[:2])
    elif frame.depth is not None:
        points = backproject_image(frame.depth, frame.camera)[mask]
    return ObjectCandidate(source=source, class_name=det.class_name, box=np.asarray(det.box),
                           score=det.score, mask=mask, points=points)


class UltralyticsSource:
    """YOLO-seg instance masks (`ultralytics_weights`: a local file, or a name that downloads
    on first use where online)."""

    name = "ultralytics"

    def __init__(self, detector: UltralyticsSegDetector) -> None:
        self.detector = detector
        self.notes: list[str] = []

    @classmethod
    def from_config(cls, config: PipelineConfig, device: str = "cpu"):
        """The source, or `RGBDSource` with a note when the weights cannot be loaded here."""
        try:
            return cls(UltralyticsSegDetector(config.ultralytics_weights, device=device))
        except DetectorUnavailable as e:
            fallback = RGBDSource()
            fallback.notes.append(f"object_source=ultralytics unavailable ({e}); using rgbd")
            return fallback

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectCandidate]:
        return [_candidate(self.name, det, frame) for det in self.detector(frame.rgb).objects]


class ExternalSource(_Stateless):
    """Object detections of this image from another detector node (matched by stamp by the
    node, passed in as `external`)."""

    name = "external"

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectCandidate]:
        if external is None:
            return []
        return [_candidate(self.name, det, frame) for det in external.objects]
