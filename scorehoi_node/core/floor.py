"""The floor plane from a depth image: RANSAC near the expected "up", lowest good plane wins.

Frames and units: camera optical frame (x right, y down, z forward), metres; pixel (u, v) has
its centre at (u + 0.5, v + 0.5) from the top-left corner of the image. The plane is (n, d)
with |n| = 1 and n pointing up: points x on the floor satisfy n·x + d = 0, points above it
n·x + d > 0 (the `HOIShard.floor_plane` / `SynthFrame.floor_plane` convention).

Method:
1. valid pixels (finite depth > 0, not excluded) are back-projected; fewer than `min_points`
   gives None;
2. RANSAC on a fixed-seed subsample (`sample_size` points): planes through 3 random points whose
   normal lies within `max_angle_deg` of `up_hint`; each is scored by its inliers
   (|distance| < `inlier_m`) and by the share of points clearly below it (< -`below_m`);
3. among hypotheses with at least `min_inlier_frac` of the subsample as inliers and at most
   `max_below_frac` of it below, the one with most inliers wins: a table top or seat has the
   floor below it, so it loses to the floor whenever the floor is visible;
4. least-squares refit (SVD) on the inliers of a larger subsample, twice, then the angle
   test again.
"""

from __future__ import annotations

import numpy as np

from scorehoi_node.core.types import CameraIntrinsics

#: default "up" in the camera frame: image up (-y), a roughly level camera
CAMERA_UP = np.array([0.0, -1.0, 0.0])


def estimate_floor(depth: np.ndarray, camera: CameraIntrinsics, exclude: np.ndarray | None = None,
                   up_hint: np.ndarray | None = None, *, max_angle_deg: float = 30.0,
                   inlier_m: float = 0.02, seed: int = 0, min_points: int = 500,
                   sample_size: int = 5000, refit_size: int = 50000, iterations: int = 1000,
                   min_inlier_frac: float = 0.2, below_m: float = 0.05,
                   max_below_frac: float = 0.05) -> np.ndarray | None:
    """Estimate the floor plane seen in `depth` (see the module docstring for the method).

    Args:
        depth: (H, W) z-depth [m] registered to `camera`; NaN, inf or <= 0 = no measurement.
        camera: intrinsics of `depth` (its size must be W x H).
        exclude: optional (H, W) bool, True = ignore the pixel (people, objects).
        up_hint: (3,) approximate up direction in the camera frame (e.g. from an IMU), any
            length; default `CAMERA_UP` = -y (a roughly level camera).
        max_angle_deg: the floor normal lies within this angle of `up_hint` [deg].
        inlier_m: point-to-plane distance of an inlier [m].
        seed: seed of the point subsample and the RANSAC draws (same input, same plane).
        min_points: fewer valid pixels than this give None.
        sample_size: points scored by RANSAC.
        refit_size: at most this many points for the least-squares refit.
        iterations: RANSAC hypotheses (3-point planes) drawn.
        min_inlier_frac: a plane needs at least this share of the scored points as inliers.
        below_m: a point more than this below a plane [m] counts as "below".
        max_below_frac: a plane with more than this share of the scored points below it is not
            the floor (a table top, a seat, a step).

    Returns:
        (4,) float64 (n, d) camera frame, |n| = 1, n·up_hint > 0, n·x + d = 0 on the floor,
        > 0 above; None when there are too few points or no plane passes the tests.
    """
    depth = np.asarray(depth)
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f"depth must be (H, W) = ({camera.height}, {camera.width}) like the "
                         f"camera, got {depth.shape}")
    up = CAMERA_UP if up_hint is None else np.asarray(up_hint, np.float64).reshape(3)
    if not np.all(np.isfinite(up)) or np.linalg.norm(up) < 1e-9:
        raise ValueError(f"up_hint must be a finite non-zero 3-vector, got {up_hint}")
    up = up / np.linalg.norm(up)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
    if exclude is not None:
        exclude = np.asarray(exclude, bool)
        if exclude.shape != depth.shape:
            raise ValueError(f"exclude must have the depth's shape {depth.shape}, got "
                             f"{exclude.shape}")
        valid &= ~exclude
    flat = np.flatnonzero(valid)
    if len(flat) < max(min_points, 3):
        return None
    rng = np.random.default_rng(seed)
    if len(flat) > refit_size:
        flat = rng.choice(flat, refit_size, replace=False)
    else:
        flat = rng.permutation(flat)
    points = _backproject(flat, depth, camera)
    scored = points[:sample_size]  # a random subsample (flat is shuffled)
    cos_max = np.cos(np.deg2rad(max_angle_deg))

    plane = _ransac(scored, up, cos_max, rng, iterations, inlier_m, below_m,
                    min_inlier_frac, max_below_frac)
    if plane is None:
        return None
    for _ in range(2):  # least-squares refit on the inliers of the larger set
        inliers = points[np.abs(points @ plane[:3] + plane[3]) < inlier_m]
        if len(inliers) < 3:
            return None
        plane = _fit_plane(inliers, up)
    if plane[:3] @ up < cos_max:
        return None
    return plane


def _backproject(flat: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """(N,) flat pixel indices -> (N, 3) float64 camera-frame points of the pixel centres [m]."""
    v, u = np.divmod(flat, depth.shape[1])
    z = depth.reshape(-1)[flat].astype(np.float64)
    return np.stack([(u + 0.5 - camera.cx) / camera.fx * z,
                     (v + 0.5 - camera.cy) / camera.fy * z, z], axis=1)


def _ransac(points: np.ndarray, up: np.ndarray, cos_max: float, rng: np.random.Generator,
            iterations: int, inlier_m: float, below_m: float, min_inlier_frac: float,
            max_below_frac: float, chunk: int = 256) -> np.ndarray | None:
    """The best 3-point plane (4,) over `points` (M, 3) (most inliers among those within the
    angle with enough inliers and few points below), or None."""
    m = len(points)
    idx = rng.integers(m, size=(iterations, 3))
    a, b, c = points[idx[:, 0]], points[idx[:, 1]], points[idx[:, 2]]
    normal = np.cross(b - a, c - a)
    norm = np.linalg.norm(normal, axis=1)
    ok = norm > 1e-9
    normal = normal[ok] / norm[ok, None]
    a = a[ok]
    normal *= np.where(normal @ up < 0, -1.0, 1.0)[:, None]  # point up
    keep = normal @ up >= cos_max
    normal, a = normal[keep], a[keep]
    if not len(normal):
        return None
    offset = -np.einsum("ij,ij->i", normal, a)
    best, best_count = None, -1
    for s in range(0, len(normal), chunk):
        dist = normal[s:s + chunk] @ points.T + offset[s:s + chunk, None]  # (h, M)
        inliers = np.count_nonzero(np.abs(dist) < inlier_m, axis=1)
        below = np.count_nonzero(dist < -below_m, axis=1)
        good = (inliers >= min_inlier_frac * m) & (below <= max_below_frac * m)
        if np.any(good):
            k = int(np.argmax(np.where(good, inliers, -1)))
            if inliers[k] > best_count:
                best_count = int(inliers[k])
                best = np.r_[normal[s + k], offset[s + k]]
    return best


def _fit_plane(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Least-squares plane (4,) through `points` (N >= 3, 3) with its normal towards `up`."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    n = vt[-1]
    if n @ up < 0:
        n = -n
    return np.r_[n, -n @ centre]
