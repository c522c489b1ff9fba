"""Assignment stage: which person each object candidate belongs to.

Each object goes to at most one person and each person gets at most one object (the pipeline
reconstructs one interaction per person). The evidence, per (candidate, person):

- 3D, when the candidate has depth points: the smallest distance between the person's fitted
  body (mesh vertices, else joints) and the object's points [m]; the person may get it within
  `AssignmentConfig.touch_m` (hands or body touching it).
- 2D otherwise: the smallest image distance from the person's visible keypoints to the object's
  box (0 inside it), wrists before the rest of the body, in units of the person's box height
  (scale free: the same gate for a person 60 px and 400 px tall); within
  `AssignmentConfig.image_gate`.

The pairs are then chosen by the Hungarian algorithm on cost = distance / gate (the most pairs
within their gates, then the lowest total cost), so an object that two people could touch goes
to the nearest, and an object near nobody goes to nobody: it is counted (`stats["near_nobody"]`,
on /diagnostics through `Pipeline.counters`) and, for a detector's candidate, still published
as a detection. A depth cluster that several people's hands reach is one object: candidates
whose masks overlap (IoU >= 0.5) are merged before assignment (`stats["merged"]`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from scorehoi_node.core.config import AssignmentConfig, PipelineConfig
from scorehoi_node.core.keypoints import person_wrists
from scorehoi_node.core.types import ObjectCandidate, Person

#: keypoints below this score are not evidence of where a person's body is
MIN_KEYPOINT_SCORE = 0.3
#: a non-wrist keypoint counts as this much farther than its image distance (hands first)
BODY_PENALTY = 1.5
#: at most this many points per side in the 3D distance (evenly thinned)
MAX_POINTS = 2000
#: masks overlapping at least this much are the same object
SAME_OBJECT_IOU = 0.5
#: among pairs within their gates, cost is lowered by this times the candidate's score, so of
#: two clusters both touching a hand the source's better one wins
SCORE_TIE_BREAK = 0.05
_BLOCKED = 1e6


@dataclass(frozen=True)
class Assignment:
    """Owners of one frame's object candidates.

    Attributes:
        owner: per candidate, the index (into the frame's `Person` list) of its person, or None
            (near nobody, lost to a nearer person's claim, or merged into another candidate).
        cost: (C, P) float64 distance / gate of every pair (> 1: beyond the gate; inf: no
            evidence).
        kept: per candidate, False when it was merged into an overlapping one.
    """

    owner: tuple[int | None, ...]
    cost: np.ndarray
    kept: tuple[bool, ...]

    def of_person(self, index: int) -> int | None:
        """The candidate given to person `index`, or None."""
        return next((c for c, p in enumerate(self.owner) if p == index), None)


def _thin(points: np.ndarray) -> np.ndarray:
    step = max(1, len(points) // MAX_POINTS)
    return np.asarray(points, np.float64)[::step]


def body_distance_m(person: Person, points: np.ndarray) -> float:
    """Smallest distance [m] between a person's fitted body (vertices, else joints) and
    (N, 3) object points (camera frame)."""
    h = person.human
    body = h.vertices if h.vertices is not None else h.joint_positions
    if body is None or len(points) == 0:
        return float("inf")
    d, _ = cKDTree(_thin(points)).query(_thin(body), k=1)
    return float(np.min(d))


def box_point_distance(box: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(N,) image distances [px] of (N, 2) points to a (4,) xyxy box (0 inside it)."""
    lo, hi = np.asarray(box[:2], np.float64), np.asarray(box[2:], np.float64)
    return np.linalg.norm(np.maximum(0.0, np.maximum(lo - uv, uv - hi)), axis=1)


def image_distance(person: Person, box: np.ndarray) -> float:
    """Distance from the object's box to the person's nearest visible keypoint (non-wrists
    `BODY_PENALTY` times farther), in units of the person's box height; inf without
    keypoints or box."""
    det = person.detection
    height = float(det.box[3] - det.box[1])
    scores = np.asarray(det.keypoint_scores, np.float64)
    uv = np.asarray(det.keypoints_2d, np.float64).reshape(-1, 2)
    visible = scores >= MIN_KEYPOINT_SCORE
    if height <= 0 or not visible.any():
        return float("inf")
    d = box_point_distance(box, uv) * BODY_PENALTY
    wrists_uv, wrist_scores = person_wrists(det)
    if len(wrists_uv):
        d = np.r_[d, box_point_distance(box, wrists_uv)]
        visible = np.r_[visible, wrist_scores >= MIN_KEYPOINT_SCORE]
    return float(d[visible].min() / height)


def _mask_iou(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None or a.shape != b.shape:
        return 0.0
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def merge_duplicates(candidates: list[ObjectCandidate]) -> list[bool]:
    """Per candidate, False when a better-scoring candidate's mask overlaps it (IoU >=
    `SAME_OBJECT_IOU`): the same object seen from two people's hands."""
    kept = [True] * len(candidates)
    order = sorted(range(len(candidates)), key=lambda i: -candidates[i].score)
    for n, i in enumerate(order):
        if kept[i]:
            for j in order[n + 1:]:
                if kept[j] and _mask_iou(candidates[i].mask, candidates[j].mask) >= SAME_OBJECT_IOU:
                    kept[j] = False
    return kept


class AssignmentStage:
    """Object candidates + persons -> `Assignment` (see the module docstring).

    Attributes:
        config: the gates.
        stats: counts since start: "assigned", "near_nobody" (candidates within nobody's
            gate), "outranked" (within a gate, but that person got a nearer or better
            candidate), "contested" (candidates within the gate of two or more people), "merged"
            (duplicates of another candidate).
    """

    def __init__(self, config: AssignmentConfig = AssignmentConfig()) -> None:
        self.config = config
        self.stats = {"assigned": 0, "near_nobody": 0, "outranked": 0, "contested": 0,
                      "merged": 0}

    def update(self, config: PipelineConfig) -> None:
        self.config = config.assign

    def costs(self, persons: list[Person], candidates: list[ObjectCandidate]) -> np.ndarray:
        """(C, P) distance / gate of every pair (3D with depth points, else 2D)."""
        cost = np.full((len(candidates), len(persons)), np.inf)
        for c, cand in enumerate(candidates):
            for p, person in enumerate(persons):
                if cand.points is not None and len(cand.points):
                    cost[c, p] = body_distance_m(person, cand.points) / self.config.touch_m
                elif self.config.image_gate > 0:
                    cost[c, p] = image_distance(person, cand.box) / self.config.image_gate
        return cost

    def __call__(self, persons: list[Person], candidates: list[ObjectCandidate]) -> Assignment:
        kept = merge_duplicates(candidates)
        cost = self.costs(persons, candidates)
        allowed = (cost <= 1.0) & np.asarray(kept, bool)[:, None]
        owner: list[int | None] = [None] * len(candidates)
        if allowed.any():
            scores = np.array([c.score for c in candidates], np.float64)[:, None]
            rows, cols = linear_sum_assignment(
                np.where(allowed, cost - SCORE_TIE_BREAK * scores, _BLOCKED))
            for c, p in zip(rows, cols):
                if allowed[c, p]:
                    owner[c] = int(p)
        n_assigned = sum(o is not None for o in owner)
        near_nobody = int((np.asarray(kept, bool) & ~allowed.any(axis=1)).sum())
        self.stats["merged"] += len(candidates) - sum(kept)
        self.stats["assigned"] += n_assigned
        self.stats["near_nobody"] += near_nobody
        self.stats["outranked"] += sum(kept) - n_assigned - near_nobody
        self.stats["contested"] += int((allowed.sum(axis=1) >= 2).sum())
        return Assignment(tuple(owner), cost, tuple(kept))
