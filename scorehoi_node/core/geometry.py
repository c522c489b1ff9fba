"""Camera geometry on images: back-projection of depth, masks of boxes and of a fitted body.

Camera optical frame (x right, y down, z forward), metres; pixel (u, v) centres at +0.5.
"""

from __future__ import annotations

import cv2
import numpy as np

from scorehoi_node.core.types import CameraIntrinsics


def backproject_image(depth: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """(H, W) depth [m] -> (H, W, 3) float64 camera-frame points [m] of the pixel centres."""
    h, w = depth.shape
    u = (np.arange(w) + 0.5 - camera.cx) / camera.fx
    v = (np.arange(h) + 0.5 - camera.cy) / camera.fy
    z = depth.astype(np.float64)
    return np.stack([u[None, :] * z, v[:, None] * z, z], axis=-1)


def box_mask(box: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of a [u0, v0, u1, v1] pixel box (clipped to the image)."""
    u0, v0, u1, v1 = np.round(box).astype(int)
    mask = np.zeros(shape, bool)
    mask[max(v0, 0):max(v1, 0), max(u0, 0):max(u1, 0)] = True
    return mask


def body_surface_mask(vertices: np.ndarray, camera: CameraIntrinsics, depth: np.ndarray,
                      tolerance_m: float = 0.08, splat_px: int = 5) -> np.ndarray:
    """(H, W) bool pixels whose measured depth lies on a fitted body mesh.

    Person segmenters (MediaPipe's mask included) paint a held object as part of the person;
    a body-model fit knows where the body surface is. The mesh's vertices are z-buffered into
    the image (a min-filter of `splat_px` fills the gaps between vertices), and a pixel belongs
    to the person when its depth is within `tolerance_m` of that surface.

    Args:
        vertices: (V, 3) fitted body vertices, camera frame [m].
        camera: intrinsics of `depth`.
        depth: (H, W) depth [m], NaN/<= 0 invalid.
    """
    h, w = depth.shape
    v = np.asarray(vertices, np.float64)
    v = v[v[:, 2] > 1e-3]
    uv = np.floor(camera.project(v)).astype(np.int64)
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    zbuf = np.full((h, w), np.inf, np.float32)
    np.minimum.at(zbuf, (uv[ok, 1], uv[ok, 0]), v[ok, 2].astype(np.float32))
    zbuf = cv2.erode(zbuf, np.ones((splat_px, splat_px), np.uint8))  # min filter
    with np.errstate(invalid="ignore"):
        return np.isfinite(zbuf) & (np.abs(depth - zbuf) < tolerance_m)
