"""Guidance terms of the ScoreHOI sampler: one module per physical or observation term.

Each term maps a differentiable `Reconstruction` and the frame's `Observation` to a (B,) loss
(>= 0, zero when the constraint holds or its input is missing); the sampler adds them with the
weights of its configuration (`make_terms`, `total_loss`) and follows the gradient. Terms are
chosen by name from `core/registry.py` GUIDANCE_TERMS; a new term is one module here (a class
with `name`, `default_weight` and `__call__(recon, obs) -> (B,) loss`) plus one registry line.

    contact       contact vertices marked by the contact mask touch the object      [m]
    penetration   no body vertex inside the object                                  [m]
    object_floor  object keypoints above the floor                                  [m]
    human_floor   body above the floor, lowest foot vertex on it                    [m]
    reprojection  body landmarks project onto the 2D keypoints (robust)    [normalised^2]
    mask          object keypoints project into the object mask          [normalised units]
    depth         observed depth points on the object / body surface                [m]
"""

from __future__ import annotations

from typing import Any

import torch

from scorehoi_node.core.diffusion.guidance.base import (
    GuidanceTerm,
    Observation,
    Reconstruction,
    plane_height,
    project,
    vertex_subset,
    zero_loss,
)
from scorehoi_node.core.diffusion.guidance.mask import mask_distance, sample_map
from scorehoi_node.core.diffusion.guidance.recon import make_reconstruction
from scorehoi_node.core.diffusion.guidance.reprojection import geman_mcclure
from scorehoi_node.core.registry import GUIDANCE_TERMS


def default_weights() -> dict[str, float]:
    """Term name -> its `default_weight`, for every registered term (registry order)."""
    return {name: float(GUIDANCE_TERMS.get(name).default_weight)
            for name in GUIDANCE_TERMS.names()}


def make_terms(weights: dict[str, float], options: dict[str, dict[str, Any]] | None = None
               ) -> list[tuple[float, GuidanceTerm]]:
    """(weight, term) pairs for every term with a non-zero weight, in `weights` order.

    Args:
        weights: term name -> weight (>= 0); names must be registered (`GUIDANCE_TERMS`).
        options: term name -> constructor keyword arguments (e.g. {"contact": {"threshold_m":
            0.03}}); terms not named use their defaults.
    Raises:
        ValueError: an unknown term name or a negative / non-finite weight.
    """
    options = options or {}
    for name in (*weights, *options):
        GUIDANCE_TERMS.check(name)
    out: list[tuple[float, GuidanceTerm]] = []
    for name, weight in weights.items():
        weight = float(weight)
        if not weight >= 0.0 or weight == float("inf"):
            raise ValueError(f"guidance weight of {name!r} must be finite and >= 0, got {weight}")
        if weight > 0.0:
            out.append((weight, GUIDANCE_TERMS.get(name)(**options.get(name, {}))))
    return out


def total_loss(terms: list[tuple[float, GuidanceTerm]], recon: Reconstruction,
               obs: Observation) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the terms.

    Returns:
        (B,) total = sum_i w_i term_i(recon, obs) (attached to the graph; zeros without terms),
        and term name -> its (B,) unweighted value, detached (for logging).
    """
    total = zero_loss(recon)
    parts: dict[str, torch.Tensor] = {}
    for weight, term in terms:
        value = term(recon, obs)
        total = total + weight * value
        parts[term.name] = value.detach()
    return total, parts


__all__ = [
    "GuidanceTerm", "Observation", "Reconstruction", "default_weights", "geman_mcclure",
    "make_reconstruction", "make_terms", "mask_distance", "plane_height", "project",
    "sample_map", "total_loss", "vertex_subset", "zero_loss",
]
