"""Penetration term: no body vertex inside the object."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.diffusion.guidance.base import (
    Observation,
    Reconstruction,
    with_extra,
    zero_loss,
)


@dataclass(frozen=True)
class PenetrationGuidance:
    """Push body vertices out of the object.

    The template SDF is evaluated on a fixed vertex subset: the contact subset plus the thinned
    body surface (`Reconstruction.surface_ids`). Per batch item, with d the SDF [m] (negative
    inside),

        loss = sum relu(-d) / max(1, #near)   [m]

    where "near" are the subset vertices inside the template's SDF grid box (the object's
    bounding box plus a margin): the mean penetration depth over the body part close to the
    object. The count is a constant for the gradient, and every penetrating vertex gets a
    gradient of -grad(d) / #near, i.e. out of the object. (The published ScoreHOI term gave
    no gradient here.) Points off the grid get a positive distance from `sdf_query`, so far
    vertices cost nothing.

    Zeros when `obs.template` is None.
    """

    name = "penetration"
    #: the paper's 0.1 raised: with 0.1 the contact pull pushed hands into objects; with
    #: block-normalised guidance 1.0 left 1.29 cm of penetration against 0.83 cm with 3.0 (README)
    default_weight = 3.0

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) mean penetration depth [m] of the subset vertices near the object."""
        if obs.template is None:
            return zero_loss(recon)
        ids = with_extra(recon.surface_ids, recon.contact_vertex_ids)
        local = recon.to_object_frame(recon.vertices[:, ids])
        depth = torch.relu(-obs.template.sdf(local))
        lo, hi = torch.tensor(obs.template.sdf_bounds).to(local)
        near = ((local >= lo) & (local <= hi)).all(dim=-1)
        return depth.sum(dim=1) / near.sum(dim=1).clamp_min(1).to(depth)
