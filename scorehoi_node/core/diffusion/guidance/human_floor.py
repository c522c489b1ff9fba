"""Human-floor term: the body stays above the floor, and (optionally) its feet touch it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.diffusion.guidance.base import (
    Observation,
    Reconstruction,
    plane_height,
    with_extra,
    zero_loss,
)


@dataclass(frozen=True)
class HumanFloorGuidance:
    """Keep the body above the floor plane and, optionally, put its lowest foot vertex on it.

    Per batch item, with h = n.x + d the height above the floor [m]:

    (a) mean over the thinned body surface (`Reconstruction.surface_ids`) plus the sole/toe
        vertices of relu(-h): depth below the floor;
    (b) with `feet_on_floor`: relu(min over `recon.foot_vertex_ids` of h - tol_m): how far the
        lowest sole/toe vertex floats above the floor beyond the tolerance (a standing or
        sitting person; turn it off for jumps or lying). The gradient reaches that one vertex.

    loss = (a) + (b) [m]. Zeros when `obs.floor_plane` is None.

    Attributes:
        feet_on_floor: add term (b).
        tol_m: feet may float this high without cost [m].
    """

    name = "human_floor"
    default_weight = 0.5  # as object_floor
    feet_on_floor: bool = True
    tol_m: float = 0.02

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) below-floor depth plus foot float height [m]."""
        if obs.floor_plane is None:
            return zero_loss(recon)
        ids = with_extra(recon.surface_ids, recon.foot_vertex_ids)
        height = plane_height(recon.vertices[:, ids], obs.floor_plane)
        loss = torch.relu(-height).mean(dim=1)
        if self.feet_on_floor and recon.foot_vertex_ids.numel():
            feet = plane_height(recon.vertices[:, recon.foot_vertex_ids], obs.floor_plane)
            loss = loss + torch.relu(feet.min(dim=1).values - self.tol_m)
        return loss
