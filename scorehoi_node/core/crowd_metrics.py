"""People-level metrics for frames with several people: one-to-one matching of predicted to
ground-truth people, missed and spurious people, per-frame rows and summaries by person height
in pixels and by the number of people in the frame.

Matching (`match_people`): the Hungarian algorithm (`scipy.optimize.linear_sum_assignment`)
on a cost between every prediction and every ground-truth person, with a gate: pairs beyond
the gate are never matched, and among the assignments the one with the most gated pairs, then
the lowest total cost, wins. Costs (`MatchConfig.cost`):

- "box_iou" (default): 1 - IoU of the people's image boxes, gate IoU >= `min_iou` (0.5, the
  COCO / CLEAR-MOT criterion). Boxes are the *amodal* boxes of the projected body meshes (or
  joints) of prediction and ground truth (`person_box`), so an occluded person keeps their full
  box on both sides. IoU is scale free: the same criterion holds for a 60 px person at 6 m and
  a 400 px person at 1.5 m, and it does not punish the depth error of a monocular estimate
  (reported separately as the pelvis error of matched pairs) as a missed person.
- "pelvis": 3D distance of the pelvis positions [m], gate `max_pelvis_m`; for RGB-D
  predictions, where 3D position is the quantity of interest.

Rates: `found` = matched / ground-truth people (recall); `spurious` = unmatched predictions /
predictions (1 - precision). Objects of matched people: `match_objects` pairs predicted with
ground-truth objects (box-centre distance relative to the true box), `object_assignment` says
per matched pair whether the person got their own object. Missed people are binned by their ground-truth height, spurious
predictions by their own box height. Height in pixels = the vertical extent of the person's
amodal box (`HEIGHT_BINS_PX`).

ROS-free: inputs are numpy arrays (boxes in pixels, xyxy; positions in metres, camera frame).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from scorehoi_node.core.detect.tracking import box_iou
from scorehoi_node.core.types import CameraIntrinsics

__all__ = ["HEIGHT_BINS_PX", "COSTS", "OBJECT_OUTCOMES", "MatchConfig", "PeopleMatch",
           "FramePeople", "box_iou", "box_height", "cost_matrix", "height_bin",
           "height_bin_labels", "match_frame", "match_objects", "match_people",
           "object_assignment", "person_box", "summarise_people"]

#: bin edges of person height [px] (640x480 images): < 100, 100-150, 150-250, > 250
HEIGHT_BINS_PX = (100.0, 150.0, 250.0)
COSTS = ("box_iou", "pelvis")
#: cost of a pair beyond the gate (larger than any sum of gated costs)
_BLOCKED = 1e6


def height_bin(height_px: float, edges: Sequence[float] = HEIGHT_BINS_PX) -> str:
    """Label of the height bin of `height_px`: "<100", "100-150", "150-250", ">250" for the
    default edges (a value on an edge goes to the upper bin)."""
    k = int(np.searchsorted(np.asarray(edges), height_px, side="right"))
    return height_bin_labels(edges)[k]


def height_bin_labels(edges: Sequence[float] = HEIGHT_BINS_PX) -> tuple[str, ...]:
    e = [f"{x:g}" for x in edges]
    return (f"<{e[0]}", *(f"{a}-{b}" for a, b in zip(e, e[1:])), f">{e[-1]}")


def person_box(points_cam: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """(4,) float64 amodal image box (u0, v0, u1, v1) [px] of a person's camera-frame points
    (mesh vertices, or joints when no mesh), not clipped to the image. Points behind the
    camera (z <= 1 cm) are ignored; all behind gives NaNs."""
    p = np.asarray(points_cam, np.float64).reshape(-1, 3)
    p = p[p[:, 2] > 0.01]
    if len(p) == 0:
        return np.full(4, np.nan)
    uv = camera.project(p)
    return np.r_[uv.min(0), uv.max(0)]


def box_height(boxes: np.ndarray) -> np.ndarray:
    """(N,) heights [px] of (N, 4) xyxy boxes."""
    return np.asarray(boxes, np.float64).reshape(-1, 4) @ np.array([0.0, -1.0, 0.0, 1.0])


@dataclass(frozen=True)
class MatchConfig:
    """How predicted people are matched to ground-truth people.

    Attributes:
        cost: "box_iou" (1 - IoU of amodal boxes) or "pelvis" (3D pelvis distance [m]).
        min_iou: gate of "box_iou": pairs need IoU >= this.
        max_pelvis_m: gate of "pelvis": pairs need a pelvis distance <= this [m].
    """

    cost: str = "box_iou"
    min_iou: float = 0.5
    max_pelvis_m: float = 0.5

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise ValueError(f"cost={self.cost!r} is not one of {', '.join(COSTS)}")
        if not 0.0 < self.min_iou <= 1.0 or self.max_pelvis_m <= 0.0:
            raise ValueError(f"need 0 < min_iou <= 1 and max_pelvis_m > 0, got {self.min_iou}, "
                             f"{self.max_pelvis_m}")


@dataclass(frozen=True)
class PeopleMatch:
    """One-to-one assignment of predictions to ground-truth people in one frame.

    Attributes:
        pairs: (K, 2) int64 rows (prediction index, ground-truth index), by ground-truth index.
        costs: (K,) float64 cost of each pair (1 - IoU, or metres).
        missed: (G - K,) int64 ground-truth people without a prediction.
        spurious: (P - K,) int64 predictions without a ground-truth person.
    """

    pairs: np.ndarray
    costs: np.ndarray
    missed: np.ndarray
    spurious: np.ndarray


def cost_matrix(config: MatchConfig, pred_boxes: np.ndarray | None, gt_boxes: np.ndarray | None,
                pred_pelvis: np.ndarray | None = None, gt_pelvis: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(P, G) costs and (P, G) bool gate (True = may be matched) for `config.cost`."""
    if config.cost == "box_iou":
        if pred_boxes is None or gt_boxes is None:
            raise ValueError("cost 'box_iou' needs pred_boxes and gt_boxes")
        iou = box_iou(pred_boxes, gt_boxes)
        return 1.0 - iou, iou >= config.min_iou
    if pred_pelvis is None or gt_pelvis is None:
        raise ValueError("cost 'pelvis' needs pred_pelvis and gt_pelvis")
    p = np.asarray(pred_pelvis, np.float64).reshape(-1, 3)
    g = np.asarray(gt_pelvis, np.float64).reshape(-1, 3)
    dist = np.linalg.norm(p[:, None] - g[None], axis=2)
    return dist, dist <= config.max_pelvis_m


def match_people(cost: np.ndarray, allowed: np.ndarray) -> PeopleMatch:
    """Hungarian matching of a (P, G) cost matrix restricted to `allowed` pairs: the most
    allowed pairs, then the lowest total cost (blocked pairs cost more than any sum of allowed
    ones and are dropped from the result)."""
    cost = np.asarray(cost, np.float64)
    allowed = np.asarray(allowed, bool) & np.isfinite(cost)
    n_pred, n_gt = cost.shape
    rows = cols = np.zeros(0, np.int64)
    if n_pred and n_gt:
        bounded = np.where(allowed, cost, _BLOCKED)
        rows, cols = linear_sum_assignment(bounded)
        keep = allowed[rows, cols]
        rows, cols = rows[keep], cols[keep]
    order = np.argsort(cols, kind="stable")
    pairs = np.stack([rows[order], cols[order]], axis=1).astype(np.int64).reshape(-1, 2)
    return PeopleMatch(
        pairs=pairs, costs=cost[pairs[:, 0], pairs[:, 1]] if len(pairs) else np.zeros(0),
        missed=np.setdiff1d(np.arange(n_gt), pairs[:, 1]).astype(np.int64),
        spurious=np.setdiff1d(np.arange(n_pred), pairs[:, 0]).astype(np.int64))


@dataclass(frozen=True)
class FramePeople:
    """One frame's people, matched: what the summaries need.

    Attributes:
        index: frame index.
        match: the assignment.
        gt_heights_px: (G,) height of each ground-truth person [px].
        pred_heights_px: (P,) height of each prediction's box [px].
    """

    index: int
    match: PeopleMatch
    gt_heights_px: np.ndarray
    pred_heights_px: np.ndarray

    @property
    def n_gt(self) -> int:
        return len(self.gt_heights_px)

    @property
    def n_pred(self) -> int:
        return len(self.pred_heights_px)

    def row(self) -> dict[str, int]:
        """Per-frame counts: gt, pred, matched, missed, spurious."""
        return {"gt": self.n_gt, "pred": self.n_pred, "matched": len(self.match.pairs),
                "missed": len(self.match.missed), "spurious": len(self.match.spurious)}


def match_frame(index: int, gt_boxes: np.ndarray, pred_boxes: np.ndarray,
                config: MatchConfig = MatchConfig(), gt_pelvis: np.ndarray | None = None,
                pred_pelvis: np.ndarray | None = None) -> FramePeople:
    """Match one frame's predictions to its ground truth (boxes (N, 4) xyxy [px]; pelvis
    positions (N, 3) [m], needed for cost "pelvis")."""
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    cost, allowed = cost_matrix(config, pred_boxes, gt_boxes, pred_pelvis, gt_pelvis)
    return FramePeople(index, match_people(cost.reshape(len(pred_boxes), len(gt_boxes)),
                                           allowed.reshape(len(pred_boxes), len(gt_boxes))),
                       box_height(gt_boxes), box_height(pred_boxes))


def _rates(gt: int, found: int, pred: int, spurious: int) -> dict[str, float]:
    return {"gt": gt, "found": found, "pred": pred, "spurious": spurious,
            "found_rate": found / gt if gt else float("nan"),
            "spurious_rate": spurious / pred if pred else float("nan")}


def summarise_people(frames: Iterable[FramePeople], edges: Sequence[float] = HEIGHT_BINS_PX
                     ) -> dict:
    """Totals and rates overall, by height bin and by number of ground-truth people.

    Returns a JSON-ready dict: {"overall": rates, "by_height_px": {bin: rates},
    "by_people": {n: rates}, "frames": n}, where rates = {gt, found, pred, spurious,
    found_rate, spurious_rate} (NaN where a denominator is 0). In a height bin, `gt`/`found`
    count ground-truth people of that height and `pred`/`spurious` predictions of that height;
    in a people bin, everything of the frames with that many ground-truth people.
    """
    labels = height_bin_labels(edges)
    by_h = {b: np.zeros(4, np.int64) for b in labels}  # gt, found, pred, spurious
    by_n: dict[int, np.ndarray] = {}
    total = np.zeros(4, np.int64)
    n_frames = 0
    for f in frames:
        n_frames += 1
        found = np.zeros(f.n_gt, bool)
        found[f.match.pairs[:, 1]] = True
        spurious = np.zeros(f.n_pred, bool)
        spurious[f.match.spurious] = True
        for h, ok in zip(f.gt_heights_px, found):
            by_h[height_bin(h, edges)] += (1, int(ok), 0, 0)
        for h, bad in zip(f.pred_heights_px, spurious):
            by_h[height_bin(h, edges)] += (0, 0, 1, int(bad))
        counts = np.array([f.n_gt, found.sum(), f.n_pred, spurious.sum()])
        by_n[f.n_gt] = by_n.get(f.n_gt, np.zeros(4, np.int64)) + counts
        total += counts
    return {"frames": n_frames, "overall": _rates(*map(int, total)),
            "by_height_px": {b: _rates(*map(int, c)) for b, c in by_h.items()},
            "by_people": {n: _rates(*map(int, by_n[n])) for n in sorted(by_n)}}


#: outcomes of a matched pair of people for their objects (`object_assignment`)
OBJECT_OUTCOMES = ("right", "wrong", "missing", "extra", "none")


def match_objects(gt_boxes: np.ndarray, pred_boxes: np.ndarray,
                  max_distance: float = 0.5) -> PeopleMatch:
    """One-to-one matching of predicted to ground-truth objects in one frame by the distance of
    their image box centres relative to the ground-truth box diagonal (scale free, like the
    people's IoU; objects are too small for IoU to survive a few pixels of error), gated at
    `max_distance` diagonals. Same return type as people (`pairs` = (prediction, truth))."""
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    pred = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    centre = lambda b: 0.5 * (b[:, :2] + b[:, 2:])  # noqa: E731
    diag = np.linalg.norm(gt[:, 2:] - gt[:, :2], axis=1)
    dist = np.linalg.norm(centre(pred)[:, None] - centre(gt)[None], axis=2)
    cost = dist / np.where(diag > 0, diag, np.inf)[None]
    return match_people(cost, cost <= max_distance)


def object_assignment(people: PeopleMatch, objects: PeopleMatch, gt_owner: np.ndarray,
                      pred_owner: np.ndarray) -> dict[str, int]:
    """Whether each matched person got the right object.

    Args:
        people: the frame's people matching (`match_frame(...).match`).
        objects: the frame's object matching (`match_objects`).
        gt_owner: (O_gt,) index of the ground-truth person each ground-truth object belongs to.
        pred_owner: (O_pred,) index of the predicted person each predicted object is given to
            (an object given to nobody is not counted here).

    Returns counts of `OBJECT_OUTCOMES` over the matched pairs (prediction p, truth g):
    "right" p holds the prediction of g's object; "wrong" p holds an object that is not g's
    (another person's, or none of the truth's) while g has one; "missing" g has an object, p
    none; "extra" p has an object, g none; "none" neither has one.
    """
    gt_owner = np.asarray(gt_owner, np.int64).reshape(-1)
    pred_owner = np.asarray(pred_owner, np.int64).reshape(-1)
    truth_of = dict(zip(objects.pairs[:, 0].tolist(), objects.pairs[:, 1].tolist()))
    counts = dict.fromkeys(OBJECT_OUTCOMES, 0)
    for p, g in people.pairs.tolist():
        held = np.flatnonzero(pred_owner == p).tolist()
        owned = set(np.flatnonzero(gt_owner == g).tolist())
        if not held:
            counts["missing" if owned else "none"] += 1
        elif not owned:
            counts["extra"] += 1
        else:
            right = any(truth_of.get(o) in owned for o in held)
            counts["right" if right else "wrong"] += 1
    return counts
