"""What the object recogniser sees of one candidate: points and mask in a gravity- and
view-aligned frame, and the person around it.

Evidence frame (per candidate): origin on the floor below the candidate's centre (its median
point with depth; without depth, the point on the mask centre's ray at the person's depth), axes
(columns, camera frame) x = lateral (horizontal, right of the view), y = up (floor normal),
z = horizontal towards the camera; metres. It equals `estimate.objects.upright_basis(up, view)`,
so an upright template at yaw 0 faces the camera, and a template pose is (yaw about up,
translation in this frame) — what the recogniser predicts.

Point features (N, 4): x, y (= height above the floor), z, and the distance to the person's
skeleton (bones between the key joints, clipped at `SKELETON_CLIP_M`): body pixels leaking into a
cluster lie on the skeleton, the object does not.

Context (C,): anchor one-hot, source one-hot, log point / pixel count, distance to the camera,
the 12 key joints in the evidence frame (clipped to +-3 m), the person's facing (x, z) in the
frame, and the view ray's elevation.

Mask evidence (no depth): the mask inside its box, resized to `MASK_SIZE`^2 (aspect kept,
centred), and a context of anchor / source one-hots, the box size and centre in metres at the
person's depth, the bottom edge's height relative to the ankles and the key joints' image
positions relative to the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scorehoi_node.core.estimate.object_candidates import (ANCHORS, KEY_JOINTS, SOURCES,
                                                           BodyAnchors, ObjectCandidate)
from scorehoi_node.core.types import CameraIntrinsics

#: points per candidate the network sees
NUM_POINTS = 256
#: point features: x, y, z in the evidence frame, distance to the skeleton
POINT_FEATURES = 4
SKELETON_CLIP_M = 0.5
#: side of the mask crop [px]
MASK_SIZE = 48
#: bones (pairs of `KEY_JOINTS` names) whose distance is a point feature
BONES = (("pelvis", "chest"), ("pelvis", "left_hip"), ("pelvis", "right_hip"),
         ("left_hip", "left_knee"), ("right_hip", "right_knee"), ("left_knee", "left_ankle"),
         ("right_knee", "right_ankle"), ("chest", "left_elbow"), ("chest", "right_elbow"),
         ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"))
CONTEXT_DIM = len(ANCHORS) + len(SOURCES) + 2 + 3 * len(KEY_JOINTS) + 2 + 1
MASK_CONTEXT_DIM = len(ANCHORS) + len(SOURCES) + 5 + 2 * len(KEY_JOINTS) + 1


@dataclass(frozen=True)
class EvidenceFrame:
    """Gravity- and view-aligned frame of one candidate (see the module docstring).

    Attributes:
        rotation: (3, 3) float64 columns = frame axes in the camera frame.
        origin: (3,) float64 [m] camera frame, on the floor.
    """

    rotation: np.ndarray
    origin: np.ndarray

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> frame coordinates."""
        return (np.asarray(points, np.float64) - self.origin) @ self.rotation

    def to_camera(self, local: np.ndarray) -> np.ndarray:
        """(..., 3) frame coordinates -> camera-frame points."""
        return np.asarray(local, np.float64) @ self.rotation.T + self.origin


@dataclass(frozen=True)
class Evidence:
    """Network inputs of one candidate.

    Attributes:
        frame: its evidence frame.
        points: (NUM_POINTS, 4) float32 point features, or None without depth.
        point_index: (NUM_POINTS,) int64 row of each point in `candidate.points` (repeated
            when the candidate has fewer), or None.
        context: (CONTEXT_DIM,) float32.
        mask: (MASK_SIZE, MASK_SIZE) float32 in {0, 1}.
        mask_context: (MASK_CONTEXT_DIM,) float32.
    """

    frame: EvidenceFrame
    points: np.ndarray | None
    point_index: np.ndarray | None
    context: np.ndarray
    mask: np.ndarray
    mask_context: np.ndarray


def view_frame(centre: np.ndarray, up: np.ndarray, floor_d: float) -> EvidenceFrame:
    """The frame at `centre` (3,) camera frame: z horizontal towards the camera, y = `up`,
    origin on the floor (up . x + floor_d = 0) below the centre."""
    view = centre / max(np.linalg.norm(centre), 1e-9)
    z = -(view - (view @ up) * up)
    if np.linalg.norm(z) < 1e-6:  # looking straight down: any horizontal front
        z = np.cross(up, [1.0, 0.0, 0.0])
    z /= np.linalg.norm(z)
    R = np.stack([np.cross(up, z), up, z], axis=1)
    return EvidenceFrame(R, centre - (up @ centre + floor_d) * up)


def skeleton_distance(points: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N,) distance [m] of (N, 3) points to the bones between (12, 3) key joints (missing
    joints skip their bones; `SKELETON_CLIP_M` when none is left), clipped at SKELETON_CLIP_M."""
    out = np.full(len(points), SKELETON_CLIP_M)
    for a, b in BONES:
        pa, pb = joints[KEY_JOINTS.index(a)], joints[KEY_JOINTS.index(b)]
        if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
            continue
        ab = pb - pa
        s = np.clip((points - pa) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
        out = np.minimum(out, np.linalg.norm(points - (pa + s[:, None] * ab), axis=1))
    return out


def _pixel_count(count: float, camera: CameraIntrinsics) -> float:
    """log pixel count at a 500 px focal length / 10: the same object at the same place gives
    the same value at any image resolution."""
    return float(np.log1p(count * (500.0 / camera.fx) ** 2) / 10.0)


def _one_hot(value: str, choices: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(choices))
    out[choices.index(value)] = 1.0
    return out


def _centre(candidate: ObjectCandidate, camera: CameraIntrinsics,
            anchors: BodyAnchors | None) -> np.ndarray:
    """(3,) camera-frame centre of the candidate: median point, else the mask centre's ray at
    the person's pelvis depth (3 m without a person)."""
    if candidate.points is not None and len(candidate.points):
        return np.median(candidate.points, axis=0)
    vs, us = np.nonzero(candidate.mask)
    z = anchors.pelvis[2] if anchors is not None and anchors.pelvis[2] > 0.1 else 3.0
    return camera.backproject(np.array([[us.mean() + 0.5, vs.mean() + 0.5]]), np.array([z]))[0]


def candidate_frame(candidate: ObjectCandidate, camera: CameraIntrinsics,
                    anchors: BodyAnchors | None, up: np.ndarray, floor_d: float) -> EvidenceFrame:
    """The evidence frame of a candidate: `view_frame` at its centre (`_centre`)."""
    return view_frame(_centre(candidate, camera, anchors), up, floor_d)


def _joints_local(frame: EvidenceFrame, anchors: BodyAnchors | None) -> np.ndarray:
    if anchors is None:
        return np.zeros((len(KEY_JOINTS), 3))
    local = np.clip(frame.to_local(anchors.joints), -3.0, 3.0)
    return np.nan_to_num(local, nan=0.0)


def _point_features(candidate: ObjectCandidate, frame: EvidenceFrame,
                    anchors: BodyAnchors | None, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    pts = candidate.points
    idx = rng.choice(len(pts), NUM_POINTS, replace=len(pts) < NUM_POINTS)
    sel = pts[idx]
    dist = (skeleton_distance(sel, anchors.joints) if anchors is not None
            else np.full(len(sel), SKELETON_CLIP_M))
    feats = np.concatenate([frame.to_local(sel), dist[:, None]], axis=1)
    return feats.astype(np.float32), idx.astype(np.int64)


def mask_crop(mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(MASK_SIZE, MASK_SIZE) float32: the mask inside its box, scaled to fit (aspect kept)
    and centred."""
    u0, v0, u1, v1 = np.round(box).astype(int)
    crop = mask[max(v0, 0):max(v1, 1), max(u0, 0):max(u1, 1)].astype(np.uint8)
    h, w = crop.shape
    if h == 0 or w == 0:
        return np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    s = MASK_SIZE / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(crop * 255, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    y0, x0 = (MASK_SIZE - nh) // 2, (MASK_SIZE - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = small / 255.0
    return out


def _mask_context(candidate: ObjectCandidate, camera: CameraIntrinsics,
                  anchors: BodyAnchors | None) -> np.ndarray:
    box = np.asarray(candidate.box, np.float64)
    w_px, h_px = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
    centre = 0.5 * (box[:2] + box[2:])
    z = anchors.pelvis[2] if anchors is not None and anchors.pelvis[2] > 0.1 else 3.0
    m_per_px = z / camera.fx
    joints_uv = np.zeros((len(KEY_JOINTS), 2))
    bottom = 0.0
    if anchors is not None:
        j = np.nan_to_num(anchors.joints, nan=0.0)
        uv = camera.project(np.where(j[:, 2:] > 0.1, j, anchors.pelvis))
        joints_uv = np.clip((uv - centre) / max(w_px, h_px), -4.0, 4.0)
        pelvis_uv = camera.project(anchors.pelvis[None])[0]
        ankles = [KEY_JOINTS.index(k) for k in ("left_ankle", "right_ankle")]
        bottom = (box[3] - uv[ankles, 1].max()) * m_per_px
        offset = (centre - pelvis_uv) * m_per_px
    else:
        offset = np.zeros(2)
    geo = np.r_[w_px * m_per_px, h_px * m_per_px, np.clip(offset, -3, 3), np.clip(bottom, -3, 3)]
    return np.concatenate([
        _one_hot(candidate.anchor, ANCHORS), _one_hot(candidate.source, SOURCES), geo,
        joints_uv.reshape(-1), [_pixel_count(candidate.mask.sum(), camera)]]).astype(np.float32)


def candidate_evidence(candidate: ObjectCandidate, camera: CameraIntrinsics,
                       anchors: BodyAnchors | None, up: np.ndarray, floor_d: float,
                       seed: int = 0) -> Evidence:
    """The recogniser's inputs for one candidate (see the module docstring).

    Args:
        candidate: the candidate (points with depth, else its mask).
        camera: intrinsics of its image.
        anchors: the person it was found at (None: no person context).
        up, floor_d: floor normal (3,) and offset: up . x + floor_d = height [m].
        seed: seed of the point subsample (same inputs and seed, same evidence).
    """
    rng = np.random.default_rng(seed)
    frame = candidate_frame(candidate, camera, anchors, up, floor_d)
    points = index = None
    has_points = candidate.points is not None and len(candidate.points) > 0
    if has_points:
        points, index = _point_features(candidate, frame, anchors, rng)
    count = _pixel_count(len(candidate.points) if has_points else candidate.mask.sum(), camera)
    forward = (frame.rotation.T @ anchors.forward(up))[[0, 2]] if anchors is not None \
        else np.zeros(2)
    context = np.concatenate([
        _one_hot(candidate.anchor, ANCHORS), _one_hot(candidate.source, SOURCES),
        [count, np.linalg.norm(frame.origin) / 5.0],
        _joints_local(frame, anchors).reshape(-1), forward,
        [np.clip(floor_d, -5.0, 5.0) / 3.0]]).astype(np.float32)
    return Evidence(frame=frame, points=points, point_index=index, context=context,
                    mask=mask_crop(candidate.mask, candidate.box),
                    mask_context=_mask_context(candidate, camera, anchors))


def pose_in_frame(frame: EvidenceFrame, rotation: np.ndarray,
                  translation: np.ndarray) -> tuple[float, np.ndarray, float]:
    """(yaw [rad] about up, (3,) translation in the frame, tilt [rad]) of a template pose
    (template -> camera rotation, origin): rotation ~ frame.rotation @ yaw_matrix(yaw)."""
    M = frame.rotation.T @ np.asarray(rotation, np.float64)
    yaw = float(np.arctan2(M[0, 2], M[2, 2]))
    tilt = float(np.arccos(np.clip(M[1, 1], -1.0, 1.0)))
    return yaw, frame.to_local(translation), tilt


def pose_from_frame(frame: EvidenceFrame, yaw: float,
                    translation_local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upright template pose (rotation (3, 3), origin (3,)) camera frame, from a yaw and a
    translation in the frame."""
    c, s = np.cos(yaw), np.sin(yaw)
    yaw_m = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return frame.rotation @ yaw_m, frame.to_camera(translation_local)
