"""Track ids across frames: IoU + centre-distance matching (Hungarian) with a max age.

Each track keeps its last box and a constant-velocity estimate (px/frame); a new frame's boxes
are matched to the tracks' predicted boxes by `scipy.optimize.linear_sum_assignment` on

    cost = (1 - IoU) + centre_weight * |c_det - c_pred| / diag_pred

gated by IoU >= min_iou or centre distance <= max_centre_distance * diag_pred, and only within
the same class label. Unmatched boxes start tracks with fresh ids (1, 2, 3, ... never reused);
tracks unmatched for more than `max_age` consecutive frames are retired. Pure numpy + scipy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scorehoi_node.core.types import Detections


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of `BoxTracker` (the only source of its defaults).

    Attributes:
        max_age: frames a track survives without a match before its id is retired.
        min_iou: a match needs at least this IoU with the predicted box ...
        max_centre_distance: ... or a centre distance of at most this many predicted-box diagonals.
        centre_weight: weight of the normalised centre distance in the matching cost.
        velocity_smoothing: weight of the newest displacement in the velocity estimate, in (0, 1].
    """

    max_age: int = 5
    min_iou: float = 0.2
    max_centre_distance: float = 0.5
    centre_weight: float = 0.5
    velocity_smoothing: float = 0.5

    def __post_init__(self) -> None:
        if self.max_age < 0:
            raise ValueError(f"max_age={self.max_age!r} must be >= 0")
        if not 0.0 <= self.min_iou <= 1.0:
            raise ValueError(f"min_iou={self.min_iou!r} must be within [0, 1]")
        if self.max_centre_distance < 0 or self.centre_weight < 0:
            raise ValueError("max_centre_distance and centre_weight must be >= 0")
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError(
                f"velocity_smoothing={self.velocity_smoothing!r} must be within (0, 1]")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4), (M, 4) [u_min, v_min, u_max, v_max] px -> (N, M) intersection over union."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


class BoxTracker:
    """Stable integer ids for boxes over a stream (one tracker per camera stream and kind).

    State: the live tracks (id, label, box, velocity, frames since last match) and the next id;
    `reset()` clears it. No global state.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids start again at 1."""
        self._next_id = 1
        self._ids = np.zeros(0, np.int64)
        self._labels: list[str] = []
        self._boxes = np.zeros((0, 4))
        self._velocity = np.zeros((0, 4))
        self._misses = np.zeros(0, np.int64)

    @property
    def track_ids(self) -> np.ndarray:
        """(T,) int64 ids of the live tracks (including those currently unmatched)."""
        return self._ids.copy()

    def update(self, boxes: np.ndarray, labels: Sequence[str] | None = None) -> np.ndarray:
        """Match one frame's boxes to the tracks.

        Args:
            boxes: (N, 4) [u_min, v_min, u_max, v_max] px.
            labels: (N,) class labels; only equal labels match (None: all the same).

        Returns:
            (N,) int64 track id of each box, in input order.
        """
        cfg = self.config
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        labels = list(labels) if labels is not None else [""] * len(boxes)
        if len(labels) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
        pred = self._boxes + self._velocity * (self._misses[:, None] + 1)
        out = np.zeros(len(boxes), np.int64)
        matched_t: list[int] = []
        matched_d: list[int] = []
        if len(pred) and len(boxes):
            iou = box_iou(boxes, pred)
            c_det = 0.5 * (boxes[:, :2] + boxes[:, 2:])
            c_pred = 0.5 * (pred[:, :2] + pred[:, 2:])
            diag = np.maximum(np.linalg.norm(pred[:, 2:] - pred[:, :2], axis=1), 1e-6)
            dist = np.linalg.norm(c_det[:, None] - c_pred[None], axis=2) / diag[None]
            same = np.array([[ld == lt for lt in self._labels] for ld in labels], dtype=bool)
            gate = same & ((iou >= cfg.min_iou) | (dist <= cfg.max_centre_distance))
            cost = (1.0 - iou) + cfg.centre_weight * dist
            big = 1e6
            rows, cols = linear_sum_assignment(np.where(gate, cost, big))
            for d, t in zip(rows, cols):
                if gate[d, t]:
                    matched_d.append(int(d))
                    matched_t.append(int(t))
        # matched tracks: new box, smoothed velocity (per frame), misses reset
        a = cfg.velocity_smoothing
        for d, t in zip(matched_d, matched_t):
            step = (boxes[d] - self._boxes[t]) / (self._misses[t] + 1)
            self._velocity[t] = a * step + (1 - a) * self._velocity[t]
            self._boxes[t] = boxes[d]
            self._misses[t] = -1  # becomes 0 below
            out[d] = self._ids[t]
        self._misses += 1
        alive = self._misses <= cfg.max_age
        # new tracks
        new = [d for d in range(len(boxes)) if d not in set(matched_d)]
        new_ids = np.arange(self._next_id, self._next_id + len(new), dtype=np.int64)
        self._next_id += len(new)
        out[new] = new_ids
        self._ids = np.concatenate([self._ids[alive], new_ids])
        self._labels = [lab for lab, k in zip(self._labels, alive) if k] + [labels[d] for d in new]
        self._boxes = np.concatenate([self._boxes[alive], boxes[new].reshape(-1, 4)])
        self._velocity = np.concatenate([self._velocity[alive], np.zeros((len(new), 4))])
        self._misses = np.concatenate([self._misses[alive], np.zeros(len(new), np.int64)])
        return out


@dataclass(frozen=True)
class DetectionTrackIds:
    """Track ids of one frame's detections.

    Attributes:
        persons: (P,) int64 id of each `Detections.persons` entry, in order.
        objects: (O,) int64 id of each `Detections.objects` entry, in order (own id space).
    """

    persons: np.ndarray
    objects: np.ndarray


class DetectionTracker:
    """Tracks persons and objects of a `Detections` stream (two independent `BoxTracker`s)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.persons = BoxTracker(config)
        self.objects = BoxTracker(config)

    def __call__(self, detections: Detections) -> DetectionTrackIds:
        """Ids of this frame's persons and objects (objects only match their own class)."""
        p = self.persons.update(np.array([d.box for d in detections.persons]).reshape(-1, 4))
        o = self.objects.update(np.array([d.box for d in detections.objects]).reshape(-1, 4),
                                [d.class_name for d in detections.objects])
        return DetectionTrackIds(persons=p, objects=o)

    def reset(self) -> None:
        self.persons.reset()
        self.objects.reset()
