"""Depth term: observed depth points lie on the reconstructed object and body surfaces."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.diffusion.guidance.base import (
    Observation,
    Reconstruction,
    zero_loss,
)


def _stride(points: torch.Tensor, max_points: int) -> torch.Tensor:
    """(N, 3) -> every ceil(N / max_points)-th row (at most `max_points` rows), deterministic."""
    step = max(1, -(-points.shape[0] // max(1, max_points)))
    return points[::step]


@dataclass(frozen=True)
class DepthGuidance:
    """Fit the reconstruction to observed 3D points (camera frame, metres).

    Per batch item, loss = (a) + (b) [m]:

    (a) `obs.object_points`: mean over them of min(|sdf|, cap_m), sdf the template's signed
        distance of the points taken to the template frame: the points should lie on the
        object's surface;
    (b) `obs.human_points`: one-sided Chamfer from the points to the thinned body surface
        (`Reconstruction.surface_ids`): mean over the points of min(nearest-vertex distance,
        cap_m).

    The cap (truncated L1) makes points of other things (background, the other body) cost a
    constant without pulling; the price is no pull at all beyond `cap_m`, so this term refines
    an estimate that is already roughly right. Both point sets are subsampled by a stride to at
    most `max_points`. A part without its input adds 0; zeros when neither is given (or (a)
    lacks `obs.template`).

    Attributes:
        cap_m: truncation of the per-point distance [m].
        max_points: observed points used per set.
    """

    name = "depth"
    default_weight = 0.5  # observation term
    cap_m: float = 0.1
    max_points: int = 1024

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) mean truncated point-to-surface distance [m] (object part + body part)."""
        loss = zero_loss(recon)
        batch = recon.batch_size
        if obs.object_points is not None and obs.template is not None \
                and obs.object_points.shape[0]:
            points = _stride(obs.object_points, self.max_points).to(recon.object_transl)
            local = recon.to_object_frame(points[None].expand(batch, -1, -1))
            distance = obs.template.sdf(local).abs().clamp_max(self.cap_m)
            loss = loss + distance.mean(dim=1)
        if obs.human_points is not None and obs.human_points.shape[0]:
            points = _stride(obs.human_points, self.max_points).to(recon.vertices)
            points = points[None].expand(batch, -1, -1)
            surface = recon.vertices[:, recon.surface_ids]
            # the nearest vertex of each point is found without a graph (the gradient of a
            # minimum flows to its argmin only), then only those distances are differentiated
            with torch.no_grad():
                nearest = torch.cdist(points, surface, compute_mode="donot_use_mm_for_euclid_dist"
                                      ).argmin(dim=2)  # (B, P)
            matched = torch.gather(surface, 1, nearest[..., None].expand(-1, -1, 3))
            distance = (points - matched).norm(dim=-1)
            loss = loss + distance.clamp_max(self.cap_m).mean(dim=1)
        return loss
