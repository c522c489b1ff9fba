"""Human-object reconstruction metrics of the CONTHO protocol (BEHAVE), see DESIGN.md §3.

Per frame:

1. A similarity transform (scale, proper rotation, translation; Umeyama 1991) is fitted on the
   concatenated human + object vertices of the prediction against the ground truth (same
   topology, so vertices correspond one to one) and applied to both predicted meshes.
2. Chamfer distance in cm, separately for the human and the object, between ``n_samples``
   area-uniform surface samples of the aligned prediction and of the ground truth.
3. Contact: a human vertex is in contact when it lies within 5 cm of the object *surface*.
   The predicted set comes from the predicted reconstruction, the true set from the ground truth;
   precision / recall / F1 compare the two.
4. Physical plausibility of the (unaligned) prediction: penetration depth of human vertices
   inside the object and distance of the object below the floor, both in cm.

All inputs are float64 numpy arrays in metres; faces are integer vertex indices. Open3D (its
``RaycastingScene``, float32 internally) is imported lazily by the surface-distance functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

CM_PER_M = 100.0
CONTACT_THRESHOLD_M = 0.05
N_SURFACE_SAMPLES = 6000


@dataclass(frozen=True)
class HOIMetrics:
    """Metrics of one frame (one human, one object).

    Attributes:
        cd_human_cm: Chamfer distance of the aligned human mesh to the ground truth, cm.
        cd_object_cm: Chamfer distance of the aligned object mesh to the ground truth, cm.
        contact_precision, contact_recall, contact_f1: in [0, 1], NaN where undefined
            (see `contact_prf`).
        penetration_cm: deepest predicted human vertex inside the predicted object, cm (>= 0).
        floor_cm: how far the predicted object's lowest vertex lies below the floor, cm (>= 0);
            NaN when no floor is given.
    """

    cd_human_cm: float
    cd_object_cm: float
    contact_precision: float
    contact_recall: float
    contact_f1: float
    penetration_cm: float
    floor_cm: float


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity transform minimising ``sum_i ||s R pred_i + t - gt_i||^2`` (Umeyama 1991).

    Args:
        pred: (N, 3) points to move, metres.
        gt: (N, 3) corresponding target points, metres.

    Returns:
        scale s (> 0), rotation R (3, 3) with det(R) = +1, translation t (3,) in metres.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3 or len(pred) < 3:
        raise ValueError(f"need two (N>=3, 3) arrays of equal shape, got {pred.shape}, {gt.shape}")
    mu_pred, mu_gt = pred.mean(axis=0), gt.mean(axis=0)
    x, y = pred - mu_pred, gt - mu_gt
    var_pred = (x * x).sum() / len(x)
    if var_pred <= 0:
        raise ValueError("prediction points are all identical; the scale is undefined")
    u, d, vt = np.linalg.svd(y.T @ x / len(x))  # cross-covariance, Umeyama eq. (38)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ sign @ vt  # eq. (40)
    scale = float(np.trace(np.diag(d) @ sign) / var_pred)  # eq. (42)
    translation = mu_gt - scale * rotation @ mu_pred  # eq. (41)
    return scale, rotation, translation


def apply_similarity(points: np.ndarray, s: float, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(N, 3) points -> (N, 3) points ``s R p + t`` (same units as ``t``)."""
    return s * np.asarray(points, dtype=np.float64) @ np.asarray(R).T + np.asarray(t)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Area-weighted uniform samples on a triangle mesh; deterministic given ``rng``.

    Args:
        vertices: (V, 3) float64, metres.
        faces: (F, 3) integer vertex indices.
        n: number of samples.
        rng: source of randomness.

    Returns:
        (n, 3) float64 points on the surface, metres.
    """
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]  # (F, 3, 3)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)
    if not area.sum() > 0:
        raise ValueError("mesh has zero surface area")
    face = rng.choice(len(tri), size=n, p=area / area.sum())
    uv = rng.random((n, 2))
    flip = uv.sum(axis=1) > 1.0  # fold the unit square onto the triangle
    uv[flip] = 1.0 - uv[flip]
    return tri[face, 0] + uv[:, :1] * e1[face] + uv[:, 1:] * e2[face]


def chamfer_cm(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance between two point sets, cm.

    Convention (CHORE / CONTHO): the mean of the two directional mean nearest-neighbour
    Euclidean (not squared) distances, ``0.5 * (mean_a min_b |a-b| + mean_b min_a |a-b|)``.

    Args:
        a: (N, 3) points, metres.
        b: (M, 3) points, metres.
    """
    a_to_b, _ = cKDTree(b).query(a)
    b_to_a, _ = cKDTree(a).query(b)
    return float(0.5 * (a_to_b.mean() + b_to_a.mean()) * CM_PER_M)


def _object_distances(points: np.ndarray, object_vertices: np.ndarray, object_faces: np.ndarray,
                      signed: bool) -> np.ndarray:
    """(N,) float64 distance of points to the object surface, metres (negative inside if signed).

    Open3D works in float32; coordinates are centred on the object first to keep precision.
    """
    centre = np.asarray(object_vertices, dtype=np.float64).mean(axis=0)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor((object_vertices - centre).astype(np.float32)),
        o3d.core.Tensor(np.asarray(object_faces).astype(np.uint32)))
    query = o3d.core.Tensor((np.asarray(points, dtype=np.float64) - centre).astype(np.float32))
    dist = scene.compute_signed_distance(query) if signed else scene.compute_distance(query)
    return dist.numpy().astype(np.float64)


def contact_from_meshes(human_vertices: np.ndarray, object_vertices: np.ndarray,
                        object_faces: np.ndarray,
                        threshold_m: float = CONTACT_THRESHOLD_M) -> np.ndarray:
    """(V,) bool: human vertices within ``threshold_m`` metres of the object surface.

    Uses the exact point-to-triangle distance (not the distance to object vertices).

    Args:
        human_vertices: (V, 3) metres.
        object_vertices: (O, 3) metres.
        object_faces: (F, 3) integer indices into ``object_vertices``.
        threshold_m: contact distance, metres (protocol: 0.05).
    """
    return _object_distances(human_vertices, object_vertices, object_faces, signed=False) \
        <= threshold_m


def contact_prf(pred_mask: np.ndarray, gt_mask: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of a predicted per-vertex contact set against the true one.

    Conventions for empty sets:
        - precision = TP / |pred|; with nothing predicted it is 1.0 when nothing is true either
          (no false claim, nothing missed) and 0.0 when contact exists (predicting no contact
          must not score as perfectly precise).
        - recall = TP / |gt|; NaN when the true set is empty (undefined; `aggregate` skips it).
        - F1 = 2PR / (P + R); 0.0 when P + R = 0; NaN when recall is NaN.

    Args:
        pred_mask: (V,) bool.
        gt_mask: (V,) bool.
    """
    pred = np.asarray(pred_mask, dtype=bool)
    gt = np.asarray(gt_mask, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    tp, n_pred, n_gt = int((pred & gt).sum()), int(pred.sum()), int(gt.sum())
    precision = tp / n_pred if n_pred else (1.0 if n_gt == 0 else 0.0)
    if n_gt == 0:
        return precision, math.nan, math.nan
    recall = tp / n_gt
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def penetration_depth_cm(human_vertices: np.ndarray, object_vertices: np.ndarray,
                         object_faces: np.ndarray) -> float:
    """Depth of the deepest human vertex inside a watertight object, cm; 0 when none is inside.

    Args:
        human_vertices: (V, 3) metres.
        object_vertices: (O, 3) metres; the mesh must be closed for inside/outside to hold.
        object_faces: (F, 3) integer indices.
    """
    signed = _object_distances(human_vertices, object_vertices, object_faces, signed=True)
    return float(max(0.0, -signed.min()) * CM_PER_M)  # Open3D: negative inside


def below_floor_cm(vertices: np.ndarray, floor_normal: np.ndarray, floor_offset: float) -> float:
    """How far the lowest point lies below a floor plane, cm; 0 when all points are above it.

    The plane is ``n . x + d = 0`` with unit normal ``n`` pointing to the free ('above') side,
    so a point is above when ``n . x + d > 0``. Returns ``max(0, -min_i (n . x_i + d))``.

    Args:
        vertices: (N, 3) metres.
        floor_normal: (3,) normal n (normalised here).
        floor_offset: d, metres.
    """
    n = np.asarray(floor_normal, dtype=np.float64)
    norm = np.linalg.norm(n)
    if not norm > 0:
        raise ValueError("floor normal must be non-zero")
    height = np.asarray(vertices, dtype=np.float64) @ (n / norm) + floor_offset / norm
    return float(max(0.0, -height.min()) * CM_PER_M)


def evaluate_frame(pred_human_v: np.ndarray, human_faces: np.ndarray,
                   pred_object_v: np.ndarray, object_faces: np.ndarray,
                   gt_human_v: np.ndarray, gt_object_v: np.ndarray,
                   floor: tuple[np.ndarray, float] | None = None,
                   n_samples: int = N_SURFACE_SAMPLES,
                   rng: np.random.Generator | None = None) -> HOIMetrics:
    """All metrics of one frame following DESIGN.md §3 (CONTHO protocol).

    Args:
        pred_human_v, gt_human_v: (V, 3) human vertices, metres, shared topology ``human_faces``
            (H, 3).
        pred_object_v, gt_object_v: (O, 3) object vertices, metres, shared topology
            ``object_faces`` (F, 3); the object should be closed for the penetration metric.
        floor: (unit normal (3,), offset d in metres) of the floor plane in the prediction's
            frame (see `below_floor_cm`), or None (``floor_cm`` is then NaN).
        n_samples: surface samples per mesh for the Chamfer distances (protocol: 6000).
        rng: randomness of the surface sampling; None means ``np.random.default_rng(0)``.
            Prediction and ground truth are sampled independently, so identical meshes give
            a small non-zero Chamfer distance (sampling floor).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    if pred_human_v.shape != gt_human_v.shape or pred_object_v.shape != gt_object_v.shape:
        raise ValueError("prediction and ground truth must share vertex counts")
    s, R, t = procrustes_align(np.concatenate([pred_human_v, pred_object_v]),
                               np.concatenate([gt_human_v, gt_object_v]))
    cd = []
    for pred_v, gt_v, faces in ((pred_human_v, gt_human_v, human_faces),
                                (pred_object_v, gt_object_v, object_faces)):
        pred_samples = sample_surface(apply_similarity(pred_v, s, R, t), faces, n_samples, rng)
        gt_samples = sample_surface(gt_v, faces, n_samples, rng)
        cd.append(chamfer_cm(pred_samples, gt_samples))
    precision, recall, f1 = contact_prf(
        contact_from_meshes(pred_human_v, pred_object_v, object_faces),
        contact_from_meshes(gt_human_v, gt_object_v, object_faces))
    return HOIMetrics(
        cd_human_cm=cd[0],
        cd_object_cm=cd[1],
        contact_precision=precision,
        contact_recall=recall,
        contact_f1=f1,
        penetration_cm=penetration_depth_cm(pred_human_v, pred_object_v, object_faces),
        floor_cm=math.nan if floor is None else below_floor_cm(pred_object_v, *floor),
    )


def aggregate(frames: list[HOIMetrics]) -> dict[str, float]:
    """Mean of every `HOIMetrics` field over frames, ignoring NaN; NaN where no value exists."""
    out: dict[str, float] = {}
    for f in fields(HOIMetrics):
        values = np.array([getattr(m, f.name) for m in frames], dtype=np.float64)
        finite = values[~np.isnan(values)]
        out[f.name] = float(finite.mean()) if finite.size else math.nan
    return out
