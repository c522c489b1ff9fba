"""Object sources: the detector objects of a frame, chosen by name (`core/registry.py`
OBJECT_SOURCES; `PipelineConfig.object_source`).

    rgbd         no detector: the object stage finds candidates in the depth alone
    ultralytics  YOLO-seg instance masks; with no weights here it is replaced by rgbd and says
                 so in `notes`
    external     2D boxes / masks from another detector node (`ros/external_detections.py`)
    none         no objects

A source only says what a detector saw (`ObjectDetection`s, COCO class names). The object stage
(`stages/objects.py`) turns them, and the depth clusters at every person's hands, seat, feet and
the floor beside them when the frame has depth, into candidates (`estimate/object_candidates.py`)
and recognises them; detections work without depth too.
"""

from __future__ import annotations

from typing import Protocol

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect.ultralytics_seg import DetectorUnavailable, UltralyticsSegDetector
from scorehoi_node.core.types import Detections, Frame, ObjectDetection, Person


class ObjectSource(Protocol):
    """Detector objects of one frame. Built by `from_config(config, device)`; `notes` holds
    one-line messages for the operator (fallbacks taken when it was built)."""

    name: str
    notes: list[str]

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectDetection]:
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
                 external: Detections | None = None) -> list[ObjectDetection]:
        return []


class RGBDSource(NoSource):
    """No detector: the object stage's depth candidates are the only evidence."""

    name = "rgbd"


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
                 external: Detections | None = None) -> list[ObjectDetection]:
        return list(self.detector(frame.rgb).objects)


class ExternalSource(_Stateless):
    """Object detections of this image from another detector node (matched by stamp by the
    node, passed in as `external`)."""

    name = "external"

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> list[ObjectDetection]:
        return [] if external is None else list(external.objects)
