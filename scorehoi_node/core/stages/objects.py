"""Object stage: the detector objects of the object source and the depth of the frame ->
candidates at every person's hands, seat (pelvis / thighs), feet and on the floor beside them ->
the recogniser's template (or "none of the templates": an oriented box with the detector's
class and the measured extent) and initial pose -> `FoundObject`s, at most one per person
(`estimate/object_search.py`).

The recogniser's weights ship in the package (`PipelineConfig.object_recogniser` overrides
them). When they are missing or corrupt the stage says so in one line (`notes`, and the log) and
runs the rule path instead: every template x yaw by ICP on the best candidate of each person.

Which object goes to which person is the assignment stage's decision (`stages/assignment.py`),
taken over the search's choices: the person touching it in 3D, else the nearest in the image
within a gate relative to the person's size; at most one object per person and one person per
object; an object near nobody is dropped and counted.

`FoundObject.keyframe` marks a track's first object and then every `keyframe_interval` frames
of it (the frames keyframe refinement refines again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.estimate.object_recogniser import (ObjectRecogniser,
                                                           RecogniserWeightsError,
                                                           load_recogniser)
from scorehoi_node.core.estimate.object_search import ObjectSearch, ObjectSearchConfig
from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.registry import OBJECT_SOURCES
from scorehoi_node.core.stages.assignment import Assignment, AssignmentStage
from scorehoi_node.core.stages.object_sources import ObjectSource
from scorehoi_node.core.types import (Detections, FoundObject, Frame, ObjectCandidate, Person)

_log = logging.getLogger(__name__)


def make_object_source(config: PipelineConfig, device: str = "cpu") -> ObjectSource:
    """The source named by `config.object_source` (ValueError listing the choices otherwise)."""
    return OBJECT_SOURCES.get(config.object_source).from_config(config, device=device)


@dataclass(frozen=True)
class FrameObjects:
    """Output of the object stage for one frame.

    Attributes:
        candidates: every candidate of the frame (at the people, and detections near no one;
            the evidence before recognition).
        found: the identified objects, at most one per person (`FoundObject.person` set).
        assignment: the owner of each of the search's choices (its `ObjectHypothesis`es, in
            their order: at most one per person plus detections near no one; None: near
            nobody or a nearer person's).
    """

    candidates: list[ObjectCandidate]
    found: list[FoundObject]
    assignment: Assignment


@dataclass(frozen=True)
class WarmObject:
    """Last frame's measured object of one track (camera frame).

    Attributes:
        template_id: its template.
        rotation: (3, 3) template frame -> camera frame.
        translation: (3,) template origin [m].
        age: frames since the track's last keyframe.
    """

    template_id: str
    rotation: np.ndarray
    translation: np.ndarray
    age: int


class WarmStarts:
    """Track id -> last frame's measured object (before refinement) and the frames since its
    last keyframe."""

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


def load_or_fallback(library: ObjectLibrary, path: str = "") -> tuple[ObjectRecogniser | None,
                                                                     str | None]:
    """(the recogniser of `path` (empty: the shipped weights), None) or, when they cannot be
    loaded, (None, a one-line note saying the rule path runs instead), logged as a warning."""
    try:
        return load_recogniser(library, path or None), None
    except RecogniserWeightsError as e:
        note = (f"object recogniser unavailable ({e}); using the rule path "
                "(every template x yaw by ICP)")
        _log.warning(note)
        return None, note


class ObjectStage:
    """At most one object per person (see the module docstring).

    Args:
        config: pipeline configuration (object source, recogniser weights, keyframe interval,
            object probability gate).
        library: the object templates.
        source: the object source (built from `config` when None).
        device: torch device of detector sources.
        assignment: who gets which candidate (built from `config.assign` when None).
    """

    def __init__(self, config: PipelineConfig, library: ObjectLibrary,
                 source: ObjectSource | None = None, device: str = "cpu",
                 assignment: AssignmentStage | None = None) -> None:
        self.library = library
        self.assignment = assignment if assignment is not None else AssignmentStage(config.assign)
        self.source = source if source is not None else make_object_source(config, device)
        self.notes = list(self.source.notes)
        recogniser, note = load_or_fallback(library, config.object_recogniser)
        if note is not None:
            self.notes.append(note)
        self.search = ObjectSearch(library, recogniser, self._search_config(config))
        self.keyframe_interval = config.keyframe_interval
        self.warm = WarmStarts()
        self.stats = {"keyframe": 0, "found": 0, "boxes": 0}

    @staticmethod
    def _search_config(config: PipelineConfig) -> ObjectSearchConfig:
        return ObjectSearchConfig(min_object_probability=config.min_object_confidence)

    def update(self, config: PipelineConfig) -> None:
        self.assignment.update(config)
        self.keyframe_interval = config.keyframe_interval
        self.search.config = self._search_config(config)

    def __call__(self, frame: Frame, persons: list[Person],
                 external: Detections | None = None) -> FrameObjects:
        detections = self.source(frame, persons, external)
        res = self.search(frame.camera, [p.human for p in persons],
                          [p.detection for p in persons], depth=frame.depth,
                          detections=detections)
        hypotheses = list(res.objects)
        assignment = self.assignment(persons, [h.candidate for h in hypotheses])
        found = []
        for i, person in enumerate(persons):
            k = assignment.of_person(i)
            hyp = None if k is None else hypotheses[k]
            keyframe = self.warm.get(person.track_id, self.keyframe_interval) is None
            obj = None if hyp is None else FoundObject(hyp.estimate, hyp.candidate.mask,
                                                       hyp.object_points, i, keyframe)
            self.warm.remember(person.track_id, obj)
            if obj is not None:
                found.append(obj)
                self.stats["found"] += 1
                self.stats["keyframe"] += keyframe
                self.stats["boxes"] += hyp.template.id not in self.library.ids
        return FrameObjects(res.found.candidates, found, assignment)

    def keep_tracks(self, tracks: set[int]) -> None:
        """End of a frame: forget the warm starts of tracks not in `tracks` (the frame's live
        tracks, including persons whose body could not be fitted this frame)."""
        self.warm.keep(tracks)

    def close(self) -> None:
        close = getattr(getattr(self.source, "detector", None), "close", None)
        if close is not None:
            close()
