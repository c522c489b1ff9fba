"""Rendered crowd frames: every person and object of a `CrowdScene` rendered (RGB, metric depth,
instance masks), and the ground truth of every person in the camera frame.

Instance ids (the mask and `PersonGT`): person i of a frame (the i-th of `CrowdScene.people`,
the i-th interaction of the ground-truth message) is `2 i + 1`, their object `2 i + 2`; so a
one-person frame uses `frames.PERSON_ID` = 1 and `frames.OBJECT_ID` = 2 as single-person frames
do. Occlusion of a person = the share of their silhouette rendered alone (amodal) that another
person or another person's object covers in the frame's instance mask.

Frames: world = `synth.scene` (+Y up, floor y = 0); camera = optical (x right, y down,
z forward), metres. Determinism: sequence k of `crowd_frames(n, seed)` draws from
`np.random.default_rng([seed, k])` only (its people, camera, light, environment, colours), so
its content depends neither on `n` nor on other sequences, and the same seed gives the same
bytes (up to the rasteriser's rare single-pixel shading differences, see the frame tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from scorehoi_node.core.crowd_metrics import height_bin, height_bin_labels, person_box
from scorehoi_node.core.synth.appearance import body_colors, floor_mesh, object_colors, wall_mesh
from scorehoi_node.core.synth.camera import CameraPose
from scorehoi_node.core.synth.crowd import CrowdGenerator, CrowdScene, CrowdSequence
from scorehoi_node.core.synth.frames import (BACKGROUND, OBJECT_ID, PERSON_ID, SynthContext,
                                             SynthFrame, SynthView, assemble_frame)
from scorehoi_node.core.synth.render import Lighting, Renderer, RenderMesh, RenderOutput
from scorehoi_node.core.synth.scene import HOIScene
from scorehoi_node.core.types import CameraIntrinsics

#: a person counts as occluded when others hide at least this share of their silhouette
OCCLUDED_SHARE = 0.10
#: bin edges of the occlusion histogram (share of the silhouette hidden by others)
OCCLUSION_BINS = (0.01, 0.10, 0.25, 0.50, 0.75)


def person_instance(i: int) -> int:
    """Instance id of the i-th person of a frame."""
    return 2 * i + 1


def object_instance(i: int) -> int:
    """Instance id of the i-th person's object."""
    return 2 * i + 2


@dataclass(frozen=True)
class CrowdView:
    """What stays fixed over a crowd sequence besides the people's motion.

    Attributes:
        views: one `SynthView` per person (in `CrowdScene.people` order): the sequence's
            camera, light, floor and wall, shared by all, and the person's own colours
            (object colours (0, 3) without an object).
    """

    views: tuple[SynthView, ...]

    @property
    def camera(self) -> CameraIntrinsics:
        return self.views[0].camera

    @property
    def pose(self) -> CameraPose:
        return self.views[0].pose


@dataclass(frozen=True)
class PersonGT:
    """One person of a crowd frame: ground truth and how the person appears in the image.

    Attributes:
        track_id: the person's id, the same in every frame of the sequence.
        frame: the crowd frame as this person's single-person `SynthFrame`: the same RGB and
            depth, the mask with this person as `PERSON_ID` and their object as `OBJECT_ID`
            (everything else 0), and this person's ground truth in the camera frame (contacts
            with their own object; without an object: no contacts, penetration 0).
        instance_id: the person's value in the crowd frame's mask (`person_instance`).
        object_instance_id: their object's value (`object_instance`; unused without object).
        box: (4,) float64 amodal box (u0, v0, u1, v1) of the projected body mesh [px].
        amodal_pixels: pixels of the person's silhouette rendered alone.
        visible_pixels: pixels where the person is visible in the crowd frame.
        occlusion: share of the amodal silhouette covered by other people or their objects.
        own_object_occlusion: share covered by the person's own object.
    """

    track_id: int
    frame: SynthFrame
    instance_id: int
    object_instance_id: int
    box: np.ndarray
    amodal_pixels: int
    visible_pixels: int
    occlusion: float
    own_object_occlusion: float

    @property
    def scene(self) -> HOIScene:
        """The person's world-frame scene."""
        return self.frame.scene

    @property
    def height_px(self) -> float:
        """Height of the amodal box [px]."""
        return float(self.box[3] - self.box[1])


@dataclass(frozen=True)
class CrowdFrame:
    """One rendered crowd frame.

    Attributes:
        rgb: (H, W, 3) uint8 image.
        depth: (H, W) float32 z-depth [m], NaN where no surface was hit.
        mask: (H, W) uint8 instance mask: 0 background, `person_instance(i)`,
            `object_instance(i)`.
        camera: intrinsics.
        pose: world -> camera transform.
        floor_plane: (4,) float32 (n, d): n·x + d = 0 on the floor, > 0 above, |n| = 1.
        people: ground truth per person, in `CrowdScene.people` order.
        sequence: id of the sequence.
        frame_index: index of the frame within the sequence.
    """

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camera: CameraIntrinsics
    pose: CameraPose
    floor_plane: np.ndarray
    people: tuple[PersonGT, ...]
    sequence: str
    frame_index: int


def sample_crowd_view(sequence: CrowdSequence, rng: np.random.Generator,
                      context: SynthContext) -> CrowdView:
    """Light, floor, wall and colours for a crowd sequence (its camera is the sequence's)."""
    first = sequence.frames[0].people
    points = np.concatenate([np.concatenate([p.human_vertices, p.object_vertices])
                             for p in first]).astype(np.float64)
    lighting = Lighting.sample(rng)
    floor = floor_mesh(rng, center=points.mean(axis=0))
    wall = wall_mesh(rng, sequence.pose.position, points)
    views = []
    for person in first:
        body = body_colors(context.parts, rng)
        n = len(person.object_vertices)
        views.append(SynthView(
            camera=sequence.camera, pose=sequence.pose, lighting=lighting,
            background=(floor, wall), human_colors=body,
            object_colors=object_colors(person.object_id, n, rng) if person.has_object
            else np.zeros((0, 3), np.uint8)))
    return CrowdView(tuple(views))


def render_crowd_frame(scene: CrowdScene, view: CrowdView, renderer: Renderer,
                       context: SynthContext) -> CrowdFrame:
    """Render every person and object of `scene` and express each person's ground truth in
    the camera frame."""
    meshes = []
    for i, (person, look) in enumerate(zip(scene.people, view.views, strict=True)):
        meshes.append(RenderMesh(vertices=person.human_vertices, faces=context.faces,
                                 colors=look.human_colors, instance_id=person_instance(i),
                                 smooth=True))
        if person.has_object:
            faces = context.library.by_id(person.object_id).faces
            meshes.append(RenderMesh(vertices=person.object_vertices, faces=faces,
                                     colors=look.object_colors, instance_id=object_instance(i),
                                     smooth=len(faces) > 200))
    ids = tuple(person_instance(i) for i in range(len(scene.people)))
    first = view.views[0]
    out = renderer.render([*meshes, *first.background], first.camera, first.pose,
                          first.lighting, background=BACKGROUND, amodal=ids)
    people = tuple(_person_gt(scene, i, view.views[i], out, context)
                   for i in range(len(scene.people)))
    return CrowdFrame(rgb=out.rgb, depth=out.depth, mask=out.instances, camera=first.camera,
                      pose=first.pose, floor_plane=first.pose.floor_plane().astype(np.float32),
                      people=people, sequence=scene.sequence, frame_index=scene.frame_index)


def _person_gt(scene: CrowdScene, i: int, view: SynthView, out: RenderOutput,
               context: SynthContext) -> PersonGT:
    person = replace(scene.people[i], sequence=scene.sequence, frame_index=scene.frame_index)
    own = (person_instance(i), object_instance(i))
    mask = np.zeros_like(out.instances)
    mask[out.instances == own[0]] = PERSON_ID
    mask[out.instances == own[1]] = OBJECT_ID
    frame = assemble_frame(person, out.rgb, out.depth, mask, view, context)
    amodal = out.amodal[own[0]]
    covered = out.instances[amodal]
    area = int(amodal.sum())
    by_others = int(np.count_nonzero((covered != 0) & ~np.isin(covered, own)))
    by_own_object = int(np.count_nonzero(covered == own[1]))
    return PersonGT(
        track_id=scene.track_ids[i], frame=frame, instance_id=own[0], object_instance_id=own[1],
        box=person_box(frame.human_vertices, view.camera), amodal_pixels=area,
        visible_pixels=int(np.count_nonzero(covered == own[0])),
        occlusion=by_others / area if area else 0.0,
        own_object_occlusion=by_own_object / area if area else 0.0)


def crowd_frames(n: int, seed: int, *, generator: CrowdGenerator, context: SynthContext,
                 renderer: Renderer) -> Iterator[CrowdFrame]:
    """Yield `n` rendered crowd frames, deterministic in `seed`.

    Frames come in sequences of `generator.config.seq_len` (the last may be shorter): the same
    people, one camera, light and environment per sequence. Sequence k draws from
    `np.random.default_rng([seed, k])`; its people get track ids k * max_people + 1, ...;
    frames get `sequence = "crowd-<seed>-<k>"` and `frame_index` within the sequence.
    """
    cfg = generator.config
    if n < 0:
        raise ValueError(f"need n >= 0, got n={n}")
    if (renderer.width, renderer.height) != (cfg.width, cfg.height):
        raise ValueError(f"renderer is {renderer.width}x{renderer.height}, the crowd config "
                         f"{cfg.width}x{cfg.height}")
    done, k = 0, 0
    while done < n:
        rng = np.random.default_rng([seed, k])
        seq = generator.sample_sequence(rng, cfg.seq_len, first_track_id=k * cfg.max_people + 1,
                                        sequence=f"crowd-{seed}-{k:05d}")
        view = sample_crowd_view(seq, rng, context)
        for scene in seq.frames[:min(cfg.seq_len, n - done)]:
            yield render_crowd_frame(scene, view, renderer, context)
        done += min(cfg.seq_len, n - done)
        k += 1


class CrowdTally:
    """Running statistics of crowd frames (people per frame, person heights, occlusion,
    interactions, distances), for reports of a whole stream without keeping its frames."""

    def __init__(self) -> None:
        self.frames = 0
        self.people: Counter[int] = Counter()
        self.heights: Counter[str] = Counter()
        self.occlusion: Counter[str] = Counter()
        self.interactions: Counter[str] = Counter()
        self.occluded_frames = 0
        self.shares: list[float] = []
        self.distances: list[float] = []

    def add(self, frame: CrowdFrame) -> None:
        self.frames += 1
        self.people[len(frame.people)] += 1
        self.occluded_frames += any(p.occlusion >= OCCLUDED_SHARE for p in frame.people)
        eye = frame.pose.position
        labels = occlusion_bin_labels()
        for p in frame.people:
            self.heights[height_bin(p.height_px)] += 1
            k = int(np.searchsorted(np.asarray(OCCLUSION_BINS), p.occlusion, side="right"))
            self.occlusion[labels[k]] += 1
            self.interactions[p.scene.interaction] += 1
            self.shares.append(p.occlusion)
            pelvis = p.scene.human_joints[0].astype(np.float64)
            self.distances.append(float(np.hypot(*(pelvis - eye)[[0, 2]])))

    def summary(self) -> dict:
        """JSON-ready counts and fractions."""
        shares = np.asarray(self.shares)
        multi = sum(c for n, c in self.people.items() if n > 1)
        dist = np.asarray(self.distances)
        return {
            "frames": self.frames, "persons": int(len(shares)),
            "people_per_frame": {str(n): self.people[n] for n in sorted(self.people)},
            "height_px": {b: self.heights[b] for b in height_bin_labels()},
            "interactions": dict(sorted(self.interactions.items())),
            "occlusion_by_others": {b: self.occlusion[b] for b in occlusion_bin_labels()},
            "occluded_share_threshold": OCCLUDED_SHARE,
            "frames_with_an_occluded_person": self.occluded_frames,
            "fraction_of_frames_with_an_occluded_person":
                self.occluded_frames / self.frames if self.frames else float("nan"),
            "fraction_of_multi_person_frames_with_an_occluded_person":
                self.occluded_frames / multi if multi else float("nan"),
            "mean_occlusion": float(shares.mean()) if len(shares) else float("nan"),
            "pelvis_distance_m": ({"min": float(dist.min()), "median": float(np.median(dist)),
                                   "max": float(dist.max())} if len(dist) else {}),
        }


def occlusion_bin_labels(edges: tuple[float, ...] = OCCLUSION_BINS) -> tuple[str, ...]:
    """Labels of the occlusion histogram: "0-1%", "1-10%", ..., ">=75%" for the defaults."""
    pct = [f"{100 * x:g}" for x in (0.0, *edges)]
    return (*(f"{a}-{b}%" for a, b in zip(pct, pct[1:])), f">={pct[-1]}%")


def tally(frames: Iterable[CrowdFrame]) -> dict:
    """`CrowdTally.summary` of `frames`."""
    t = CrowdTally()
    for f in frames:
        t.add(f)
    return t.summary()
