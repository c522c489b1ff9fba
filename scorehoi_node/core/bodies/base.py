"""The `BodyModel` interface every backend implements, and its output dataclass.

Body frame (shared by all backends, as SMPL): +Y up, +X the person's left, +Z forward (the
direction the person faces), metres. Joint 0 is the root (pelvis). Local joint rotations compose
down the kinematic tree in this frame: the world rotation of joint j is
G_j = G_parent(j) R_j, with rest-pose axes aligned to the body frame, so identity rotations give
the model's rest pose (anny: A-pose; SMPL family: T-pose).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from scorehoi_node.core.bodies.functional import apply_root_transform
from scorehoi_node.core.bodies.layout import StateLayout

T = TypeVar("T")

# Contact subset: samples per body part (farthest-point sampling inside each part). The dict order
# is the label order of `BodyModel.contact_part_names`. "back"/"front" split the torso.
CONTACT_PART_BUDGET: dict[str, int] = {
    "left_hand": 50,
    "right_hand": 50,
    "left_foot": 30,
    "right_foot": 30,
    "hips": 40,
    "back": 50,
    "front": 40,
    "left_arm": 25,
    "right_arm": 25,
    "left_leg": 25,
    "right_leg": 25,
    "head": 10,
}


@dataclass(frozen=True)
class BodyOutput:
    """Posed body in the body frame (see module docstring), metres, dtype of the model.

    Attributes:
        vertices: BxVx3 mesh vertices.
        joints: BxJx3 joint positions, `BodyModel.joint_names` order; joint 0 is the root.
    """

    vertices: torch.Tensor
    joints: torch.Tensor


class BodyModel(nn.Module):
    """Differentiable, batched body model. Subclasses hold buffers and implement `_forward_local`.

    Class/instance attributes every backend sets:
        name: backend name ("anny", "smplh", "smplx").
        num_vertices: V.
        joint_names: J names; joint 0 is the root.
        parents: J parent indices into `joint_names` (-1 for the root).
        shape_names: S names of the shape vector entries.
        contact_part_names: names of the contact labels (`CONTACT_PART_BUDGET` order).
    Buffers:
        faces: Fx3 int64 triangle vertex indices.
        default_shape: (S,) neutral shape vector (anny: 0.5 everywhere; SMPL family: zeros).
        contact_vertex_ids: (K,) int64 unique vertex indices of the contact subset.
        contact_part_ids: (K,) int64 index into `contact_part_names` per contact vertex.
    """

    name: str
    num_vertices: int
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    shape_names: tuple[str, ...]
    contact_part_names: tuple[str, ...]
    faces: torch.Tensor
    default_shape: torch.Tensor
    contact_vertex_ids: torch.Tensor
    contact_part_ids: torch.Tensor

    @property
    def num_joints(self) -> int:
        """J, including the root."""
        return len(self.joint_names)

    @property
    def num_pose_joints(self) -> int:
        """J - 1: joints that take a local rotation in `body_pose_rotmat`."""
        return len(self.joint_names) - 1

    @property
    def num_shape(self) -> int:
        return len(self.shape_names)

    @property
    def dtype(self) -> torch.dtype:
        return self.default_shape.dtype

    @property
    def device(self) -> torch.device:
        return self.default_shape.device

    @property
    def state_layout(self) -> StateLayout:
        """Slices of the HOI state vector for this body model."""
        return StateLayout(num_pose_joints=self.num_pose_joints, num_shape=self.num_shape)

    def identity_pose(self, batch_size: int = 1) -> torch.Tensor:
        """Bx(J-1)x3x3 identity local rotations (the rest pose), model dtype and device."""
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        return eye.expand(batch_size, self.num_pose_joints, 3, 3).clone()

    def rest_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        """Keyword inputs of `forward` for the rest pose, neutral shape, identity root, origin."""
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        return dict(
            body_pose_rotmat=self.identity_pose(batch_size),
            shape=self.default_shape.expand(batch_size, -1).clone(),
            root_rotmat=eye.expand(batch_size, 3, 3).clone(),
            root_transl=torch.zeros(batch_size, 3, dtype=self.dtype, device=self.device),
        )

    def forward(
        self,
        body_pose_rotmat: torch.Tensor,
        shape: torch.Tensor,
        root_rotmat: torch.Tensor,
        root_transl: torch.Tensor,
        vertex_ids: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and shape the body.

        Args:
            body_pose_rotmat: Bx(J-1)x3x3 local rotations of joints 1..J-1 (body frame axes).
            shape: BxS shape vector (see `shape_names`).
            root_rotmat: Bx3x3 root rotation about the root joint, body frame.
            root_transl: Bx3 translation, metres; the root joint ends at its rest position + this.
            vertex_ids: (K,) int64 vertices to compute (a guidance surface, contact points), or
                None for the whole mesh. Backends that can skin a subset (anny) only compute
                those; the others compute the mesh and index it.
        Returns:
            BodyOutput with BxVx3 vertices (BxKx3 with `vertex_ids`, in that order) and BxJx3
            joints. Inputs are cast to the model dtype; everything is differentiable w.r.t. all
            four inputs.
        """
        batch = body_pose_rotmat.shape[0]
        expected = {
            "body_pose_rotmat": (body_pose_rotmat, (batch, self.num_pose_joints, 3, 3)),
            "shape": (shape, (batch, self.num_shape)),
            "root_rotmat": (root_rotmat, (batch, 3, 3)),
            "root_transl": (root_transl, (batch, 3)),
        }
        for name, (value, want) in expected.items():
            if tuple(value.shape) != want:
                raise ValueError(f"{self.name}: {name} must have shape {want}, got {tuple(value.shape)}")
        cast = dict(dtype=self.dtype, device=self.device)
        if vertex_ids is not None:
            vertex_ids = torch.as_tensor(vertex_ids, dtype=torch.int64, device=self.device)
            if vertex_ids.ndim != 1 or (vertex_ids.numel() and not (
                    0 <= int(vertex_ids.min()) and int(vertex_ids.max()) < self.num_vertices)):
                raise ValueError(f"{self.name}: vertex_ids must be a 1-D index into "
                                 f"{self.num_vertices} vertices")
        vertices, joints = self._forward_local(body_pose_rotmat.to(**cast), shape.to(**cast),
                                               vertex_ids)
        vertices, joints = apply_root_transform(
            vertices, joints, root_rotmat.to(**cast), root_transl.to(**cast))
        return BodyOutput(vertices=vertices, joints=joints)

    def _forward_local(
        self, body_pose_rotmat: torch.Tensor, shape: torch.Tensor,
        vertex_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Backend math with an identity root rotation and no translation.

        Args:
            body_pose_rotmat: Bx(J-1)x3x3, model dtype/device.
            shape: BxS.
            vertex_ids: (K,) validated vertex indices, or None (all).
        Returns:
            (BxVx3 or BxKx3 vertices, BxJx3 joints) in the body frame, metres.
        """
        raise NotImplementedError

    def derived(self, key, build: Callable[[], T]) -> T:
        """A table derived from this body's data (landmark anchors, sole vertices, ...), built by
        `build()` on first use and kept by this instance (fixed topology: valid for every pose
        and shape)."""
        tables = self.__dict__.setdefault("_derived_tables", {})
        if key not in tables:
            tables[key] = build()
        return tables[key]

    def contact_parts(self) -> dict[str, torch.Tensor]:
        """Part name -> (K_part,) int64 vertex indices of the contact subset on that part."""
        return {name: self.contact_vertex_ids[self.contact_part_ids == i]
                for i, name in enumerate(self.contact_part_names)}
