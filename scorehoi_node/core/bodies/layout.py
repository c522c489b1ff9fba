"""Layout of the joint human-object state vector x that the diffusion prior works on.

The one place that knows where each quantity sits in x (DESIGN section 2). The order follows the
official ScoreHOI code:

    root_rot_6d (6) | body_pose_6d (6 * num_pose_joints) | object_rot_6d (6) | object_transl (3) | shape (S)

`root_rot_6d | body_pose_6d` together are the official "joints x 6D" block (`pose_6d`): SMPL-H has
1 + 51 = 52 joints, so its state has 52*6 + 6 + 3 + 10 = 331 entries. Rotations use the 6D
representation of `functional.rotmat_to_rot6d`. The object translation is relative to the root
joint (pelvis), in the body frame, metres. The shape block holds the backend's shape vector
unchanged (anny: 6 phenotype values in 0-1, SMPL family: betas); any scaling for the network is
the diffusion stage's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.bodies.functional import rot6d_to_rotmat, rotmat_to_rot6d


@dataclass(frozen=True)
class HOIStateParts:
    """A state vector split into named tensors (batch first).

    Attributes:
        root_rotmat: Bx3x3 root (pelvis) rotation, body frame.
        body_pose_rotmat: BxPx3x3 local rotations of the P non-root joints (backend joint order).
        object_rotmat: Bx3x3 object rotation relative to the body frame.
        object_transl: Bx3 object translation relative to the root joint, metres.
        shape: BxS body shape vector of the backend.
    """

    root_rotmat: torch.Tensor
    body_pose_rotmat: torch.Tensor
    object_rotmat: torch.Tensor
    object_transl: torch.Tensor
    shape: torch.Tensor


@dataclass(frozen=True)
class StateLayout:
    """Named slices of the state vector for a body model with `num_pose_joints` non-root joints.

    Attributes:
        num_pose_joints: P, joints with a local rotation besides the root (SMPL-H: 51).
        num_shape: S, length of the shape vector (SMPL-H: 10 betas; anny: 6 phenotypes).
    """

    num_pose_joints: int
    num_shape: int

    def __post_init__(self) -> None:
        if self.num_pose_joints < 0 or self.num_shape < 0:
            raise ValueError(
                f"num_pose_joints and num_shape must be >= 0, got {self.num_pose_joints}, {self.num_shape}")

    @property
    def root_rot_6d(self) -> slice:
        return slice(0, 6)

    @property
    def body_pose_6d(self) -> slice:
        return slice(6, 6 + 6 * self.num_pose_joints)

    @property
    def pose_6d(self) -> slice:
        """Root and body rotations together: the official (P + 1) x 6D block."""
        return slice(0, self.body_pose_6d.stop)

    @property
    def object_rot_6d(self) -> slice:
        start = self.body_pose_6d.stop
        return slice(start, start + 6)

    @property
    def object_transl(self) -> slice:
        start = self.object_rot_6d.stop
        return slice(start, start + 3)

    @property
    def shape(self) -> slice:
        start = self.object_transl.stop
        return slice(start, start + self.num_shape)

    @property
    def size(self) -> int:
        """Length D of the state vector."""
        return self.shape.stop

    def named_slices(self) -> dict[str, slice]:
        """The disjoint blocks in order: name -> slice (their lengths add up to `size`)."""
        return {name: getattr(self, name) for name in
                ("root_rot_6d", "body_pose_6d", "object_rot_6d", "object_transl", "shape")}

    def unpack(self, state: torch.Tensor) -> HOIStateParts:
        """BxD state -> named tensors (6D blocks become rotation matrices via Gram-Schmidt)."""
        if state.ndim != 2 or state.shape[1] != self.size:
            raise ValueError(f"state must have shape (B, {self.size}), got {tuple(state.shape)}")
        batch = state.shape[0]
        return HOIStateParts(
            root_rotmat=rot6d_to_rotmat(state[:, self.root_rot_6d]),
            body_pose_rotmat=rot6d_to_rotmat(
                state[:, self.body_pose_6d].reshape(batch, self.num_pose_joints, 6)),
            object_rotmat=rot6d_to_rotmat(state[:, self.object_rot_6d]),
            object_transl=state[:, self.object_transl],
            shape=state[:, self.shape],
        )

    def pack(self, parts: HOIStateParts) -> torch.Tensor:
        """Named tensors -> BxD state; the inverse of `unpack` for proper rotations."""
        batch = parts.root_rotmat.shape[0]
        expected = {
            "root_rotmat": (batch, 3, 3),
            "body_pose_rotmat": (batch, self.num_pose_joints, 3, 3),
            "object_rotmat": (batch, 3, 3),
            "object_transl": (batch, 3),
            "shape": (batch, self.num_shape),
        }
        for name, shape in expected.items():
            got = tuple(getattr(parts, name).shape)
            if got != shape:
                raise ValueError(f"{name} must have shape {shape}, got {got}")
        return torch.cat([
            rotmat_to_rot6d(parts.root_rotmat),
            rotmat_to_rot6d(parts.body_pose_rotmat).reshape(batch, 6 * self.num_pose_joints),
            rotmat_to_rot6d(parts.object_rotmat),
            parts.object_transl,
            parts.shape,
        ], dim=1)
