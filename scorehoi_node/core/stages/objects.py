"""Object stage: candidates from the object source -> the owner of each -> template and 6-DoF
pose (warm-started between keyframes) -> `FoundObject`s.

Per person (largest first): a detector source's candidate nearest the person's wrists, else the
best depth cluster in the person's hands (rgbd). Depth clusters are identified by ICP against
the templates (`estimate/objects.py`): between keyframes a tracked person's object starts from
last frame's fit with its template only; every `keyframe_interval` frames of a track, and
whenever the warm fit scores below `min_object_confidence`, every template and yaw is searched.
A depth cluster that no template explains (confidence below `min_object_confidence`) is no
object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.estimate.objects import estimate_object
from scorehoi_node.core.keypoints import person_wrists
from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.registry import OBJECT_SOURCES
from scorehoi_node.core.stages.object_sources import ObjectSource, RGBDSource
from scorehoi_node.core.types import (Detections, FoundObject, Frame, ObjectCandidate,
                                      ObjectEstimate, Person)


def make_object_source(config: PipelineConfig, device: str = "cpu") -> ObjectSource:
    """The source named by `config.object_source` (ValueError listing the choices otherwise)."""
    return OBJECT_SOURCES.get(config.object_source).from_config(config, device=device)


@dataclass(frozen=True)
class FrameObjects:
    """Output of the object stage for one frame.

    Attributes:
        candidates: every candidate the source gave (the evidence, before identification).
        found: the identified objects, at most one per person (`FoundObject.person` set).
    """

    candidates: list[ObjectCandidate]
    found: list[FoundObject]


@dataclass(frozen=True)
class WarmObject:
    """Last frame's measured object of one track (camera frame).

    Attributes:
        template_id: its template.
        rotation: (3, 3) template frame -> camera frame.
        translation: (3,) template origin [m].
        age: frames since the last full template search.
    """

    template_id: str
    rotation: np.ndarray
    translation: np.ndarray
    age: int


class WarmStarts:
    """Track id -> last frame's measured object (before refinement: the fit to that frame's
    depth), the next frame's starting point."""

    def __init__(self) -> None:
        self._by_track: dict[int, WarmObject] = {}

    def get(self, track: int, keyframe_interval: int) -> WarmObject | None:
        """Last frame's object of `track`, or None when there is none or a keyframe is due."""
        prev = self._by_track.get(track)
        if prev is None or prev.age + 1 >= keyframe_interval:
            return None
        return prev

    def remember(self, track: int, found: FoundObject | None) -> None:
        if found is None:
            self._by_track.pop(track, None)
            return
        prev = self._by_track.get(track)
        age = 0 if found.keyframe else (prev.age + 1 if prev is not None else 0)
        o = found.estimate
        self._by_track[track] = WarmObject(o.template_id, o.rotation, o.translation, age)

    def keep(self, tracks: set[int]) -> None:
        """Forget tracks that are not in `tracks`."""
        self._by_track = {k: v for k, v in self._by_track.items() if k in tracks}


def wrist_distance(candidate: ObjectCandidate, wrists_uv: np.ndarray) -> float:
    """Pixel distance from a candidate's mask centroid (or box centre) to the nearest wrist."""
    if candidate.mask is not None and candidate.mask.any():
        ys, xs = np.nonzero(candidate.mask)
        centre = np.array([xs.mean(), ys.mean()])
    else:
        centre = 0.5 * (candidate.box[:2] + candidate.box[2:])
    return float(np.linalg.norm(wrists_uv - centre, axis=1).min())


class ObjectStage:
    """At most one object per person (see the module docstring).

    Args:
        config: pipeline configuration (object source, keyframe interval, confidence gate).
        library: the object templates.
        source: the object source (built from `config` when None).
        device: torch device of detector sources.
    """

    def __init__(self, config: PipelineConfig, library: ObjectLibrary,
                 source: ObjectSource | None = None, device: str = "cpu") -> None:
        self.library = library
        self.source = source if source is not None else make_object_source(config, device)
        self.depth_source = self.source if isinstance(self.source, RGBDSource) else RGBDSource()
        self.notes = list(self.source.notes)
        self.keyframe_interval = config.keyframe_interval
        self.min_confidence = config.min_object_confidence
        self.warm = WarmStarts()
        self.stats = {"warm": 0, "keyframe": 0, "warm_rejected": 0}

    def update(self, config: PipelineConfig) -> None:
        self.keyframe_interval = config.keyframe_interval
        self.min_confidence = config.min_object_confidence

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> FrameObjects:
        candidates = self.source(frame, persons, external)
        if not candidates and self.source is not self.depth_source:
            candidates = self.depth_source(frame, persons)  # a detector saw nothing: use depth
        found = []
        for i, person in enumerate(persons):
            obj = self._for_person(frame, i, person, candidates)
            self.warm.remember(person.track_id, obj)
            if obj is not None:
                found.append(obj)
        return FrameObjects(candidates, found)

    def keep_tracks(self, tracks: set[int]) -> None:
        """End of a frame: forget the warm starts of tracks not in `tracks` (the frame's live
        tracks, including persons whose body could not be fitted this frame)."""
        self.warm.keep(tracks)

    def _for_person(self, frame: Frame, index: int, person: Person,
                    candidates: list[ObjectCandidate]) -> FoundObject | None:
        detected = [c for c in candidates if c.person is None]
        wrists_uv, _ = person_wrists(person.detection)
        if detected and len(wrists_uv):
            best = min(detected, key=lambda c: wrist_distance(c, wrists_uv))
            hands = person.human.joint_positions[[k for k, n in
                                                  enumerate(person.human.joint_names)
                                                  if "wrist" in n]]
            est = estimate_object(frame.camera, self.library, class_name=best.class_name,
                                  points=best.points, mask=best.mask, hands=hands)
            return None if est is None else FoundObject(est, best.mask, best.points, index)
        own = [c for c in candidates if c.person == index]
        if not own:
            return None
        return self._identify(frame, index, person.track_id, max(own, key=lambda c: c.score))

    def _identify(self, frame: Frame, index: int, track: int,
                  candidate: ObjectCandidate) -> FoundObject | None:
        """Template and pose of a class-free depth cluster: warm start, else full search."""
        warm = self.warm.get(track, self.keyframe_interval)
        est: ObjectEstimate | None = None
        if warm is not None:
            est = estimate_object(frame.camera, self.library, class_name=None,
                                  points=candidate.points, mask=candidate.mask,
                                  warm=(warm.template_id, warm.rotation, warm.translation,
                                        self.min_confidence))
            self.stats["warm" if est is not None else "warm_rejected"] += 1
        keyframe = est is None
        if keyframe:  # no usable warm start: search every template and yaw
            self.stats["keyframe"] += 1
            est = estimate_object(frame.camera, self.library, class_name=None,
                                  points=candidate.points, mask=candidate.mask)
        if est is None or est.confidence < self.min_confidence:
            return None  # a depth cluster that no template explains is not an object
        return FoundObject(est, candidate.mask, candidate.points, index, keyframe)

    def close(self) -> None:
        close = getattr(getattr(self.source, "detector", None), "close", None)
        if close is not None:
            close()
