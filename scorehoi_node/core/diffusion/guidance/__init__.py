"""Guidance terms of the ScoreHOI sampler: one module per physical or observation term.

Each term maps a differentiable `Reconstruction` and the frame's `Observation` to a (B,) loss
(>= 0, zero when the constraint holds or its input is missing); the sampler adds them with the
weights of its configuration (`make_terms`, `total_loss`) and follows the gradient.

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
from scorehoi_node.core.diffusion.guidance.contact import ContactGuidance
from scorehoi_node.core.diffusion.guidance.depth import DepthGuidance
from scorehoi_node.core.diffusion.guidance.human_floor import HumanFloorGuidance
from scorehoi_node.core.diffusion.guidance.mask import MaskGuidance, mask_distance, sample_map
from scorehoi_node.core.diffusion.guidance.object_floor import ObjectFloorGuidance
from scorehoi_node.core.diffusion.guidance.penetration import PenetrationGuidance
from scorehoi_node.core.diffusion.guidance.recon import make_reconstruction
from scorehoi_node.core.diffusion.guidance.reprojection import ReprojectionGuidance, geman_mcclure

#: term name (the key of its weight in the sampler configuration) -> term class
TERMS: dict[str, type] = {cls.name: cls for cls in (
    ContactGuidance, PenetrationGuidance, ObjectFloorGuidance, HumanFloorGuidance,
    ReprojectionGuidance, MaskGuidance, DepthGuidance)}


def make_terms(weights: dict[str, float], options: dict[str, dict[str, Any]] | None = None
               ) -> list[tuple[float, GuidanceTerm]]:
    """(weight, term) pairs for every term with a non-zero weight, in `weights` order.

    Args:
        weights: term name -> weight (>= 0); names must be keys of `TERMS`.
        options: term name -> constructor keyword arguments (e.g. {"contact": {"threshold_m":
            0.03}}); terms not named use their defaults.
    Raises:
        ValueError: an unknown term name or a negative / non-finite weight.
    """
    options = options or {}
    unknown = sorted(set(weights) - set(TERMS)) + sorted(set(options) - set(TERMS))
    if unknown:
        raise ValueError(f"unknown guidance terms {unknown}; known: {', '.join(TERMS)}")
    out: list[tuple[float, GuidanceTerm]] = []
    for name, weight in weights.items():
        weight = float(weight)
        if not weight >= 0.0 or weight == float("inf"):
            raise ValueError(f"guidance weight of {name!r} must be finite and >= 0, got {weight}")
        if weight > 0.0:
            out.append((weight, TERMS[name](**options.get(name, {}))))
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
    "TERMS", "ContactGuidance", "DepthGuidance", "GuidanceTerm", "HumanFloorGuidance",
    "MaskGuidance", "ObjectFloorGuidance", "Observation", "PenetrationGuidance", "Reconstruction",
    "ReprojectionGuidance", "geman_mcclure",
    "make_reconstruction", "make_terms", "mask_distance", "plane_height", "project",
    "sample_map", "total_loss", "vertex_subset", "zero_loss",
]
