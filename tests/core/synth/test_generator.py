"""Scene generator: every interaction type yields physically plausible ground truth, checked
with exact mesh distances (independent of the SDF grids the generator uses)."""

import numpy as np
import pytest
import torch

from scorehoi_node.core import metrics
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects.library import load_library
from scorehoi_node.core.synth.generator import (_AIM_FROM_MOCAP, _CHILD, SceneGenerator)
from scorehoi_node.core.bodies.kinematics import Skeleton
from scorehoi_node.core.synth.mocap import LIBRARY_JOINTS, load_library as load_mocap
from scorehoi_node.core.synth.scene import INTERACTIONS

REQUIRED = {"hold_two_hands": ("left_hand", "right_hand"), "carry_box": ("left_hand", "right_hand"),
            "lift_box": ("left_hand", "right_hand"), "sit": ("hips",),
            "push_table": ("left_hand", "right_hand")}


@pytest.fixture(scope="module")
def gen():
    return SceneGenerator(make_body_model("anny"), load_library())


@pytest.fixture(scope="module")
def scenes(gen):
    rng = np.random.default_rng(123)
    return {kind: [gen.sample(rng, kind)] for kind in INTERACTIONS}


def _exact_signed(scene, lib, points):
    tmpl = lib.by_id(scene.object_id)
    import open3d as o3d

    mesh = o3d.t.geometry.TriangleMesh()
    mesh.vertex.positions = o3d.core.Tensor(scene.object_vertices.astype(np.float32))
    mesh.triangle.indices = o3d.core.Tensor(tmpl.faces.astype(np.int32))
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(mesh)
    return rc.compute_signed_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


@pytest.mark.parametrize("kind", INTERACTIONS)
def test_ground_truth_is_physically_plausible(scenes, gen, kind):
    lib = gen.library
    faces = gen.body.faces.numpy()
    parts = gen.body.contact_parts()
    for sc in scenes[kind]:
        assert sc.interaction == kind and sc.body_model == "anny"
        v = sc.human_vertices.astype(np.float64)
        d = _exact_signed(sc, lib, v)
        # penetration <= 5 mm (exact signed distance to the object mesh)
        assert -d.min() <= 0.0055, (kind, d.min())
        tmpl = lib.by_id(sc.object_id)
        pen_cm = metrics.penetration_depth_cm(v, sc.object_vertices.astype(np.float64), tmpl.faces)
        assert pen_cm <= 0.55
        # required contacts closed: gap <= 1 cm
        for part in REQUIRED.get(kind, ()):
            assert d[parts[part].numpy()].min() <= 0.0105, (kind, part)
        if kind == "hold_one_hand":
            assert min(d[parts["left_hand"].numpy()].min(), d[parts["right_hand"].numpy()].min()) <= 0.0105
        if kind == "kick_ball":
            assert min(d[parts["left_foot"].numpy()].min(), d[parts["right_foot"].numpy()].min()) <= 0.0105
        if kind == "nearby":
            assert d.min() >= 0.10 and not sc.in_contact
        else:
            assert sc.in_contact
        # feet on the floor (sitting: feet too), nothing below it
        feet = np.r_[parts["left_foot"].numpy(), parts["right_foot"].numpy()]
        assert abs(v[feet, 1].min()) <= 0.0105 and v[:, 1].min() >= -0.0055
        # object supported: on the floor, or held (contact checked above)
        if kind in ("sit", "kick_ball", "push_table", "nearby"):
            assert abs(sc.object_vertices[:, 1].min()) <= 0.0025
        else:
            assert sc.object_vertices[:, 1].min() > 0.2  # held above the floor
        assert np.isfinite(v).all() and faces.max() < len(v)
        R = sc.object_rotmat
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-5)


def test_same_seed_same_scene_other_seed_other_scene(gen):
    a = gen.sample(np.random.default_rng(5), "carry_box")
    b = gen.sample(np.random.default_rng(5), "carry_box")
    c = gen.sample(np.random.default_rng(6), "carry_box")
    assert np.array_equal(a.human_vertices, b.human_vertices)
    assert np.array_equal(a.object_transl, b.object_transl) and a.sequence == b.sequence
    assert not np.allclose(a.human_vertices, c.human_vertices)


def test_scene_parameters_reproduce_its_mesh(gen, scenes):
    """The stored pose/shape/root are the GT parameters: the body model reproduces the mesh."""
    sc = scenes["sit"][0]
    with torch.no_grad():
        out = gen.body(torch.from_numpy(sc.body_pose_rotmat)[None], torch.from_numpy(sc.shape)[None],
                       torch.from_numpy(sc.root_rotmat)[None], torch.from_numpy(sc.root_transl)[None])
    assert np.abs(out.vertices[0].numpy() - sc.human_vertices).max() < 1e-4
    assert np.abs(out.joints[0].numpy() - sc.human_joints).max() < 1e-4


def test_sequences_move_smoothly(gen):
    seq = gen.sample_sequence(np.random.default_rng(9), 5, "carry_box")
    assert len(seq) == 5 and len({s.sequence for s in seq}) == 1
    assert [s.frame_index for s in seq] == list(range(5))
    assert len({s.shape.tobytes() for s in seq}) == 1 and len({s.object_id for s in seq}) == 1
    for a, b in zip(seq, seq[1:]):
        step = np.linalg.norm(b.human_joints - a.human_joints, axis=1).max()
        assert step < 0.10, step  # < 3 m/s at 30 Hz
        assert np.linalg.norm(b.object_transl - a.object_transl) < 0.10


def test_retargeting_aims_bones_along_the_mocap_directions(gen):
    lib = load_mocap()
    frame = lib.joints[400]
    shape = torch.from_numpy(gen.body.default_shape.numpy())[None]
    rest = gen._rest_joints(shape)
    sk = Skeleton(rest, gen.body.parents, gen.body.joint_names)
    pose = gen._retarget(sk, frame)
    _, P = sk.fk(pose)
    for joint, (a, b) in _AIM_FROM_MOCAP.items():
        want = frame[LIBRARY_JOINTS.index(b)] - frame[LIBRARY_JOINTS.index(a)]
        got = P[sk.index[_CHILD[joint]]] - P[sk.index[joint]]
        cos = want @ got / np.linalg.norm(want) / np.linalg.norm(got)
        assert cos > 0.999, (joint, cos)


def test_unknown_interaction_is_rejected(gen):
    with pytest.raises(ValueError, match="interaction='dance' is not one of"):
        gen.sample(np.random.default_rng(0), "dance")
