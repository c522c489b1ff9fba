"""Initial 3D human with the anny body model, from MediaPipe-33 keypoints (issue 5, item 2).

Three analytic steps, no iterative optimisation by default:

1. Targets: the detector's metric landmarks placed in the camera frame by PnP, rescaled about the
   camera centre to the measured depth when a depth image is given (`human.place_keypoints`,
   `human.depth_scale`, exactly as the skeleton fit does).
2. Shape: the `height` phenotype (optionally also `gender`) chosen by a dense 1-D/2-D search so
   the rest model's limb, torso and shoulder/hip widths match the observed ones. Rest joints
   and landmark anchors are precomputed on a small phenotype grid once per body model and
   interpolated (piecewise linear) in between. The other phenotypes stay at 0.5.
3. Pose: retargeting by bone aiming, as `synth.generator.SceneGenerator._retarget` does for
   mocap: root frame from the hips and the torso, a torso twist spread over the three spine
   joints, every other posed bone swung (minimal rotation) to point at its observed landmark.
   Bones whose landmarks are not visible (score < `min_score`) keep the rest (neutral) local
   rotation. The root translation puts the model's hip centre on the observed hip centre.

Correspondence. Every MediaPipe landmark is an *anchor* on the anny body: a posed joint (hips,
knees, ankles, shoulders, elbows, wrists) or a mesh vertex (face, fingers, heels, toes) that
moves rigidly with one posed joint (`LANDMARK_JOINTS`). `mediapipe_landmarks` evaluates them on
a posed mesh; the fit evaluates them through numpy forward kinematics of the 20 joints.

Output frame. All rotations are solved directly in the camera's optical frame (x right, y down,
z forward): the root rotation maps body-frame vectors (+X left, +Y up, +Z forward) to camera
vectors (an upright person facing the camera has R0 @ (0, 1, 0) ~ (0, -1, 0)). With
R = `HumanEstimate.joint_rotations` and T = `BodyFit.root_transl`,

    body(body_pose_rotmat=R[None, 1:], shape=shape[None], root_rotmat=R[None, 0],
         root_transl=T[None])

reproduces `HumanEstimate.vertices` / `joint_positions` in the camera frame. For anny the rest
root joint sits at the body-frame origin for every shape, so T == joint_positions[0]; in general
T = joint_positions[0] - rest_root(shape) (`BodyModel.forward` convention).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import roma
import torch
from scipy.spatial.transform import Rotation

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.bodies.landmarks import (JOINT_LANDMARKS, LANDMARK_JOINTS,
                                                 landmark_vertex_ids, mediapipe_landmarks)
from scorehoi_node.core.estimate.human import HumanFitError, depth_scale, place_keypoints
from scorehoi_node.core.rotations import swing
from scorehoi_node.core.bodies.kinematics import Pose, Skeleton
from scorehoi_node.core.types import CameraIntrinsics, HumanEstimate, PersonDetection

_HIPS, _SHOULDERS, _EARS, _NOSE = (23, 24), (11, 12), (7, 8), 0
#: bone aims in joint order: joint -> landmarks whose mean the joint's bone points at
_AIM_AT: dict[str, tuple[int, ...]] = {
    "upperleg01.L": (25,), "upperleg01.R": (26,),
    "lowerleg01.L": (27,), "lowerleg01.R": (28,),
    "neck01": _EARS,
    "clavicle.L": (11,), "clavicle.R": (12,),
    "upperarm01.L": (13,), "upperarm01.R": (14,),
    "lowerarm01.L": (15,), "lowerarm01.R": (16,),
    "wrist.L": (17, 19), "wrist.R": (18, 20),
}
#: joints aimed along a landmark-to-landmark direction (heel -> foot index)
_AIM_ALONG: dict[str, tuple[int, int]] = {"foot.L": (29, 31), "foot.R": (30, 32)}
#: (a, b) landmark pairs whose distances determine the shape; -1 = hip centre, -2 = shoulder centre
_LENGTHS: tuple[tuple[int, int], ...] = (
    (11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28),
    (11, 12), (23, 24), (-1, -2),
)
_SPINE = ("spine05", "spine03", "spine01")


@dataclass(frozen=True)
class BodyFitConfig:
    """Defaults of the anny body fit (the only place they live).

    Attributes:
        min_score: landmarks below this visibility are ignored; bones aimed at them stay neutral.
        body_offset_m: with depth, the torso keypoints sit this far behind the visible surface [m].
        max_depth_rescale: depth rescaling outside [1/x, x] is rejected (the depth belongs to
            something else) and the PnP placement is kept.
        height_grid: rest-model samples of the `height` phenotype over [0, 1] (>= 2).
        fit_gender: also search the `gender` phenotype (3 grid samples: 0, 0.5, 1), which
            separates shoulder/hip width from limb length; off: gender stays 0.5.
        gender_prior: weight [1/m^2 per unit] pulling gender towards 0.5 (noisy keypoints).
        snap_to_rays: move every placed 3D landmark onto the camera ray of its 2D keypoint
            (keeping its depth): detectors' 2D keypoints are more accurate than their 3D ones.
        refine_steps: Adam steps on the 3D + 2D keypoint loss after the analytic fit (0: none).
        refine_lr: Adam learning rate [rad, m].
        reprojection_weight: weight of the 2D term (pixels divided by the focal length, i.e.
            normalised image units) against the 3D term [m] in the refinement.
    """

    min_score: float = 0.5
    body_offset_m: float = 0.10
    max_depth_rescale: float = 2.0
    height_grid: int = 11
    fit_gender: bool = True
    gender_prior: float = 1e-3
    snap_to_rays: bool = True
    refine_steps: int = 0
    refine_lr: float = 0.01
    reprojection_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if not 0.0 <= self.body_offset_m < 1.0:
            raise ValueError(f"body_offset_m must be in [0, 1) m, got {self.body_offset_m}")
        if not self.max_depth_rescale > 1.0:
            raise ValueError(f"max_depth_rescale must be > 1, got {self.max_depth_rescale}")
        if self.height_grid < 2:
            raise ValueError(f"height_grid must be >= 2, got {self.height_grid}")
        if self.gender_prior < 0:
            raise ValueError(f"gender_prior must be >= 0, got {self.gender_prior}")
        if self.refine_steps < 0:
            raise ValueError(f"refine_steps must be >= 0, got {self.refine_steps}")
        if not self.refine_lr > 0:
            raise ValueError(f"refine_lr must be > 0, got {self.refine_lr}")
        if self.reprojection_weight < 0:
            raise ValueError(f"reprojection_weight must be >= 0, got {self.reprojection_weight}")


@dataclass(frozen=True)
class BodyFit:
    """Result of `BodyFitter.fit`.

    Attributes:
        human: the anny `HumanEstimate` in the camera frame (see the module docstring).
        root_transl: (3,) float64 `BodyModel.forward` root translation [m], camera frame.
        keypoints_cam: (33, 3) float64 the MediaPipe landmarks placed in the camera frame [m]
            (the 3D targets of the fit).
        landmarks_cam: (33, 3) float64 the fitted model's landmark anchors, camera frame [m].
        timings_ms: wall time of each step [ms].
    """

    human: HumanEstimate
    root_transl: np.ndarray
    keypoints_cam: np.ndarray
    landmarks_cam: np.ndarray
    timings_ms: dict[str, float]


# -- the fitter ------------------------------------------------------------------------------------
def _frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(3, 3) columns [left, up, forward] from a left vector and an approximate up vector."""
    u = up / max(np.linalg.norm(up), 1e-9)
    lft = left - (left @ u) * u
    lft = lft / max(np.linalg.norm(lft), 1e-9)
    return np.stack([lft, u, np.cross(lft, u)], axis=1)


def _frame_fwd(left: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """(3, 3) columns [left, up, forward] from a left vector and an approximate forward vector."""
    lft = left / max(np.linalg.norm(left), 1e-9)
    f = fwd - (fwd @ lft) * lft
    f = f / max(np.linalg.norm(f), 1e-9)
    return np.stack([lft, np.cross(f, lft), f], axis=1)


def _rotation_power(R: np.ndarray, t: float) -> np.ndarray:
    return Rotation.from_rotvec(t * Rotation.from_matrix(R).as_rotvec()).as_matrix()


def _lengths(points: np.ndarray) -> np.ndarray:
    """(..., 33, 3) landmarks -> (..., len(_LENGTHS)) distances."""
    hip = points[..., _HIPS, :].mean(-2)
    sho = points[..., _SHOULDERS, :].mean(-2)
    out = []
    for a, b in _LENGTHS:
        pa = hip if a == -1 else points[..., a, :]
        pb = sho if b == -2 else points[..., b, :]
        out.append(np.linalg.norm(pa - pb, axis=-1))
    return np.stack(out, axis=-1)


class BodyFitter:
    """Fits anny to MediaPipe-33 detections; holds the per-body caches (rest grid, anchors).

    Args:
        body: the anny `BodyModel` (any dtype, CPU or GPU).
        config: fit settings.
    """

    def __init__(self, body: BodyModel, config: BodyFitConfig = BodyFitConfig()) -> None:
        self.body = body
        self.config = config
        self.vertex_ids = landmark_vertex_ids(body)
        self.names = tuple(body.joint_names)
        self.parents = tuple(int(p) for p in body.parents)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.landmark_joint = np.array([self.index[n] for n in LANDMARK_JOINTS])
        self.shape_index = {n: i for i, n in enumerate(body.shape_names)}
        self.heights = np.linspace(0.0, 1.0, config.height_grid)
        self.genders = np.array([0.0, 0.5, 1.0]) if config.fit_gender else np.array([0.5])
        # rest joints (G, H, J, 3) and rest landmark anchors (G, H, 33, 3) on the grid
        shapes = np.tile(body.default_shape.double().cpu().numpy(),
                         (len(self.genders), len(self.heights), 1))
        shapes[..., self.shape_index["gender"]] = self.genders[:, None]
        shapes[..., self.shape_index["height"]] = self.heights[None, :]
        self.grid_shapes = shapes
        flat = shapes.reshape(-1, shapes.shape[-1])
        inp = body.rest_inputs(len(flat))
        inp["shape"] = torch.as_tensor(flat, dtype=body.dtype, device=body.device)
        with torch.no_grad():
            out = body(**inp)
        J = out.joints.double().cpu().numpy()
        V = out.vertices.double().cpu().numpy()
        lm = np.stack([mediapipe_landmarks(J[k], V[k], self.names, self.vertex_ids)
                       for k in range(len(flat))])
        g, h = len(self.genders), len(self.heights)
        self.grid_joints = J.reshape(g, h, *J.shape[1:])
        self.grid_landmarks = lm.reshape(g, h, 33, 3)
        # dense search table: lengths on a fine height grid per gender sample
        self.fine_heights = np.linspace(0.0, 1.0, 201)
        self.fine_genders = np.linspace(0.0, 1.0, 21) if config.fit_gender else np.array([0.5])
        self.fine_lengths = _lengths(self._interp(self.grid_landmarks, self.fine_genders[:, None],
                                                  self.fine_heights[None, :]))

    # -- shape ---------------------------------------------------------------------------------------
    def _interp(self, table: np.ndarray, gender, height) -> np.ndarray:
        """Piecewise-linear interpolation of a (G, H, ...) grid table at gender/height arrays."""
        gender, height = np.broadcast_arrays(np.asarray(gender, float), np.asarray(height, float))
        h = np.clip(height, 0, 1) * (len(self.heights) - 1)
        h0 = np.clip(np.floor(h).astype(int), 0, len(self.heights) - 2)
        th = (h - h0)[..., None, None]
        if len(self.genders) == 1:
            rows = table[0]
            return rows[h0] * (1 - th) + rows[h0 + 1] * th
        gg = np.clip(gender, 0, 1) * (len(self.genders) - 1)
        g0 = np.clip(np.floor(gg).astype(int), 0, len(self.genders) - 2)
        tg = (gg - g0)[..., None, None]
        lo = table[g0, h0] * (1 - th) + table[g0, h0 + 1] * th
        hi = table[g0 + 1, h0] * (1 - th) + table[g0 + 1, h0 + 1] * th
        return lo * (1 - tg) + hi * tg

    def fit_shape(self, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(33, 3) metric landmarks + (33,) scores -> (S,) phenotypes (height, gender fitted)."""
        ok = scores >= self.config.min_score
        hip_ok, sho_ok = ok[list(_HIPS)].all(), ok[list(_SHOULDERS)].all()
        w = np.array([(hip_ok if a == -1 else ok[a]) and (sho_ok if b == -2 else ok[b])
                      for a, b in _LENGTHS], dtype=float)
        shape = self.body.default_shape.double().cpu().numpy().copy()
        if w.sum() == 0:
            return shape
        obs = _lengths(keypoints)
        cost = ((self.fine_lengths - obs) ** 2 * w).sum(-1)  # (G_fine, H_fine)
        cost = cost + self.config.gender_prior * (self.fine_genders[:, None] - 0.5) ** 2
        gi, hi = np.unravel_index(np.argmin(cost), cost.shape)
        shape[self.shape_index["gender"]] = self.fine_genders[gi]
        shape[self.shape_index["height"]] = self.fine_heights[hi]
        return shape

    # -- pose ----------------------------------------------------------------------------------------
    def fit_pose(self, targets: np.ndarray, scores: np.ndarray, shape: np.ndarray
                 ) -> tuple[Pose, Skeleton, np.ndarray]:
        """Analytic retargeting in the camera frame.

        Returns the pose (local rotations, `root_transl`), the skeleton of `shape` and the
        (33, 3) rest landmark anchors of `shape` (body frame).
        """
        g, h = shape[self.shape_index["gender"]], shape[self.shape_index["height"]]
        rest = self._interp(self.grid_joints, g, h)
        anchors = self._interp(self.grid_landmarks, g, h)
        sk = Skeleton(rest, self.parents, self.names)
        ok = scores >= self.config.min_score
        pose = Pose(np.tile(np.eye(3), (len(self.names), 1, 1)), np.zeros(3))

        def mean(pts, ids):
            return pts[list(ids)].mean(0)

        # root: hip line and torso direction (rest model vs observed)
        rest_frame = _frame(anchors[23] - anchors[24], mean(anchors, _SHOULDERS) - mean(anchors, _HIPS))
        obs_frame = _frame(targets[23] - targets[24], mean(targets, _SHOULDERS) - mean(targets, _HIPS))
        pose.local[0] = obs_frame @ rest_frame.T
        # translation: the model's hip centre onto the observed one
        root = rest[0]
        pelvis = mean(targets, _HIPS) - pose.local[0] @ (mean(anchors, _HIPS) - root)
        pose.root_transl = pelvis - root
        # torso twist: chest frame from the shoulder line, spread evenly over the spine joints
        rest_chest = _frame(anchors[11] - anchors[12], mean(anchors, _SHOULDERS) - mean(anchors, _HIPS))
        obs_chest = _frame(targets[11] - targets[12], mean(targets, _SHOULDERS) - mean(targets, _HIPS))
        twist = pose.local[0].T @ (obs_chest @ rest_chest.T)
        step = _rotation_power(twist, 1.0 / len(_SPINE))
        for j in _SPINE:
            pose.local[self.index[j]] = step
        for j, name in enumerate(self.names):
            if name in _AIM_AT:
                ids = [i for i in _AIM_AT[name] if ok[i]]
                if name == "neck01" and not ids and ok[_NOSE]:
                    ids = [_NOSE]
                if not ids:
                    continue  # neutral: keep the rest-pose local rotation
                G, P = sk.fk(pose)
                self._aim(pose, sk, j, G, G[j] @ (mean(anchors, ids) - rest[j]),
                          mean(targets, ids) - P[j])
            elif name in _AIM_ALONG:
                a, b = _AIM_ALONG[name]
                if ok[a] and ok[b]:
                    G, _ = sk.fk(pose)
                    self._aim(pose, sk, j, G, G[j] @ (anchors[b] - anchors[a]), targets[b] - targets[a])
            elif name == "head" and ok[_NOSE] and ok[list(_EARS)].all():
                G, _ = sk.fk(pose)
                want = (_frame_fwd(targets[7] - targets[8], targets[_NOSE] - mean(targets, _EARS))
                        @ _frame_fwd(anchors[7] - anchors[8], anchors[_NOSE] - mean(anchors, _EARS)).T)
                pose.local[j] = G[self.parents[j]].T @ want
        return pose, sk, anchors

    @staticmethod
    def _aim(pose: Pose, sk: Skeleton, j: int, G: np.ndarray, current: np.ndarray,
             direction: np.ndarray) -> None:
        if np.linalg.norm(direction) < 1e-6 or np.linalg.norm(current) < 1e-6:
            return
        new_global = swing(current, direction) @ G[j]
        pose.local[j] = G[sk.parents[j]].T @ new_global

    def landmarks(self, pose: Pose, sk: Skeleton, anchors: np.ndarray) -> np.ndarray:
        """(33, 3) model landmarks of `pose` (frame of the pose's root rotation)."""
        G, P = sk.fk(pose)
        j = self.landmark_joint
        return P[j] + np.einsum("kab,kb->ka", G[j], anchors - sk.rest[j])

    # -- optional refinement -------------------------------------------------------------------------
    def refine(self, pose: Pose, sk: Skeleton, anchors: np.ndarray, targets: np.ndarray,
               uv: np.ndarray, scores: np.ndarray, camera: CameraIntrinsics) -> Pose:
        """A few Adam steps on the visible landmarks: 3D distance [m] + weighted 2D reprojection
        (normalised image units), over axis-angle corrections of every local rotation and the
        root translation (the shape stays fixed)."""
        cfg = self.config
        dt = torch.float64
        w = torch.as_tensor((scores >= cfg.min_score).astype(float), dtype=dt)
        local0 = torch.as_tensor(pose.local, dtype=dt)
        rest = torch.as_tensor(sk.rest, dtype=dt)
        offsets = rest - torch.cat([rest[:1], rest[list(self.parents[1:])]])  # (J, 3)
        anch = torch.as_tensor(anchors, dtype=dt) - rest[self.landmark_joint]
        tgt = torch.as_tensor(targets, dtype=dt)
        uv_n = torch.as_tensor((uv - [camera.cx, camera.cy]) / [camera.fx, camera.fy], dtype=dt)
        delta = torch.zeros(len(self.names), 3, dtype=dt, requires_grad=True)
        transl = torch.as_tensor(pose.root_transl, dtype=dt).clone().requires_grad_(True)
        opt = torch.optim.Adam([delta, transl], lr=cfg.refine_lr)
        lj = torch.as_tensor(self.landmark_joint)
        for _ in range(cfg.refine_steps):
            opt.zero_grad()
            local = local0 @ roma.rotvec_to_rotmat(delta)
            Gs, Ps = [local[0]], [rest[0] + transl]
            for j in range(1, len(self.names)):
                p = self.parents[j]
                Gs.append(Gs[p] @ local[j])
                Ps.append(Ps[p] + Gs[p] @ offsets[j])
            G, P = torch.stack(Gs), torch.stack(Ps)
            lm = P[lj] + torch.einsum("kab,kb->ka", G[lj], anch)
            loss3 = (w * ((lm - tgt) ** 2).sum(-1)).sum() / w.sum()
            proj = lm[:, :2] / lm[:, 2:].clamp_min(1e-3)
            loss2 = (w * ((proj - uv_n) ** 2).sum(-1)).sum() / w.sum()
            loss = loss3 + cfg.reprojection_weight * loss2 + 1e-3 * (delta ** 2).sum()
            loss.backward()
            opt.step()
        with torch.no_grad():
            local = (local0 @ roma.rotvec_to_rotmat(delta)).numpy()
        return Pose(local, transl.detach().numpy().copy())

    # -- everything ----------------------------------------------------------------------------------
    def fit(self, person: PersonDetection, camera: CameraIntrinsics,
            depth: np.ndarray | None = None) -> BodyFit:
        """Detection (MediaPipe-33 with metric landmarks) -> anny `BodyFit` in the camera frame.

        Raises `HumanFitError` when the detection does not determine a body.
        """
        if person.keypoint_layout != "mediapipe33" or person.keypoints_3d is None:
            raise HumanFitError(f"keypoint layout {person.keypoint_layout!r} without metric 3D "
                                "keypoints is not supported by the body fit")
        cfg = self.config
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        kp3d = np.asarray(person.keypoints_3d, dtype=np.float64)
        uv = np.asarray(person.keypoints_2d, dtype=np.float64)
        if kp3d.shape != (33, 3) or uv.shape != (33, 2):
            raise HumanFitError(f"expected 33 keypoints, got {uv.shape} / {kp3d.shape}")
        # non-finite keypoints count as invisible; the torso must be finite
        finite = np.isfinite(kp3d).all(1) & np.isfinite(uv).all(1)
        if not finite[list(_HIPS + _SHOULDERS)].all():
            raise HumanFitError("hip or shoulder keypoints are not finite")
        scores = np.where(finite, np.asarray(person.keypoint_scores, dtype=np.float64), 0.0)
        kp3d, uv = np.where(finite[:, None], kp3d, 0.0), np.where(finite[:, None], uv, 0.0)
        kp = place_keypoints(kp3d, uv, scores, camera, cfg.min_score)
        if depth is not None:
            s = depth_scale(kp, uv, scores, depth, cfg.body_offset_m, min_score=cfg.min_score)
            if s is not None and 1.0 / cfg.max_depth_rescale < s < cfg.max_depth_rescale:
                kp = kp * s
        if cfg.snap_to_rays:
            xy = (uv - [camera.cx, camera.cy]) / [camera.fx, camera.fy]
            kp = np.concatenate([xy * kp[:, 2:], kp[:, 2:]], axis=1)
        t1 = time.perf_counter()
        times["place"] = (t1 - t0) * 1e3
        shape = self.fit_shape(kp, scores)
        pose, sk, anchors = self.fit_pose(kp, scores, shape)
        t2 = time.perf_counter()
        times["retarget"] = (t2 - t1) * 1e3
        if cfg.refine_steps:
            pose = self.refine(pose, sk, anchors, kp, uv, scores, camera)
        t3 = time.perf_counter()
        times["refine"] = (t3 - t2) * 1e3
        body = self.body
        cast = dict(dtype=body.dtype, device=body.device)
        local = torch.as_tensor(pose.local, **cast)
        with torch.no_grad():
            out = body(body_pose_rotmat=local[None, 1:],
                       shape=torch.as_tensor(shape, **cast)[None],
                       root_rotmat=local[None, 0],
                       root_transl=torch.as_tensor(pose.root_transl, **cast)[None])
        vertices = out.vertices[0].double().cpu().numpy()
        joints = out.joints[0].double().cpu().numpy()
        times["mesh"] = (time.perf_counter() - t3) * 1e3
        ok = scores >= cfg.min_score
        human = HumanEstimate(
            body_model=body.name, joint_names=self.names, parents=np.array(self.parents),
            joint_rotations=pose.local.copy(), joint_positions=joints, shape=shape,
            confidence=float(person.score) * float(ok.mean()), vertices=vertices,
            faces=body.faces.cpu().numpy().astype(np.int64))
        return BodyFit(human=human, root_transl=pose.root_transl.copy(), keypoints_cam=kp,
                       landmarks_cam=self.landmarks(pose, sk, anchors), timings_ms=times)


def get_fitter(body: BodyModel, config: BodyFitConfig = BodyFitConfig()) -> BodyFitter:
    """The `BodyFitter` of (`body`, `config`), kept by the body: its rest grid is built once
    (~0.3 s)."""
    return body.derived(("body_fitter", config), lambda: BodyFitter(body, config))


def fit_body(person: PersonDetection, camera: CameraIntrinsics, body: BodyModel,
             depth: np.ndarray | None = None, config: BodyFitConfig = BodyFitConfig()
             ) -> HumanEstimate:
    """Detection -> anny `HumanEstimate` in the camera frame (see the module docstring).

    Args:
        person: a "mediapipe33" detection with metric `keypoints_3d`.
        camera: intrinsics of the image the keypoints come from.
        body: the anny `BodyModel`.
        depth: (H, W) registered depth [m] (NaN/0 invalid) or None.
        config: fit settings.

    Returns:
        `HumanEstimate` with local rotations ([0]: root rotation, camera frame), joints,
        phenotypes, vertices and faces. The `BodyModel.forward` root translation is
        `joint_positions[0]` for anny (use `get_fitter(body, config).fit(...)` for `BodyFit`
        with `root_transl` and the keypoint targets).
    """
    return get_fitter(body, config).fit(person, camera, depth).human


__all__ = [
    "BodyFit", "BodyFitConfig", "BodyFitter", "fit_body", "get_fitter",
]
