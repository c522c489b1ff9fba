"""Top-down person detector: person proposals -> MediaPipe Pose on a fixed-size crop of each.

The legacy MediaPipe Pose solution finds at most one person per image and needs that person
large in the image; on a crop around the person, resized to a fixed size, it finds small
people too. So persons are found in two steps:

1. proposals (boxes in full-image pixels; `detect/person_proposals.py`), from the methods of
   `TopDownConfig.proposals` on frames with depth, `proposals_rgb` on frames without:
   "tracks" (last frame's persons, moved by their last displacement), "yolo" (ultralytics
   persons; where the weights cannot be loaded, e.g. offline, the method is dropped with one
   note in `notes`), "depth" (person-sized clusters standing on the floor), "segmentation"
   (selfie-segmentation blobs), "face" (a body below each face), "tiles" (the whole image and
   a grid of squares);
2. per proposal, in that order (depth proposals nearest first), at most `max_crops`: a square
   crop around it (padded, aspect kept, mirrored past the image edges, resized to `crop_px`
   x `crop_px`: the MediaPipe graph only ever sees one input size) with the persons already
   found, and for a depth proposal everything outside its depth band, painted grey; MediaPipe
   Pose (static image mode) on it; when the pose lies off the crop's centre or scale, once
   more on a crop centred on that pose; landmarks, world landmarks and mask mapped back to
   the full image. Poses whose torso visibility is below `min_score`, whose torso lies outside
   the image (the mirror image) are dropped; a pose of a person already found (same
   keypoints, left/right possibly swapped, or nearly the same box) is merged into the
   better-scored one; a proposal whose box is mostly covered by a found person is skipped.
   The box is amodal: all landmarks, grown to the head top, and for a depth proposal down to
   the floor when the legs are hidden.

Never silenced by one frame: an error in a proposal method or in MediaPipe drops that method's
proposals or that crop for this frame, rebuilds the graph (MediaPipe) and is counted in
`recoveries` with its reason in `last_recovery` (the node logs and publishes them).

Frames and units: pixels (u, v) of the full image, origin at the top-left corner; depth in
metres, camera optical frame. MediaPipe and ultralytics are imported inside the classes that
run them, on purpose: the module is imported by config validation and contract tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from scorehoi_node.core.config import PROPOSAL_METHODS, PipelineConfig, proposal_methods
from scorehoi_node.core.detect.crops import crop_image, crop_square, grey_out, in_band, paste_mask
from scorehoi_node.core.detect.person_proposals import (DepthProposalConfig, FaceProposer,
                                                        Proposal, SegmentationProposer,
                                                        depth_proposals, tile_boxes)
from scorehoi_node.core.detect.tracking import box_iou
from scorehoi_node.core.types import Detections, Frame, PersonDetection

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
        depth: settings of the "depth" proposals.
        tiles: tile levels, as the tile's side over the image's shorter side: >= 1 is one
            square of the image's longer side centred on it, < 1 a grid of squares with
            half-tile overlap.
        yolo_weights: ultralytics weights of the "yolo" method.
        device: torch device of the "yolo" method ("auto", "cpu", "cuda").
    """

    proposals: tuple[str, ...] = ("depth",)
    proposals_rgb: tuple[str, ...] = ("tracks", "tiles")
    crop_px: int = 256
    crop_padding: float = 0.15
    model_complexity: int = 1
    min_score: float = 0.5
    max_crops: int = 16
    skip_iou: float = 0.7
    duplicate_px: float = 0.08
    depth: DepthProposalConfig = DepthProposalConfig()
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
        if self.crop_px < 64 or self.max_crops < 1:
            raise ValueError(f"need crop_px >= 64 and max_crops >= 1, got {self.crop_px}, "
                             f"{self.max_crops}")
        if not 0.0 <= self.min_score <= 1.0 or not 0.0 <= self.skip_iou <= 1.0:
            raise ValueError("min_score and skip_iou must lie in [0, 1]")


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


def _feet_on_floor(person: PersonDetection, proposal: Proposal) -> PersonDetection:
    """`person` with the box reaching down to the floor below the depth proposal they were
    found in (`Proposal.floor_v`) when it ends well above it (by more than a tenth of its
    height): their legs are hidden behind someone or something, and MediaPipe then squeezes
    the pose into what it sees. The box is amodal, and a person stands on the floor."""
    box = person.box
    floor_v = proposal.floor_v
    if (floor_v is None or not proposal.box[0] <= 0.5 * (box[0] + box[2]) <= proposal.box[2]
            or box[3] >= floor_v - 0.1 * (floor_v - box[1])):
        return person
    height = person.mask.shape[0] if person.mask is not None else floor_v
    return replace(person, box=np.array([*box[:3], min(floor_v, height)]))


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
            found = self._merge(found, _feet_on_floor(person, proposal))
            if person.mask is not None:
                taken |= person.mask if band is None else person.mask & band
        return found

    def _propose(self, rgb: np.ndarray, frame: Frame | None, timings: _Timings
                 ) -> list[Proposal]:
        """The proposals of this frame's methods, in `PROPOSAL_METHODS` order. Frames without
        depth, and frames whose depth shows no floor, use `proposals_rgb`."""
        has_depth = frame is not None and frame.depth is not None
        uses_depth = has_depth and "depth" in self.config.proposals
        in_depth = None
        if uses_depth:
            t0 = _Timings.now()
            in_depth = self._try("depth", lambda: depth_proposals(
                frame.depth, frame.camera, self.config.depth, self.config.crop_padding))
            timings.add("depth", t0)
        has_depth = has_depth and (in_depth is not None or not uses_depth)
        methods = self.config.proposals if has_depth else self.config.proposals_rgb
        out: list[Proposal] = []
        for method in PROPOSAL_METHODS:
            if method not in methods:
                continue
            if method == "depth":
                out += in_depth or []
                continue
            t0 = _Timings.now()
            boxes = self._try(method, lambda: self._boxes(method, rgb)) or []
            pad = 0.0 if method == "tiles" else self.config.crop_padding
            out += [Proposal(box=b, method=method, padding=pad) for b in boxes]
            timings.add(method, t0)
        return out

    def _try(self, method: str, propose):
        """`propose()`, or None (counted in `recoveries`) when it raises: one frame's failure
        must not stop the next."""
        try:
            return propose()
        except Exception as e:  # noqa: BLE001
            self._recovered(method, e)
            return None

    def _boxes(self, method: str, rgb: np.ndarray) -> list[np.ndarray]:
        """Boxes of an image-only proposal method."""
        h, w = rgb.shape[:2]
        if method == "tracks":
            return [box + step for box, step in self._tracks]
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
