"""Initial 6-DoF object pose from a segmented object: template choice, placement, ICP.

Two paths, both returning an `ObjectEstimate` in the camera's optical frame:

With depth (`points`, the object's back-projected pixels):

1. "up" is the floor normal when a floor plane is given, else -y of the camera (the camera is
   assumed roughly level; a pitched camera without a floor plane tilts the object by its pitch).
2. Every candidate template is placed upright (template +Y = up, yaw 0 = its front +Z facing
   the camera) at `num_yaws` yaws. The points are the visible (front) surface, so along each
   horizontal template axis the box starts at the points' near bound and extends away from
   the camera; a floor template whose points reach the floor stands on it. A few yaw-only
   ICP steps (below) follow, and each start is scored.
3. The `refine_yaws` best yaws are refined by point-to-plane ICP against the exact template
   mesh (closest points from an open3d `RaycastingScene`, Tukey weights, back-facing matches
   dropped). The rotation is a yaw about "up" only (4 DoF) when `config.upright` says so
   ("always", or "floor_objects" for templates with `rests_on_floor`), else free (6 DoF).
   open3d's `registration_icp` cannot hold a rotation axis fixed, hence the small solver here.
4. Score = F1 of (a) observed points within `inlier_distance_m` of the placed mesh and (b) the
   mesh's camera-visible surface samples (in the image) within `inlier_distance_m` of an
   observed point. (b) makes a small template fitting part of a big object lose (stool vs
   chair). The best template and pose win; `confidence` is that F1.

RGB only (`mask`):

1. The template stands upright facing the camera on the ray through the mask's box centre.
   Its depth comes from the apparent size: the projected template box is compared with the
   mask's box (height and width, sides touching the image border skipped) and the depth is
   scaled by the less occluded of the two ratios, repeated until it settles (pinhole).
2. Held objects: when `hands` are given and one lies within the object's half diagonal +
   `hand_reach_m` of that placement, the centre moves along the same ray to the mean depth
   (along the ray) of those hands; a floor template ("rests_on_floor") only when that leaves
   its bottom at least `min_lift_m` above the floor (a carried box, not a pushed table).
3. Otherwise floor templates with a floor plane stand on it: the ray through the bottom centre
   of the mask's box meets the floor at the object's near bottom edge, and the box extends
   half its depth away from the camera (used when within a factor 3 of the size-based depth
   and the mask does not touch the image's bottom edge).
   This placement does not depend on the template's size, so the silhouette IoU below does.
4. With several candidate templates the best IoU of projected silhouette and mask, times the
   agreement min/max of the apparent-size distance and the hand / floor distance, wins;
   `confidence` = `rgb_confidence` x that product.

Unknown class (None, "unknown", or no template of that class): every template competes.
open3d and cv2 are imported inside the functions that need them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

from scorehoi_node.core.objects import ObjectLibrary, ObjectTemplate
from scorehoi_node.core.types import CameraIntrinsics, ObjectEstimate

#: how `ObjectFitConfig.upright` may constrain the ICP rotation
UPRIGHT_MODES = ("always", "floor_objects", "never")
#: class names that mean "no class" (all templates compete)
UNKNOWN_CLASSES = ("", "unknown")


@dataclass(frozen=True)
class ObjectFitConfig:
    """Settings of the initial object pose (the only source of their defaults).

    Attributes:
        num_yaws: upright yaws tried per template (evenly spaced over 360 degrees).
        refine_yaws: best yaws refined by ICP per template.
        icp_iterations: point-to-plane iterations of the refinement.
        coarse_iterations: yaw-only ICP steps from every yaw before they are ranked.
        max_step_rad, max_step_m: one ICP step turns / moves the object at most this much.
        max_correspondence_m: matches farther than this get no weight (Tukey cut-off) [m].
        inlier_distance_m: a point / model sample counts as explained within this [m].
        upright: "always" (yaw only), "floor_objects" (yaw only for templates that rest on the
            floor, free rotation for handheld ones) or "never" (free rotation).
        max_points: observed points are subsampled to at most this many.
        model_samples: surface samples of the template used for the coverage term.
        min_points: fewer finite points than this -> the RGB path (with a mask) or None.
        hand_reach_m: a hand is on the object when within half its diagonal + this [m].
        min_lift_m: a floor template is held only when lifted at least this much [m].
        rgb_confidence: confidence of an RGB-only estimate per unit silhouette IoU.
        seed: seed of the subsampling (results depend only on it and the inputs).
    """

    num_yaws: int = 12
    refine_yaws: int = 2
    icp_iterations: int = 15
    coarse_iterations: int = 5
    max_step_rad: float = 0.2
    max_step_m: float = 0.1
    max_correspondence_m: float = 0.08
    inlier_distance_m: float = 0.02
    upright: str = "floor_objects"
    max_points: int = 1500
    model_samples: int = 1500
    min_points: int = 20
    hand_reach_m: float = 0.12
    min_lift_m: float = 0.1
    rgb_confidence: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.upright not in UPRIGHT_MODES:
            raise ValueError(f"upright={self.upright!r} is not one of {', '.join(UPRIGHT_MODES)}")
        for name in ("num_yaws", "refine_yaws", "max_points", "model_samples", "min_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")
        for name in ("icp_iterations", "coarse_iterations"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0")
        for name in ("max_correspondence_m", "inlier_distance_m", "hand_reach_m", "max_step_rad",
                     "max_step_m"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        if self.min_lift_m < 0.0 or not 0.0 < self.rgb_confidence <= 1.0:
            raise ValueError(f"need min_lift_m >= 0 and rgb_confidence in (0, 1], got "
                             f"{self.min_lift_m}, {self.rgb_confidence}")


@dataclass(frozen=True)
class ObjectFit:
    """One template placed on observed points (diagnostics of the depth path).

    Attributes:
        template: the template.
        rotation: (3, 3) float64 template frame -> camera frame.
        translation: (3,) float64 [m] template origin in the camera frame.
        fitness: fraction of observed points within `inlier_distance_m` of the mesh.
        coverage: fraction of the mesh's visible in-image samples near an observed point.
        inlier_rmse_m: RMS point-to-mesh distance of those inlier points [m].
        score: F1 of fitness and coverage, in [0, 1].
    """

    template: ObjectTemplate
    rotation: np.ndarray
    translation: np.ndarray
    fitness: float
    coverage: float
    inlier_rmse_m: float
    score: float


# -- small geometry helpers ---------------------------------------------------------------------

def up_vector(floor_plane: np.ndarray | None) -> np.ndarray:
    """(3,) unit "up" in the camera frame: the floor normal, else -y of the camera."""
    if floor_plane is None:
        return np.array([0.0, -1.0, 0.0])
    n = np.asarray(floor_plane, np.float64).reshape(-1)
    if n.shape != (4,) or not np.all(np.isfinite(n)) or not np.linalg.norm(n[:3]) > 0:
        raise ValueError(f"floor_plane must be 4 finite numbers (n, d) with n != 0, got {n}")
    return n[:3] / np.linalg.norm(n[:3])


def _floor_offset(floor_plane: np.ndarray | None) -> float | None:
    """d / |n| of the floor plane (so up . x + d = height above the floor), or None."""
    if floor_plane is None:
        return None
    plane = np.asarray(floor_plane, np.float64).reshape(-1)
    return float(plane[3] / np.linalg.norm(plane[:3]))


def upright_basis(up: np.ndarray, view_dir: np.ndarray) -> np.ndarray:
    """(3, 3) rotation with template +Y = `up` and template +Z facing the camera.

    `view_dir` is the direction from the camera to the object (camera frame).
    """
    z = -(view_dir - (view_dir @ up) * up)
    if np.linalg.norm(z) < 1e-6:  # looking straight down/up: any horizontal front
        z = np.cross(up, [1.0, 0.0, 0.0])
    z /= np.linalg.norm(z)
    return np.stack([np.cross(up, z), up, z], axis=1)


def yaw_matrix(angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` [rad] about the template's +Y."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rodrigues(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def _box_centre(template: ObjectTemplate) -> np.ndarray:
    """(3,) centre of the template's bounding box, canonical frame."""
    v = template.vertices.astype(np.float64)
    return 0.5 * (v.min(0) + v.max(0))


def _clean_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {p.shape}")
    return p[np.all(np.isfinite(p), axis=1) & (p[:, 2] > 0)]


def _candidates(library: ObjectLibrary, class_name: str | None) -> list[ObjectTemplate]:
    if class_name is not None and class_name not in UNKNOWN_CLASSES:
        found = library.for_coco_class(class_name)
        if found:
            return found
    return list(library)


# -- depth path ---------------------------------------------------------------------------------

class _PointFitter:
    """Fits one template to fixed observed points (keeps the kd-tree and subsample)."""

    def __init__(self, camera: CameraIntrinsics, points: np.ndarray, up: np.ndarray,
                 floor_d: float | None, config: ObjectFitConfig) -> None:
        self.camera, self.up, self.floor_d, self.cfg = camera, up, floor_d, config
        self.points = points
        self.tree = cKDTree(points)
        self.centroid = points.mean(0)

    def _pairs(self, template: ObjectTemplate, R: np.ndarray, t: np.ndarray):
        """Posed closest mesh points S, normals N (camera frame), distances and weights."""
        local = (self.points - t) @ R
        s, n = template.closest_points(local)
        S, N = s @ R.T + t, n @ R.T
        diff = self.points - S
        dist = np.linalg.norm(diff, axis=1)
        c = self.cfg.max_correspondence_m
        w = np.where(dist < c, (1.0 - (dist / c) ** 2) ** 2, 0.0)  # Tukey biweight
        w[np.einsum("ij,ij->i", N, self.points) > 0] = 0.0  # a back face cannot be seen
        return S, N, dist, w

    def _step(self, template, R, t, dof: str):
        """One weighted point-to-plane Gauss-Newton step. dof: "t", "yaw" (+t) or "free"."""
        S, N, _, w = self._pairs(template, R, t)
        if w.sum() < 1e-6:
            return R, t
        c = (w[:, None] * S).sum(0) / w.sum()
        r = np.einsum("ij,ij->i", N, S - self.points)
        cols = [N]
        if dof == "yaw":
            cols.insert(0, (np.cross(S - c, N) @ self.up)[:, None])
        elif dof == "free":
            cols.insert(0, np.cross(S - c, N))
        J = np.concatenate(cols, axis=1)
        sw = np.sqrt(w)[:, None]
        A, b = J * sw, -r * sw[:, 0]
        H = A.T @ A + 1e-6 * w.sum() * np.eye(J.shape[1])
        x = np.linalg.solve(H, A.T @ b)
        # clamp the step (Gauss-Newton overshoots on thin parts: legs, handles)
        x[-3:] *= min(1.0, self.cfg.max_step_m / max(np.linalg.norm(x[-3:]), 1e-12))
        if dof == "t":
            return R, t + x
        w_rot = x[0] * self.up if dof == "yaw" else x[:3]
        w_rot = w_rot * min(1.0, self.cfg.max_step_rad / max(np.linalg.norm(w_rot), 1e-12))
        dR = _rodrigues(w_rot)
        return dR @ R, dR @ (t - c) + c + x[-3:]

    def score(self, template: ObjectTemplate, R: np.ndarray, t: np.ndarray) -> ObjectFit:
        """Fitness / coverage / RMSE of a placement (see the module docstring, step 4)."""
        tau = self.cfg.inlier_distance_m
        _, _, dist, _ = self._pairs(template, R, t)
        inl = dist < tau
        fitness = float(inl.mean())
        rmse = float(np.sqrt(np.mean(dist[inl] ** 2))) if inl.any() else float("inf")
        # camera-visible model samples inside the image
        samples = template.surface_samples(self.cfg.model_samples) @ R.T + t
        coverage = 0.0
        front = samples[:, 2] > 1e-3
        uv = self.camera.project(samples)
        inside = front & (uv[:, 0] >= 0) & (uv[:, 0] < self.camera.width) & (
            uv[:, 1] >= 0) & (uv[:, 1] < self.camera.height)
        if inside.any():
            origin = -R.T @ t  # camera centre in the template frame
            target = (samples[inside] - t) @ R
            ray = target - origin
            length = np.linalg.norm(ray, axis=1)
            rays = np.concatenate([np.broadcast_to(origin, ray.shape), ray / length[:, None]], 1)
            hit = template.raycasting_scene.cast_rays(
                o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
            visible = hit >= length - 2e-3
            if visible.any():
                d, _ = self.tree.query(samples[inside][visible], distance_upper_bound=tau)
                coverage = float(np.mean(d < tau))
        f1 = 2 * fitness * coverage / (fitness + coverage) if fitness + coverage > 0 else 0.0
        return ObjectFit(template=template, rotation=R, translation=t, fitness=fitness,
                         coverage=coverage, inlier_rmse_m=rmse, score=float(f1))

    def initial_translation(self, template: ObjectTemplate, R: np.ndarray) -> np.ndarray:
        """Template origin for rotation R from the observed points' extent along its axes.

        Horizontal template axes: the near side of the object faces the camera, so the box
        starts at the points' near bound (2nd percentile) and extends away from the camera,
        kept within what contains the points' span. Vertical: the bottom sits on the floor
        when the object rests on the floor and the points reach down to it; otherwise the
        box is centred on the points' vertical span.
        """
        centre_local = _box_centre(template)
        extent = template.extent.astype(np.float64)
        view = self.centroid / np.linalg.norm(self.centroid)
        centre = np.zeros(3)
        for k in range(3):
            axis = R[:, k]
            proj = self.points @ axis
            lo, hi = np.percentile(proj, [2.0, 98.0])
            half = 0.5 * extent[k]
            if k == 1:
                c = 0.5 * (lo + hi)
                if self.floor_d is not None and template.rests_on_floor:
                    bottom = -self.floor_d  # up . x on the floor
                    if bottom - 0.05 <= lo <= bottom + self.cfg.max_correspondence_m:
                        c = bottom + half
            else:
                away = 1.0 if axis @ view >= 0 else -1.0
                c = (lo + half) if away > 0 else (hi - half)
            # the box must contain the observed span where it can
            c = float(np.clip(c, hi - half, lo + half)) if hi - lo <= 2 * half else 0.5 * (lo + hi)
            centre += c * axis
        return centre - R @ centre_local

    def _dof(self, template: ObjectTemplate) -> str:
        """"yaw" (stays upright) or "free" rotation in ICP, per `cfg.upright`."""
        upright = self.cfg.upright
        return "yaw" if upright == "always" or (
            upright == "floor_objects" and template.rests_on_floor) else "free"

    def refine_from(self, template: ObjectTemplate, R: np.ndarray, t: np.ndarray) -> ObjectFit:
        """ICP from a given placement (a warm start, e.g. last frame's pose), then score."""
        dof = self._dof(template)
        for _ in range(self.cfg.icp_iterations):
            R, t = self._step(template, R, t, dof)
        return self.score(template, R, t)

    def fit(self, template: ObjectTemplate) -> ObjectFit:
        cfg = self.cfg
        view = self.centroid / np.linalg.norm(self.centroid)
        B = upright_basis(self.up, view)
        tried = []
        for yaw in np.arange(cfg.num_yaws) * 2 * np.pi / cfg.num_yaws:
            R = B @ yaw_matrix(yaw)
            t = self.initial_translation(template, R)
            for _ in range(cfg.coarse_iterations):
                R, t = self._step(template, R, t, "yaw")
            tried.append(self.score(template, R, t))
        tried.sort(key=lambda f: -f.score)
        dof = self._dof(template)
        best = None
        for start in tried[:cfg.refine_yaws]:
            R, t = start.rotation, start.translation
            for _ in range(cfg.icp_iterations):
                R, t = self._step(template, R, t, dof)
            fit = self.score(template, R, t)
            fit = fit if fit.score >= start.score else start
            if best is None or fit.score > best.score:
                best = fit
        return best


def _subsample(points: np.ndarray, config: ObjectFitConfig) -> np.ndarray:
    """At most `config.max_points` of `points` (seeded, order kept)."""
    if len(points) <= config.max_points:
        return points
    rng = np.random.default_rng(config.seed)
    return points[np.sort(rng.choice(len(points), config.max_points, replace=False))]


def fit_points(camera: CameraIntrinsics, templates: list[ObjectTemplate], points: np.ndarray,
               floor_plane: np.ndarray | None = None,
               config: ObjectFitConfig = ObjectFitConfig()) -> list[ObjectFit]:
    """Fit every template to (N, 3) finite camera-frame points; best score first.

    `floor_plane` (4,) (n, d) sets "up" and lets floor templates start on the floor.
    """
    up, floor_d = up_vector(floor_plane), _floor_offset(floor_plane)
    points = _subsample(points, config)
    fitter = _PointFitter(camera, points, up, floor_d, config)
    # a template cannot be much smaller than the spread of its points (2 cm + 20 % slack)
    spread = np.linalg.norm(points.max(0) - points.min(0))
    usable = [t for t in templates if np.linalg.norm(t.extent) * 1.2 + 0.02 >= spread] or templates
    return sorted((fitter.fit(t) for t in usable), key=lambda f: -f.score)


def fit_from_starts(camera: CameraIntrinsics, template: ObjectTemplate, points: np.ndarray,
                    starts: list[tuple[np.ndarray, np.ndarray]],
                    floor_plane: np.ndarray | None = None,
                    config: ObjectFitConfig = ObjectFitConfig()) -> ObjectFit | None:
    """ICP of one template from given placements (a recogniser's yaw / translation seeds): no
    template or yaw search. Each start (rotation (3, 3), origin (3,), camera frame) is refined
    (`ObjectFitConfig.upright` decides yaw-only or free rotation) and scored; the best wins.
    None when fewer than `config.min_points` finite points or no start."""
    pts = _clean_points(points)
    if len(pts) < config.min_points or not starts:
        return None
    fitter = _PointFitter(camera, _subsample(pts, config), up_vector(floor_plane),
                          _floor_offset(floor_plane), config)
    fits = [fitter.refine_from(template, np.asarray(R, np.float64), np.asarray(t, np.float64))
            for R, t in starts]
    return max(fits, key=lambda f: f.score)


def place_rgb(camera: CameraIntrinsics, template: ObjectTemplate, mask: np.ndarray,
              floor_plane: np.ndarray | None = None, hands: np.ndarray | None = None,
              yaw: float = 0.0, config: ObjectFitConfig = ObjectFitConfig()
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """RGB-only placement of one template on a mask (module docstring, RGB path), turned by
    `yaw` [rad] about "up" from facing the camera: (rotation (3, 3), origin (3,), silhouette
    IoU with the mask in [0, 1])."""
    mask = np.asarray(mask, bool)
    if hands is not None:
        hands = np.asarray(hands, np.float64).reshape(-1, 3)
        hands = hands[np.all(np.isfinite(hands), axis=1)]
    R, t, _ = _place_rgb(camera, template, _mask_box(mask), up_vector(floor_plane), floor_plane,
                         hands, config)
    centre = t + R @ _box_centre(template)
    R = R @ yaw_matrix(yaw)
    t = centre - R @ _box_centre(template)
    sil = _silhouette(template, R, t, camera)
    return R, t, float((sil & mask).sum() / max((sil | mask).sum(), 1))


# -- RGB path -----------------------------------------------------------------------------------

def _silhouette(template: ObjectTemplate, R: np.ndarray, t: np.ndarray,
                camera: CameraIntrinsics) -> np.ndarray:
    """(H, W) bool projected template (triangles behind the camera are skipped)."""
    v = template.vertices.astype(np.float64) @ R.T + t
    out = np.zeros((camera.height, camera.width), np.uint8)
    tri = template.faces[np.all(v[template.faces][:, :, 2] > 1e-3, axis=1)]
    if len(tri):
        uv = np.round(camera.project(v) * 4).astype(np.int32)  # 2 fractional bits
        cv2.fillPoly(out, list(uv[tri]), 1, lineType=cv2.LINE_8, shift=2)
    return out.astype(bool)


def _mask_box(mask: np.ndarray) -> np.ndarray:
    vs, us = np.nonzero(mask)
    return np.array([us.min(), vs.min(), us.max() + 1.0, vs.max() + 1.0])


def _place_rgb(camera: CameraIntrinsics, template: ObjectTemplate, box: np.ndarray,
               up: np.ndarray, floor_plane: np.ndarray | None,
               hands: np.ndarray | None,
               config: ObjectFitConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Upright, camera-facing rotation, translation, and the agreement in (0, 1] of the
    apparent-size distance with the distance the hands or the floor gave (1 without them)."""
    centre_local = _box_centre(template)
    extent = template.extent.astype(np.float64)
    uc = np.array([[0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])]])
    ray = camera.backproject(uc, np.array([1.0]))[0]  # z = 1 point on the ray
    z = camera.fy * extent[1] / max(box[3] - box[1], 1.0)  # first guess: height only
    # sides that touch the image border do not measure the size
    free_w = box[0] > 0 and box[2] < camera.width
    free_h = box[1] > 0 and box[3] < camera.height
    R = upright_basis(up, ray / np.linalg.norm(ray))
    v = template.vertices.astype(np.float64)
    for _ in range(6):
        R = upright_basis(up, ray / np.linalg.norm(ray))
        c = z * ray
        uv = camera.project((v - centre_local) @ R.T + c)
        ratios = []
        if free_w:
            ratios.append((uv[:, 0].max() - uv[:, 0].min()) / max(box[2] - box[0], 1.0))
        if free_h:
            ratios.append((uv[:, 1].max() - uv[:, 1].min()) / max(box[3] - box[1], 1.0))
        ratio = min(ratios) if ratios else 1.0
        z *= ratio
        # keep the projected box centred on the mask's box
        mid = 0.5 * (uv.min(0) + uv.max(0))
        shift = camera.backproject(uc + (uc[0] - mid), np.array([1.0]))[0]
        ray = 0.5 * (ray + shift)
        if abs(ratio - 1.0) < 1e-3:
            break
    c_size = z * ray
    half_diag = 0.5 * float(np.linalg.norm(extent))
    floor_d = _floor_offset(floor_plane)

    def bottom_height(c: np.ndarray) -> float:  # of the object's bottom above the floor [m]
        return float(up @ c + floor_d) - 0.5 * extent[1]

    centre = c_size
    held = None
    if hands is not None and len(hands):
        ray_dir = ray / np.linalg.norm(ray)
        along = hands @ ray_dir
        perp = np.linalg.norm(hands - along[:, None] * ray_dir, axis=1)
        # near the ray, and at a depth the apparent size allows (within a factor 2)
        dist_size = float(np.linalg.norm(c_size))
        near = (perp < half_diag + config.hand_reach_m) & (along > 0.5 * dist_size) & (
            along < 2.0 * dist_size)
        if near.any():
            held = float(np.mean(along[near])) * ray_dir
            if template.rests_on_floor and floor_d is not None and \
                    bottom_height(held) < config.min_lift_m:
                held = None  # a floor object the hands merely touch (pushed table)
    if held is not None:
        centre = held
    elif template.rests_on_floor and floor_d is not None and box[3] < camera.height:
        # the lowest mask pixel column's ray meets the floor at the object's near bottom edge
        foot = camera.backproject(np.array([[0.5 * (box[0] + box[2]), box[3]]]),
                                  np.array([1.0]))[0]
        denom = float(up @ foot)
        if denom < -1e-6:  # the ray goes down towards the floor
            near_edge = (-floor_d / denom) * foot
            away = near_edge - (near_edge @ up) * up
            away /= max(np.linalg.norm(away), 1e-9)
            R_f = upright_basis(up, away)
            half_depth = 0.5 * float(np.abs(R_f.T @ away) @ extent)
            on_floor = near_edge + half_depth * away + 0.5 * extent[1] * up
            if 0.33 < np.linalg.norm(on_floor) / np.linalg.norm(c_size) < 3.0:
                centre = on_floor
    R = upright_basis(up, centre / np.linalg.norm(centre))
    a, b = np.linalg.norm(centre), np.linalg.norm(c_size)
    return R, centre - R @ centre_local, float(min(a, b) / max(a, b))


# -- entry point --------------------------------------------------------------------------------

def estimate_object(camera: CameraIntrinsics, library: ObjectLibrary, *, class_name: str | None,
                    points: np.ndarray | None = None, mask: np.ndarray | None = None,
                    hands: np.ndarray | None = None, floor_plane: np.ndarray | None = None,
                    config: ObjectFitConfig = ObjectFitConfig(),
                    warm: tuple[str, np.ndarray, np.ndarray, float] | None = None
                    ) -> ObjectEstimate | None:
    """Initial template and 6-DoF pose of one segmented object (see the module docstring).

    Args:
        camera: intrinsics of the image the mask / points come from.
        library: object templates.
        class_name: COCO class of the detection; None or "unknown" -> every template competes.
        points: (N, 3) camera-frame points [m] of the object (its back-projected mask pixels);
            non-finite rows and z <= 0 are dropped.
        mask: (H, W) bool object mask (the RGB-only path, and the fallback when fewer than
            `config.min_points` points remain).
        hands: (K, 3) camera-frame hand positions [m] (RGB path; non-finite rows ignored).
        floor_plane: (4,) (n, d), n.x + d = 0 on the floor, n pointing up; None -> up = -y.
        config: fit settings.
        warm: (template id, rotation, translation, minimum score) of a predicted placement
            (last frame's object carried along with the person): ICP starts there with that
            template only (depth path) and the result is returned when it scores at least the
            minimum, else None — no search. Without it every template and yaw is searched.

    Returns:
        The estimate (translation = template origin, the centre of its bottom face, camera
        frame), or None when neither enough points nor a non-empty mask is given.

    Raises:
        ValueError: malformed shapes, a non-finite or zero floor normal, no points and no mask.
    """
    if points is None and mask is None:
        raise ValueError("estimate_object needs points (depth) or a mask (RGB)")
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != (camera.height, camera.width):
            raise ValueError(f"mask must be ({camera.height}, {camera.width}), got {mask.shape}")
    up = up_vector(floor_plane)
    templates = _candidates(library, class_name)

    def out_class(tmpl: ObjectTemplate) -> str:
        return tmpl.coco_class if class_name in (None, *UNKNOWN_CLASSES) else class_name

    if points is not None:
        pts = _clean_points(points)
        if len(pts) >= config.min_points:
            if warm is not None:
                if warm[0] not in library.ids:
                    return None
                fitter = _PointFitter(camera, _subsample(pts, config), up,
                                      _floor_offset(floor_plane), config)
                best = fitter.refine_from(library.by_id(warm[0]), np.asarray(warm[1], np.float64),
                                          np.asarray(warm[2], np.float64))
                if best.score < warm[3]:
                    return None
            else:
                best = fit_points(camera, templates, pts, floor_plane, config)[0]
            return ObjectEstimate(
                class_name=out_class(best.template), template_id=best.template.id,
                rotation=best.rotation, translation=best.translation,
                extent=best.template.extent.astype(np.float64), confidence=best.score)
    if mask is None or not mask.any() or warm is not None:
        return None

    if hands is not None:
        hands = np.asarray(hands, np.float64).reshape(-1, 3)
        hands = hands[np.all(np.isfinite(hands), axis=1)]
    box = _mask_box(mask)
    best_iou, best = -1.0, None
    for tmpl in templates:
        R, t, agree = _place_rgb(camera, tmpl, box, up, floor_plane, hands, config)
        sil = _silhouette(tmpl, R, t, camera)
        iou = float((sil & mask).sum() / max((sil | mask).sum(), 1))
        if iou * agree > best_iou:
            best_iou, best = iou * agree, (tmpl, R, t)
    tmpl, R, t = best
    return ObjectEstimate(class_name=out_class(tmpl), template_id=tmpl.id, rotation=R,
                          translation=t, extent=tmpl.extent.astype(np.float64),
                          confidence=config.rgb_confidence * max(best_iou, 0.0))
