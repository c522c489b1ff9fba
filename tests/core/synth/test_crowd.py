"""Crowd scenes and frames: people kept apart (independent exact distances), every person in
view at the configured distances, instance masks that agree with the ground-truth meshes,
occlusion measured from the masks, determinism per seed, and the person-height histogram of
the default settings."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import open3d as o3d
import pytest
import torch
import trimesh

from scorehoi_node.core.crowd_metrics import height_bin, height_bin_labels, person_box
from scorehoi_node.core.synth.crowd import CrowdConfig, CrowdScene
from scorehoi_node.core.synth.crowd_frames import (CrowdView, object_instance, person_instance,
                                                   render_crowd_frame, tally)
from scorehoi_node.core.synth.frames import OBJECT_ID, PERSON_ID, SynthView
from scorehoi_node.core.synth.render import Lighting, Renderer
from scorehoi_node.core.synth.scene import NO_OBJECT, move_scene
from scorehoi_node.core.synth.camera import look_at
from scorehoi_node.core.types import CameraIntrinsics
from tests.core.synth.crowd_data import (CONFIG, SEED, body_and_context, crowd_stream,
                                         make_generator, mesh_distance, surface_grid,
                                         winding_numbers)
from tests.core.synth.test_frames import make_scene

#: the body mesh's points cover its surface within 2.8 cm (the generator proves its gap on them)
BODY_COVERAGE_M = 0.028


@pytest.fixture(scope="module")
def stream():
    return crowd_stream()


@pytest.fixture(scope="module")
def frames(stream):
    return stream[1]


@lru_cache(maxsize=16)
def _object_grid(template_id: str, spacing: float = 0.01) -> np.ndarray:
    _, context = body_and_context()
    tmpl = context.library.by_id(template_id)
    return surface_grid(tmpl.vertices.astype(np.float64), tmpl.faces, spacing)


def _surface(person, context):
    """(vertices, faces, dense surface points) of a person's body (its vertices cover it
    within 2.8 cm) and object (a 1 cm barycentric grid), world frame."""
    body = person.human_vertices.astype(np.float64)
    parts = [(body, context.faces, body)]
    if person.has_object:
        tmpl = context.library.by_id(person.object_id)
        R, t = person.object_rotmat.astype(np.float64), person.object_transl.astype(np.float64)
        parts.append((person.object_vertices.astype(np.float64), tmpl.faces,
                      _object_grid(person.object_id) @ R.T + t))
    return parts


def test_mesh_distance_helper_on_a_cube():
    """The independent exact distance and inside test: a unit cube (12 triangles, and 3072
    after subdivision, which takes the nearest-centroid path); points outside a face, an
    edge, a corner, and inside."""
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    pts = np.array([[0.8, 0.0, 0.0], [0.8, 0.8, 0.0], [0.8, 0.8, 0.8], [0.1, 0.2, 0.0]])
    want = [0.3, np.hypot(0.3, 0.3), np.sqrt(3) * 0.3, 0.3]
    for mesh in (cube, cube.subdivide().subdivide().subdivide().subdivide().subdivide()):
        v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
        assert np.allclose(mesh_distance(pts, v, f, cutoff=2.0, k=8), want, atol=1e-9)
        assert (winding_numbers(pts, v[f]) > 0.5).tolist() == [False, False, False, True]
    assert len(f) > 4000


def _apart(a, b, context, gap: float) -> None:
    """Every surface point of `a` at least `gap` from `b`'s surfaces, and (the surfaces
    being apart, each connected piece of `a` lies wholly inside or outside `b`) a spread
    subset of `a`'s points outside `b`'s meshes."""
    for (_, _, pts) in _surface(a, context):
        for (v, f, _) in _surface(b, context):
            assert mesh_distance(pts, v, f, cutoff=gap).min() >= gap - 1e-6
            spread = pts[::200]
            spread = spread[np.all((spread > v.min(0)) & (spread < v.max(0)), axis=1)]
            assert (winding_numbers(spread, v[f]) < 0.5).all()


def test_people_never_interpenetrate(frames):
    """Every pair of people (bodies and objects) stays at least the configured gap apart less
    the points' coverage of the surfaces; each person keeps the generator's own limits with
    their object (penetration <= 5 mm)."""
    _, context = body_and_context()
    gap = CONFIG.min_gap_m - BODY_COVERAGE_M
    assert gap > 0.015
    checked = 0
    for frame in frames:
        people = [p.scene for p in frame.people]
        for i, a in enumerate(people):
            for b in people[i + 1:]:
                _apart(a, b, context, gap)
                _apart(b, a, context, gap)
                checked += 1
            if a.has_object:
                tmpl = context.library.by_id(a.object_id)
                obj = a.object_vertices.astype(np.float64)
                body = a.human_vertices.astype(np.float64)
                box = body[np.all((body > obj.min(0)) & (body < obj.max(0)), axis=1)]
                inside = box[winding_numbers(box, obj[tmpl.faces]) > 0.5]
                assert (mesh_distance(inside, obj, tmpl.faces, cutoff=0.05) <= 0.0055).all()
    assert checked >= 2 * len(frames)


def test_people_are_in_view_at_the_configured_distances(frames):
    for frame in frames:
        assert CONFIG.min_people <= len(frame.people) <= CONFIG.max_people
        eye = frame.pose.position
        for p in frame.people:
            pelvis = p.scene.human_joints[0].astype(np.float64)
            # frame 0 is placed at the drawn distance; later frames move with the mocap
            dist = np.hypot(*(pelvis - eye)[[0, 2]])
            assert CONFIG.distance_m[0] - 0.3 <= dist <= CONFIG.distance_m[1] + 0.3
            pts = np.concatenate([p.frame.human_vertices, p.frame.object_vertices]).astype(float)
            box = person_box(pts, frame.camera)
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= 320 and box[3] <= 240
            assert p.height_px == pytest.approx(
                np.ptp(frame.camera.project(p.frame.human_vertices)[:, 1]))


def test_masks_agree_with_the_ground_truth_meshes(frames):
    """Cast a ray through every pixel into all GT meshes (camera frame): the first mesh hit is
    the instance in the mask; the amodal silhouettes contain the visible ones."""
    _, context = body_and_context()
    for frame in frames:
        scene = o3d.t.geometry.RaycastingScene()
        ids = []
        for p in frame.people:
            scene.add_triangles(o3d.core.Tensor(p.frame.human_vertices.astype(np.float32)),
                                o3d.core.Tensor(context.faces.astype(np.uint32)))
            ids.append(p.instance_id)
            if p.scene.has_object:
                faces = context.library.by_id(p.scene.object_id).faces
                scene.add_triangles(o3d.core.Tensor(p.frame.object_vertices.astype(np.float32)),
                                    o3d.core.Tensor(faces.astype(np.uint32)))
                ids.append(p.object_instance_id)
        cam = frame.camera
        v, u = np.mgrid[0:cam.height, 0:cam.width]
        dirs = np.stack([(u + 0.5 - cam.cx) / cam.fx, (v + 0.5 - cam.cy) / cam.fy,
                         np.ones_like(u, float)], -1).reshape(-1, 3)
        rays = np.concatenate([np.zeros_like(dirs), dirs], 1).astype(np.float32)
        geom = scene.cast_rays(o3d.core.Tensor(rays))["geometry_ids"].numpy()
        lut = np.r_[np.asarray(ids, np.uint8), 0]
        hit = np.where(geom == o3d.t.geometry.RaycastingScene.INVALID_ID, len(ids), geom)
        expected = lut[hit].reshape(cam.height, cam.width)
        labelled = (expected > 0) | (frame.mask > 0)
        assert np.mean(expected[labelled] == frame.mask[labelled]) > 0.97
        for p in frame.people:
            # the person's own single-person frame: same image, mask of this person only
            assert np.array_equal(p.frame.mask == PERSON_ID, frame.mask == p.instance_id)
            assert np.array_equal(p.frame.mask == OBJECT_ID, frame.mask == p.object_instance_id)
            assert p.frame.rgb is frame.rgb and p.scene.sequence == frame.sequence
            assert p.scene.frame_index == frame.frame_index
            assert p.visible_pixels == np.count_nonzero(frame.mask == p.instance_id)
            assert p.visible_pixels <= p.amodal_pixels
            assert p.amodal_pixels > 0


def _plain_view(people, camera, pose):
    """Grey people, darker objects, no floor or wall."""
    light = Lighting.sample(np.random.default_rng(0))
    return CrowdView(tuple(
        SynthView(camera=camera, pose=pose, lighting=light, background=(),
                  human_colors=np.full((len(p.human_vertices), 3), 150, np.uint8),
                  object_colors=np.full((len(p.object_vertices), 3), 90, np.uint8))
        for p in people))


def test_occlusion_is_the_share_hidden_by_others():
    """Two copies of one person, the second 1 m behind the first and shifted by 0.25 m: the
    front person is not occluded, the back one is, by the share the masks say."""
    body, context = body_and_context()
    front = make_scene(body, context.library, yaw=np.pi)  # faces -Z, towards the camera
    back = move_scene(front, 0.0, np.array([0.25, 0.0, 1.0]))
    camera = CameraIntrinsics.from_fov(320, 240, 70.0)
    pose = look_at(np.array([0.0, 1.0, -3.5]), np.array([0.0, 0.9, 0.0]))
    people = (front, back)
    renderer = Renderer(320, 240)
    try:
        frame = render_crowd_frame(CrowdScene(people, (1, 2)),
                                   _plain_view(people, camera, pose), renderer, context)
        alone = render_crowd_frame(CrowdScene((back,), (2,)), _plain_view((back,), camera, pose),
                                   renderer, context)
    finally:
        renderer.close()
    f, b = frame.people
    assert f.occlusion == 0.0 and f.visible_pixels == f.amodal_pixels - round(
        f.own_object_occlusion * f.amodal_pixels)
    # the back person alone: its silhouette is the amodal one of the crowd frame
    assert alone.people[0].amodal_pixels == b.amodal_pixels
    covered = np.count_nonzero((alone.mask == person_instance(0))
                               & np.isin(frame.mask, [person_instance(0), object_instance(0)]))
    assert b.occlusion == pytest.approx(covered / b.amodal_pixels)
    assert 0.2 < b.occlusion < 0.9


def test_same_seed_same_frames_other_seed_differs():
    config = dataclasses.replace(CONFIG, min_people=2, max_people=2, no_object_fraction=1.0)
    _, a = crowd_stream(3, 5, config)
    gen, b = crowd_stream.__wrapped__(3, 5, config)
    _, c = crowd_stream(3, 6, config)
    assert [f.sequence for f in a] == ["crowd-5-00000"] * 2 + ["crowd-5-00001"]
    for fa, fb in zip(a, b):
        assert np.count_nonzero((fa.rgb != fb.rgb).any(axis=2)) <= 3  # see synth/test_frames
        assert fa.depth.tobytes() == fb.depth.tobytes() and fa.mask.tobytes() == fb.mask.tobytes()
        for pa, pb in zip(fa.people, fb.people, strict=True):
            assert pa.track_id == pb.track_id and pa.occlusion == pb.occlusion
            assert np.array_equal(pa.box, pb.box)
            for name in ("human_vertices", "human_joints", "root_rotmat", "root_transl"):
                assert np.array_equal(getattr(pa.frame, name), getattr(pb.frame, name)), name
    assert all(not np.array_equal(fa.people[0].frame.human_vertices,
                                  fc.people[0].frame.human_vertices)
               for fa, fc in zip(a, c))
    # a sequence keeps its camera and people (track ids); they move; the next one differs
    assert np.array_equal(a[0].pose.R, a[1].pose.R) and np.array_equal(a[0].camera.K, a[1].camera.K)
    assert [p.track_id for p in a[0].people] == [p.track_id for p in a[1].people] == [1, 2]
    assert [p.track_id for p in a[2].people] == [3, 4]
    assert not np.array_equal(a[0].people[0].scene.human_vertices,
                              a[1].people[0].scene.human_vertices)
    assert not np.array_equal(a[1].pose.R, a[2].pose.R)
    assert gen.stats["people_2"] == 2


def test_people_without_objects_and_with(frames):
    kinds = [p.scene.interaction for f in frames for p in f.people]
    assert NO_OBJECT in kinds and any(k != NO_OBJECT for k in kinds)
    for f in frames:
        for p in f.people:
            if p.scene.interaction == NO_OBJECT:
                assert not p.scene.has_object and p.frame.contacts == ()
                assert len(p.frame.object_vertices) == 0 and p.frame.penetration_depth == 0.0
                assert np.isinf(p.scene.contact_distances).all()
                assert not np.any(f.mask == p.object_instance_id)
            else:
                assert p.scene.has_object and np.any(f.mask == p.object_instance_id)


def test_moved_scenes_keep_their_body_model_parameters(frames):
    """The moved root rotation and translation reproduce the moved mesh with the body model."""
    body, _ = body_and_context()
    sc = frames[0].people[-1].scene
    with torch.no_grad():
        out = body(torch.from_numpy(sc.body_pose_rotmat)[None], torch.from_numpy(sc.shape)[None],
                   torch.from_numpy(sc.root_rotmat)[None], torch.from_numpy(sc.root_transl)[None])
    assert np.abs(out.vertices[0].numpy() - sc.human_vertices).max() < 1e-4


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="min_people <= max_people"):
        CrowdConfig(min_people=3, max_people=2)
    with pytest.raises(ValueError, match="people_weights needs 4"):
        CrowdConfig(people_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="min_gap_m must be >="):
        CrowdConfig(min_gap_m=0.01)
    with pytest.raises(ValueError, match="interactions must be"):
        CrowdConfig(interactions=("dance",))
    assert np.allclose(CrowdConfig(min_people=2, max_people=3, people_weights=(1, 3))
                       .people_probabilities, [0.25, 0.75])


@pytest.mark.slow
def test_default_settings_cover_every_height_bin():
    """Placements of the default config (640x480, 1.5-6 m, 55-100 deg lenses): people of
    every height bin, none dominating. Scenes without objects keep the test quick (objects
    change a person's height in pixels only by sitting / bending)."""
    config = dataclasses.replace(CrowdConfig(), seq_len=1, no_object_fraction=1.0)
    generator = make_generator(config)
    heights = []
    for k in range(16):
        seq = generator.sample_sequence(np.random.default_rng([SEED, k]))
        for p in seq.frames[0].people:
            box = person_box(seq.pose.to_camera(p.human_vertices.astype(np.float64)), seq.camera)
            heights.append(box[3] - box[1])
    counts = {b: sum(height_bin(h) == b for h in heights) for b in height_bin_labels()}
    assert len(heights) >= 30
    assert all(c >= 0.05 * len(heights) for c in counts.values()), counts
    assert max(counts.values()) <= 0.6 * len(heights), counts


def test_tally_counts_people_heights_and_occlusion(frames):
    s = tally(frames)
    n = sum(len(f.people) for f in frames)
    assert s["frames"] == len(frames) and s["persons"] == n
    assert sum(s["height_px"].values()) == n and sum(s["occlusion_by_others"].values()) == n
    assert sum(int(k) * v for k, v in s["people_per_frame"].items()) == n
    occluded = sum(any(p.occlusion >= 0.1 for p in f.people) for f in frames)
    assert s["frames_with_an_occluded_person"] == occluded


def test_generator_draws_people_without_objects():
    """`NO_OBJECT` scenes: feet on the floor, no object, no contacts; consecutive frames move
    smoothly; the default draw stays among the object interactions."""
    generator = make_generator().generator
    seq = generator.sample_sequence(np.random.default_rng(3), 3, NO_OBJECT)
    feet = np.r_[generator._part_ids["left_foot"], generator._part_ids["right_foot"]]
    for sc in seq:
        assert sc.interaction == NO_OBJECT and not sc.has_object and not sc.in_contact
        assert sc.object_vertices.shape == (0, 3) and sc.object_id == ""
        assert abs(sc.human_vertices[feet, 1].min()) <= 0.0105
        assert sc.human_vertices[:, 1].min() >= -0.0055
    for a, b in zip(seq, seq[1:]):
        assert np.linalg.norm(b.human_joints - a.human_joints, axis=1).max() < 0.10
    with pytest.raises(ValueError, match="is not one of .*nearby, none"):
        generator.sample(np.random.default_rng(0), "dance")
