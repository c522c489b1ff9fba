"""Differentiable signed-distance lookup in a regular grid (pure tensor math).

Sign convention: negative INSIDE the object, positive outside, in metres.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sdf_query(points: torch.Tensor, sdf_grid: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """Signed distance of points to an object, by trilinear interpolation of a grid.

    Points outside the grid box are clamped onto it and the distance to the box is added, so
    the result grows with distance (positive far away) and stays continuous at the box.

    Args:
        points: (B, N, 3) points in the object's canonical frame, metres.
        sdf_grid: (X, Y, Z) signed distances in metres (negative inside) at the grid nodes;
            node (i, j, k) sits at lo + (i, j, k) * (hi - lo) / ((X, Y, Z) - 1).
        bounds: (2, 3) grid box [lo, hi] in the canonical frame, metres.

    Returns:
        (B, N) signed distances in metres, differentiable w.r.t. `points`; dtype and device
        follow `points`.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (B, N, 3), got {tuple(points.shape)}")
    grid = sdf_grid.to(device=points.device, dtype=points.dtype)
    lo, hi = bounds.to(device=points.device, dtype=points.dtype).unbind(0)
    inside_box = torch.minimum(torch.maximum(points, lo), hi)
    outside = torch.linalg.vector_norm(points - inside_box, dim=-1)
    # grid_sample's last axis is (x, y, z) -> (W, H, D), so the volume is laid out (Z, Y, X).
    coords = 2.0 * (inside_box - lo) / (hi - lo) - 1.0
    volume = grid.permute(2, 1, 0)[None, None]
    sampled = F.grid_sample(volume, coords[None, :, :, None, :], mode="bilinear",
                            padding_mode="border", align_corners=True)
    return sampled[0, 0, :, :, 0] + outside
