"""A 16-joint kinematic skeleton fitted to keypoints (the body model used until mesh fits land).

Conventions (as SMPL): body frame x = the person's left, y = up, z = forward. In the rest pose
every local rotation is the identity: spine and head point up, arms and legs hang down, the
shoulders and hips sit along +-x. A joint's local rotation turns its *primary* bone (the one
towards `PRIMARY_CHILD`) from its rest direction to the observed direction (minimal swing);
secondary bones (neck -> shoulders, pelvis -> hips) follow their parent's rotation.
"""

from __future__ import annotations

import numpy as np
from scorehoi_node.core.rotations import swing

JOINT_NAMES = (
    "pelvis", "spine", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_hip", "left_knee", "left_ankle",
    "right_hip", "right_knee", "right_ankle",
)
PARENTS = np.array([-1, 0, 1, 2, 2, 4, 5, 2, 7, 8, 0, 10, 11, 0, 13, 14])
#: primary child of each joint (-1: leaf)
PRIMARY_CHILD = np.array([1, 2, 3, -1, 5, 6, -1, 8, 9, -1, 11, 12, -1, 14, 15, -1])
_UP, _DOWN, _LEFT, _RIGHT = (0, 1, 0), (0, -1, 0), (1, 0, 0), (-1, 0, 0)
#: rest direction (body frame) of the bone from PARENTS[j] to j; row 0 unused
REST_DIRECTIONS = np.array([
    (0, 0, 0), _UP, _UP, _UP,
    _LEFT, _DOWN, _DOWN,
    _RIGHT, _DOWN, _DOWN,
    _LEFT, _DOWN, _DOWN,
    _RIGHT, _DOWN, _DOWN,
], dtype=np.float64)

#: MediaPipe-33 landmark index (or pair to average) that defines each skeleton joint
_FROM_MEDIAPIPE = {
    "pelvis": (23, 24), "neck": (11, 12), "head": (7, 8),
    "left_shoulder": (11,), "left_elbow": (13,), "left_wrist": (15,),
    "right_shoulder": (12,), "right_elbow": (14,), "right_wrist": (16,),
    "left_hip": (23,), "left_knee": (25,), "left_ankle": (27,),
    "right_hip": (24,), "right_knee": (26,), "right_ankle": (28,),
}


def joints_from_mediapipe(landmarks: np.ndarray) -> np.ndarray:
    """(33, D) MediaPipe landmarks -> (16, D) skeleton joints (same units and frame)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    out = np.zeros((len(JOINT_NAMES), lm.shape[1]))
    for j, name in enumerate(JOINT_NAMES):
        if name == "spine":
            continue
        out[j] = lm[list(_FROM_MEDIAPIPE[name])].mean(0)
    out[1] = 0.5 * (out[0] + out[2])  # spine: halfway between pelvis and neck
    return out


def scores_from_mediapipe(scores: np.ndarray) -> np.ndarray:
    """(33,) landmark visibilities -> (16,) joint scores (min over the landmarks used)."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.zeros(len(JOINT_NAMES))
    for j, name in enumerate(JOINT_NAMES):
        out[j] = s[list(_FROM_MEDIAPIPE.get(name, (11, 12, 23, 24)))].min()
    return out


def root_orientation(joints: np.ndarray) -> np.ndarray:
    """(16, 3) joint positions -> (3, 3) body-frame axes [left, up, forward] as columns."""
    left = joints[10] - joints[13]
    up = joints[2] - joints[0]
    up = up / max(np.linalg.norm(up), 1e-9)
    left = left - np.dot(left, up) * up
    left = left / max(np.linalg.norm(left), 1e-9)
    return np.stack([left, up, np.cross(left, up)], axis=1)


def fit_rotations(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local joint rotations and bone lengths that reproduce `joints` through `forward_kinematics`.

    Args:
        joints: (16, 3) joint positions [m] in any right-handed frame.

    Returns:
        local_rotations: (16, 3, 3); row 0 is the root orientation in the input frame.
        bone_lengths: (16,) length of the bone from each joint's parent [m]; entry 0 is 0.
    """
    j = np.asarray(joints, dtype=np.float64)
    n = len(JOINT_NAMES)
    glob = np.zeros((n, 3, 3))
    local = np.zeros((n, 3, 3))
    glob[0] = local[0] = root_orientation(j)
    lengths = np.zeros(n)
    for k in range(1, n):
        lengths[k] = np.linalg.norm(j[k] - j[PARENTS[k]])
    for k in range(1, n):  # parents precede children in JOINT_NAMES
        parent_glob = glob[PARENTS[k]]
        c = PRIMARY_CHILD[k]
        if c < 0:
            glob[k] = parent_glob
        else:
            d = j[c] - j[k]
            d = d / max(np.linalg.norm(d), 1e-9)
            glob[k] = swing(parent_glob @ REST_DIRECTIONS[c], d) @ parent_glob
        local[k] = parent_glob.T @ glob[k]
    return local, lengths


def forward_kinematics(local_rotations: np.ndarray, bone_lengths: np.ndarray,
                       root_position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (16, 3, 3) + bone lengths (16,) + root (3,) -> positions (16, 3), globals (16, 3, 3)."""
    n = len(JOINT_NAMES)
    glob = np.zeros((n, 3, 3))
    pos = np.zeros((n, 3))
    glob[0], pos[0] = local_rotations[0], root_position
    for k in range(1, n):
        p = PARENTS[k]
        glob[k] = glob[p] @ local_rotations[k]
        pos[k] = pos[p] + glob[p] @ (REST_DIRECTIONS[k] * bone_lengths[k])
    return pos, glob
