"""The object stage: candidates -> recogniser -> initial pose, per frame.

`ObjectSearch(library, recogniser)(camera, humans, persons, depth=..., detections=...)` returns
at most one `ObjectHypothesis` per person (the candidate most probably an object) plus
detections near no one (person None):

1. `object_candidates.frame_candidates`: anchors, person pixels, floor, candidates at the hands,
   seat, feet and on the floor next to every person, from depth clusters and detections;
2. `object_recogniser`: class probabilities over the templates + "other" + "clutter" (restricted
   to the detector's class when there is one), yaw starts, translation, object points;
3. per person, the candidate with the highest P(object) x candidate score (detections before
   depth clusters, templates before "other"); depth clusters below `min_object_probability` are
   dropped (clutter);
4. pose: a template -> ICP of that template only from the recogniser's starts (best yaw bins,
   and the opposite yaw for templates without a half-turn symmetry) on the points segmented as
   the object (`objects.fit_from_starts`; no template x yaw search); without depth the RGB
   placement of that template turned by the best yaw (`objects.place_rgb`). "other" -> an
   oriented box fitted to the points (or the mask) with the detector's class (`object_box`).

Without a recogniser (its weights missing or corrupt: `stages/objects.py` logs it) the rule path
runs instead: per person the candidate with the best (detection first, score), identified by
ICP of every template x yaw (`objects.estimate_object`); a depth cluster no template explains
(score below `min_fit_score`) is no object; a detector class the library has no template for
is an oriented box.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from scorehoi_node.core.estimate.object_candidates import (CandidateConfig, FrameCandidates,
                                                           frame_candidates)
from scorehoi_node.core.estimate.object_box import fit_box
from scorehoi_node.core.estimate.object_evidence import (Evidence, candidate_evidence,
                                                         candidate_frame, pose_from_frame)
from scorehoi_node.core.estimate.object_recogniser import CLUTTER, ObjectRecogniser, Recognition
from scorehoi_node.core.estimate.objects import (ObjectFitConfig, estimate_object,
                                                 fit_from_starts, place_rgb)
from scorehoi_node.core.objects import ObjectLibrary, ObjectTemplate
from scorehoi_node.core.types import (CameraIntrinsics, HumanEstimate, ObjectCandidate,
                                      ObjectDetection, ObjectEstimate, PersonDetection)


@dataclass(frozen=True)
class ObjectSearchConfig:
    """Settings of the object stage (the only source of their defaults).

    Attributes:
        candidates: candidate search.
        fit: ICP / RGB placement.
        min_object_probability: a depth cluster is an object when 1 - P(clutter) is at least
            this.
        flip_start: also start ICP at the opposite yaw of the best start (front / back).
        min_fit_score: a template whose ICP score (F1 of fitness and coverage) stays below this
            does not explain the points: the box is published instead.
        seed: evidence subsampling.
    """

    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    fit: ObjectFitConfig = field(default_factory=ObjectFitConfig)
    min_object_probability: float = 0.5
    flip_start: bool = True
    min_fit_score: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("min_object_probability", "min_fit_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be within [0, 1]")


@dataclass(frozen=True)
class ObjectHypothesis:
    """One object found in a frame, with the evidence behind it.

    Attributes:
        estimate: class, template id ("oriented_box" for a fitted box), pose, extent,
            confidence (P(object) x fit score with depth, x silhouette IoU without).
        template: the template the estimate refers to (a library template or the fitted box:
            contacts and refinement need it; a box is not in the library).
        candidate: the evidence (mask, points, anchor, person).
        recognition: the recogniser's output for it (None on the rule path).
        object_points: (M, 3) float64 camera-frame points segmented as the object, or None.
        person: index of the person it belongs to, or None.
        timings_ms: "recognise" (shared by the frame's candidates) and "pose" [ms].
    """

    estimate: ObjectEstimate
    template: ObjectTemplate
    candidate: ObjectCandidate
    recognition: Recognition | None
    object_points: np.ndarray | None
    person: int | None
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class FrameObjects:
    """What `ObjectSearch` returns for a frame.

    Attributes:
        objects: at most one hypothesis per person, then detections near no one.
        found: the candidates and their context (anchors, floor, person pixels).
        recognitions: one per candidate of `found.candidates` (empty on the rule path).
        timings_ms: "candidates", "recognise", "pose" [ms] for the whole frame.
    """

    objects: list[ObjectHypothesis]
    found: FrameCandidates
    recognitions: list[Recognition]
    timings_ms: dict[str, float]


def object_points(candidate: ObjectCandidate, recognition: Recognition) -> np.ndarray | None:
    """(M, 3) candidate points labelled as the object: each point takes the label of its nearest
    point among those the network saw and labelled."""
    if candidate.points is None or recognition.point_index is None:
        return None
    keep = recognition.point_is_object
    if keep.all():
        return candidate.points
    seen = candidate.points[recognition.point_index]
    _, nearest = cKDTree(seen).query(candidate.points)
    return candidate.points[keep[nearest]]


class ObjectSearch:
    """The object stage (see the module docstring). Holds the library and the recogniser.

    Args:
        library: object templates.
        recogniser: a loaded recogniser (`load_recogniser`), or None for the rule path.
        config: settings.
    """

    def __init__(self, library: ObjectLibrary, recogniser: ObjectRecogniser | None,
                 config: ObjectSearchConfig = ObjectSearchConfig()) -> None:
        self.library = library
        self.recogniser = recogniser
        self.config = config

    def __call__(self, camera: CameraIntrinsics, humans: Sequence[HumanEstimate],
                 persons: Sequence[PersonDetection | None], *, depth: np.ndarray | None = None,
                 detections: Sequence[ObjectDetection] = (),
                 floor_plane: np.ndarray | None = None) -> FrameObjects:
        """Objects of one frame.

        Args:
            camera: intrinsics of the image (and the registered depth).
            humans: the fitted people (camera frame); person index = position.
            persons: their detections (keypoints, mask), same order; None entries allowed.
            depth: (H, W) depth [m] (NaN / <= 0 invalid) or None (RGB only).
            detections: detector objects (masks or boxes; COCO class names) of the frame.
            floor_plane: (4,) a known floor (n, d), or None (estimated from depth).
        """
        cfg = self.config
        t0 = time.perf_counter()
        found = frame_candidates(camera, humans, persons, depth=depth, detections=detections,
                                 floor_plane=floor_plane, config=cfg.candidates)
        t1 = time.perf_counter()
        if self.recogniser is None:
            objects = [self._rule(found, i, camera) for i in self._rule_choice(found.candidates)]
            t2 = time.perf_counter()
            return FrameObjects([o for o in objects if o is not None], found, [],
                                {"candidates": (t1 - t0) * 1e3, "recognise": 0.0,
                                 "pose": (t2 - t1) * 1e3})
        evidence = [candidate_evidence(c, camera, self._anchors(found, c), found.up,
                                       found.floor_d, cfg.seed) for c in found.candidates]
        recs = self.recogniser(evidence, [c.class_name for c in found.candidates])
        t2 = time.perf_counter()
        objects = []
        for i in self._choose(found.candidates, recs):
            h0 = time.perf_counter()
            est, template, pts = self._pose(found, found.candidates[i], evidence[i], recs[i],
                                            camera)
            if est is None:
                continue
            objects.append(ObjectHypothesis(
                estimate=est, template=template, candidate=found.candidates[i],
                recognition=recs[i], object_points=pts, person=found.candidates[i].person,
                timings_ms={"recognise": (t2 - t1) * 1e3,
                            "pose": (time.perf_counter() - h0) * 1e3}))
        timings = {"candidates": (t1 - t0) * 1e3, "recognise": (t2 - t1) * 1e3,
                   "pose": (time.perf_counter() - t2) * 1e3}
        return FrameObjects(objects, found, recs, timings)

    @staticmethod
    def _rule_choice(candidates: list[ObjectCandidate]) -> list[int]:
        """Rule path: per person the candidate with the best (detection first, score), then
        every detection near no one."""
        best: dict[int, int] = {}
        for i, c in enumerate(candidates):
            if c.person is not None and (c.person not in best or (
                    c.source != "depth", c.score) > (candidates[best[c.person]].source != "depth",
                                                     candidates[best[c.person]].score)):
                best[c.person] = i
        loose = [i for i, c in enumerate(candidates) if c.person is None and c.source != "depth"]
        return [best[p] for p in sorted(best)] + loose

    def _rule(self, found: FrameCandidates, index: int, camera: CameraIntrinsics
              ) -> ObjectHypothesis | None:
        """Rule path for one candidate: every template x yaw, or a box for an uncovered class."""
        t0 = time.perf_counter()
        cand = found.candidates[index]
        anchors = self._anchors(found, cand)
        hands = anchors.palms() if anchors is not None and cand.anchor == "hands" else None
        class_name = cand.class_name if cand.class_name not in (None, "", "unknown") else None
        if class_name is not None and not self.library.for_coco_class(class_name):
            depth_m = self._box_depth(found, cand, camera)
            frame = candidate_frame(cand, camera, anchors, found.up, found.floor_d)
            est, template = fit_box(frame, camera, class_name, points=cand.points,
                                    mask=cand.mask, person_depth_m=depth_m,
                                    floor_plane=self._floor(found), hands=hands,
                                    confidence=cand.score, config=self.config.fit)
        else:
            est = estimate_object(camera, self.library, class_name=class_name,
                                  points=cand.points, mask=cand.mask, hands=hands,
                                  floor_plane=self._floor(found), config=self.config.fit)
            if est is None or (cand.source == "depth" and
                               est.confidence < self.config.min_fit_score):
                return None
            template = self.library.by_id(est.template_id)
        return ObjectHypothesis(est, template, cand, None, cand.points, cand.person,
                                {"recognise": 0.0, "pose": (time.perf_counter() - t0) * 1e3})

    @staticmethod
    def _anchors(found: FrameCandidates, candidate: ObjectCandidate):
        return found.anchors[candidate.person] if candidate.person is not None else None

    def _choose(self, candidates: list[ObjectCandidate], recs: list[Recognition]) -> list[int]:
        """Index of the best object candidate per person (detections before depth clusters,
        templates before "other", then P(object) x candidate score), then every detection near
        no one."""
        best: dict[int, tuple[tuple, int]] = {}
        loose = []
        for i, (c, r) in enumerate(zip(candidates, recs)):
            detected = c.source != "depth"
            if not detected and (r.label == CLUTTER or
                                 r.object_probability < self.config.min_object_probability):
                continue
            if c.person is None:
                if detected:
                    loose.append(i)
                continue
            key = (detected, r.template_id is not None,
                   r.object_probability * (0.5 + 0.5 * c.score))
            if c.person not in best or key > best[c.person][0]:
                best[c.person] = (key, i)
        return [best[p][1] for p in sorted(best)] + loose

    def _pose(self, found: FrameCandidates, cand: ObjectCandidate, ev: Evidence,
              rec: Recognition, camera: CameraIntrinsics):
        """(estimate or None, template, object points) of the chosen candidate."""
        cfg = self.config
        pts = object_points(cand, rec)
        anchors = self._anchors(found, cand)
        hands = anchors.palms() if anchors is not None and cand.anchor == "hands" else None
        class_name = cand.class_name if cand.class_name not in (None, "", "unknown") else None
        p_obj = rec.object_probability
        if rec.template_id is not None:
            template = self.library.by_id(rec.template_id)
            name = class_name or template.coco_class
            if pts is not None and len(pts) >= cfg.fit.min_points:
                fit = fit_from_starts(camera, template, pts, self._starts(ev, rec, template),
                                      found.floor_plane, cfg.fit)
                if fit is not None and fit.score >= cfg.min_fit_score:
                    return ObjectEstimate(name, template.id, fit.rotation, fit.translation,
                                          template.extent.astype(np.float64),
                                          p_obj * fit.score), template, pts
            elif pts is None:
                R, t, iou = place_rgb(camera, template, cand.mask, self._floor(found), hands,
                                      rec.yaws[0][0] if rec.yaws else 0.0, cfg.fit)
                return ObjectEstimate(name, template.id, R, t, template.extent.astype(np.float64),
                                      p_obj * iou), template, None
        depth_m = self._box_depth(found, cand, camera)
        est, template = fit_box(ev.frame, camera, class_name or "unknown", points=pts,
                                mask=cand.mask, person_depth_m=depth_m,
                                floor_plane=self._floor(found), hands=hands,
                                confidence=p_obj, config=cfg.fit)
        return est, template, pts

    def _box_depth(self, found: FrameCandidates, cand: ObjectCandidate,
                   camera: CameraIntrinsics) -> float:
        """Depth [m] that scales a box fitted to a mask alone: for a candidate on the floor or
        at the feet, where the ray through the mask's bottom centre meets the floor; else the
        person's pelvis depth (3 m without a person)."""
        anchors = self._anchors(found, cand)
        fallback = float(anchors.pelvis[2]) if anchors is not None else 3.0
        floor = self._floor(found)
        if cand.anchor not in ("floor", "feet") or floor is None or not cand.mask.any():
            return fallback
        vs, us = np.nonzero(cand.mask)
        ray = camera.backproject(np.array([[us.mean() + 0.5, vs.max() + 1.0]]),
                                 np.array([1.0]))[0]
        denom = float(floor[:3] @ ray)
        z = -float(floor[3]) / denom if abs(denom) > 1e-6 else -1.0
        return z if 0.3 < z < 2.0 * max(fallback, 1.0) + 2.0 else fallback

    @staticmethod
    def _floor(found: FrameCandidates) -> np.ndarray | None:
        """The floor plane, else the one through the ankles (`up_and_floor`) when known."""
        if found.floor_plane is not None:
            return found.floor_plane
        return np.r_[found.up, found.floor_d] if abs(found.floor_d) < 100.0 else None

    def _starts(self, ev: Evidence, rec: Recognition, template: ObjectTemplate):
        """ICP starts: the recogniser's yaws (and the opposite of the best one, unless the
        template looks the same turned by half a turn) at its translation."""
        sym = self.recogniser.net.config.symmetry[self.library.ids.index(template.id)]
        yaws = [y for y, _ in rec.yaws] or [0.0]
        if self.config.flip_start and sym not in (0, 2, 4, 6, 8):
            yaws.append(yaws[0] + np.pi)
        trans = rec.translation_local
        if not np.all(np.isfinite(trans)):
            trans = np.zeros(3)
        return [pose_from_frame(ev.frame, y, trans) for y in yaws]
