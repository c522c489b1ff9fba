"""Top-down person detector: person proposals -> MediaPipe Pose on a fixed-size crop of each.

The legacy MediaPipe Pose solution finds at most one person per image and needs that person
large in the image; on a crop around the person, upscaled to a fixed size, it finds small
people too. So persons are found in two steps:

1. proposals (boxes in full-image pixels), from any of `PROPOSAL_METHODS`:
   - "tracks": last frame's persons, their boxes moved by their last displacement;
   - "depth": person-sized foreground clusters standing on the floor (RANSAC floor plane,
     height above it, depth-edge-cut connected components; clusters wider than a person are
     cut into person-wide windows); needs a depth image and intrinsics;
   - "yolo": ultralytics YOLO persons (`PipelineConfig.ultralytics_weights`; where the
     weights cannot be loaded, e.g. offline here, the method is dropped with one note);
   - "face": MediaPipe's full-range face detector, a body-sized box below each face;
   - "tiles": fixed overlapping squares of the image (the whole image, then a grid);
2. per proposal, in that order: a square crop around it (padded, aspect kept, resized to
   `crop_px` x `crop_px`, so the MediaPipe graph only ever sees one input size), MediaPipe Pose
   (static image mode) on the crop, landmarks, world landmarks and mask mapped back to the
   full image; a pose whose torso visibility is below `min_score` is dropped, and a pose of a
   person already found (same keypoints) is merged into the better-scored one. A proposal
   whose box is mostly covered by an already found person is skipped without a crop.

Never silenced by one frame: an error in a proposal method or in MediaPipe drops that method's
proposals or that crop for this frame, rebuilds the graph (MediaPipe) and is counted in
`recoveries` with its reason in `last_recovery` (the node logs and publishes them).

Frames and units: pixels (u, v) of the full image, origin at the top-left corner; depth in
metres, camera optical frame. Heavy imports (mediapipe, ultralytics) stay inside the classes
that need them, on purpose: the module is imported by the registry contract tests and config
validation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from scorehoi_node.core.config import PROPOSAL_METHODS, PipelineConfig, proposal_methods
from scorehoi_node.core.detect.tracking import box_iou
from scorehoi_node.core.estimate.floor import estimate_floor
from scorehoi_node.core.types import CameraIntrinsics, Detections, Frame, PersonDetection

#: MediaPipe-33 torso landmarks (shoulders, hips): the pose score is their mean visibility
TORSO = (11, 12, 23, 24)
#: MediaPipe-33 landmark index of each landmark's left/right counterpart
MIRRORED = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19,
                     22, 21, 24, 23, 26, 25, 28, 27, 30, 29, 32, 31])
#: a person's mask is cut to their landmark box grown by this share of its height
MASK_MARGIN = 0.05


@dataclass(frozen=True)
class TopDownConfig:
    """Settings of `TopDownPoseDetector` (the only source of their defaults).

    Attributes:
        proposals: proposal methods on frames with a depth image (a subset of
            `PROPOSAL_METHODS`, any order; they are verified in `PROPOSAL_METHODS` order).
        proposals_rgb: proposal methods on frames without depth (no "depth").
        crop_px: side of the square crop MediaPipe Pose sees [px].
        crop_padding: the crop extends the proposal's longer side by this share on each side.
        model_complexity: MediaPipe Pose model, 0 (lite) or 1 (full).
        min_score: poses whose torso visibility (mean of shoulders and hips) is below this are
            dropped.
        max_crops: at most this many crops per frame (pose runs cost ~10-20 ms each).
        skip_iou: a proposal whose box overlaps an already found person's box at least this
            much (IoU) is not cropped.
        duplicate_px: two poses are one person when their visible keypoints lie on average
            within this share of the person's box height of each other.
        depth_stride: depth proposals work on every this-many-th pixel in u and v.
        depth_range_m: (near, far) depth of depth proposals [m].
        person_height_m: (min, max) height above the floor of a cluster's top [m].
        person_width_m: clusters wider than this on the floor [m] are cut into windows of this
            width (half overlapping).
        min_cluster_px: depth clusters with fewer (subsampled) pixels are ignored.
        band_margin_m: a depth proposal's crop shows the pixels within this margin [m] of its
            cluster's depth range (people in front of and behind it grey).
        planar_m: clusters whose points lie within this RMS distance [m] of a plane are no
            person (walls, doors).
        tiles: tile levels, as the tile's side over the image's shorter side: >= 1 is one
            square of the image's longer side centred on it, < 1 a grid of squares with
            half-tile overlap.
        yolo_weights: ultralytics weights of the "yolo" method.
        device: torch device of the "yolo" method ("auto", "cpu", "cuda").
    """

    proposals: tuple[str, ...] = ("tracks", "depth")
    proposals_rgb: tuple[str, ...] = ("tracks", "tiles")
    crop_px: int = 256
    crop_padding: float = 0.15
    model_complexity: int = 1
    min_score: float = 0.5
    max_crops: int = 16
    skip_iou: float = 0.7
    duplicate_px: float = 0.08
    depth_stride: int = 2
    depth_range_m: tuple[float, float] = (0.3, 10.0)
    person_height_m: tuple[float, float] = (0.8, 2.4)
    person_width_m: float = 1.1
    min_cluster_px: int = 40
    band_margin_m: float = 0.3
    planar_m: float = 0.03
    tiles: tuple[float, ...] = (1.0, 0.67)
    yolo_weights: str = "yolo11n-seg.pt"
    device: str = "auto"

    def __post_init__(self) -> None:
        proposal_methods("proposals", ",".join(self.proposals))
        if "depth" in proposal_methods("proposals_rgb", ",".join(self.proposals_rgb)):
            raise ValueError(f"proposals_rgb={self.proposals_rgb!r}: frames without depth "
                             "have no 'depth' proposals")
        if self.model_complexity not in (0, 1):
            raise ValueError(f"model_complexity={self.model_complexity!r} is not one of 0, 1")
        if self.crop_px < 64 or self.max_crops < 1 or self.depth_stride < 1:
            raise ValueError("need crop_px >= 64, max_crops >= 1, depth_stride >= 1")
        if not 0.0 <= self.min_score <= 1.0 or not 0.0 <= self.skip_iou <= 1.0:
            raise ValueError("min_score and skip_iou must lie in [0, 1]")


@dataclass(frozen=True)
class Proposal:
    """Where a person may be.

    Attributes:
        box: (4,) float64 [u_min, v_min, u_max, v_max] full-image pixels.
        method: the proposal method that made it (one of `PROPOSAL_METHODS`).
        padding: the crop extends the box's longer side by this share on each side.
        depth_band: (near, far) [m]: the crop shows only pixels whose depth lies in this band
            (others grey: people in front of or behind the proposed one); None: all pixels.
    """

    box: np.ndarray
    method: str
    padding: float
    depth_band: tuple[float, float] | None = None


@dataclass
class _Timings:
    """Wall and CPU time (this process, all threads) of parts of one call [ms]."""

    wall_ms: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def add(self, key: str, since: tuple[float, float]) -> None:
        wall, cpu = self.now()
        self.wall_ms[key] = self.wall_ms.get(key, 0.0) + 1000.0 * (wall - since[0])
        self.cpu_ms[key] = self.cpu_ms.get(key, 0.0) + 1000.0 * (cpu - since[1])


# -- geometry ------------------------------------------------------------------------------------
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


# -- pose on a crop ------------------------------------------------------------------------------
class CropPose:
    """MediaPipe Pose (static image mode, segmentation on) on fixed-size square crops.

    Args:
        crop_px: side of every crop [px] (the graph only ever sees this size).
        model_complexity: 0 (lite) or 1 (full).

    State: the MediaPipe solution, rebuilt after an error (`rebuild`).
    """

    def __init__(self, crop_px: int, model_complexity: int) -> None:
        import mediapipe as mp  # heavy (~1 s); only detectors that run it import it

        self._make = lambda: mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=model_complexity,
            enable_segmentation=True, min_detection_confidence=0.5)
        self._pose = self._make()
        self.crop_px = crop_px
        #: crops processed so far
        self.runs = 0

    def rebuild(self) -> None:
        """A fresh graph (the old one may be broken; its close() error is not ours to raise)."""
        try:
            self._pose.close()
        except Exception:  # noqa: BLE001 - a failed graph raises its error again on close
            pass
        self._pose = self._make()

    def __call__(self, rgb: np.ndarray, square: tuple[int, int, int],
                 hide: np.ndarray | None = None) -> PersonDetection | None:
        """The pose MediaPipe finds in `square` (u0, v0, side) of `rgb` (the pixels `hide`
        (H, W) bool marks grey), in full-image pixels (score: torso visibility; mask: (H, W)
        bool), or None when it finds none."""
        crop = crop_image(rgb, square, self.crop_px)
        if hide is not None:
            crop = grey_out(crop, hide, square)
        res = self._pose.process(crop)
        self.runs += 1
        if res.pose_landmarks is None:
            return None
        u0, v0, side = square
        lm = res.pose_landmarks.landmark
        uv = np.array([[u0 + p.x * side, v0 + p.y * side] for p in lm], np.float64)
        vis = np.array([p.visibility for p in lm], np.float64)
        score = float(np.mean(vis[list(TORSO)]))
        h, w = rgb.shape[:2]
        # a landmark outside the image is not visible (in the crop's mirrored margin it is)
        vis[(uv[:, 0] < 0) | (uv[:, 0] >= w) | (uv[:, 1] < 0) | (uv[:, 1] >= h)] = 0.0
        torso = uv[list(TORSO)].mean(axis=0)
        if not (0 <= torso[0] < w and 0 <= torso[1] < h):
            return None  # the mirror image of a person cut by the edge, or someone outside
        world = None
        if res.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark],
                             np.float64)
        mask = None
        if res.segmentation_mask is not None:
            mask = paste_mask(res.segmentation_mask, square, (h, w))
        box, mask = person_box(uv, mask, w, h)
        return PersonDetection(keypoints_2d=uv, keypoint_scores=vis, keypoints_3d=world,
                               keypoint_layout="mediapipe33", box=box, score=score,
                               mask=mask)

    def close(self) -> None:
        self._pose.close()


def person_box(uv: np.ndarray, mask: np.ndarray | None, width: int, height: int
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """(4,) amodal box of a person and their mask without far-off bleeding.

    The box holds all 33 landmarks (visible or not, like a body model's projection), grown to
    the head top and the body's sides (landmarks are joints: the head top lies ~6 % of the
    height above the eyes, the body surface ~3 % outside the wrists and ankles); the mask is
    cut to that box grown by `MASK_MARGIN` of the height (MediaPipe's segmentation bleeds into
    neighbours and background), and the box grows to the cut mask's extent. Clipped to the
    image.
    """
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    h = max(hi[1] - lo[1], 1.0)
    box = np.array([lo[0] - 0.03 * h, lo[1] - 0.06 * h, hi[0] + 0.03 * h, hi[1] + 0.02 * h])
    if mask is not None:
        m = MASK_MARGIN * h
        keep = np.zeros_like(mask)
        u0, v0 = (max(int(x), 0) for x in box[:2] - m)
        u1, v1 = (max(int(np.ceil(x)), 0) for x in box[2:] + m)
        keep[v0:v1, u0:u1] = mask[v0:v1, u0:u1]
        mask = keep
        if mask.any():
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box[:2] = np.minimum(box[:2], [cols[0], rows[0]])
            box[2:] = np.maximum(box[2:], [cols[-1] + 1, rows[-1] + 1])
    box[[0, 2]] = box[[0, 2]].clip(0, width)
    box[[1, 3]] = box[[1, 3]].clip(0, height)
    return box, mask


def _squares_agree(a: tuple[int, int, int], b: tuple[int, int, int],
                   tolerance: float = 0.15) -> bool:
    """Whether two crop squares (u0, v0, side) have sides within `tolerance` (relative) and
    centres within `tolerance` times the side of each other."""
    ca = np.array([a[0], a[1]]) + 0.5 * a[2]
    cb = np.array([b[0], b[1]]) + 0.5 * b[2]
    return (abs(np.log(a[2] / b[2])) < tolerance
            and float(np.linalg.norm(ca - cb)) < tolerance * max(a[2], b[2]))


def same_person(a: PersonDetection, b: PersonDetection, tolerance: float,
                same_box_iou: float = 0.85) -> bool:
    """Whether two MediaPipe-33 poses are one person: their keypoints lie on average within
    `tolerance` times the smaller box height of each other (torso and limbs; left and right
    may be swapped: seen from behind, two crops may disagree on the sides), or their boxes
    overlap at least `same_box_iou`."""
    if box_iou(a.box, b.box)[0, 0] >= same_box_iou:
        return True
    scale = max(min(a.box[3] - a.box[1], b.box[3] - b.box[1]), 1.0)
    body = np.arange(11, 33)
    for order in (body, MIRRORED[body]):
        d = np.linalg.norm(a.keypoints_2d[body] - b.keypoints_2d[order], axis=1)
        if float(np.mean(d)) < tolerance * scale:
            return True
    return False


# -- proposals -----------------------------------------------------------------------------------
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


def depth_proposals(depth: np.ndarray, camera: CameraIntrinsics, config: TopDownConfig
                    ) -> list[Proposal]:
    """Person-sized depth clusters standing on the floor (see the module docstring), each with
    the depth band of its cluster; [] when no floor plane is found."""
    s = config.depth_stride
    d = np.asarray(depth, np.float32)[::s, ::s]
    cam = subsampled_camera(camera, s)
    near, far = config.depth_range_m
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > near) & (d < far)
    floor = estimate_floor(np.where(valid, d, np.nan), cam, iterations=200)
    if floor is None:
        return []
    v, u = np.mgrid[0:d.shape[0], 0:d.shape[1]]
    z = np.where(valid, d, 0.0).astype(np.float64)
    points = np.stack([(u + 0.5 - cam.cx) / cam.fx * z, (v + 0.5 - cam.cy) / cam.fy * z, z], -1)
    height = points @ floor[:3] + floor[3]
    labels, _ = ndimage.label(valid & (height > 0.1) & ~_far_side_of_jumps(z, valid))
    sizes = np.bincount(labels.ravel())
    proposals: list[Proposal] = []
    for k in np.flatnonzero(sizes >= config.min_cluster_px):
        if k == 0:
            continue
        rows, cols = np.nonzero(labels == k)
        proposals += _person_windows(points[rows, cols], height[rows, cols], rows, cols, floor,
                                     camera, config)
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
                    floor: np.ndarray, camera: CameraIntrinsics, config: TopDownConfig
                    ) -> list[Proposal]:
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
                            camera, config.depth_stride)
        proposals.append(Proposal(box=box, method="depth", padding=config.crop_padding,
                                  depth_band=(z0 - config.band_margin_m,
                                              z1 + config.band_margin_m)))
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


# -- the detector --------------------------------------------------------------------------------
class TopDownPoseDetector:
    """Several persons per frame: proposals, then MediaPipe Pose on a crop of each (module
    docstring). A `PersonDetector` (`core/stages/persons.py`).

    Args:
        config: proposal methods, crop size and thresholds.

    State: the MediaPipe graphs, last frame's persons (the "tracks" proposals) and the counters
    `recoveries` / `last_recovery`; `notes` lists methods that could not start (one line each).
    `timings` / `cpu_timings` hold the last call's wall / CPU time (all threads) per proposal
    method, of the pose crops ("pose") and in total ("total") [ms]; `proposals` the last
    call's proposals, `crops` the number of MediaPipe runs it took.
    """

    name = "topdown"

    def __init__(self, config: TopDownConfig | None = None) -> None:
        self.config = config or TopDownConfig()
        self._pose = CropPose(self.config.crop_px, self.config.model_complexity)
        self.notes: list[str] = []
        methods = {*self.config.proposals, *self.config.proposals_rgb}
        self._faces = FaceProposer() if "face" in methods else None
        self._segments = SegmentationProposer() if "segmentation" in methods else None
        self._yolo = self._start_yolo() if "yolo" in methods else None
        self._tracks: list[tuple[np.ndarray, np.ndarray]] = []  # (box, displacement per frame)
        self._size: tuple[int, int] | None = None
        #: times a proposal method or the pose graph failed on a frame (the graph is rebuilt)
        self.recoveries = 0
        #: why, the last time (one line), "" before the first
        self.last_recovery = ""
        self.timings: dict[str, float] = {}
        self.crops = 0
        self.cpu_timings: dict[str, float] = {}
        self.proposals: list[Proposal] = []

    @classmethod
    def from_config(cls, config: PipelineConfig) -> "TopDownPoseDetector":
        """The detector of a pipeline: `person_proposals`, `person_proposals_rgb`,
        `person_max_crops`, `mediapipe_model_complexity`, `min_person_score`,
        `ultralytics_weights`, `device`."""
        return cls(TopDownConfig(
            proposals=proposal_methods("person_proposals", config.person_proposals),
            proposals_rgb=proposal_methods("person_proposals_rgb", config.person_proposals_rgb),
            max_crops=config.person_max_crops, model_complexity=config.mediapipe_model_complexity,
            min_score=config.min_person_score, yolo_weights=config.ultralytics_weights,
            device=config.device))

    def _start_yolo(self):
        from scorehoi_node.core.detect.ultralytics_seg import (DetectorUnavailable,
                                                               UltralyticsSegDetector)

        try:
            return UltralyticsSegDetector(self.config.yolo_weights, device=self.config.device,
                                          classes=["person"])
        except DetectorUnavailable as e:
            self.notes.append(f"person proposals 'yolo' off: {e}")
            return None

    def __call__(self, rgb: np.ndarray, frame: Frame | None = None) -> Detections:
        """(H, W, 3) uint8 RGB (and its `Frame` for depth proposals) -> persons, best first."""
        t_start = _Timings.now()
        timings = _Timings()
        h, w = rgb.shape[:2]
        if self._size != (h, w):
            self._tracks = []  # boxes of another image size mean nothing here
            self._size = (h, w)
        proposals = self._propose(rgb, frame, timings)
        t_pose = _Timings.now()
        runs = self._pose.runs
        found = self._verify(rgb, frame, proposals)
        self.crops = self._pose.runs - runs
        timings.add("pose", t_pose)
        self._update_tracks(found)
        self.proposals = proposals
        timings.add("total", t_start)
        self.timings, self.cpu_timings = timings.wall_ms, timings.cpu_ms
        found.sort(key=lambda p: -p.score)
        return Detections(persons=found, objects=[], detector=self.name)

    def _verify(self, rgb: np.ndarray, frame: Frame | None, proposals: list[Proposal]
                ) -> list[PersonDetection]:
        """Poses of the proposals, in order, at most `max_crops` crops. A crop shows grey
        the pixels of persons already found (their mask, within their depth band when they
        came from depth) and, for a depth proposal, the pixels outside its depth band."""
        depth = frame.depth if frame is not None else None
        found: list[PersonDetection] = []
        taken = np.zeros(rgb.shape[:2], bool)  # pixels of the persons found so far
        crops = 0
        for proposal in proposals:
            if crops >= self.config.max_crops:
                break
            if found and box_iou(proposal.box, np.stack([p.box for p in found])).max() \
                    >= self.config.skip_iou:
                continue
            crops += 1
            band = in_band(depth, proposal.depth_band)
            hide = taken if band is None else taken | ~band
            person = self._pose_on(rgb, proposal, hide if hide.any() else None)
            if person is None or person.score < self.config.min_score:
                continue
            found = self._merge(found, person)
            if person.mask is not None:
                taken |= person.mask if band is None else person.mask & band
        return found

    def _propose(self, rgb: np.ndarray, frame: Frame | None, timings: _Timings
                 ) -> list[Proposal]:
        has_depth = frame is not None and frame.depth is not None
        methods = self.config.proposals if has_depth else self.config.proposals_rgb
        out: list[Proposal] = []
        for method in PROPOSAL_METHODS:
            if method not in methods:
                continue
            t0 = _Timings.now()
            try:
                boxes = self._boxes(method, rgb, frame)
            except Exception as e:  # noqa: BLE001 - one frame's failure must not stop the next
                self._recovered(method, e)
                boxes = []
            pad = 0.0 if method == "tiles" else self.config.crop_padding
            out += [b if isinstance(b, Proposal) else Proposal(box=b, method=method, padding=pad)
                    for b in boxes]
            timings.add(method, t0)
        return out

    def _boxes(self, method: str, rgb: np.ndarray, frame: Frame | None
               ) -> list[np.ndarray | Proposal]:
        h, w = rgb.shape[:2]
        if method == "tracks":
            return [box + step for box, step in self._tracks]
        if method == "depth":
            if frame is None or frame.depth is None:
                return []
            return depth_proposals(frame.depth, frame.camera, self.config)
        if method == "yolo":
            if self._yolo is None:
                return []
            return [p.box for p in self._yolo(rgb).persons]
        if method == "face":
            return self._faces(rgb)
        if method == "segmentation":
            return self._segments(rgb)
        return tile_boxes(w, h, self.config.tiles)

    def _pose_on(self, rgb: np.ndarray, proposal: Proposal, hide: np.ndarray | None
                 ) -> PersonDetection | None:
        """The pose in the proposal's crop (`hide`: pixels shown grey), then once more in a
        crop centred on that pose when the first crop cut or dwarfed it (a pose found again
        there wins; none found: None)."""
        square = crop_square(proposal.box, proposal.padding)
        try:
            person = self._pose(rgb, square, hide)
            if person is None:
                return None
            again = crop_square(person.box, self.config.crop_padding)
            if _squares_agree(square, again):
                return person
            return self._pose(rgb, again, hide)
        except Exception as e:  # noqa: BLE001 - rebuild the graph, skip this crop
            self._recovered("pose", e)
            self._pose.rebuild()
            return None

    def _recovered(self, what: str, error: Exception) -> None:
        self.recoveries += 1
        self.last_recovery = f"{what}: {type(error).__name__}: {' '.join(str(error).split())[:200]}"

    def _merge(self, found: list[PersonDetection], person: PersonDetection
               ) -> list[PersonDetection]:
        """`found` with `person` added, or replacing the pose of the same person when better."""
        for i, other in enumerate(found):
            if same_person(person, other, self.config.duplicate_px):
                if person.score > other.score:
                    found[i] = person
                return found
        return [*found, person]

    def _update_tracks(self, found: list[PersonDetection]) -> None:
        """Last frame's boxes for the "tracks" proposals, with their displacement since the
        frame before (matched by IoU)."""
        old = self._tracks
        tracks = []
        for p in found:
            step = np.zeros(4)
            if old:
                iou = box_iou(p.box, np.stack([b for b, _ in old]))[0]
                k = int(np.argmax(iou))
                if iou[k] > 0.3:
                    step = p.box - old[k][0]
            tracks.append((p.box.copy(), step))
        self._tracks = tracks

    def close(self) -> None:
        self._pose.close()
        for proposer in (self._faces, self._segments):
            if proposer is not None:
                proposer.close()
        if self._yolo is not None:
            self._yolo.close()
