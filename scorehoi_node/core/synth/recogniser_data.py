"""Training evidence for the object recogniser, from the data engine, without rendering.

Per (scene, camera) view, everything the recogniser sees at run time is reproduced cheaply:

1. scene (`SceneGenerator`) and camera (`frames.sample_camera`), plus with `distractor_prob`
   one or two distractors on the floor next to the person (boxes up to couch size, cylinders,
   spheres, library templates scaled far off their size: "other" objects), and for handheld
   interactions with `swap_prob` the held object swapped for a distractor of similar size;
2. depth by open3d raycasting of the body, the object, the distractors, the floor and a wall
   (instance id per pixel), then a depth-sensor model (`SensorModel`: noise growing with z^2,
   holes, drop-outs at grazing angles, flying pixels at depth edges);
3. the person as the pipeline sees them: MediaPipe-33 keypoints projected from the mesh with
   pixel noise and low scores where occluded, a person mask grown by a few pixels that often
   swallows the held object (as MediaPipe's does), and a body "fit" = the true pose with every
   joint turned by a random rotation and the root moved (measured fit errors: root ~0.1-0.2 m,
   wrists ~0.35 m RMS);
4. the run-time candidate search on that (`object_candidates`: person pixels, floor, depth
   clusters) plus the object's and distractors' true masks as detector masks / boxes, with and
   without depth (the RGB-only variant), and every depth cluster again as a mask without depth;
5. labels from the instance ids: the template when the candidate is mostly the object (or
   covers most of it), "other" for distractors, "clutter" otherwise; the per-point object mask;
   the template's yaw and origin in the candidate's evidence frame.

Everything depends only on (seed, scene index): scene k draws from `np.random.default_rng([seed,
k])`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import open3d as o3d
import torch

from scorehoi_node.core.bodies.landmarks import landmark_vertex_ids, mediapipe_landmarks
from scorehoi_node.core.estimate.object_candidates import (CandidateConfig, FrameCandidates,
                                                           ObjectCandidate,
                                                           detection_candidates,
                                                           frame_candidates)
from scorehoi_node.core.estimate.object_evidence import (NUM_POINTS, candidate_evidence,
                                                         pose_in_frame)
from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.synth.camera import CameraPose, CameraSampler
from scorehoi_node.core.synth.frames import SynthContext, sample_camera
from scorehoi_node.core.synth.scene import INTERACTIONS, HOIScene
from scorehoi_node.core.types import (CameraIntrinsics, HumanEstimate, ObjectDetection,
                                      PersonDetection)

#: instance ids of the raycast (index of the mesh in the scene list)
BODY, OBJECT, FLOOR, WALL, FIRST_DISTRACTOR = 0, 1, 2, 3, 4
_HELD = ("hold_one_hand", "hold_two_hands", "carry_box", "lift_box")


@dataclass(frozen=True)
class SensorModel:
    """Depth-camera artefacts (the only source of their defaults).

    Attributes:
        noise_m, noise_quad: depth noise sigma = scale * (noise_m + noise_quad * z^2) [m].
        noise_scale: (min, max) of the per-image scale.
        hole_prob: probability that an image gets holes; max_holes blobs of hole_radius_px.
        grazing_cos: pixels whose surface is seen at |cos| below this drop out with
            grazing_drop probability.
        flying_prob: probability that an image has flying pixels: each pixel on a depth edge
            (jump > edge_jump_m) takes, with flying_fraction probability, a depth between the two
            sides.
    """

    noise_m: float = 0.001
    noise_quad: float = 0.0015
    noise_scale: tuple[float, float] = (0.0, 1.5)
    hole_prob: float = 0.6
    max_holes: int = 12
    hole_radius_px: tuple[int, int] = (2, 12)
    grazing_cos: float = 0.2
    grazing_drop: float = 0.5
    flying_prob: float = 0.7
    flying_fraction: float = 0.5
    edge_jump_m: float = 0.1


@dataclass(frozen=True)
class EvidenceDataConfig:
    """What `evidence_samples` draws (the only source of its defaults).

    Attributes:
        frames_per_scene, frame_stride: consecutive mocap frames per scene (cheaper than scenes).
        views_per_frame: cameras per frame.
        distractor_prob: a view gets one or two floor distractors.
        swap_prob: a held object is swapped for a distractor ("other").
        box_prob: the object's detection is a box (no mask) instead of a mask.
        keypoint_noise_px: sigma of the simulated keypoints [px].
        root_sigma_m: (x, y, z) sigma of the simulated fit's root offset, camera frame [m].
        joint_sigma_rad: sigma of the random turn of every joint of the simulated fit [rad].
        sampler: camera distribution (default: 320 x 240, i.e. a quarter of the pixels of the
            run-time 640 x 480 at the same distances: 4x cheaper; evidence features do not
            depend on the resolution).
        sensor: depth artefacts.
        candidates: candidate search settings (the run-time defaults with the pixel counts
            scaled to the resolution).
    """

    frames_per_scene: int = 2
    frame_stride: int = 12
    views_per_frame: int = 3
    distractor_prob: float = 0.5
    swap_prob: float = 0.2
    box_prob: float = 0.3
    keypoint_noise_px: float = 2.5
    root_sigma_m: tuple[float, float, float] = (0.08, 0.06, 0.2)
    joint_sigma_rad: float = 0.2
    sampler: CameraSampler = CameraSampler(width=320, height=240, min_person_px=80.0)
    sensor: SensorModel = SensorModel(hole_radius_px=(1, 6))
    candidates: CandidateConfig = field(default_factory=lambda: CandidateConfig(
        person_dilate_px=1, min_pixels=10, full_score_pixels=375, min_mask_pixels=5,
        body_splat_px=7))


@dataclass(frozen=True)
class LabelledEvidence:
    """One training sample.

    Attributes:
        points: (NUM_POINTS, 4) float32 point features or None (mask-only evidence).
        context: (CONTEXT_DIM,) float32.
        mask: (MASK_SIZE, MASK_SIZE) float32.
        mask_context: (MASK_CONTEXT_DIM,) float32.
        label: class index (templates in library order, then "other", "clutter").
        yaw: template yaw in the evidence frame [rad] (NaN unless a template).
        translation: (3,) template origin in the evidence frame [m] (NaN unless a template).
        segmentation: (NUM_POINTS,) bool: the point is on the labelled object (None: no points).
        interaction: index into `scene.INTERACTIONS`.
        source, anchor: the candidate's.
    """

    points: np.ndarray | None
    context: np.ndarray
    mask: np.ndarray
    mask_context: np.ndarray
    label: int
    yaw: float
    translation: np.ndarray
    segmentation: np.ndarray | None
    interaction: int
    source: str
    anchor: str


# -- meshes ---------------------------------------------------------------------------------------

def _legacy(mesh: o3d.geometry.TriangleMesh) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(mesh.vertices, np.float64)
    v = v - np.r_[0.5 * (v.min(0) + v.max(0))[0], v.min(0)[1], 0.5 * (v.min(0) + v.max(0))[2]]
    return v, np.asarray(mesh.triangles, np.int64)


def _near_template(size: np.ndarray, library: ObjectLibrary, slack: float = 0.3) -> bool:
    """True when a (3,) box size is within `slack` (relative) of a template's, any axis order."""
    s = np.sort(size)
    return any(np.all(np.abs(s - np.sort(t.extent)) <= slack * np.sort(t.extent))
               for t in library)


def distractor_mesh(rng: np.random.Generator, library: ObjectLibrary
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A random non-template object (vertices (V, 3) with its bottom centre at the origin, +Y up;
    faces (F, 3)): a box (sometimes couch-sized), a cylinder, a sphere, or a library template
    scaled far off its size. Sizes near a template's are redrawn."""
    for _ in range(50):
        kind = rng.choice(["box", "couch", "cylinder", "sphere", "scaled"])
        if kind == "scaled":
            t = library.templates[rng.integers(len(library))]
            s = rng.uniform(0.35, 0.6) if rng.random() < 0.5 else rng.uniform(1.7, 2.6)
            v = t.vertices.astype(np.float64) * s
            return v - np.r_[0.0, v[:, 1].min(), 0.0], t.faces.astype(np.int64)
        if kind == "couch":
            size = np.array([rng.uniform(1.4, 2.2), rng.uniform(0.7, 0.95), rng.uniform(0.75, 1.0)])
        elif kind == "box":
            size = np.exp(rng.uniform(np.log(0.05), np.log(1.6), 3))
        elif kind == "cylinder":
            r, h = rng.uniform(0.03, 0.45), rng.uniform(0.05, 1.3)
            size = np.array([2 * r, h, 2 * r])
        else:
            r = rng.uniform(0.03, 0.6)
            size = np.full(3, 2 * r)
        if _near_template(size, library):
            continue
        if kind in ("box", "couch"):
            return _legacy(o3d.geometry.TriangleMesh.create_box(*size))
        if kind == "cylinder":
            mesh = o3d.geometry.TriangleMesh.create_cylinder(size[0] / 2, size[1], resolution=20)
            mesh.rotate(cv2.Rodrigues(np.array([np.pi / 2, 0.0, 0.0]))[0], center=np.zeros(3))
            return _legacy(mesh)
        return _legacy(o3d.geometry.TriangleMesh.create_sphere(size[0] / 2, resolution=12))
    raise RuntimeError("no distractor size away from every template in 50 draws")


def _quad(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return corners, np.array([[0, 1, 2], [0, 2, 3]])


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _place_distractors(scene: HOIScene, rng: np.random.Generator, library: ObjectLibrary,
                       count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Distractor meshes (world frame) on the floor 0.5-2.2 m from the pelvis, clear of the
    person's and the object's footprints."""
    pelvis = scene.human_joints[0].astype(np.float64)
    taken = [(np.r_[v[:, 0].min(), v[:, 2].min()], np.r_[v[:, 0].max(), v[:, 2].max()])
             for v in (scene.human_vertices, scene.object_vertices)]
    out = []
    for _ in range(10 * count):
        if len(out) == count:
            break
        v, f = distractor_mesh(rng, library)
        a, d = rng.uniform(-np.pi, np.pi), rng.uniform(0.5, 2.2)
        v = v @ _yaw(rng.uniform(-np.pi, np.pi)).T + np.r_[pelvis[0] + d * np.cos(a), 0.0,
                                                          pelvis[2] + d * np.sin(a)]
        lo, hi = np.r_[v[:, 0].min(), v[:, 2].min()], np.r_[v[:, 0].max(), v[:, 2].max()]
        if any(np.all(lo < h + 0.05) and np.all(l - 0.05 < hi) for l, h in taken):
            continue
        taken.append((lo, hi))
        out.append((v, f))
    return out


def _swap_held(scene: HOIScene, rng: np.random.Generator, library: ObjectLibrary
               ) -> tuple[np.ndarray, np.ndarray]:
    """A distractor of roughly the held object's size at its place (world frame)."""
    obj = scene.object_vertices.astype(np.float64)
    target = float(np.linalg.norm(obj.max(0) - obj.min(0)))
    for _ in range(20):
        v, f = distractor_mesh(rng, library)
        size = float(np.linalg.norm(v.max(0) - v.min(0)))
        if 0.5 * target < size < 2.0 * target:
            break
    centre = 0.5 * (obj.min(0) + obj.max(0))
    v = v * min(1.0, target / max(size, 1e-9) * 1.2)
    return v @ _yaw(rng.uniform(-np.pi, np.pi)).T - 0.5 * (v.min(0) + v.max(0)) + centre, f


def _environment(scene: HOIScene, pose: CameraPose, rng: np.random.Generator
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Floor quad (30 m) and a wall behind the person (world frame)."""
    c = scene.human_joints[0].astype(np.float64)
    floor = _quad(np.array([[c[0] - 15, 0, c[2] - 15], [c[0] - 15, 0, c[2] + 15],
                            [c[0] + 15, 0, c[2] + 15], [c[0] + 15, 0, c[2] - 15]]))
    eye = pose.position
    view = c - eye
    view[1] = 0.0
    view /= np.linalg.norm(view)
    pts = np.concatenate([scene.human_vertices, scene.object_vertices]).astype(np.float64)
    depth = float(((pts - eye) @ view).max()) + rng.uniform(0.5, 2.5)
    origin = np.r_[eye[0], 0.0, eye[2]] + depth * view
    side = np.cross(view, [0.0, 1.0, 0.0])
    h = rng.uniform(2.6, 3.6)
    wall = _quad(np.array([origin - 12 * side, origin - 12 * side + [0, h, 0],
                           origin + 12 * side + [0, h, 0], origin + 12 * side]))
    return [floor, wall]


# -- depth ----------------------------------------------------------------------------------------

def raycast(camera: CameraIntrinsics, meshes: list[tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-depth (H, W) float32 [m] (NaN: no hit), instance (H, W) int32 (index into `meshes`,
    -1: none) and |cos| (H, W) float32 between the ray and the surface normal, of camera-frame
    meshes [(vertices (V, 3), faces (F, 3))]; pixel centres at +0.5."""
    scene = o3d.t.geometry.RaycastingScene()
    for v, f in meshes:
        scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(v, np.float32)),
                            o3d.core.Tensor(np.ascontiguousarray(f, np.uint32)))
    u = (np.arange(camera.width) + 0.5 - camera.cx) / camera.fx
    v = (np.arange(camera.height) + 0.5 - camera.cy) / camera.fy
    d = np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1.0), -1).astype(np.float32)
    rays = np.concatenate([np.zeros_like(d), d], -1)
    out = scene.cast_rays(o3d.core.Tensor(rays))
    t = out["t_hit"].numpy()
    ids = out["geometry_ids"].numpy().astype(np.int64)
    hit = np.isfinite(t)
    normals = out["primitive_normals"].numpy()
    cos = np.abs((normals * d).sum(-1)) / np.linalg.norm(d, axis=-1)
    ids = np.where(hit, ids, -1).astype(np.int32)
    return np.where(hit, t, np.nan).astype(np.float32), ids, cos.astype(np.float32)


def apply_sensor(depth: np.ndarray, cos: np.ndarray, rng: np.random.Generator,
                 model: SensorModel = SensorModel()) -> np.ndarray:
    """Depth image with the sensor artefacts of `model` (see `SensorModel`)."""
    z = depth.astype(np.float64).copy()
    valid = np.isfinite(z)
    if rng.random() < model.flying_prob:
        zz = np.nan_to_num(z, nan=100.0)
        for axis in (0, 1):
            dz = np.diff(zz, axis=axis)
            edge = (np.abs(dz) > model.edge_jump_m) & (rng.random(dz.shape) < model.flying_fraction)
            a = [slice(None)] * 2
            b = [slice(None)] * 2
            a[axis], b[axis] = slice(0, -1), slice(1, None)
            mix = rng.uniform(0.2, 0.8, dz.shape)
            near = np.minimum(zz[tuple(a)], zz[tuple(b)])
            far = np.maximum(zz[tuple(a)], zz[tuple(b)])
            fly = near + mix * np.minimum(far - near, 3.0)
            target = z[tuple(a)]
            target[edge & np.isfinite(target)] = fly[edge & np.isfinite(target)]
    scale = rng.uniform(*model.noise_scale)
    z += rng.normal(size=z.shape) * scale * (model.noise_m + model.noise_quad * z ** 2)
    drop = (cos < model.grazing_cos) & (rng.random(z.shape) < model.grazing_drop)
    if rng.random() < model.hole_prob:
        holes = np.zeros(z.shape, np.uint8)
        for _ in range(rng.integers(1, model.max_holes + 1)):
            cv2.circle(holes, (int(rng.integers(z.shape[1])), int(rng.integers(z.shape[0]))),
                       int(rng.integers(*model.hole_radius_px)), 1, -1)
        drop |= holes > 0
    z[drop | ~valid] = np.nan
    return z.astype(np.float32)


# -- the person as the pipeline sees them -------------------------------------------------------

def simulate_fit(body, scene: HOIScene, pose: CameraPose, rng: np.random.Generator,
                 config: EvidenceDataConfig) -> HumanEstimate:
    """A body "fit" in the camera frame: every joint of the true pose turned by a random
    rotation (sigma `joint_sigma_rad`), the root turned and moved (`root_sigma_m`)."""
    from scipy.spatial.transform import Rotation

    local = scene.body_pose_rotmat.astype(np.float64)
    turns = Rotation.from_rotvec(rng.normal(scale=config.joint_sigma_rad, size=(len(local), 3)))
    local = turns.as_matrix() @ local
    root = Rotation.from_rotvec(rng.normal(scale=0.1, size=3)).as_matrix() @ (
        pose.R @ scene.root_rotmat.astype(np.float64))
    joints_w = scene.human_joints.astype(np.float64)
    rest_root = joints_w[0] - scene.root_transl.astype(np.float64)
    transl = pose.to_camera(joints_w[0]) - rest_root + rng.normal(size=3) * config.root_sigma_m
    f = dict(dtype=body.dtype, device=body.device)
    with torch.no_grad():
        out = body(torch.as_tensor(local, **f)[None], torch.as_tensor(scene.shape, **f)[None],
                   torch.as_tensor(root, **f)[None], torch.as_tensor(transl, **f)[None])
    joints = out.joints[0].double().cpu().numpy()
    rotations = np.concatenate([root[None], local])
    return HumanEstimate(body_model=body.name, joint_names=tuple(body.joint_names),
                         parents=np.asarray(body.parents), joint_rotations=rotations,
                         joint_positions=joints, shape=scene.shape.astype(np.float64),
                         confidence=1.0, vertices=out.vertices[0].double().cpu().numpy())


def simulate_detection(body, scene: HOIScene, pose: CameraPose, camera: CameraIntrinsics,
                       depth: np.ndarray, ids: np.ndarray, rng: np.random.Generator,
                       config: EvidenceDataConfig) -> PersonDetection:
    """MediaPipe-like detection: landmarks projected from the true mesh (+ pixel noise; low
    scores when hidden), and a person mask grown by 0-2 px that swallows a held object with
    probability 0.6."""
    verts = pose.to_camera(scene.human_vertices.astype(np.float64))
    joints = pose.to_camera(scene.human_joints.astype(np.float64))
    lm = mediapipe_landmarks(joints, verts, tuple(body.joint_names), landmark_vertex_ids(body))
    uv = camera.project(lm) + rng.normal(scale=config.keypoint_noise_px, size=(len(lm), 2))
    iu, iv = np.floor(uv).astype(int).T
    inside = (iu >= 0) & (iu < camera.width) & (iv >= 0) & (iv < camera.height) & (lm[:, 2] > 0)
    seen = np.zeros(len(lm), bool)
    z = np.nan_to_num(depth, nan=np.inf)
    seen[inside] = lm[inside, 2] <= z[iv[inside], iu[inside]] + 0.08
    scores = np.where(seen, rng.uniform(0.8, 1.0, len(lm)), rng.uniform(0.0, 0.45, len(lm)))
    mask = (ids == BODY).astype(np.uint8)
    if scene.interaction in _HELD and rng.random() < 0.6:
        mask |= (ids == OBJECT).astype(np.uint8)
    k = int(rng.integers(0, 3))
    if k:
        mask = cv2.dilate(mask, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    mask = mask.astype(bool)
    vs, us = np.nonzero(mask) if mask.any() else (np.zeros(1), np.zeros(1))
    return PersonDetection(keypoints_2d=uv, keypoint_scores=scores, keypoints_3d=None,
                           keypoint_layout="mediapipe33",
                           box=np.array([us.min(), vs.min(), us.max() + 1.0, vs.max() + 1.0]),
                           score=1.0, mask=mask)


# -- labelling -------------------------------------------------------------------------------------

def _pixel_ids(points: np.ndarray, camera: CameraIntrinsics, ids: np.ndarray) -> np.ndarray:
    """Instance id of the pixel each back-projected point came from."""
    uv = np.floor(camera.project(points)).astype(int)
    u = np.clip(uv[:, 0], 0, camera.width - 1)
    v = np.clip(uv[:, 1], 0, camera.height - 1)
    return ids[v, u]


def _label(cand_ids: np.ndarray, ids: np.ndarray, target: int, target_label: int,
           other: int, clutter: int) -> tuple[int, int]:
    """(class, instance id the class refers to, -1 for clutter) of a candidate whose pixels /
    points have instance ids `cand_ids`: the object (or a distractor) when it is at least half
    the candidate, or a quarter of it while covering half of what is visible of it."""
    counts = np.bincount(cand_ids[cand_ids >= 0], minlength=int(ids.max()) + 2)
    if not len(cand_ids):
        return clutter, -1
    best = -1
    for inst in range(OBJECT, len(counts)):
        if inst in (FLOOR, WALL) or counts[inst] == 0:
            continue
        frac = counts[inst] / len(cand_ids)
        cover = counts[inst] / max(int((ids == inst).sum()), 1)
        if frac >= 0.5 or (frac >= 0.25 and cover >= 0.5):
            if best < 0 or counts[inst] > counts[best]:
                best = inst
    if best < 0:
        return clutter, -1
    return (target_label if best == target else other), best


# -- samples -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _View:
    """One raycast view and what the pipeline finds in it."""

    scene: HOIScene
    camera: CameraIntrinsics
    pose: CameraPose
    depth: np.ndarray
    ids: np.ndarray
    object_label: int
    found: FrameCandidates


def _render_view(scene: HOIScene, rng: np.random.Generator, body, context: SynthContext,
                 config: EvidenceDataConfig) -> _View:
    library = context.library
    camera, pose = sample_camera(scene, rng, context, config.sampler)
    object_mesh = (scene.object_vertices.astype(np.float64),
                   library.by_id(scene.object_id).faces)
    object_label = library.ids.index(scene.object_id)
    if scene.interaction in _HELD and rng.random() < config.swap_prob:
        object_mesh, object_label = _swap_held(scene, rng, library), len(library)
    meshes = [(scene.human_vertices.astype(np.float64), context.faces), object_mesh,
              *_environment(scene, pose, rng)]
    if rng.random() < config.distractor_prob:
        meshes += _place_distractors(scene, rng, library, int(rng.integers(1, 3)))
    depth, ids, cos = raycast(camera, [(pose.to_camera(v), f) for v, f in meshes])
    depth = apply_sensor(depth, cos, rng, config.sensor)
    ids = np.where(np.isfinite(depth), ids, -1)
    person = simulate_detection(body, scene, pose, camera, depth, ids, rng, config)
    human = simulate_fit(body, scene, pose, rng, config)
    found = frame_candidates(camera, [human], [person], depth=depth, config=config.candidates)
    # detections are added without de-duplication (the depth cluster of the object must stay a
    # "depth" sample too)
    dets = detection_candidates(_detections(ids, rng, config), camera, found.anchors,
                                depth=depth, exclude=found.exclude,
                                floor_plane=found.floor_plane, config=config.candidates)
    found = replace(found, candidates=dets + found.candidates)
    return _View(scene, camera, pose, depth, ids, object_label, found)


def _detections(ids: np.ndarray, rng: np.random.Generator, config: EvidenceDataConfig
                ) -> list[ObjectDetection]:
    """The object's and the distractors' true masks (grown or shrunk by up to 2 px, or as a
    jittered box with `box_prob`) as "unknown" detections."""
    dets = []
    for inst in range(OBJECT, int(ids.max()) + 1):
        mask = ids == inst
        if inst in (FLOOR, WALL) or mask.sum() < config.candidates.min_mask_pixels:
            continue
        k = int(rng.integers(-2, 3))
        if k:
            op = cv2.dilate if k > 0 else cv2.erode
            mask = op(mask.astype(np.uint8), np.ones((2 * abs(k) + 1,) * 2, np.uint8)) > 0
        if not mask.any():
            continue
        vs, us = np.nonzero(mask)
        box = np.array([us.min(), vs.min(), us.max() + 1.0, vs.max() + 1.0])
        box += rng.normal(scale=2.0, size=4)
        dets.append(ObjectDetection("unknown", box, 1.0,
                                    None if rng.random() < config.box_prob else mask))
    return dets


def _candidates(view: _View, config: EvidenceDataConfig) -> list[ObjectCandidate]:
    """The frame's candidates (detections first, then depth clusters), plus every detection and
    depth cluster again as a mask without depth (the RGB-only evidence)."""
    found = view.found
    as_masks = [ObjectDetection("unknown", c.box, 1.0, c.mask if c.source != "box" else None)
                for c in found.candidates]
    rgb = detection_candidates(as_masks, view.camera, found.anchors, floor_plane=found.floor_plane,
                               config=config.candidates)
    return found.candidates + rgb


def _sample(view: _View, cand: ObjectCandidate, seed: int, num_templates: int
            ) -> LabelledEvidence:
    found = view.found
    anchors = found.anchors[cand.person] if cand.person is not None else None
    ev = candidate_evidence(cand, view.camera, anchors, found.up, found.floor_d, seed)
    other, clutter = num_templates, num_templates + 1
    if cand.points is not None:
        point_ids = _pixel_ids(cand.points, view.camera, view.ids)
        label, inst = _label(point_ids, view.ids, OBJECT, view.object_label, other, clutter)
        seg = point_ids[ev.point_index] == inst
    else:
        label, inst = _label(view.ids[cand.mask], view.ids, OBJECT, view.object_label, other,
                             clutter)
        seg = None
    yaw, trans = float("nan"), np.full(3, np.nan)
    if label < num_templates:
        yaw, trans, _ = pose_in_frame(ev.frame, view.pose.R @ view.scene.object_rotmat,
                                      view.pose.to_camera(view.scene.object_transl))
    return LabelledEvidence(
        points=ev.points, context=ev.context, mask=ev.mask, mask_context=ev.mask_context,
        label=int(label), yaw=yaw, translation=np.asarray(trans, np.float32), segmentation=seg,
        interaction=INTERACTIONS.index(view.scene.interaction), source=cand.source,
        anchor=cand.anchor)


def evidence_samples(n_scenes: int, seed: int, body, context: SynthContext, generator, *,
                     config: EvidenceDataConfig = EvidenceDataConfig(), start: int = 0
                     ) -> Iterator[list[LabelledEvidence]]:
    """Yield the samples of each scene k in [start, start + n_scenes) (see the module
    docstring); scene k draws from `np.random.default_rng([seed, k])`."""
    for k in range(start, start + n_scenes):
        rng = np.random.default_rng([seed, k])
        scenes = generator.sample_sequence(rng, config.frames_per_scene,
                                           stride=config.frame_stride)
        out: list[LabelledEvidence] = []
        for scene in scenes:
            for _ in range(config.views_per_frame):
                view = _render_view(scene, rng, body, context, config)
                for cand in _candidates(view, config):
                    out.append(_sample(view, cand, int(rng.integers(1 << 31)),
                                       len(context.library)))
        yield out


def stack_samples(samples: list[LabelledEvidence]) -> dict[str, np.ndarray]:
    """Arrays of a list of samples (points / segmentation zero-filled where absent, with a
    `has_points` flag) ready for `np.savez`."""
    n = len(samples)
    pts = np.zeros((n, NUM_POINTS, 4), np.float16)
    seg = np.zeros((n, NUM_POINTS), bool)
    has = np.zeros(n, bool)
    for i, s in enumerate(samples):
        if s.points is not None:
            pts[i], seg[i], has[i] = s.points, s.segmentation, True
    return dict(points=pts, segmentation=seg, has_points=has,
                context=np.stack([s.context for s in samples]).astype(np.float32),
                mask=np.round(np.stack([s.mask for s in samples]) * 255).astype(np.uint8),
                mask_context=np.stack([s.mask_context for s in samples]).astype(np.float32),
                label=np.array([s.label for s in samples], np.int64),
                yaw=np.array([s.yaw for s in samples], np.float32),
                translation=np.stack([s.translation for s in samples]).astype(np.float32),
                interaction=np.array([s.interaction for s in samples], np.int64),
                source=np.array([s.source for s in samples]),
                anchor=np.array([s.anchor for s in samples]))
