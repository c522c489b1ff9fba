"""Object-floor term: the object does not sink into the floor."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.diffusion.guidance.base import (
    Observation,
    Reconstruction,
    plane_height,
    zero_loss,
)


@dataclass(frozen=True)
class ObjectFloorGuidance:
    """Lift object keypoints that lie below the floor plane.

    The template's 64 surface keypoints are placed in the camera frame with the object pose;
    loss = mean over them of relu(-(n.x + d)) [m] (plain hinge: depth below the floor). It does
    not pull floor-standing objects down onto the floor (the observation terms place them).

    Zeros when `obs.floor_plane` or `obs.template` is None.
    """

    name = "object_floor"
    default_weight = 0.5  # the paper's weight

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) mean depth [m] of the object keypoints below the floor."""
        if obs.floor_plane is None or obs.template is None:
            return zero_loss(recon)
        points = recon.object_points(torch.tensor(obs.template.keypoints))
        return torch.relu(-plane_height(points, obs.floor_plane)).mean(dim=1)
