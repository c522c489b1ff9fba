"""Square crops of an image for a fixed-input-size model, and their way back.

A crop is a square (u0, v0, side) of whole pixels of the full image (it may extend past the
image: there the image is mirrored, so a person cut by the image edge still looks like a
person). `crop_image` resizes it to the model's input size; `paste_mask` puts a mask of the
crop back into the full image. Pixels (u, v): origin at the image's top-left corner.
"""

from __future__ import annotations

import cv2
import numpy as np


def crop_square(box: np.ndarray, padding: float) -> tuple[int, int, int]:
    """(u0, v0, side) whole pixels: the square centred on `box` whose side is the box's longer
    side times (1 + 2 padding) (may extend past the image)."""
    u0, v0, u1, v1 = np.asarray(box, np.float64)
    side = max(int(round(max(u1 - u0, v1 - v0, 1.0) * (1.0 + 2.0 * padding))), 2)
    return (int(round(0.5 * (u0 + u1 - side))), int(round(0.5 * (v0 + v1 - side))), side)


def cut_square(image: np.ndarray, square: tuple[int, int, int]) -> np.ndarray:
    """(side, side, ...) the square (u0, v0, side) of `image`, mirrored at the image's edges
    where it extends past them (a person cut by the edge then still looks like one to
    MediaPipe's face-anchored detector; poses of the mirror image are dropped later)."""
    u0, v0, side = square
    h, w = image.shape[:2]
    if u0 + side < 2 or v0 + side < 2 or u0 > w - 2 or v0 > h - 2:  # (almost) all outside
        return np.zeros((side, side, *image.shape[2:]), image.dtype)
    region = image[max(v0, 0):min(v0 + side, h), max(u0, 0):min(u0 + side, w)]
    top, left = max(-v0, 0), max(-u0, 0)
    bottom = side - top - region.shape[0]
    right = side - left - region.shape[1]
    if top or left or bottom or right:
        region = cv2.copyMakeBorder(region, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    return region


def crop_image(rgb: np.ndarray, square: tuple[int, int, int], size: int) -> np.ndarray:
    """(size, size, 3) uint8: `cut_square` of `rgb` resized to `size` (area interpolation when
    shrinking, bilinear when enlarging)."""
    region = cut_square(rgb, square)
    flags = cv2.INTER_AREA if square[2] > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(region, (size, size), interpolation=flags))


def grey_out(crop: np.ndarray, hide: np.ndarray, square: tuple[int, int, int]) -> np.ndarray:
    """`crop` (size, size, 3) of `square` with the pixels that `hide` (H, W) bool marks in the
    full image (nearest sample, mirrored like the crop) set to grey."""
    size = crop.shape[0]
    covered = cv2.resize(cut_square(hide.astype(np.uint8), square), (size, size),
                         interpolation=cv2.INTER_NEAREST)
    out = crop.copy()
    out[covered > 0] = 128
    return out


def paste_mask(mask: np.ndarray, square: tuple[int, int, int], shape: tuple[int, int]
               ) -> np.ndarray:
    """(H, W) bool: a crop's (size, size) probability `mask` > 0.5 put back where `square`
    lies in an image of `shape` (the mirrored part outside the image is dropped)."""
    u0, v0, side = square
    h, w = shape
    full = np.zeros(shape, bool)
    big = cv2.resize(np.asarray(mask, np.float32), (side, side),
                     interpolation=cv2.INTER_LINEAR) > 0.5
    iu0, iv0, iu1, iv1 = max(u0, 0), max(v0, 0), min(u0 + side, w), min(v0 + side, h)
    if iu1 > iu0 and iv1 > iv0:
        full[iv0:iv1, iu0:iu1] = big[iv0 - v0:iv1 - v0, iu0 - u0:iu1 - u0]
    return full


def in_band(depth: np.ndarray | None, band: tuple[float, float] | None) -> np.ndarray | None:
    """(H, W) bool: pixels whose depth lies in `band` (near, far) [m]; None without either."""
    if depth is None or band is None:
        return None
    with np.errstate(invalid="ignore"):
        return (depth >= band[0]) & (depth <= band[1])
