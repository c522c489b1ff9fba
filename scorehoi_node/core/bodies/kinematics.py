"""Numpy kinematics of a `BodyModel` skeleton for pose authoring: forward kinematics,
bone aiming (retargeting by directions) and analytic two-bone IK.

Convention (as `BodyModel`): body frame +Y up, +X the person's left, +Z forward; the world
rotation of joint j is G_j = G_parent(j) R_j; joint j sits at
p_j = p_parent + G_parent (J0_j - J0_parent), with J0 the rest joints of the body's shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scorehoi_node.core.rotations import swing


@dataclass
class Pose:
    """A mutable pose being authored.

    Attributes:
        local: (J, 3, 3) local rotations; entry 0 is the root rotation (world frame).
        root_transl: (3,) BodyModel root translation [m].
    """

    local: np.ndarray
    root_transl: np.ndarray

    def copy(self) -> "Pose":
        return Pose(self.local.copy(), self.root_transl.copy())


class Skeleton:
    """Forward kinematics and IK of one body (fixed shape).

    Args:
        rest_joints: (J, 3) rest joint positions of this shape (identity pose and root).
        parents: (J,) parent indices, -1 for the root; parents precede children.
        joint_names: (J,) names.
    """

    def __init__(self, rest_joints: np.ndarray, parents: tuple[int, ...],
                 joint_names: tuple[str, ...]) -> None:
        self.rest = np.asarray(rest_joints, dtype=np.float64)
        self.parents = tuple(parents)
        self.names = tuple(joint_names)
        self.index = {n: i for i, n in enumerate(joint_names)}

    def fk(self, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        """Pose -> (G (J, 3, 3) world rotations, P (J, 3) world joint positions)."""
        n = len(self.parents)
        G = np.zeros((n, 3, 3))
        P = np.zeros((n, 3))
        G[0], P[0] = pose.local[0], self.rest[0] + pose.root_transl
        for j in range(1, n):
            p = self.parents[j]
            G[j] = G[p] @ pose.local[j]
            P[j] = P[p] + G[p] @ (self.rest[j] - self.rest[p])
        return G, P

    def aim(self, pose: Pose, joint: str, rest_target: np.ndarray, direction: np.ndarray,
            G: np.ndarray | None = None) -> None:
        """Rotate `joint` (minimal swing) so the rest-pose vector from it to `rest_target`
        points along world `direction`. Edits `pose` in place."""
        j = self.index[joint]
        if G is None:
            G, _ = self.fk(pose)
        current = G[j] @ (rest_target - self.rest[j])
        new_global = swing(current, direction) @ G[j]
        parent_global = G[self.parents[j]] if self.parents[j] >= 0 else np.eye(3)
        pose.local[j] = parent_global.T @ new_global

    def set_global(self, pose: Pose, joint: str, rotation: np.ndarray) -> None:
        """Give `joint` the world rotation `rotation` (its children follow)."""
        j = self.index[joint]
        G, _ = self.fk(pose)
        pose.local[j] = G[self.parents[j]].T @ rotation

    def two_bone_ik(self, pose: Pose, upper: str, lower: str, end: str, target: np.ndarray,
                    pole: np.ndarray, max_reach: float = 0.995) -> float:
        """Place joint `end` at world `target` by rotating `upper` and `lower`.

        The bend lies in the plane of (upper joint, target, `pole`): the middle joint moves
        towards the pole point. Unreachable targets are clamped to `max_reach` of the chain
        length. Returns the remaining distance of `end` to `target` [m].
        """
        iu, il, ie = self.index[upper], self.index[lower], self.index[end]
        l1 = np.linalg.norm(self.rest[il] - self.rest[iu])
        l2 = np.linalg.norm(self.rest[ie] - self.rest[il])
        G, P = self.fk(pose)
        S = P[iu]
        to_t = target - S
        d = float(np.clip(np.linalg.norm(to_t), abs(l1 - l2) + 1e-4, max_reach * (l1 + l2)))
        u = to_t / max(np.linalg.norm(to_t), 1e-9)
        v = pole - S
        v = v - (v @ u) * u
        if np.linalg.norm(v) < 1e-6:  # pole on the line: bend in any orthogonal direction
            v = np.cross(u, [1.0, 0.0, 0.0])
        v = v / np.linalg.norm(v)
        cos_a = np.clip((l1 ** 2 + d ** 2 - l2 ** 2) / (2 * l1 * d), -1.0, 1.0)
        elbow = S + l1 * (cos_a * u + np.sqrt(1 - cos_a ** 2) * v)
        wrist = S + d * u
        self.aim(pose, upper, self.rest[il], elbow - S, G)
        G, _ = self.fk(pose)
        self.aim(pose, lower, self.rest[ie], wrist - elbow, G)
        _, P = self.fk(pose)
        return float(np.linalg.norm(P[ie] - target))
