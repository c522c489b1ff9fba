"""Initial 3D human from 2D + metric 3D keypoints, intrinsics and (optionally) depth.

The detector's metric, person-centred keypoints fix the body's shape and size (MediaPipe's
world landmarks carry a learned adult-size prior); a PnP solve against the 2D keypoints places
them in the camera frame. With a registered depth image the whole body is scaled about the
camera centre (which leaves its projection unchanged) so the torso lands on the measured depth.
"""

from __future__ import annotations

import cv2
import numpy as np

from scorehoi_node.core.estimate import skeleton
from scorehoi_node.core.types import CameraIntrinsics, HumanEstimate, PersonDetection

_TORSO = (11, 12, 23, 24)  # MediaPipe shoulders + hips


class HumanFitError(ValueError):
    """The keypoints do not determine a body (too few visible, degenerate geometry)."""


def place_keypoints(kp_3d: np.ndarray, kp_2d: np.ndarray, scores: np.ndarray,
                    camera: CameraIntrinsics, min_score: float = 0.5) -> np.ndarray:
    """Rigidly place person-centred metric keypoints in the camera frame by PnP.

    Args:
        kp_3d: (K, 3) metric keypoints in a person-centred frame [m].
        kp_2d: (K, 2) their pixel positions.
        scores: (K,) visibilities; only keypoints >= min_score are used (at least 6).
        camera: intrinsics.

    Returns:
        (K, 3) keypoints in the camera frame [m].
    """
    use = scores >= min_score
    if use.sum() < 6:
        raise HumanFitError(f"only {int(use.sum())} visible keypoints, need 6")
    obj = np.ascontiguousarray(kp_3d[use], dtype=np.float64)
    img = np.ascontiguousarray(kp_2d[use], dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera.K, camera.distortion, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise HumanFitError("PnP failed")
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera.K, camera.distortion, rvec, tvec,
                                  useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    R, _ = cv2.Rodrigues(rvec)
    placed = kp_3d @ R.T + tvec.reshape(1, 3)
    if not np.all(np.isfinite(placed)) or np.median(placed[use, 2]) <= 0:
        raise HumanFitError("PnP put the person behind the camera")
    return placed


def depth_scale(kp_cam: np.ndarray, kp_2d: np.ndarray, scores: np.ndarray, depth: np.ndarray,
                body_offset_m: float, window: int = 3, min_score: float = 0.5) -> float | None:
    """Scale about the camera centre that puts the torso keypoints on the measured depth.

    Samples the median valid depth in a (2*window+1)^2 patch at each visible torso keypoint;
    keypoints sit inside the body, `body_offset_m` behind the visible surface.
    Returns None when no torso keypoint has valid depth.
    """
    h, w = depth.shape
    ratios = []
    for i in _TORSO:
        if scores[i] < min_score:
            continue
        u, v = int(round(kp_2d[i, 0])), int(round(kp_2d[i, 1]))
        if not (0 <= u < w and 0 <= v < h):
            continue
        patch = depth[max(v - window, 0):v + window + 1, max(u - window, 0):u + window + 1]
        valid = patch[np.isfinite(patch) & (patch > 0)]
        if valid.size:
            ratios.append((float(np.median(valid)) + body_offset_m) / kp_cam[i, 2])
    return float(np.median(ratios)) if ratios else None


def estimate_human(person: PersonDetection, camera: CameraIntrinsics,
                   depth: np.ndarray | None = None, body_offset_m: float = 0.10) -> HumanEstimate:
    """Detection -> skeleton `HumanEstimate` in the camera frame (metric)."""
    if person.keypoint_layout != "mediapipe33" or person.keypoints_3d is None:
        raise HumanFitError(f"keypoint layout {person.keypoint_layout!r} without metric "
                            "3D keypoints is not supported by the skeleton fit")
    kp_cam = place_keypoints(person.keypoints_3d, person.keypoints_2d, person.keypoint_scores,
                             camera)
    if depth is not None:
        s = depth_scale(kp_cam, person.keypoints_2d, person.keypoint_scores, depth, body_offset_m)
        if s is not None and 0.5 < s < 2.0:  # beyond that the depth belongs to something else
            kp_cam = kp_cam * s
    joints = skeleton.joints_from_mediapipe(kp_cam)
    local, lengths = skeleton.fit_rotations(joints)
    return HumanEstimate(
        body_model="skeleton",
        joint_names=skeleton.JOINT_NAMES,
        parents=skeleton.PARENTS.copy(),
        joint_rotations=local,
        joint_positions=joints,
        shape=lengths,
        confidence=float(person.score),
    )
