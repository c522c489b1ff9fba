"""Stage boundaries of the pipeline: frozen dataclasses of numpy arrays.

    Frame -> Detections (persons, objects) -> TrackedPerson[] -> Person[] (with HumanEstimate)
          -> ObjectCandidate[] -> FoundObject[] (ObjectEstimate, assigned to a person)
          -> Interaction[] (human, object, contacts; refined) -> FrameResult

Every stage carries lists (several people and objects per frame). Coordinates are in the camera's optical frame (x right, y down, z forward) in metres
unless a field says otherwise; pixels are (u, v) with the origin at the top-left pixel's corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of one image.

    Attributes:
        K: (3, 3) float64 camera matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels.
        width, height: image size in pixels.
        distortion: (N,) float64 plumb-bob coefficients; frames are assumed rectified when all zero.
    """

    K: np.ndarray
    width: int
    height: int
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(5))

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"camera matrix must be 3x3, got shape {K.shape}")
        if not np.all(np.isfinite(K)):
            raise ValueError("camera matrix contains NaN or inf")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={K[0, 0]} fy={K[1, 1]}")
        if not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-6):
            raise ValueError(f"camera matrix's last row must be [0, 0, 1], got {K[2].tolist()}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        dist = np.asarray(self.distortion, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(dist)):
            raise ValueError("distortion coefficients contain NaN or inf")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "distortion", dist)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> "CameraIntrinsics":
        """Ideal pinhole with square pixels and the principal point at the image centre."""
        if not 1.0 < hfov_deg < 179.0:
            raise ValueError(f"horizontal field of view must be in (1, 179) degrees, got {hfov_deg}")
        f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2)
        K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=np.float64)
        return cls(K=K, width=width, height=height)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points [m] -> (N, 2) pixels."""
        p = np.asarray(points, dtype=np.float64)
        z = np.clip(p[:, 2:3], 1e-6, None)
        return (p[:, :2] / z) * np.array([self.fx, self.fy]) + np.array([self.cx, self.cy])

    def backproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """(N, 2) pixels + (N,) depths [m] -> (N, 3) camera-frame points [m]."""
        uv = np.asarray(uv, dtype=np.float64)
        d = np.asarray(depth, dtype=np.float64)[:, None]
        xy = (uv - np.array([self.cx, self.cy])) / np.array([self.fx, self.fy])
        return np.concatenate([xy * d, d], axis=1)


@dataclass(frozen=True)
class Frame:
    """One camera image, decoded and validated.

    Attributes:
        rgb: (H, W, 3) uint8 RGB image.
        camera: intrinsics of `rgb`.
        stamp_ns: acquisition time [ns] (ROS header stamp).
        frame_id: the camera's optical frame id.
        depth: (H, W) float32 depth [m] registered to `rgb`, NaN or 0 where invalid; None without depth.
    """

    rgb: np.ndarray
    camera: CameraIntrinsics
    stamp_ns: int = 0
    frame_id: str = "camera"
    depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        h, w = self.rgb.shape[:2]
        if (w, h) != (self.camera.width, self.camera.height):
            raise ValueError(
                f"image is {w}x{h} but camera_info says {self.camera.width}x{self.camera.height}")
        if self.depth is not None and self.depth.shape != (h, w):
            raise ValueError(f"depth is {self.depth.shape[::-1]} but image is {w}x{h}")


@dataclass(frozen=True)
class PersonDetection:
    """One detected person.

    Attributes:
        keypoints_2d: (K, 2) float64 pixel positions of the detector's keypoints.
        keypoint_scores: (K,) float64 visibility/confidence in [0, 1].
        keypoints_3d: (K, 3) float64 metric keypoints in a person-centred frame (origin between
            the hips, axes of the detector: x right, y down, z away from the camera) or None.
        keypoint_layout: name of the keypoint layout, e.g. "mediapipe33", "coco17".
        box: (4,) float64 [u_min, v_min, u_max, v_max] pixels.
        score: detection confidence in [0, 1].
        mask: (H, W) bool person mask or None.
    """

    keypoints_2d: np.ndarray
    keypoint_scores: np.ndarray
    keypoints_3d: np.ndarray | None
    keypoint_layout: str
    box: np.ndarray
    score: float
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class ObjectDetection:
    """One detected object.

    Attributes:
        class_name: COCO class name.
        box: (4,) float64 [u_min, v_min, u_max, v_max] pixels.
        score: confidence in [0, 1].
        mask: (H, W) bool instance mask or None.
    """

    class_name: str
    box: np.ndarray
    score: float
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class Detections:
    """Output of a detector for one frame."""

    persons: list[PersonDetection]
    objects: list[ObjectDetection]
    detector: str


@dataclass(frozen=True)
class HumanEstimate:
    """3D human in the camera frame.

    Attributes:
        body_model: name of the body model the parameters belong to.
        joint_names: (J,) joint names in model order; joint 0 is the root (pelvis).
        parents: (J,) int parent index of each joint, -1 for the root.
        joint_rotations: (J, 3, 3) float64 local rotations (parent frame; root: camera frame).
        joint_positions: (J, 3) float64 [m] camera frame.
        shape: (S,) float64 body-model shape coefficients (skeleton: bone lengths [m]).
        confidence: [0, 1].
        vertices: (V, 3) float64 [m] body-model mesh in the camera frame, or None (skeleton only).
        faces: (F, 3) int64 triangle indices of `vertices`, or None.
    """

    body_model: str
    joint_names: tuple[str, ...]
    parents: np.ndarray
    joint_rotations: np.ndarray
    joint_positions: np.ndarray
    shape: np.ndarray
    confidence: float
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None

    @property
    def root_rotation(self) -> np.ndarray:
        """(3, 3) rotation of the root joint in the camera frame."""
        return self.joint_rotations[0]

    @property
    def root_position(self) -> np.ndarray:
        """(3,) position of the root joint [m] in the camera frame."""
        return self.joint_positions[0]


@dataclass(frozen=True)
class ObjectEstimate:
    """6-DoF object pose in the camera frame.

    Attributes:
        class_name: COCO class name.
        template_id: id of the mesh template in the object library.
        rotation: (3, 3) float64 rotation of the template's canonical frame.
        translation: (3,) float64 [m] origin of the template's canonical frame.
        extent: (3,) float64 [m] size of the template's box in its canonical frame.
        confidence: [0, 1].
    """

    class_name: str
    template_id: str
    rotation: np.ndarray
    translation: np.ndarray
    extent: np.ndarray
    confidence: float


@dataclass(frozen=True)
class TrackedPerson:
    """A detected person with the id of its track across frames.

    Attributes:
        track_id: stable id of the track (>= 1).
        detection: the detector's output for this person in this frame.
    """

    track_id: int
    detection: PersonDetection


@dataclass(frozen=True)
class Person(TrackedPerson):
    """A tracked person with their 3D body (output of the human stage).

    Attributes:
        human: the fitted body in the camera frame (plus `TrackedPerson`'s track id and
            detection).
    """

    human: HumanEstimate


@dataclass(frozen=True)
class ObjectCandidate:
    """Evidence of one object in a frame, before recognition and pose estimation.

    Attributes:
        source: object source that produced it ("rgbd", "ultralytics", "external").
        class_name: the detector's class (COCO name), or None when the source knows none.
        box: (4,) float64 [u_min, v_min, u_max, v_max] pixels.
        score: source confidence in [0, 1].
        mask: (H, W) bool silhouette, or None (box only).
        points: (N, 3) float64 camera-frame depth points on the object [m], or None.
        person: index (into the frame's `Person` list) of the person whose body this candidate
            was found at, or None when the source is not tied to a person (detector masks).
    """

    source: str
    class_name: str | None
    box: np.ndarray
    score: float
    mask: np.ndarray | None = None
    points: np.ndarray | None = None
    person: int | None = None


@dataclass(frozen=True)
class FoundObject:
    """An object with its template and 6-DoF pose, the evidence behind it and its owner.

    Attributes:
        estimate: template and pose (camera frame).
        mask: (H, W) bool image mask of the object, or None.
        points: (N, 3) float64 camera-frame depth points on the object [m], or None.
        person: index (into the frame's `Person` list) of the person it is assigned to, or None.
        keyframe: found by the full template search (not a warm start from the last frame).
    """

    estimate: ObjectEstimate
    mask: np.ndarray | None
    points: np.ndarray | None
    person: int | None = None
    keyframe: bool = True


@dataclass(frozen=True)
class Contact:
    """One human-object contact (camera frame, metres)."""

    human_point: np.ndarray
    object_point: np.ndarray
    normal: np.ndarray
    body_part: str
    human_vertex_index: int
    distance: float
    probability: float


@dataclass(frozen=True)
class Interaction:
    """One person, the object they handle (if any) and their contacts."""

    track_id: int
    human: HumanEstimate
    obj: ObjectEstimate | None
    contacts: list[Contact]
    penetration_depth: float
    refinement: str


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline says about one frame.

    Attributes:
        stamp_ns, frame_id: copied from the input frame.
        interactions: one entry per detected person.
        detections: the raw detections behind them.
        stage_ms: wall time of each stage [ms], in pipeline order.
    """

    stamp_ns: int
    frame_id: str
    interactions: list[Interaction]
    detections: Detections
    stage_ms: dict[str, float]

    @property
    def total_ms(self) -> float:
        return float(sum(self.stage_ms.values()))
