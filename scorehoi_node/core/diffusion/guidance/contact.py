"""Contact term: body vertices predicted in contact should touch the object's surface."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.diffusion.guidance.base import Observation, Reconstruction, zero_loss


@dataclass(frozen=True)
class ContactGuidance:
    """Pull the contact-subset vertices that `obs.contact_mask` marks onto the object.

    Per batch item: d = template SDF [m] of the selected contact vertices (taken to the template
    frame), loss = mean over them of the plain hinge relu(d - threshold_m) [m]. The plain (not
    squared) hinge keeps a unit-size gradient per vertex however far the vertex is, so a weight
    tuned for near misses still moves far-off objects, and vertices inside the object or within
    `threshold_m` of its surface cost nothing (penetration is `PenetrationGuidance`'s job).

    Zero for an item without a selected vertex; zeros when `obs.template` or `obs.contact_mask`
    is None.

    Attributes:
        threshold_m: distance to the surface that counts as touching [m].
    """

    name = "contact"
    default_weight = 0.5  # the paper's weight
    threshold_m: float = 0.02

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) mean hinge distance [m] of the selected contact vertices (see the class doc)."""
        if obs.template is None or obs.contact_mask is None:
            return zero_loss(recon)
        mask = obs.contact_mask.to(device=recon.vertices.device, dtype=torch.bool)
        mask = mask.expand(recon.batch_size, recon.contact_vertex_ids.numel())
        points = recon.vertices[:, recon.contact_vertex_ids]
        distance = obs.template.sdf(recon.to_object_frame(points))
        hinge = torch.relu(distance - self.threshold_m) * mask
        return hinge.sum(dim=1) / mask.sum(dim=1).clamp_min(1).to(hinge)
