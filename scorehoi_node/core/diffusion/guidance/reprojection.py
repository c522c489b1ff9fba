"""Reprojection term: the body's MediaPipe-33 landmarks project onto the detected 2D keypoints."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.diffusion.guidance.base import (
    Observation,
    Reconstruction,
    project,
    zero_loss,
)


def geman_mcclure(squared: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust cost sigma^2 e^2 / (sigma^2 + e^2) of squared errors e^2 (elementwise;
    ~e^2 for e << sigma, saturating at sigma^2; same units as `squared`)."""
    s2 = sigma * sigma
    return s2 * squared / (s2 + squared)


@dataclass(frozen=True)
class ReprojectionGuidance:
    """Score-weighted robust 2D keypoint error.

    The 33 landmarks of `recon.landmarks()` are projected with `obs.camera_K`; the residual to
    `obs.keypoints_2d` is divided by `obs.scale_px` (normalised units: fractions of the person's
    box diagonal) and put through Geman-McClure with `sigma`. Per batch item,

        loss = sum_k w_k rho(|r_k|^2) / sum_k w_k     (w = keypoint_scores, all 1 when None)

    in squared normalised units, at most sigma^2. Zeros when `obs.keypoints_2d` is None or the
    scores sum to zero.

    Attributes:
        sigma: robustness scale in normalised units (0.1 = a tenth of the person's diagonal);
            errors well beyond it barely pull.
    """

    name = "reprojection"
    default_weight = 0.05  # observation term
    sigma: float = 0.1

    def __call__(self, recon: Reconstruction, obs: Observation) -> torch.Tensor:
        """(B,) weighted robust squared reprojection error [normalised units^2]."""
        if obs.keypoints_2d is None:
            return zero_loss(recon)
        landmarks = recon.landmarks()
        target = obs.keypoints_2d.to(landmarks)
        weights = (torch.ones(target.shape[0]) if obs.keypoint_scores is None
                   else obs.keypoint_scores).to(landmarks).clamp_min(0.0)
        residual = (project(landmarks, obs.camera_K) - target) / obs.scale_px
        cost = geman_mcclure(residual.square().sum(dim=-1), self.sigma)
        # all-zero scores give 0 / eps = 0 (no host sync on the score sum)
        return (cost * weights).sum(dim=1) / weights.sum().clamp_min(1e-12)
