"""Offline RGB-D object segmentation: the depth cluster in the person's hands.

For robots with a depth camera and no object-detector weights. Given a registered depth image,
the intrinsics, the person's mask and their wrist pixels, it finds the surfaces touching a hand
that are neither the person nor a large support plane:

1. valid depth in [min_depth_m, max_depth_m]; drop the (dilated) person mask;
2. RANSAC plane fits (open3d `segment_plane`) on a subsample of the remaining points remove up to
   `max_planes` large planes (floor, table top, wall) from every pixel;
3. connected components on the depth image: 4-neighbours join when their depth differs by less
   than `depth_jump_m + depth_jump_rel * z` (a depth discontinuity cuts);
4. each component of at least `min_pixels` and at most `max_extent_m` across is back-projected;
   components with a point within `max_hand_distance_m` (3D) of a wrist are returned.

This is not a `Detector` (it needs depth and the person, not only RGB): the pipeline calls it
after the person detector when a frame has depth and the detector gave no object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d

from scorehoi_node.core.geometry import backproject_image
from scorehoi_node.core.types import CameraIntrinsics, ObjectDetection

@dataclass(frozen=True)
class RGBDObjectConfig:
    """Settings of the RGB-D hand-object segmenter (the only source of its defaults).

    Attributes:
        min_depth_m, max_depth_m: depth range kept [m].
        person_dilate_px: the person mask grows by this many pixels before removal [px].
        plane_distance_m: RANSAC inlier distance of a support plane [m].
        plane_min_fraction: a plane is removed only when its inliers are at least this
            fraction of the non-person points (keeps an object's own faces).
        max_planes: at most this many planes are removed (floor, table, wall).
        plane_sample_points: RANSAC runs on at most this many random points.
        depth_jump_m, depth_jump_rel: neighbours split when |dz| > depth_jump_m + depth_jump_rel*z.
        slope_aware: ...unless dz continues the slope of the neighbouring pairs on the same row
            or column (within the same threshold): a surface seen at a grazing angle (a table
            top from standing height) changes depth fast but smoothly; an occlusion edge jumps
            once.
        min_pixels: smaller components are noise [px].
        max_extent_m: larger components (diagonal of their 3D box) are scenery, not objects [m].
        max_hand_distance_m: a component is in the hand when a point is this close to a wrist [m].
        wrist_window_px: half size of the window whose median depth places a wrist in 3D [px].
        min_wrist_score: wrists with a lower keypoint score are ignored.
        full_score_pixels: components of this many pixels or more get the full size score [px].
        seed: seed of the RANSAC subsample (results depend only on it and the inputs).
    """

    min_depth_m: float = 0.2
    max_depth_m: float = 8.0
    person_dilate_px: int = 3
    plane_distance_m: float = 0.02
    plane_min_fraction: float = 0.15
    max_planes: int = 2
    plane_sample_points: int = 20000
    depth_jump_m: float = 0.03
    depth_jump_rel: float = 0.01
    slope_aware: bool = False
    min_pixels: int = 50
    max_extent_m: float = 1.2
    max_hand_distance_m: float = 0.15
    wrist_window_px: int = 7
    min_wrist_score: float = 0.3
    full_score_pixels: int = 1500
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.min_depth_m < self.max_depth_m:
            raise ValueError(f"need 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, "
                             f"{self.max_depth_m}")
        for name in ("plane_distance_m", "depth_jump_m", "max_extent_m", "max_hand_distance_m"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 < self.plane_min_fraction <= 1.0:
            raise ValueError(
                f"plane_min_fraction={self.plane_min_fraction!r} must be within (0, 1]")
        for name in ("person_dilate_px", "max_planes", "depth_jump_rel", "wrist_window_px"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0")
        for name in ("min_pixels", "plane_sample_points", "full_score_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")


@dataclass(frozen=True)
class HandObject:
    """One depth cluster in a person's hand.

    Attributes:
        detection: class name ("unknown" unless given), box (4,) [u_min, v_min, u_max, v_max]
            px, score in [0, 1] (size x proximity), mask (H, W) bool.
        points: (N, 3) float64 [m] camera optical frame, the cluster's back-projected pixels.
        wrist_index: index (into the given wrists) of the nearest wrist.
        hand_distance_m: 3D distance of the cluster's nearest point to that wrist [m].
    """

    detection: ObjectDetection
    points: np.ndarray
    wrist_index: int
    hand_distance_m: float


def remove_planes(points: np.ndarray, candidate: np.ndarray,
                  config: RGBDObjectConfig) -> tuple[np.ndarray, list[np.ndarray]]:
    """Drop large planes from `candidate`.

    Args:
        points: (H, W, 3) camera-frame points [m].
        candidate: (H, W) bool pixels considered (valid depth, not the person).

    Returns:
        (H, W) bool `candidate` without plane pixels, and the removed planes as (4,) [a, b, c, d]
        with a*x + b*y + c*z + d = 0 and unit normal.
    """
    rng = np.random.default_rng(config.seed)
    keep = candidate.copy()
    planes: list[np.ndarray] = []
    total = int(candidate.sum())
    for _ in range(config.max_planes):
        flat = np.flatnonzero(keep)
        if len(flat) < max(3, config.min_pixels) or len(flat) < config.plane_min_fraction * total:
            break
        sample = flat if len(flat) <= config.plane_sample_points else rng.choice(
            flat, config.plane_sample_points, replace=False)
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.reshape(-1, 3)[sample]))
        o3d.utility.random.seed(config.seed)
        plane, inliers = pcd.segment_plane(config.plane_distance_m, 3, 200)
        if len(inliers) < config.plane_min_fraction * len(sample) * total / max(len(flat), 1):
            break  # largest remaining plane is too small to be a support surface
        plane = np.asarray(plane, np.float64)
        plane /= np.linalg.norm(plane[:3])
        dist = np.abs(points @ plane[:3] + plane[3])
        keep &= ~(dist < config.plane_distance_m)
        planes.append(plane)
    return keep, planes


def depth_components(depth: np.ndarray, mask: np.ndarray,
                     config: RGBDObjectConfig) -> tuple[np.ndarray, int]:
    """Connected components of `mask` that do not cross a depth discontinuity.

    Args:
        depth: (H, W) depth [m].
        mask: (H, W) bool pixels to group.

    Returns:
        (H, W) int32 labels (0: not in `mask`, 1..n components) and n.
    """
    z = np.where(mask, depth, np.nan).astype(np.float64)
    thr = config.depth_jump_m + config.depth_jump_rel * np.nan_to_num(z)
    # a pixel is "cut" when a 4-neighbour inside the mask jumps in depth; cut pixels are labelled
    # afterwards from a depth-continuous neighbour so components keep their full outline
    cut = np.zeros_like(mask)
    dx = _jumps(z, thr, 1, config.slope_aware)
    dy = _jumps(z, thr, 0, config.slope_aware)
    cut[:, 1:] |= dx
    cut[:, :-1] |= dx
    cut[1:] |= dy
    cut[:-1] |= dy
    core = mask & ~cut
    n, labels = cv2.connectedComponents(core.astype(np.uint8), connectivity=4)
    labels = labels.astype(np.int32)
    pending = mask & (labels == 0)
    for _ in range(2):  # cut pixels are at most a couple of pixels wide
        if not pending.any():
            break
        best = np.zeros_like(labels)
        best_dz = np.full(z.shape, np.inf)
        for sl_dst, sl_src in (
                ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
                ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
            nb_label = np.zeros_like(labels)
            nb_label[sl_dst] = labels[sl_src]
            nb_z = np.full(z.shape, np.nan)
            nb_z[sl_dst] = z[sl_src]
            dz = np.abs(z - nb_z)
            ok = pending & (nb_label > 0) & (dz <= thr) & (dz < best_dz)
            best[ok] = nb_label[ok]
            best_dz[ok] = dz[ok]
        labels[pending & (best > 0)] = best[pending & (best > 0)]
        pending = mask & (labels == 0)
    return labels, int(n - 1)


def _jumps(z: np.ndarray, thr: np.ndarray, axis: int, slope_aware: bool) -> np.ndarray:
    """Depth discontinuities between neighbours along `axis` ((H, W-1) or (H-1, W) bool)."""
    d = np.diff(z, axis=axis)
    t = np.minimum(thr[(slice(None),) * axis + (slice(1, None),)],
                   thr[(slice(None),) * axis + (slice(None, -1),)])
    jump = np.abs(d) > t
    if not slope_aware:
        return jump
    n = d.shape[axis]
    sl = [slice(None)] * 2
    prev = np.full(d.shape, np.nan)
    nxt = np.full(d.shape, np.nan)
    sl[axis] = slice(1, None)
    dst_prev = tuple(sl)
    sl[axis] = slice(None, n - 1)
    src_prev = tuple(sl)
    prev[dst_prev] = d[src_prev]
    nxt[src_prev] = d[dst_prev]
    with np.errstate(invalid="ignore"):
        smooth = (np.abs(d - prev) <= t) | (np.abs(d - nxt) <= t)
    return jump & ~smooth


def wrist_points(depth: np.ndarray, camera: CameraIntrinsics, wrists_uv: np.ndarray,
                 person_mask: np.ndarray | None, window_px: int) -> np.ndarray:
    """(K, 2) wrist pixels -> (K, 3) camera-frame wrist positions [m] (NaN where no depth).

    The depth of a wrist is the median valid depth in a (2*window_px+1)^2 window, over the
    person's pixels when the window has any (the object in front of the hand would bias it).
    """
    h, w = depth.shape
    out = np.full((len(wrists_uv), 3), np.nan)
    for k, (u, v) in enumerate(np.asarray(wrists_uv, np.float64)):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        iu, iv = int(np.floor(u)), int(np.floor(v))
        u0, u1 = max(iu - window_px, 0), min(iu + window_px + 1, w)
        v0, v1 = max(iv - window_px, 0), min(iv + window_px + 1, h)
        if u0 >= u1 or v0 >= v1:
            continue
        win = depth[v0:v1, u0:u1].astype(np.float64)
        good = np.isfinite(win) & (win > 0)
        if person_mask is not None and (good & person_mask[v0:v1, u0:u1]).any():
            good &= person_mask[v0:v1, u0:u1]
        if good.any():
            out[k] = camera.backproject(np.array([[u, v]]), np.array([np.median(win[good])]))[0]
    return out


def segment_hand_objects(depth: np.ndarray, camera: CameraIntrinsics,
                         person_mask: np.ndarray | None, wrists_uv: np.ndarray,
                         wrist_scores: np.ndarray | None = None, *,
                         class_name: str = "unknown",
                         config: RGBDObjectConfig | None = None) -> list[HandObject]:
    """Depth clusters within reach of the wrists that are not the person or a support plane.

    Args:
        depth: (H, W) float depth [m] registered to the RGB image; NaN or <= 0 where invalid.
        camera: intrinsics of the depth image.
        person_mask: (H, W) bool person pixels (removed after dilation) or None.
        wrists_uv: (K, 2) wrist pixels (see `person_wrists`).
        wrist_scores: (K,) keypoint scores; wrists below `config.min_wrist_score` are ignored.
        class_name: class given to every returned detection.
        config: segmenter settings (defaults when None).

    Returns:
        The hand objects, best score first (empty when no wrist has depth or nothing is near).
    """
    cfg = config or RGBDObjectConfig()
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.shape != (camera.height, camera.width):
        raise ValueError(f"depth must be ({camera.height}, {camera.width}), got {depth.shape}")
    if person_mask is not None and person_mask.shape != depth.shape:
        raise ValueError(f"person mask is {person_mask.shape}, depth is {depth.shape}")
    wrists_uv = np.asarray(wrists_uv, np.float64).reshape(-1, 2)
    wrists = wrist_points(depth, camera, wrists_uv, person_mask, cfg.wrist_window_px)
    wrist_ok = np.all(np.isfinite(wrists), axis=1)
    if wrist_scores is not None:
        wrist_ok &= np.asarray(wrist_scores, np.float64).reshape(-1) >= cfg.min_wrist_score
    if not wrist_ok.any():
        return []

    z = np.nan_to_num(depth.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    candidate = (z >= cfg.min_depth_m) & (z <= cfg.max_depth_m)
    if person_mask is not None:
        grown = person_mask.astype(np.uint8)
        if cfg.person_dilate_px > 0:
            k = 2 * cfg.person_dilate_px + 1
            grown = cv2.dilate(grown, np.ones((k, k), np.uint8))
        candidate &= grown == 0
    points = backproject_image(z, camera)
    candidate, _ = remove_planes(points, candidate, cfg)
    labels, n = depth_components(z, candidate, cfg)
    if n == 0:
        return []

    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    found: list[HandObject] = []
    for lab in np.flatnonzero(sizes >= cfg.min_pixels):
        if lab == 0:
            continue
        mask = labels == lab
        pts = points[mask]
        if np.linalg.norm(pts.max(0) - pts.min(0)) > cfg.max_extent_m:
            continue
        d = np.linalg.norm(pts[:, None, :] - wrists[None, wrist_ok, :], axis=2).min(0)
        j = int(np.argmin(d))
        dist = float(d[j])
        if dist > cfg.max_hand_distance_m:
            continue
        vs, us = np.nonzero(mask)
        box = np.array([us.min(), vs.min(), us.max() + 1, vs.max() + 1], dtype=np.float64)
        score = (1.0 - dist / cfg.max_hand_distance_m) * 0.5 + 0.5 * min(
            1.0, int(mask.sum()) / cfg.full_score_pixels)
        found.append(HandObject(
            detection=ObjectDetection(class_name=class_name, box=box, score=float(score),
                                      mask=mask),
            points=pts, wrist_index=int(np.flatnonzero(wrist_ok)[j]), hand_distance_m=dist))
    return sorted(found, key=lambda o: -o.detection.score)
