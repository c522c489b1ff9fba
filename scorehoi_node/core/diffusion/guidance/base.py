"""What every guidance term sees: a differentiable reconstruction and the frame's observations.

A guidance term is a callable `term(recon, obs) -> (B,) loss` (non-negative, zero when the
constraint holds). Terms never change their inputs; gradients flow into the tensors of
`Reconstruction` (built from the predicted clean state x̂0 by `diffusion.state`).

Frames and units: camera optical frame (x right, y down, z forward), metres; pixels (u, v) with
the origin at the top-left pixel's corner.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Protocol

import torch

from scorehoi_node.core.objects.template import ObjectTemplate


@dataclass(frozen=True)
class Reconstruction:
    """A batch of B human-object reconstructions (differentiable tensors, camera frame).

    `vertices` are the rows of the body mesh the guidance needs (the refinement's guidance
    steps skin only those; see `diffusion.state.BodyIndex`), or the whole mesh; every index
    below refers to those rows.

    Attributes:
        vertices: (B, V, 3) body mesh vertices [m] (V: the rows present).
        joints: (B, J, 3) body joints [m]; joint 0 is the pelvis.
        object_rotmat: (B, 3, 3) template frame -> camera frame rotation.
        object_transl: (B, 3) template origin [m].
        contact_vertex_ids: (C,) int64 indices into `vertices` of the body's contact subset.
        foot_vertex_ids: (F,) int64 indices into `vertices` of the sole/toe vertices.
        landmark_index: (33,) int64 index into cat([joints, vertices], dim=1) of each
            MediaPipe-33 landmark (joints first, then vertices offset by J).
        surface_ids: (S,) int64 indices into `vertices` of the evenly thinned body surface the
            surface terms evaluate (penetration, human_floor, depth): every k-th mesh vertex.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    object_rotmat: torch.Tensor
    object_transl: torch.Tensor
    contact_vertex_ids: torch.Tensor
    foot_vertex_ids: torch.Tensor
    landmark_index: torch.Tensor
    surface_ids: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.vertices.shape[0]

    def to_object_frame(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) camera-frame points -> template frame (R^T (p - t))."""
        return (points - self.object_transl[:, None]) @ self.object_rotmat

    def object_points(self, local: torch.Tensor) -> torch.Tensor:
        """(N, 3) template-frame points -> (B, N, 3) camera frame (R p + t)."""
        return local[None].to(self.object_rotmat) @ self.object_rotmat.transpose(1, 2) \
            + self.object_transl[:, None]

    def landmarks(self) -> torch.Tensor:
        """(B, 33, 3) MediaPipe-33 landmarks of the body."""
        both = torch.cat([self.joints, self.vertices], dim=1)
        return both[:, self.landmark_index]


@dataclass(frozen=True)
class Observation:
    """What the frame says (constants for the guidance; every field but `camera_K` optional).

    Attributes:
        camera_K: (3, 3) pinhole matrix [px].
        template: the object's template (its `sdf`, `keypoints`, `vertices`), or None.
        contact_mask: (B, C) bool, True = that contact-subset vertex is predicted in contact.
        floor_plane: (4,) (n, d), |n| = 1: n.x + d = 0 on the floor, > 0 above; or None.
        keypoints_2d: (33, 2) detected MediaPipe-33 landmarks [px], or None.
        keypoint_scores: (33,) confidences in [0, 1] (0 = ignore), with `keypoints_2d`.
        object_mask_distance: (H, W) distance [px] of each pixel to the object mask (0 inside),
            or None.
        object_points: (N, 3) observed object surface points from depth [m], or None.
        human_points: (M, 3) observed body surface points from depth [m], or None.
        scale_px: person size in pixels (box diagonal) that normalises pixel errors.
    """

    camera_K: torch.Tensor
    template: ObjectTemplate | None = None
    contact_mask: torch.Tensor | None = None
    floor_plane: torch.Tensor | None = None
    keypoints_2d: torch.Tensor | None = None
    keypoint_scores: torch.Tensor | None = None
    object_mask_distance: torch.Tensor | None = None
    object_points: torch.Tensor | None = None
    human_points: torch.Tensor | None = None
    scale_px: float = 300.0

    def to(self, device: torch.device | str) -> "Observation":
        """The same observation with its tensors on `device` (the template moves its SDF grid
        to the points it is queried with)."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})


class GuidanceTerm(Protocol):
    """One guidance term. `name` keys its weight in the sampler configuration."""

    name: str

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) loss, >= 0; zeros (still attached to the graph) when the term has no input."""
        ...


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera-frame points -> (B, N, 2) pixels (depth clamped at 1 cm)."""
    K = K.to(points)
    z = points[..., 2:3].clamp_min(0.01)
    return points[..., :2] / z * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])


def zero_loss(recon: Reconstruction) -> torch.Tensor:
    """(B,) zeros attached to the graph (a term without input still returns a usable tensor)."""
    return recon.object_transl.sum(dim=1) * 0.0


def plane_height(points: torch.Tensor, plane: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera-frame points [m] -> (B, N) signed height n.x + d [m] above `plane`
    ((4,) = (n, d), |n| = 1; positive above the floor, negative below)."""
    plane = plane.to(points)
    return points @ plane[:3] + plane[3]


#: vertices of the thinned body surface the surface terms evaluate (every k-th mesh vertex)
SURFACE_VERTICES = 2000


def with_extra(ids: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Sorted unique union of two index sets."""
    return torch.unique(torch.cat([ids, extra.to(ids.device, torch.int64).reshape(-1)]))


def vertex_subset(num_vertices: int, max_vertices: int, extra: torch.Tensor | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Deterministic, sorted, unique int64 vertex indices: every ceil(V / max_vertices)-th vertex
    (at most `max_vertices` of them) plus the indices in `extra` (e.g. the contact subset)."""
    stride = max(1, -(-num_vertices // max(1, max_vertices)))
    ids = torch.arange(0, num_vertices, stride, dtype=torch.int64, device=device)
    if extra is not None and extra.numel():
        ids = torch.unique(torch.cat([ids, extra.to(ids.device, torch.int64).reshape(-1)]))
    return ids
