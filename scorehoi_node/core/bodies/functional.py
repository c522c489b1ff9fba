"""Pure tensor math shared by the body-model backends (no module state).

Conventions: rotation matrices act on column vectors (x' = R x); points are row vectors in
tensors, so a batch is rotated as `points @ R.transpose(-1, -2)`. Lengths are metres.
"""

from __future__ import annotations

import roma
import torch


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6) continuous 6D representation (Zhou et al. 2019).

    The 6D vector is the first two columns of R, stored row-major from the (3, 2) block:
    `R[..., :, :2].reshape(..., 6)`. Inverse: `rot6d_to_rotmat`. dtype/device follow the input.
    """
    return rotmat[..., :, :2].reshape(*rotmat.shape[:-2], 6)


def rot6d_to_rotmat(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) 6D representation -> (..., 3, 3) rotation matrices (Gram-Schmidt, `roma`).

    Any finite input maps to a proper rotation (det +1); differentiable.
    """
    return roma.special_gramschmidt(rot6d.reshape(*rot6d.shape[:-1], 3, 2))


def apply_root_transform(
    vertices: torch.Tensor,
    joints: torch.Tensor,
    root_rotmat: torch.Tensor,
    root_transl: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate a posed body about its root joint, then translate it (the SMPL convention).

    x' = R (x - j0) + j0 + t for every vertex and joint, j0 = joints[:, 0].

    Args:
        vertices: BxVx3 body-frame vertices posed with an identity root rotation, metres.
        joints: BxJx3 matching joints; joint 0 is the root.
        root_rotmat: Bx3x3 root rotation in the body frame.
        root_transl: Bx3 translation, metres.
    Returns:
        (BxVx3 vertices, BxJx3 joints); the root joint ends at j0 + t.
    """
    j0 = joints[:, :1]
    rot_t = root_rotmat.transpose(-1, -2)
    offset = (j0 + root_transl[:, None]) - j0 @ rot_t
    return vertices @ rot_t + offset, joints @ rot_t + offset


def change_rotation_frame(rotmat: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Express rotations given in frame A in frame B, where `frame` maps A coords to B coords.

    R_B = C R_A C^T with C = `frame` (3x3, proper rotation); rotmat: (..., 3, 3).
    """
    return frame @ rotmat @ frame.transpose(-1, -2)


def ancestor_in_subset(parents: list[int] | tuple[int, ...], subset: list[int]) -> list[int]:
    """Parent of each subset member within the subset (index into `subset`, -1 for the root).

    Walks up `parents` (full-skeleton parent indices, -1 at the root) until an ancestor that is in
    `subset` is met. Raises ValueError if a non-root member has no ancestor in the subset or an
    ancestor comes after its child in `subset` order.
    """
    position = {bone: i for i, bone in enumerate(subset)}
    out = []
    for i, bone in enumerate(subset):
        parent = parents[bone]
        while parent >= 0 and parent not in position:
            parent = parents[parent]
        if parent < 0:
            if i != 0:
                raise ValueError(f"subset member {bone} has no ancestor in the subset")
            out.append(-1)
            continue
        if position[parent] >= i:
            raise ValueError(f"subset member {bone} comes before its ancestor {parent}")
        out.append(position[parent])
    return out


def farthest_point_sampling(points: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Deterministic farthest-point sampling.

    Starts at the point farthest from the centroid (ties: lowest index), then repeatedly adds the
    point farthest from the chosen set.

    Args:
        points: Nx3 float.
        num_samples: how many to pick; clipped to N.
    Returns:
        (min(num_samples, N),) int64 indices into `points`, in selection order.
    """
    n = points.shape[0]
    k = min(int(num_samples), n)
    if k <= 0:
        return torch.zeros(0, dtype=torch.int64, device=points.device)
    points = points.detach()
    first = torch.argmax((points - points.mean(0)).square().sum(-1))
    chosen = [first]
    dist = (points - points[first]).square().sum(-1)
    for _ in range(k - 1):
        nxt = torch.argmax(dist)
        chosen.append(nxt)
        dist = torch.minimum(dist, (points - points[nxt]).square().sum(-1))
    return torch.stack(chosen).to(torch.int64)


def dominant_bone(bone_weights: torch.Tensor, bone_indices: torch.Tensor | None = None) -> torch.Tensor:
    """Bone with the largest skinning weight per vertex.

    Args:
        bone_weights: VxK weights; dense (K = number of bones) when `bone_indices` is None,
            otherwise sparse slots.
        bone_indices: VxK int64 bone index of each slot, or None for dense weights.
    Returns:
        (V,) int64 bone indices.
    """
    slot = torch.argmax(bone_weights, dim=1)
    if bone_indices is None:
        return slot.to(torch.int64)
    return bone_indices.gather(1, slot[:, None])[:, 0].to(torch.int64)


def contact_subset(
    rest_vertices: torch.Tensor,
    vertex_bone: torch.Tensor,
    part_bones: dict[str, list[int]],
    part_budget: dict[str, int],
    torso_parts: tuple[str, str, str] = ("torso", "back", "front"),
    forward_axis: int = 2,
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Pick a labelled, evenly spread subset of body vertices for contact reasoning.

    Each vertex gets the part of its dominant skinning bone. Vertices of the part named
    `torso_parts[0]` are split into `torso_parts[1]` (behind the torso's mean along
    `forward_axis`) and `torso_parts[2]` (in front). Inside each part, `part_budget[part]`
    vertices are picked by farthest-point sampling on the rest mesh (all of them when the part is
    smaller). Deterministic.

    Args:
        rest_vertices: Vx3 rest-pose vertices in the body frame, metres.
        vertex_bone: (V,) int64 dominant bone per vertex.
        part_bones: part name -> bone indices; bones in no part are ignored.
        part_budget: part name -> number of samples (the order of this dict is the label order).
        torso_parts: (source part, part behind, part in front).
        forward_axis: body-frame axis pointing forward (2 = +Z).
    Returns:
        vertex_ids: (K,) int64 unique vertex indices, grouped by part.
        part_ids: (K,) int64 index into `part_names` for each vertex.
        part_names: names of the parts, in `part_budget` order.
    """
    rest_vertices = rest_vertices.detach().cpu()
    vertex_bone = vertex_bone.cpu()
    part_names = tuple(part_budget)
    source, behind, front = torso_parts
    source_id = len(part_names)  # temporary label of the unsplit torso
    bone_part = torch.full((int(vertex_bone.max()) + 1,), -1, dtype=torch.int64)
    for part, bones in part_bones.items():
        part_id = source_id if part == source else part_names.index(part) if part in part_names else -1
        for bone in bones:
            if 0 <= bone < bone_part.numel():
                bone_part[bone] = part_id
    vertex_part = bone_part[vertex_bone]
    torso = vertex_part == source_id
    if torso.any():
        coord = rest_vertices[:, forward_axis]
        in_front = coord >= coord[torso].mean()
        vertex_part[torso & in_front] = part_names.index(front) if front in part_names else -1
        vertex_part[torso & ~in_front] = part_names.index(behind) if behind in part_names else -1
    ids, parts = [], []
    for part_id, part in enumerate(part_names):
        members = torch.nonzero(vertex_part == part_id)[:, 0]
        if members.numel() == 0:
            continue
        picked = members[farthest_point_sampling(rest_vertices[members], part_budget[part])]
        ids.append(picked)
        parts.append(torch.full_like(picked, part_id))
    if not ids:
        empty = torch.zeros(0, dtype=torch.int64)
        return empty, empty.clone(), part_names
    return torch.cat(ids), torch.cat(parts), part_names
