"""Crowd scenes: 1-N people on one floor, each with an object or none, seen by one fixed camera
per sequence at 1.5-6 m.

A crowd sequence is drawn as follows (world frame: metres, +Y up, floor y = 0):

1. the number of people (`CrowdConfig.min_people`..`max_people`, weights `people_weights`);
2. the camera: horizontal FoV, height above the floor, heading, and a look-at point in the
   middle distance (fixed for the whole sequence);
3. per person: no object with probability `no_object_fraction`, else an object interaction
   among `interactions`, redrawn on every rejected try as the single-person engine does; a
   validated single-person sequence from `SceneGenerator.sample_sequence` (same motion and
   smoothness guarantees), then a placement: a distance from the camera
   (`distance_m`, camera centre to the pelvis, horizontal), a bearing inside the horizontal FoV
   and a facing relative to the camera (`facing_deg`, from behind with `back_view_prob`),
   applied as a rigid motion on the floor (`scene.move_scene`). A placement is accepted when,
   in every frame, the person and their object lie inside the image (`margin_px`) and keep
   `min_gap_m` from every person placed before (exact distances, `ClearanceChecker`);
   otherwise it is redrawn (`max_tries`), then the person's sequence is redrawn
   (`max_sequences`); every rejection is counted in `CrowdGenerator.stats`.

Determinism: everything comes from the `np.random.Generator` passed in; `crowd_frames` derives
one per sequence from the seed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from scorehoi_node.core.synth.camera import CameraPose, look_at
from scorehoi_node.core.synth.clearance import MIN_GAP_M, ClearanceChecker
from scorehoi_node.core.synth.generator import NoPlausibleScene, SceneGenerator
from scorehoi_node.core.synth.scene import INTERACTIONS, NO_OBJECT, HOIScene, move_scene
from scorehoi_node.core.types import CameraIntrinsics


@dataclass(frozen=True)
class CrowdConfig:
    """The crowd distribution (the only source of its defaults).

    Attributes:
        min_people, max_people: people per sequence, drawn once per sequence.
        people_weights: relative probability of min_people, ..., max_people (empty: uniform).
        distance_m: (near, far) horizontal distance camera -> pelvis [m], uniform.
        no_object_fraction: probability that a person has no object (`NO_OBJECT`).
        interactions: object interactions for people with an object (one drawn uniformly on
            every try of the scene generator, so interactions that the generator often
            rejects, like lift_box, end up rarer than 1 / len).
        width, height: image size [px].
        hfov_deg: (min, max) horizontal field of view [deg], uniform.
        camera_height_m: (min, max) camera height above the floor [m].
        look_distance_m: (min, max) horizontal distance of the camera's look-at point [m].
        look_height_m: (min, max) height of the look-at point [m].
        facing_deg: (min, max) direction a person faces relative to the direction to the
            camera [deg] (0 = facing the camera); turned by 180 deg with `back_view_prob`.
        back_view_prob: probability that a person shows their back.
        min_gap_m: clearance between any two people, bodies and objects [m]
            (>= `clearance.MIN_GAP_M`).
        margin_px: every person (body and object) stays this far inside the image [px].
        seq_len: frames per sequence (one camera, the same people moving).
        stride: mocap library frames between consecutive frames (30 Hz library).
        max_tries: placements drawn per person sequence before it is redrawn.
        max_sequences: person sequences drawn per person before giving up (RuntimeError).
    """

    min_people: int = 1
    max_people: int = 4
    people_weights: tuple[float, ...] = ()
    distance_m: tuple[float, float] = (1.5, 6.0)
    no_object_fraction: float = 0.35
    interactions: tuple[str, ...] = INTERACTIONS
    width: int = 640
    height: int = 480
    hfov_deg: tuple[float, float] = (55.0, 100.0)
    camera_height_m: tuple[float, float] = (0.5, 1.8)
    look_distance_m: tuple[float, float] = (2.5, 4.5)
    look_height_m: tuple[float, float] = (0.7, 1.1)
    facing_deg: tuple[float, float] = (-90.0, 90.0)
    back_view_prob: float = 0.2
    min_gap_m: float = 0.05
    margin_px: float = 2.0
    seq_len: int = 8
    stride: int = 1
    max_tries: int = 60
    max_sequences: int = 4

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.min_people <= self.max_people:
            problems.append(f"need 1 <= min_people <= max_people, got {self.min_people}, "
                            f"{self.max_people}")
        n = self.max_people - self.min_people + 1
        w = np.asarray(self.people_weights, np.float64)
        if len(w) and (len(w) != n or (w < 0).any() or w.sum() <= 0):
            problems.append(f"people_weights needs {n} non-negative weights with a positive sum,"
                            f" got {self.people_weights}")
        for name in ("distance_m", "hfov_deg", "camera_height_m", "look_distance_m",
                     "look_height_m", "facing_deg"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                problems.append(f"{name} needs min <= max, got {(lo, hi)}")
        if self.distance_m[0] <= 0.5 or not 10.0 <= self.hfov_deg[0] <= self.hfov_deg[1] < 170:
            problems.append("need distance_m[0] > 0.5 and 10 <= hfov_deg < 170")
        if not (0.0 <= self.no_object_fraction <= 1.0 and 0.0 <= self.back_view_prob <= 1.0):
            problems.append("no_object_fraction and back_view_prob must lie in [0, 1]")
        unknown = [k for k in self.interactions if k not in INTERACTIONS]
        if unknown or (not self.interactions and self.no_object_fraction < 1.0):
            problems.append(f"interactions must be non-empty and among {', '.join(INTERACTIONS)}"
                            f"; got {self.interactions}")
        if self.min_gap_m < MIN_GAP_M:
            problems.append(f"min_gap_m must be >= {MIN_GAP_M} (what the clearance test proves)")
        if min(self.seq_len, self.stride, self.max_tries, self.max_sequences, self.width,
               self.height) < 1 or self.margin_px < 0:
            problems.append("seq_len, stride, max_tries, max_sequences, width, height must be "
                            ">= 1 and margin_px >= 0")
        if problems:
            raise ValueError("CrowdConfig: " + "; ".join(problems))

    @property
    def people_probabilities(self) -> np.ndarray:
        """(max_people - min_people + 1,) float64 probability of each number of people."""
        n = self.max_people - self.min_people + 1
        w = np.asarray(self.people_weights or np.ones(n), np.float64)
        return w / w.sum()


@dataclass(frozen=True)
class CrowdScene:
    """The people of one frame, world frame.

    Attributes:
        people: one validated single-person scene per person, placed on the common floor.
        track_ids: (P,) a stable id per person (the same in every frame of a sequence, unique
            in a `crowd_frames` stream).
        sequence: id of the sequence.
        frame_index: index of the frame within the sequence.
    """

    people: tuple[HOIScene, ...]
    track_ids: tuple[int, ...]
    sequence: str = ""
    frame_index: int = 0


@dataclass(frozen=True)
class CrowdSequence:
    """A crowd sequence: one camera, the same people moving.

    Attributes:
        camera: intrinsics.
        pose: world -> camera transform.
        frames: the scenes, `frame_index` 0..len-1.
    """

    camera: CameraIntrinsics
    pose: CameraPose
    frames: tuple[CrowdScene, ...]


class CrowdGenerator:
    """Draws crowd sequences (see the module docstring).

    Args:
        generator: the single-person scene generator (its stats count person rejections).
        config: the crowd distribution.
    """

    def __init__(self, generator: SceneGenerator, config: CrowdConfig = CrowdConfig()) -> None:
        self.generator = generator
        self.config = config
        self.checker = ClearanceChecker(generator.body.faces.cpu().numpy(), generator.library)
        self.stats: Counter[str] = Counter()

    def sample_sequence(self, rng: np.random.Generator, n_frames: int | None = None,
                        first_track_id: int = 1, sequence: str = "") -> CrowdSequence:
        """One crowd sequence of `n_frames` (default `config.seq_len`) frames; people get track
        ids `first_track_id`, `first_track_id` + 1, ... in placement order."""
        cfg = self.config
        n_frames = cfg.seq_len if n_frames is None else n_frames
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        probs = cfg.people_probabilities
        n_people = cfg.min_people + int(rng.choice(len(probs), p=probs))
        camera, pose = self._camera(rng)
        placed: list[list[HOIScene]] = []
        for _ in range(n_people):
            placed.append(self._person(rng, n_frames, camera, pose, placed))
        self.stats[f"people_{n_people}"] += 1
        ids = tuple(first_track_id + i for i in range(n_people))
        frames = tuple(CrowdScene(tuple(p[k] for p in placed), ids, sequence, k)
                       for k in range(n_frames))
        return CrowdSequence(camera, pose, frames)

    # -- drawing ------------------------------------------------------------------------------
    def _camera(self, rng: np.random.Generator) -> tuple[CameraIntrinsics, CameraPose]:
        cfg = self.config
        camera = CameraIntrinsics.from_fov(cfg.width, cfg.height, rng.uniform(*cfg.hfov_deg))
        heading = rng.uniform(-np.pi, np.pi)
        eye = np.array([0.0, rng.uniform(*cfg.camera_height_m), 0.0])
        d = rng.uniform(*cfg.look_distance_m)
        target = np.array([d * np.sin(heading), rng.uniform(*cfg.look_height_m),
                           d * np.cos(heading)])
        return camera, look_at(eye, target)

    def _person(self, rng: np.random.Generator, n_frames: int, camera: CameraIntrinsics,
                pose: CameraPose, placed: list[list[HOIScene]]) -> list[HOIScene]:
        """One person's placed sequence, clear of `placed` and inside the image."""
        cfg = self.config
        for _ in range(cfg.max_sequences):
            kinds = NO_OBJECT if rng.random() < cfg.no_object_fraction else cfg.interactions
            try:
                seq = self.generator.sample_sequence(rng, n_frames, kinds, stride=cfg.stride)
            except NoPlausibleScene:
                self.stats["no_plausible_scene"] += 1
                continue
            kind = seq[0].interaction
            for _ in range(cfg.max_tries):
                moved = self._place(rng, seq, pose, camera)
                if not all(self._in_view(s, camera, pose) for s in moved):
                    self.stats["rejected_view"] += 1
                    continue
                if not self._clear(moved, placed):
                    self.stats["rejected_overlap"] += 1
                    continue
                self.stats[f"placed_{kind}"] += 1
                return moved
            self.stats[f"redrawn_{kind}"] += 1
        raise RuntimeError(f"no placement for a person after {cfg.max_sequences} sequences x "
                           f"{cfg.max_tries} tries: {dict(self.stats)}")

    def _place(self, rng: np.random.Generator, seq: list[HOIScene], pose: CameraPose,
               camera: CameraIntrinsics) -> list[HOIScene]:
        """The sequence moved rigidly: frame 0's pelvis at a drawn distance and bearing from
        the camera, facing a drawn direction relative to the camera."""
        cfg = self.config
        eye = pose.position
        axis = pose.R[2]  # optical axis, world
        cam_heading = np.arctan2(axis[0], axis[2])
        half_fov = np.arctan(camera.width / 2 / camera.fx)
        dist = rng.uniform(*cfg.distance_m)
        bearing = cam_heading + rng.uniform(-half_fov, half_fov)
        facing = np.deg2rad(rng.uniform(*cfg.facing_deg))
        if rng.random() < cfg.back_view_prob:
            facing += np.pi
        pelvis = np.array([eye[0] + dist * np.sin(bearing), 0.0, eye[2] + dist * np.cos(bearing)])
        to_camera = np.arctan2(eye[0] - pelvis[0], eye[2] - pelvis[2])
        first = seq[0]
        fwd = first.root_rotmat.astype(np.float64) @ np.array([0.0, 0.0, 1.0])
        yaw = to_camera + facing - np.arctan2(fwd[0], fwd[2])
        c, s = np.cos(yaw), np.sin(yaw)
        p0 = first.human_joints[0].astype(np.float64)
        turned = np.array([c * p0[0] + s * p0[2], 0.0, -s * p0[0] + c * p0[2]])
        offset = pelvis - turned
        return [move_scene(scene, yaw, offset) for scene in seq]

    def _in_view(self, scene: HOIScene, camera: CameraIntrinsics, pose: CameraPose) -> bool:
        pts = np.concatenate([scene.human_vertices, scene.object_vertices]).astype(np.float64)
        cam = pose.to_camera(pts)
        if cam[:, 2].min() < 0.2:
            return False
        uv = camera.project(cam)
        m = self.config.margin_px
        return bool(uv[:, 0].min() >= m and uv[:, 1].min() >= m
                    and uv[:, 0].max() <= camera.width - m and uv[:, 1].max() <= camera.height - m)

    def _clear(self, moved: list[HOIScene], placed: list[list[HOIScene]]) -> bool:
        gap = self.config.min_gap_m
        return all(self.checker.clearance(moved[k], other[k], gap) >= gap
                   for other in placed for k in range(len(moved)))
