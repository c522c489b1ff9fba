"""Where people may be: person proposals for the top-down detector (`detect/topdown.py`).

Each method gives `Proposal`s (boxes in full-image pixels):

- `depth_proposals`: person-sized foreground clusters standing on the floor of a depth image:
  RANSAC floor plane (`core/floor.py`), pixels more than 10 cm above it, connected
  components cut at depth edges; a cluster counts when its top lies 0.8-2.4 m above the floor
  and it is not flat (walls, doors); a cluster wider than a person is cut into person-wide
  windows along the floor. Each proposal carries its depth band (people in front and behind
  are greyed in its crop) and a standing person's box (down to the floor, up to 1.8 m: the
  crop then shows the whole person even when only their upper body or legs were clustered);
- `tile_boxes`: the whole image and a grid of half-overlapping squares reaching past its
  edges;
- `SegmentationProposer`: blobs of MediaPipe's selfie-segmentation mask;
- `FaceProposer`: MediaPipe's full-range face detector, a body-sized box below each face.

Frames and units: camera optical frame (x right, y down, z forward), metres; pixels (u, v)
with the origin at the image's top-left corner. MediaPipe is imported inside the classes that
run it, on purpose (heavy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from scorehoi_node.core.detect.crops import crop_image, crop_square
from scorehoi_node.core.floor import estimate_floor
from scorehoi_node.core.types import CameraIntrinsics


@dataclass(frozen=True)
class Proposal:
    """Where a person may be.

    Attributes:
        box: (4,) float64 [u_min, v_min, u_max, v_max] full-image pixels.
        method: the proposal method that made it (one of `PROPOSAL_METHODS`).
        padding: the crop extends the box's longer side by this share on each side.
        depth_band: (near, far) [m]: the crop shows only pixels whose depth lies in this band
            (others grey: people in front of or behind the proposed one); None: all pixels.
        floor_v: image row [px] of the floor below the proposed person (depth proposals), or
            None: a person found here whose feet are hidden stands there.
    """

    box: np.ndarray
    method: str
    padding: float
    depth_band: tuple[float, float] | None = None
    floor_v: float | None = None


@dataclass(frozen=True)
class DepthProposalConfig:
    """Settings of `depth_proposals` (the only source of their defaults).

    Attributes:
        stride: work on every this-many-th pixel in u and v.
        range_m: (near, far) depth of the pixels used [m].
        person_height_m: (min, max) height above the floor of a cluster's top [m].
        person_width_m: clusters wider than this on the floor [m] are cut into windows of this
            width (half overlapping).
        min_cluster_px: clusters with fewer (subsampled) pixels are ignored.
        band_margin_m: a proposal's crop shows the pixels within this margin [m] of its
            cluster's depth range (people in front of and behind it grey).
        planar_m: clusters whose points lie within this RMS distance [m] of a plane are no
            person (walls, doors).
    """

    stride: int = 2
    range_m: tuple[float, float] = (0.3, 10.0)
    person_height_m: tuple[float, float] = (0.8, 2.4)
    person_width_m: float = 1.1
    min_cluster_px: int = 40
    band_margin_m: float = 0.3
    planar_m: float = 0.03

    def __post_init__(self) -> None:
        if self.stride < 1 or self.min_cluster_px < 1:
            raise ValueError(f"need stride >= 1 and min_cluster_px >= 1, got {self.stride}, "
                             f"{self.min_cluster_px}")


def subsampled_camera(camera: CameraIntrinsics, stride: int) -> CameraIntrinsics:
    """Intrinsics of `depth[::stride, ::stride]`: sub-pixel j is full pixel j * stride."""
    K = camera.K.copy()
    K[0, 0] /= stride
    K[1, 1] /= stride
    # pixel centres: sub j + 0.5 <-> full j * stride + 0.5
    K[0, 2] = (camera.cx + 0.5 * stride - 0.5) / stride
    K[1, 2] = (camera.cy + 0.5 * stride - 0.5) / stride
    return CameraIntrinsics(K=K, width=-(-camera.width // stride),
                            height=-(-camera.height // stride))


def depth_proposals(depth: np.ndarray, camera: CameraIntrinsics, config: DepthProposalConfig,
                    padding: float) -> list[Proposal] | None:
    """Person-sized depth clusters standing on the floor (see the module docstring), each with
    the depth band of its cluster, nearest first; None when no floor plane is found (then
    depth cannot tell where people stand)."""
    s = config.stride
    d = np.asarray(depth, np.float32)[::s, ::s]
    cam = subsampled_camera(camera, s)
    near, far = config.range_m
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > near) & (d < far)
    floor = estimate_floor(np.where(valid, d, np.nan), cam, iterations=200, sample_size=2000,
                           refit_size=8000)
    if floor is None:
        return None
    v, u = np.mgrid[0:d.shape[0], 0:d.shape[1]]
    z = np.where(valid, d, 0.0).astype(np.float64)
    points = np.stack([(u + 0.5 - cam.cx) / cam.fx * z, (v + 0.5 - cam.cy) / cam.fy * z, z], -1)
    height = points @ floor[:3] + floor[3]
    labels, _ = ndimage.label(valid & (height > 0.1) & ~_far_side_of_jumps(z, valid))
    sizes = np.bincount(labels.ravel())
    proposals: list[Proposal] = []
    for k, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None or sizes[k] < config.min_cluster_px:
            continue
        rows, cols = np.nonzero(labels[found] == k)
        rows, cols = rows + found[0].start, cols + found[1].start
        proposals += _person_windows(points[rows, cols], height[rows, cols], rows, cols, floor,
                                     camera, config, padding)
    # nearest first: a person found is shown grey in the crops of those behind them
    return sorted(proposals, key=lambda p: p.depth_band[0])


def _far_side_of_jumps(z: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(h, w) bool: pixels whose right/left/up/down neighbour is nearer by more than a
    depth-dependent step (8 cm + 3 % of the depth): the far side of an occluding edge."""
    far = np.zeros(z.shape, bool)
    zz = np.where(valid, z, np.inf)
    for axis in (0, 1):
        a = zz.take(range(0, zz.shape[axis] - 1), axis=axis)
        b = zz.take(range(1, zz.shape[axis]), axis=axis)
        with np.errstate(invalid="ignore"):
            step = 0.08 + 0.03 * np.minimum(a, b)
            a_far, b_far = a - b > step, b - a > step
        sl_a = [slice(None)] * 2
        sl_b = [slice(None)] * 2
        sl_a[axis], sl_b[axis] = slice(0, -1), slice(1, None)
        far[tuple(sl_a)] |= a_far
        far[tuple(sl_b)] |= b_far
    return far


def _person_windows(points: np.ndarray, height: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    floor: np.ndarray, camera: CameraIntrinsics, config: DepthProposalConfig,
                    padding: float) -> list[Proposal]:
    """Proposals of one depth cluster (points (N, 3), heights above the floor (N,) and
    subsampled pixel rows/cols (N,)): one when it is person-sized, person-wide windows along
    its longest floor direction when it is wider; each with the depth band of its points and
    a standing person's box (`_standing_box`)."""
    lo_h, hi_h = config.person_height_m
    if not lo_h <= np.percentile(height, 98) <= hi_h:
        return []
    sample = points[:: max(len(points) // 2000, 1)]
    centred = sample - sample.mean(axis=0)
    if np.linalg.svd(centred, compute_uv=False)[-1] / np.sqrt(len(sample)) < config.planar_m:
        return []  # a wall, a door, a cupboard front: no person is this flat
    # floor coordinates: project onto the plane, principal direction
    flat = points - np.outer(points @ floor[:3], floor[:3])
    flat -= flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat[:: max(len(flat) // 2000, 1)], full_matrices=False)
    t = flat @ vt[0]
    t0, t1 = np.percentile(t, [2, 98])
    width = config.person_width_m
    starts = [t0] if t1 - t0 <= width else np.arange(t0, t1 - 0.5 * width, 0.5 * width)
    proposals = []
    for a in starts:
        inside = (t >= a) & (t <= a + width) if len(starts) > 1 else np.ones(len(t), bool)
        if inside.sum() < config.min_cluster_px or not np.percentile(height[inside], 98) >= lo_h:
            continue
        z0, z1 = np.percentile(points[inside, 2], [2, 98])
        box = _standing_box(points[inside], height[inside], rows[inside], cols[inside], floor,
                            camera, config.stride)
        proposals.append(Proposal(box=box, method="depth", padding=padding,
                                  depth_band=(z0 - config.band_margin_m,
                                              z1 + config.band_margin_m), floor_v=box[3]))
    return proposals


#: a depth proposal's box reaches at least this high above the floor [m] (a standing adult)
STANDING_HEIGHT_M = 1.8


def _standing_box(points: np.ndarray, height: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  floor: np.ndarray, camera: CameraIntrinsics, stride: int) -> np.ndarray:
    """(4,) full-image box of a cluster grown to a person standing under it: down to the floor
    below its centre and up to `STANDING_HEIGHT_M` above it (a cluster may be a person's upper
    body behind someone, or their legs below a held object: the crop then shows all of them),
    at least 0.35 times as wide as tall."""
    centre = np.median(points, axis=0)
    foot = centre - (centre @ floor[:3] + floor[3]) * floor[:3]
    head = foot + max(STANDING_HEIGHT_M, float(np.percentile(height, 98))) * floor[:3]
    (_, v_foot), (_, v_head) = camera.project(np.stack([foot, head]))
    u0, u1 = cols.min() * stride, (cols.max() + 1) * stride
    v0 = min(rows.min() * stride, v_head)
    v1 = max((rows.max() + 1) * stride, v_foot)
    grow = max(0.0, 0.35 * (v1 - v0) - (u1 - u0)) / 2
    return np.array([u0 - grow, v0, u1 + grow, v1], np.float64)


def tile_boxes(width: int, height: int, fractions: tuple[float, ...]) -> list[np.ndarray]:
    """Square tiles (4,) of an image, per fraction f: f >= 1: one square of the image's longer
    side centred on it; f < 1: squares of f times the shorter side in a grid with half-tile
    overlap covering the image."""
    boxes = []
    for f in fractions:
        if f >= 1.0:
            side = float(max(width, height))
            u0, v0 = 0.5 * (width - side), 0.5 * (height - side)
            boxes.append(np.array([u0, v0, u0 + side, v0 + side], np.float64))
            continue
        side = f * min(width, height)
        boxes += [np.array([u, v, u + side, v + side], np.float64)
                  for v in _grid(height, side) for u in _grid(width, side)]
    return boxes


def _grid(extent: int, side: float, overhang: float = 0.25) -> np.ndarray:
    """Starts of half-overlapping windows of `side` covering [0, extent), the first and last
    reaching `overhang` times the side past the ends (a person cut by the image edge then lies
    inside a window, not on its border)."""
    lo, hi = -overhang * side, extent - (1.0 - overhang) * side
    if hi <= lo:
        return np.array([0.5 * (extent - side)])
    n = int(np.ceil((hi - lo) / (0.5 * side))) + 1
    return np.linspace(lo, hi, n)


class SegmentationProposer:
    """MediaPipe Selfie Segmentation (general model) on the whole image; a box per person-mask
    blob (connected component of the mask above 0.5 with at least `min_area` of the image).

    The frame is letterboxed into a fixed square first, so the graph never sees a size change.
    """

    #: side of the letterboxed square the segmentation graph sees [px]
    SIDE = 512

    def __init__(self, min_area: float = 2e-4) -> None:
        import mediapipe as mp  # heavy (~1 s); only detectors that run it import it

        self._segment = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self.min_area = min_area

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        u0, v0, side = crop_square(np.array([0.0, 0.0, w, h]), 0.0)
        res = self._segment.process(crop_image(rgb, (u0, v0, side), self.SIDE))
        labels, n = ndimage.label(np.asarray(res.segmentation_mask) > 0.5)
        scale = side / self.SIDE
        boxes = []
        for k, found in enumerate(ndimage.find_objects(labels), start=1):
            if found is None or (labels[found] == k).sum() < self.min_area * self.SIDE ** 2:
                continue
            rows, cols = found
            boxes.append(np.array([u0 + cols.start * scale, v0 + rows.start * scale,
                                   u0 + cols.stop * scale, v0 + rows.stop * scale]))
        return boxes

    def close(self) -> None:
        self._segment.close()


class FaceProposer:
    """MediaPipe full-range face detection; a body-sized box below each face.

    The frame is letterboxed into a fixed square first, so the graph never sees a size change.
    """

    #: side of the letterboxed square the face graph sees [px]
    SIDE = 640

    def __init__(self, min_score: float = 0.5) -> None:
        import mediapipe as mp  # heavy (~1 s); only detectors that run it import it

        self._faces = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_score)

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        square = crop_square(np.array([0.0, 0.0, w, h]), 0.0)
        res = self._faces.process(crop_image(rgb, square, self.SIDE))
        u0, v0, side = square
        boxes = []
        for det in res.detections or []:
            b = det.location_data.relative_bounding_box
            fx, fy = u0 + b.xmin * side, v0 + b.ymin * side
            fw, fh = b.width * side, b.height * side
            cx = fx + 0.5 * fw
            # a standing adult is ~7.5 face heights tall, ~2 wide at the shoulders
            boxes.append(np.array([cx - 2.0 * fh, fy - 0.5 * fh, cx + 2.0 * fh, fy + 7.5 * fh]))
        return boxes

    def close(self) -> None:
        self._faces.close()
