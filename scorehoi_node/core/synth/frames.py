"""Rendered synthetic frames with their ground truth in the camera frame.

`render_frame` turns one world-frame `HOIScene` into a `SynthFrame` (RGB, metric depth, instance
mask, camera, GT in the camera's optical frame); `synth_frames` draws whole sequences (same
person, object, camera and environment for a few frames, so motion is temporal) from a seed.
Render-free training samples (`synth.samples`) share the camera draw (`sample_camera`) and
the world -> camera ground truth (`camera_ground_truth`).

Frames: world = `synth.scene` (+Y up, floor y = 0); camera = optical (x right, y down,
z forward), metres. Determinism: every random choice comes from generators derived from the
seed, so the same seed gives identical bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from scorehoi_node.core.objects import ObjectLibrary, ObjectTemplate, load_library
from scorehoi_node.core.synth.appearance import (BodyParts, body_colors, floor_mesh,
                                                 object_colors, wall_mesh)
from scorehoi_node.core.synth.camera import CameraPose, CameraSampler
from scorehoi_node.core.synth.render import Lighting, Renderer, RenderMesh
from scorehoi_node.core.synth.scene import HOIScene
from scorehoi_node.core.types import (CameraIntrinsics, Contact, HumanEstimate, Interaction,
                                      ObjectEstimate)

#: instance-mask values
PERSON_ID, OBJECT_ID = 1, 2
#: `Interaction.refinement` of ground-truth interactions
GROUND_TRUTH = "ground_truth"
#: background colour behind the wall (sky/ceiling), RGB in [0, 1]
BACKGROUND = (0.62, 0.66, 0.72)


@dataclass(frozen=True)
class SynthContext:
    """What rendering and ground truth need beyond a scene; built once per body model.

    Attributes:
        body_model: body model name ("anny").
        faces: (F, 3) int64 body mesh triangles.
        parts: appearance part of every body vertex.
        joint_names: (J,) joint names; joint 0 is the root.
        parents: (J,) int64 parent index per joint (-1 for the root).
        contact_vertex_ids: (C,) int64 vertex index of each contact-subset vertex.
        contact_part_ids: (C,) int64 index into `contact_part_names`.
        contact_part_names: body-part label names.
        library: the object templates scenes refer to.
    """

    body_model: str
    faces: np.ndarray
    parts: BodyParts
    joint_names: tuple[str, ...]
    parents: np.ndarray
    contact_vertex_ids: np.ndarray
    contact_part_ids: np.ndarray
    contact_part_names: tuple[str, ...]
    library: ObjectLibrary

    @classmethod
    def from_body(cls, body, library: ObjectLibrary | None = None) -> "SynthContext":
        """From a `BodyModel` (anny) and an object library (default: the shipped one)."""
        return cls(body_model=body.name, faces=body.faces.cpu().numpy().astype(np.int64),
                   parts=BodyParts.from_body(body), joint_names=tuple(body.joint_names),
                   parents=np.asarray(body.parents, np.int64),
                   contact_vertex_ids=body.contact_vertex_ids.cpu().numpy().astype(np.int64),
                   contact_part_ids=body.contact_part_ids.cpu().numpy().astype(np.int64),
                   contact_part_names=tuple(body.contact_part_names),
                   library=library if library is not None else load_library())


@dataclass(frozen=True)
class SynthView:
    """Everything about a rendered view that stays fixed over a sequence.

    Attributes:
        camera: intrinsics.
        pose: world -> camera transform.
        lighting: key / fill / ambient light.
        background: floor and wall meshes (instance 0).
        human_colors: (V, 3) uint8 body vertex colours.
        object_colors: (Vo, 3) uint8 object vertex colours.
    """

    camera: CameraIntrinsics
    pose: CameraPose
    lighting: Lighting
    background: tuple[RenderMesh, ...]
    human_colors: np.ndarray
    object_colors: np.ndarray


@dataclass(frozen=True)
class SynthFrame:
    """One rendered frame and its ground truth. GT arrays are in the camera optical frame.

    Attributes:
        rgb: (H, W, 3) uint8 image.
        depth: (H, W) float32 z-depth [m], NaN where no surface was hit.
        mask: (H, W) uint8 instance mask: 0 background, `PERSON_ID` = 1, `OBJECT_ID` = 2.
        camera: intrinsics of the image.
        pose: world -> camera transform.
        scene: the world-frame scene (with `sequence` / `frame_index` of this frame).
        human_vertices: (V, 3) float32 body mesh [m].
        human_joints: (J, 3) float32 joint positions [m]; joint 0 = pelvis.
        root_rotmat: (3, 3) float32 body frame -> camera frame rotation (about the pelvis).
        root_transl: (3,) float32 the body model's translation in the camera frame
            (`BodyModel.forward` convention; anny: the pelvis position).
        object_rotmat: (3, 3) float32 template frame -> camera frame rotation.
        object_transl: (3,) float32 template origin [m].
        object_vertices: (Vo, 3) float32 posed template vertices [m].
        floor_plane: (4,) float32 (n, d): n·x + d = 0 on the floor, > 0 above, |n| = 1.
        contacts: ground-truth contacts (one per contact-subset vertex in GT contact).
        penetration_depth: largest depth of a body vertex inside the object [m] (0 = none).
    """

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    camera: CameraIntrinsics
    pose: CameraPose
    scene: HOIScene
    human_vertices: np.ndarray
    human_joints: np.ndarray
    root_rotmat: np.ndarray
    root_transl: np.ndarray
    object_rotmat: np.ndarray
    object_transl: np.ndarray
    object_vertices: np.ndarray
    floor_plane: np.ndarray
    contacts: tuple[Contact, ...]
    penetration_depth: float

    @property
    def joints_2d(self) -> np.ndarray:
        """(J, 2) float64 projected joints [px]."""
        return self.camera.project(self.human_joints)


def sample_camera(scene: HOIScene, rng: np.random.Generator, context: SynthContext,
                  sampler: CameraSampler = CameraSampler()) -> tuple[CameraIntrinsics, CameraPose]:
    """Only the camera of `sample_view`: the same draw from `rng` (intrinsics, then the
    world -> camera pose aimed at the person's torso), without light, floor, wall or colours.

    `sample_view` draws the camera first, so with the same `rng` state both return the same
    camera.
    """
    target, facing, extent, _ = _aim(scene, context)
    return sampler.sample(rng, target, facing, extent)


def sample_view(scene: HOIScene, rng: np.random.Generator, context: SynthContext,
                sampler: CameraSampler = CameraSampler()) -> SynthView:
    """A camera looking at the person's torso from around where they face, light, floor, wall
    and colours for `scene` (reuse it for the rest of the sequence)."""
    target, facing, extent, both = _aim(scene, context)
    camera, pose = sampler.sample(rng, target, facing, extent)
    lighting = Lighting.sample(rng)
    floor = floor_mesh(rng, center=target)
    wall = wall_mesh(rng, pose.position, both)
    template = context.library.by_id(scene.object_id)
    return SynthView(camera=camera, pose=pose, lighting=lighting, background=(floor, wall),
                     human_colors=body_colors(context.parts, rng),
                     object_colors=object_colors(template.id, len(template.vertices), rng))


def _aim(scene: HOIScene, context: SynthContext
         ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Where cameras look (world frame, metres): (target (3,) torso centre, facing (3,)
    direction the person faces, extent [m] the height to fit in the image, points (V+Vo, 3)
    person and object vertices)."""
    verts = scene.human_vertices.astype(np.float64)
    joints = scene.human_joints.astype(np.float64)
    lo, hi = verts.min(0), verts.max(0)
    # torso: between the pelvis and the top of the spine chain (head excluded)
    target = 0.5 * (joints[0] + _chest(joints, context.joint_names))
    facing = scene.root_rotmat.astype(np.float64) @ np.array([0.0, 0.0, 1.0])
    if np.hypot(facing[0], facing[2]) < 1e-3:  # lying / bent over: face along the pelvis
        facing = np.array([0.0, 0.0, 1.0])
    both = np.concatenate([verts, scene.object_vertices.astype(np.float64)])
    # the camera centres `target`: fit twice the largest vertical offset from it
    extent = max(2.0 * float(np.max(np.abs(both[:, 1] - target[1]))), float(hi[1] - lo[1]))
    return target, facing, extent, both


def _chest(joints: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    for name in ("spine01", "spine3", "spine2", "neck01", "neck"):
        if name in names:
            return joints[names.index(name)]
    return joints.mean(axis=0)


def render_frame(scene: HOIScene, rng: np.random.Generator, renderer: Renderer,
                 sampler: CameraSampler = CameraSampler(), *, context: SynthContext,
                 view: SynthView | None = None) -> SynthFrame:
    """Render `scene` and express its ground truth in the camera frame.

    Args:
        scene: world-frame scene.
        rng: draws the view when `view` is None (camera, light, environment, colours).
        renderer: offscreen renderer of the sampler's image size.
        sampler: camera distribution.
        context: body faces, part labels, contact subset, object library.
        view: a fixed view (sequences reuse the first frame's); sampled when None.
    """
    if view is None:
        view = sample_view(scene, rng, context, sampler)
    template = context.library.by_id(scene.object_id)
    meshes = [
        RenderMesh(vertices=scene.human_vertices, faces=context.faces, colors=view.human_colors,
                   instance_id=PERSON_ID, smooth=True),
        RenderMesh(vertices=scene.object_vertices, faces=template.faces, colors=view.object_colors,
                   instance_id=OBJECT_ID, smooth=len(template.faces) > 200),
        *view.background,
    ]
    out = renderer.render(meshes, view.camera, view.pose, view.lighting, background=BACKGROUND)
    return assemble_frame(scene, out.rgb, out.depth, out.instances, view, context)


@dataclass(frozen=True)
class CameraFrameGT:
    """A scene's pose ground truth in one camera's optical frame (metres).

    Attributes:
        human_joints: (J, 3) float32 joint positions; joint 0 = pelvis.
        root_rotmat: (3, 3) float32 body frame -> camera frame rotation (about the pelvis).
        root_transl: (3,) float32 the body model's translation in the camera frame
            (`BodyModel.forward` convention; anny: the pelvis position).
        object_rotmat: (3, 3) float32 template frame -> camera frame rotation.
        object_transl: (3,) float32 template origin.
        floor_plane: (4,) float32 (n, d): n·x + d = 0 on the floor, > 0 above, |n| = 1.
    """

    human_joints: np.ndarray
    root_rotmat: np.ndarray
    root_transl: np.ndarray
    object_rotmat: np.ndarray
    object_transl: np.ndarray
    floor_plane: np.ndarray


def camera_ground_truth(scene: HOIScene, pose: CameraPose) -> CameraFrameGT:
    """Express the world-frame pose ground truth of `scene` in the camera frame of `pose`
    (the one world -> camera conversion of rendered frames and render-free samples)."""
    R = pose.R
    joints_w = scene.human_joints.astype(np.float64)
    # root_transl: root joint = rest_root + transl in any frame; rest_root is frame-independent
    rest_root = joints_w[0] - scene.root_transl.astype(np.float64)
    return CameraFrameGT(
        human_joints=_to_camera(pose, joints_w),
        root_rotmat=(R @ scene.root_rotmat).astype(np.float32),
        root_transl=(pose.to_camera(joints_w[0]) - rest_root).astype(np.float32),
        object_rotmat=(R @ scene.object_rotmat).astype(np.float32),
        object_transl=_to_camera(pose, scene.object_transl),
        floor_plane=pose.floor_plane().astype(np.float32))


def _to_camera(pose: CameraPose, points_world: np.ndarray) -> np.ndarray:
    """(..., 3) world points [m] -> float32 camera-frame points (computed in float64)."""
    return pose.to_camera(np.asarray(points_world, np.float64)).astype(np.float32)


def assemble_frame(scene: HOIScene, rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray,
                   view: SynthView, context: SynthContext) -> SynthFrame:
    """The `SynthFrame` of a rendered scene: its images (`mask` with `PERSON_ID` /
    `OBJECT_ID`) and its ground truth in the camera frame of `view`."""
    pose = view.pose
    template = context.library.by_id(scene.object_id) if scene.has_object else None
    gt = camera_ground_truth(scene, pose)
    contacts, penetration = ground_truth_contacts(scene, template, pose, context)
    return SynthFrame(
        rgb=rgb, depth=depth, mask=mask, camera=view.camera, pose=pose, scene=scene,
        human_vertices=_to_camera(pose, scene.human_vertices), human_joints=gt.human_joints,
        root_rotmat=gt.root_rotmat, root_transl=gt.root_transl,
        object_rotmat=gt.object_rotmat, object_transl=gt.object_transl,
        object_vertices=_to_camera(pose, scene.object_vertices),
        floor_plane=gt.floor_plane, contacts=contacts, penetration_depth=penetration)


def ground_truth_contacts(scene: HOIScene, template: ObjectTemplate | None, pose: CameraPose,
                          context: SynthContext) -> tuple[tuple[Contact, ...], float]:
    """Contacts of the scene's GT contact vertices and the penetration depth, camera frame.

    Object point: p - sdf(p) * ∇sdf(p) / |∇sdf(p)| in the template frame (the nearest surface
    point of the SDF), normal: ∇sdf / |∇sdf| (outward). Penetration: the largest depth of any
    body vertex inside the object (0 when none). No object (`template` None): ((), 0.0).
    """
    import torch

    if template is None:
        return (), 0.0
    R_o = scene.object_rotmat.astype(np.float64)
    t_o = scene.object_transl.astype(np.float64)
    local = (scene.human_vertices.astype(np.float64) - t_o) @ R_o  # world -> template frame
    # penetration: only vertices inside the SDF grid box can be inside the object
    lo, hi = template.sdf_bounds.astype(np.float64)
    near = np.flatnonzero(np.all((local > lo) & (local < hi), axis=1))
    penetration = 0.0
    if len(near):
        with torch.no_grad():
            depth = -template.sdf(torch.tensor(local[near], dtype=torch.float32)[None])[0]
        penetration = float(max(0.0, depth.max().item()))
    labels = np.asarray(scene.contact_labels, bool)
    ids, parts = context.contact_vertex_ids[labels], context.contact_part_ids[labels]
    if len(ids) == 0:
        return (), penetration
    pts = torch.tensor(local[ids], dtype=torch.float32)[None].requires_grad_(True)
    sdf = template.sdf(pts)
    (grad,) = torch.autograd.grad(sdf.sum(), pts)
    g = grad[0].double().numpy()
    normal = g / np.clip(np.linalg.norm(g, axis=1, keepdims=True), 1e-9, None)
    d = sdf.detach()[0].double().numpy()
    surface = local[ids] - d[:, None] * normal
    obj_cam = pose.to_camera(surface @ R_o.T + t_o)
    normal_cam = normal @ (pose.R @ R_o).T
    human_cam = pose.to_camera(scene.human_vertices[ids].astype(np.float64))
    contacts = tuple(
        Contact(human_point=human_cam[k], object_point=obj_cam[k], normal=normal_cam[k],
                body_part=context.contact_part_names[int(parts[k])],
                human_vertex_index=int(ids[k]), distance=float(d[k]), probability=1.0)
        for k in range(len(ids)))
    return contacts, penetration


def ground_truth_interaction(frame: SynthFrame, context: SynthContext,
                             track_id: int = 1) -> Interaction:
    """The frame's ground truth as a pipeline `Interaction` (camera frame; local joint
    rotations with the root's = camera-frame root rotation; no object when the scene has none;
    refinement "ground_truth")."""
    scene = frame.scene
    rotations = np.concatenate([frame.root_rotmat[None].astype(np.float64),
                                scene.body_pose_rotmat.astype(np.float64)])
    human = HumanEstimate(
        body_model=scene.body_model, joint_names=context.joint_names, parents=context.parents,
        joint_rotations=rotations, joint_positions=frame.human_joints.astype(np.float64),
        shape=scene.shape.astype(np.float64), confidence=1.0,
        vertices=frame.human_vertices.astype(np.float64), faces=context.faces)
    obj = None
    if scene.has_object:
        template = context.library.by_id(scene.object_id)
        obj = ObjectEstimate(class_name=template.coco_class, template_id=template.id,
                             rotation=frame.object_rotmat.astype(np.float64),
                             translation=frame.object_transl.astype(np.float64),
                             extent=template.extent.astype(np.float64), confidence=1.0)
    return Interaction(track_id=track_id, human=human, obj=obj, contacts=list(frame.contacts),
                       penetration_depth=frame.penetration_depth, refinement=GROUND_TRUTH)


#: draws a sequence of `n` world-frame scenes (e.g. `SceneGenerator.sample_sequence`)
SequenceSource = Callable[[np.random.Generator, int], list[HOIScene]]


def synth_frames(n: int, seed: int, *, sequences: SequenceSource, context: SynthContext,
                 renderer: Renderer, sampler: CameraSampler = CameraSampler(),
                 seq_len: int = 4) -> Iterator[SynthFrame]:
    """Yield `n` rendered frames, deterministic in `seed`.

    Frames come in sequences of `seq_len` (the last may be shorter): one person, one object,
    one camera, light and environment per sequence, so motion is temporal. Sequence k draws
    from `np.random.default_rng([seed, k])`, so its content does not depend on `n`. Scenes get
    `sequence = "synth-<seed>-<k>"` and `frame_index` = index within the sequence.
    """
    if n < 0 or seq_len < 1:
        raise ValueError(f"need n >= 0 and seq_len >= 1, got n={n}, seq_len={seq_len}")
    done, k = 0, 0
    while done < n:
        rng = np.random.default_rng([seed, k])
        length = min(seq_len, n - done)
        scenes = sequences(rng, seq_len)[:length]
        view = sample_view(scenes[0], rng, context, sampler)
        for i, scene in enumerate(scenes):
            scene = replace(scene, sequence=f"synth-{seed}-{k:05d}", frame_index=i)
            yield render_frame(scene, rng, renderer, sampler, context=context, view=view)
        done += length
        k += 1
