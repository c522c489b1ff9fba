"""A differentiable `Reconstruction` from a posed body and an object pose."""

from __future__ import annotations

import torch

from scorehoi_node.core.bodies.base import BodyModel, BodyOutput
from scorehoi_node.core.bodies.landmarks import foot_vertex_ids, landmark_index
from scorehoi_node.core.diffusion.guidance.base import (SURFACE_VERTICES, Reconstruction,
                                                       vertex_subset)


def make_reconstruction(body: BodyModel, output: BodyOutput, object_rotmat: torch.Tensor,
                        object_transl: torch.Tensor) -> Reconstruction:
    """A `Reconstruction` from a posed body (camera frame) and an object pose.

    Args:
        body: the body model `output` came from (supplies the index tables).
        output: (B, V, 3) vertices (the whole mesh) and (B, J, 3) joints in the camera frame [m].
        object_rotmat: (B, 3, 3) template frame -> camera frame rotation.
        object_transl: (B, 3) template origin in the camera frame [m].
    """
    device = output.vertices.device
    return Reconstruction(
        vertices=output.vertices, joints=output.joints,
        object_rotmat=object_rotmat, object_transl=object_transl,
        contact_vertex_ids=body.contact_vertex_ids.to(device),
        foot_vertex_ids=foot_vertex_ids(body).to(device),
        landmark_index=landmark_index(body).to(device),
        surface_ids=vertex_subset(output.vertices.shape[1], SURFACE_VERTICES, device=device))
