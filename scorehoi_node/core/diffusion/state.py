"""HOI estimate <-> state vector x, and x -> differentiable reconstruction for the guidance.

The raw state follows `StateLayout` (DESIGN section 2):

    root_rot_6d   pelvis rotation, body frame -> camera frame (the camera-frame "global orient")
    body_pose_6d  local joint rotations
    object_rot_6d object rotation relative to the pelvis frame: R_root^T R_obj
    object_transl object origin relative to the pelvis, in the pelvis frame: R_root^T (t - p) [m]
    shape         the body model's shape vector

The pelvis position p (camera frame) is not part of x: it stays with the initial estimate (as in
the official code) and is passed alongside. The network sees x standardised per entry with the
training set's mean and std (`StateCodec.normalise`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.bodies.layout import HOIStateParts, StateLayout
from scorehoi_node.core.diffusion.guidance.base import (SURFACE_VERTICES, Reconstruction,
                                                       vertex_subset)


@dataclass(frozen=True)
class CameraFrameHOI:
    """A batch of B human-object states in the camera frame (the pipeline's view of x).

    Attributes:
        root_rotmat: (B, 3, 3) pelvis rotation, body frame -> camera frame.
        body_pose_rotmat: (B, P, 3, 3) local joint rotations.
        shape: (B, S) body shape vector.
        pelvis: (B, 3) pelvis position [m].
        object_rotmat: (B, 3, 3) template frame -> camera frame.
        object_transl: (B, 3) template origin [m].
    """

    root_rotmat: torch.Tensor
    body_pose_rotmat: torch.Tensor
    shape: torch.Tensor
    pelvis: torch.Tensor
    object_rotmat: torch.Tensor
    object_transl: torch.Tensor

    def to(self, device: torch.device | str) -> "CameraFrameHOI":
        """The same states on `device`."""
        return CameraFrameHOI(*(getattr(self, f.name).to(device) for f in fields(self)))


class StateCodec:
    """Packs camera-frame HOI states into (normalised) x and decodes x into reconstructions.

    Args:
        layout: the body model's `StateLayout`.
        mean, std: (D,) statistics of raw training states (std floored at `min_std`).
    """

    def __init__(self, layout: StateLayout, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None, min_std: float = 0.02):
        self.layout = layout
        d = layout.size
        self.mean = torch.zeros(d) if mean is None else mean.detach().float().reshape(d)
        s = torch.ones(d) if std is None else std.detach().float().reshape(d)
        self.std = s.clamp_min(min_std)

    # -- raw state -------------------------------------------------------------------------------
    def pack(self, hoi: CameraFrameHOI) -> torch.Tensor:
        """Camera-frame states -> (B, D) raw state."""
        R = hoi.root_rotmat
        parts = HOIStateParts(
            root_rotmat=R, body_pose_rotmat=hoi.body_pose_rotmat,
            object_rotmat=R.transpose(1, 2) @ hoi.object_rotmat,
            object_transl=((hoi.object_transl - hoi.pelvis)[:, None] @ R)[:, 0],
            shape=hoi.shape)
        return self.layout.pack(parts)

    def unpack(self, raw: torch.Tensor, pelvis: torch.Tensor) -> CameraFrameHOI:
        """(B, D) raw state + (B, 3) pelvis -> camera-frame states (differentiable)."""
        p = self.layout.unpack(raw)
        R = p.root_rotmat
        return CameraFrameHOI(
            root_rotmat=R, body_pose_rotmat=p.body_pose_rotmat, shape=p.shape,
            pelvis=pelvis, object_rotmat=R @ p.object_rotmat,
            object_transl=pelvis + (R @ p.object_transl[..., None])[..., 0])

    # -- network space ---------------------------------------------------------------------------
    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean.to(raw)) / self.std.to(raw)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x) + self.mean.to(x)

    def encode(self, hoi: CameraFrameHOI) -> torch.Tensor:
        """Camera-frame states -> (B, D) normalised x."""
        return self.normalise(self.pack(hoi))

    def decode(self, x: torch.Tensor, pelvis: torch.Tensor) -> CameraFrameHOI:
        return self.unpack(self.denormalise(x), pelvis)


@dataclass(frozen=True)
class IndexSet:
    """The index tensors of a `Reconstruction` for one choice of skinned vertices (rows)."""

    contact_vertex_ids: torch.Tensor
    foot_vertex_ids: torch.Tensor
    landmark_index: torch.Tensor
    surface_ids: torch.Tensor

    def to(self, device: torch.device) -> "IndexSet":
        return IndexSet(*(getattr(self, f).to(device) for f in
                          ("contact_vertex_ids", "foot_vertex_ids", "landmark_index",
                           "surface_ids")))


@dataclass(frozen=True)
class BodyIndex:
    """Vertex index sets of a body model that the guidance terms need (see `Reconstruction`).

    Global ids index the whole mesh. The guidance steps skin only `guidance_vertex_ids` (the
    union of everything any term reads, sorted); `subset` holds the same index sets as rows of
    that subset, `whole` as rows of the whole mesh.

    Attributes:
        contact_vertex_ids: (C,) global ids of the contact subset.
        foot_vertex_ids: (F,) global ids of the sole/toe vertices.
        landmark_index: (33,) index into cat([joints (J), all vertices]) of each landmark.
        guidance_vertex_ids: (G,) sorted global ids of every vertex the guidance reads.
        whole: the index sets for a whole-mesh reconstruction.
        subset: the index sets for a reconstruction of `guidance_vertex_ids` only.
    """

    contact_vertex_ids: torch.Tensor
    foot_vertex_ids: torch.Tensor
    landmark_index: torch.Tensor
    guidance_vertex_ids: torch.Tensor
    whole: IndexSet
    subset: IndexSet

    @classmethod
    def of(cls, body: BodyModel, contact_vertex_ids: torch.Tensor, foot_vertex_ids: torch.Tensor,
           landmark_index: torch.Tensor) -> "BodyIndex":
        """The index sets of `body` with its thinned surface (`SURFACE_VERTICES`) and the
        guidance union."""
        J = body.num_joints
        contact, foot, landmarks = (t.cpu() for t in (contact_vertex_ids, foot_vertex_ids,
                                                      landmark_index))
        surface = vertex_subset(body.num_vertices, SURFACE_VERTICES)
        union = torch.unique(torch.cat([surface, contact, foot, landmarks[landmarks >= J] - J]))

        def rows(ids: torch.Tensor) -> torch.Tensor:
            return torch.searchsorted(union, ids)

        subset_landmarks = torch.where(landmarks < J, landmarks,
                                       J + rows(torch.clamp(landmarks - J, min=0)))
        return cls(contact_vertex_ids=contact_vertex_ids, foot_vertex_ids=foot_vertex_ids,
                   landmark_index=landmark_index, guidance_vertex_ids=union,
                   whole=IndexSet(contact, foot, landmarks, surface),
                   subset=IndexSet(rows(contact), rows(foot), subset_landmarks, rows(surface)))


def reconstruct(body: BodyModel, hoi: CameraFrameHOI, index: BodyIndex,
                full_mesh: bool = False) -> Reconstruction:
    """Pose the body (pelvis at `hoi.pelvis`) and place the object: differentiable w.r.t. `hoi`.

    Only the vertices the guidance reads are skinned (`index.guidance_vertex_ids`) unless
    `full_mesh` (the published result, the metrics)."""
    shape = hoi.shape
    if body.name == "anny":  # anny's phenotypes are only defined in [0, 1]
        shape = shape.clamp(0.0, 1.0)
    zeros = torch.zeros_like(hoi.pelvis)
    vertex_ids = None if full_mesh else index.guidance_vertex_ids
    out = body(body_pose_rotmat=hoi.body_pose_rotmat, shape=shape,
               root_rotmat=hoi.root_rotmat, root_transl=zeros, vertex_ids=vertex_ids)
    shift = (hoi.pelvis.to(out.joints) - out.joints[:, 0])[:, None]
    ids = (index.whole if full_mesh else index.subset).to(out.joints.device)
    return Reconstruction(vertices=out.vertices + shift, joints=out.joints + shift,
                          object_rotmat=hoi.object_rotmat.to(out.joints),
                          object_transl=hoi.object_transl.to(out.joints),
                          contact_vertex_ids=ids.contact_vertex_ids,
                          foot_vertex_ids=ids.foot_vertex_ids,
                          landmark_index=ids.landmark_index, surface_ids=ids.surface_ids)
