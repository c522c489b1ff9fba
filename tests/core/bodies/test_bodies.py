"""Body-model layer: shared contract for every backend, plus anny- and SMPL-specific checks.

anny is built once per module (its cache must already exist under ANNY_CACHE_DIR). The SMPL-H /
SMPL-X paths are exercised on small synthetic model files of the real structure written here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from scorehoi_node.core.bodies import (
    BODY_MODEL_NAMES,
    BodyModel,
    HOIStateParts,
    StateLayout,
    make_body_model,
    rot6d_to_rotmat,
    rotmat_to_rot6d,
)
from scorehoi_node.core.bodies.functional import farthest_point_sampling

BATCH = 2


def _hand_parents(wrist: int, start: int) -> list[int]:
    """Parents of 15 hand joints (5 fingers x 3, smplx order) starting at index `start`."""
    parents = []
    for finger in range(5):
        base = start + 3 * finger
        parents += [wrist, base, base + 1]
    return parents


SMPL_BODY_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
SMPLH_PARENTS = SMPL_BODY_PARENTS + _hand_parents(20, 22) + _hand_parents(21, 37)
SMPLX_PARENTS = SMPL_BODY_PARENTS + [15, 15, 15] + _hand_parents(20, 25) + _hand_parents(21, 40)


def write_synthetic_smpl_family(path: Path, model_type: str, seed: int, num_vertices: int = 600) -> Path:
    """Write a tiny random SMPL-H / SMPL-X .npz with the keys and shapes smplx reads.

    Valid but meaningless: vertices in a 1.7 m box, each joint regressed from 5 vertices,
    skinning weights normalised per vertex, 16 shape (+10 expression for SMPL-X) directions.
    """
    rng = np.random.default_rng(seed)
    parents = SMPLH_PARENTS if model_type == "smplh" else SMPLX_PARENTS
    num_joints = len(parents)
    v_template = rng.uniform([-0.3, -0.9, -0.15], [0.3, 0.8, 0.15], size=(num_vertices, 3))
    j_regressor = np.zeros((num_joints, num_vertices))
    for j in range(num_joints):
        j_regressor[j, rng.choice(num_vertices, 5, replace=False)] = 0.2
    weights = rng.random((num_vertices, num_joints)) ** 8
    weights /= weights.sum(1, keepdims=True)
    num_dirs = 16 if model_type == "smplh" else 20  # SMPL-X: 10 betas + 10 expressions
    faces = np.stack([rng.choice(num_vertices, 3, replace=False) for _ in range(2 * num_vertices)])
    kintree = np.stack([np.array(parents, dtype=np.int64) % 2**32, np.arange(num_joints)])
    data = dict(
        v_template=v_template,
        shapedirs=rng.normal(0, 0.01, (num_vertices, 3, num_dirs)),
        posedirs=rng.normal(0, 0.001, (num_vertices, 3, 9 * (num_joints - 1))),
        J_regressor=j_regressor,
        weights=weights,
        kintree_table=kintree,
        f=faces.astype(np.uint32),
        hands_componentsl=np.eye(45), hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45), hands_meanr=np.zeros(45),
    )
    if model_type == "smplx":
        data.update(lmk_faces_idx=np.arange(51) % len(faces), lmk_bary_coords=np.full((51, 3), 1 / 3))
    np.savez(path, **data)
    return path


@pytest.fixture(scope="module")
def anny_body() -> BodyModel:
    return make_body_model("anny")


@pytest.fixture(scope="module")
def smpl_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("smpl_models")
    return {name: write_synthetic_smpl_family(folder / f"{name.upper()}_NEUTRAL.npz", name, seed=i)
            for i, name in enumerate(("smplh", "smplx"))}


@pytest.fixture(params=BODY_MODEL_NAMES)
def body(request, smpl_files) -> BodyModel:
    if request.param == "anny":
        return request.getfixturevalue("anny_body")
    return make_body_model(request.param, model_path=smpl_files[request.param])


def _random_inputs(body: BodyModel, seed: int, scale: float = 0.4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    rotvec = scale * torch.randn(BATCH, body.num_pose_joints + 1, 3, generator=generator)
    rotmat = roma.rotvec_to_rotmat(rotvec).to(body.dtype)
    shape = body.default_shape + 0.1 * torch.randn(BATCH, body.num_shape, generator=generator).to(body.dtype)
    return dict(body_pose_rotmat=rotmat[:, 1:], shape=shape, root_rotmat=rotmat[:, 0],
                root_transl=torch.randn(BATCH, 3, generator=generator).to(body.dtype))


# ---- contract shared by every backend ----

def test_shapes_and_topology(body):
    out = body(**_random_inputs(body, seed=0))
    assert out.vertices.shape == (BATCH, body.num_vertices, 3)
    assert out.joints.shape == (BATCH, body.num_joints, 3)
    assert out.vertices.dtype == body.dtype and torch.isfinite(out.vertices).all()
    assert body.faces.dtype == torch.int64 and body.faces.ndim == 2 and body.faces.shape[1] == 3
    assert 0 <= int(body.faces.min()) and int(body.faces.max()) < body.num_vertices
    assert len(body.parents) == body.num_joints and body.parents[0] == -1
    assert all(0 <= p < j for j, p in enumerate(body.parents) if j > 0)
    assert body.default_shape.shape == (body.num_shape,)


def test_rejects_wrong_input_shapes(body):
    inputs = body.rest_inputs(BATCH)
    inputs["body_pose_rotmat"] = inputs["body_pose_rotmat"][:, 1:]
    with pytest.raises(ValueError, match="body_pose_rotmat"):
        body(**inputs)


def test_gradients_reach_every_input(body):
    inputs = {k: v.clone().requires_grad_(True) for k, v in _random_inputs(body, seed=1).items()}
    out = body(**inputs)
    (out.vertices.square().sum() + out.joints.square().sum()).backward()
    for name, value in inputs.items():
        assert torch.isfinite(value.grad).all(), name
        assert value.grad.abs().sum() > 0, name


def test_root_rotation_rotates_body_about_root_joint(body):
    inputs = _random_inputs(body, seed=2)
    inputs["root_transl"] = torch.zeros_like(inputs["root_transl"])
    rot = roma.rotvec_to_rotmat(torch.tensor([[0.3, -1.1, 0.5], [2.0, 0.1, -0.4]])).to(body.dtype)
    base = body(**{**inputs, "root_rotmat": torch.eye(3, dtype=body.dtype).expand(BATCH, 3, 3)})
    turned = body(**{**inputs, "root_rotmat": rot})
    j0 = base.joints[:, :1]
    expected = (base.vertices - j0) @ rot.transpose(-1, -2) + j0
    tol = 1e-4 if body.dtype == torch.float32 else 1e-9
    assert torch.allclose(turned.vertices, expected, atol=tol)
    assert torch.allclose(turned.joints[:, 0], base.joints[:, 0], atol=tol)


def test_translation_moves_root_joint(body):
    inputs = body.rest_inputs(BATCH)
    rest = body(**inputs)
    transl = torch.tensor([[0.5, -0.2, 2.0], [0.0, 1.0, 0.0]], dtype=body.dtype)
    moved = body(**{**inputs, "root_transl": transl})
    assert torch.allclose(moved.joints[:, 0], rest.joints[:, 0] + transl, atol=1e-5)


def test_local_rotation_is_about_the_joint_in_body_axes(body):
    """Rotating joint p alone by R (rest pose elsewhere) rotates its child's offset by R."""
    child = body.num_joints - 1
    parent = body.parents[child]
    rot = roma.rotvec_to_rotmat(torch.tensor([0.4, 0.9, -0.3])).to(body.dtype)
    inputs = body.rest_inputs(1)
    rest = body(**inputs)
    pose = inputs["body_pose_rotmat"].clone()
    pose[0, parent - 1] = rot
    posed = body(**{**inputs, "body_pose_rotmat": pose})
    offset = rest.joints[0, child] - rest.joints[0, parent]
    assert torch.allclose(posed.joints[0, parent], rest.joints[0, parent], atol=1e-5)
    assert torch.allclose(posed.joints[0, child] - posed.joints[0, parent], rot @ offset, atol=1e-5)


def test_contact_subset_is_unique_and_labelled(body):
    ids, parts = body.contact_vertex_ids, body.contact_part_ids
    assert ids.dtype == torch.int64 and ids.shape == parts.shape
    assert len(set(ids.tolist())) == ids.numel() > 0
    assert 0 <= int(ids.min()) and int(ids.max()) < body.num_vertices
    assert 0 <= int(parts.min()) and int(parts.max()) < len(body.contact_part_names)
    assert sum(v.numel() for v in body.contact_parts().values()) == ids.numel()


def test_state_layout_matches_model(body):
    layout = body.state_layout
    assert layout.num_pose_joints == body.num_joints - 1
    assert layout.size == 6 * body.num_joints + 6 + 3 + body.num_shape


# ---- anny ----

def test_anny_rest_pose_is_an_adult_in_the_body_frame(anny_body):
    out = anny_body(**anny_body.rest_inputs(1))
    vertices, joints = out.vertices[0], out.joints[0]
    names = anny_body.joint_names
    height = float(vertices[:, 1].max() - vertices[:, 1].min())
    assert 1.4 < height < 2.0
    assert anny_body.num_vertices == 13718 and anny_body.num_joints == 20
    assert torch.allclose(joints[0], torch.zeros(3), atol=1e-6)  # pelvis at the origin
    assert joints[names.index("wrist.L"), 0] > 0.3 > -0.3 > joints[names.index("wrist.R"), 0]  # +X left
    assert joints[names.index("head"), 1] > 0.4 and joints[names.index("foot.L"), 1] < -0.6  # +Y up
    toes = vertices[anny_body.contact_parts()["left_foot"]]
    assert toes[:, 2].max() > joints[names.index("foot.L"), 2] + 0.1  # feet point to +Z


def test_anny_contact_subset_covers_the_main_parts(anny_body):
    parts = anny_body.contact_parts()
    assert 300 <= anny_body.contact_vertex_ids.numel() <= 500
    for name in ("left_hand", "right_hand", "left_foot", "right_foot", "hips", "back"):
        assert parts[name].numel() >= 10, name
    rest = anny_body(**anny_body.rest_inputs(1)).vertices[0]
    back, front = rest[parts["back"]], rest[parts["front"]]
    assert back[:, 2].mean() < front[:, 2].mean()
    assert rest[parts["left_hand"], 0].min() > 0.3 and rest[parts["right_hand"], 0].max() < -0.3


def test_anny_shape_changes_height(anny_body):
    inputs = anny_body.rest_inputs(2)
    inputs["shape"][1, anny_body.shape_names.index("height")] = 1.0
    vertices = anny_body(**inputs).vertices
    heights = vertices[..., 1].amax(1) - vertices[..., 1].amin(1)
    assert heights[1] > heights[0] + 0.05


# ---- SMPL family ----

def test_smplh_state_layout_is_the_official_331():
    layout = StateLayout(num_pose_joints=51, num_shape=10)
    assert layout.size == 331 and layout.pose_6d == slice(0, 312)
    blocks = list(layout.named_slices().values())
    assert blocks[0].start == 0 and blocks[-1].stop == layout.size
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))


def test_smplh_synthetic_file_loads_with_smplh_skeleton(smpl_files):
    body = make_body_model("smplh", model_path=smpl_files["smplh"].parent)  # folder lookup
    assert body.num_joints == 52 and body.joint_names[20] == "left_wrist"
    assert body.num_shape == 10 and body.state_layout.size == 331
    assert body.parents == tuple(SMPLH_PARENTS)


def test_state_pack_unpack_round_trip():
    layout = StateLayout(num_pose_joints=3, num_shape=4)
    generator = torch.Generator().manual_seed(3)
    rot = roma.rotvec_to_rotmat(torch.randn(2, 5, 3, generator=generator))
    parts = HOIStateParts(root_rotmat=rot[:, 0], body_pose_rotmat=rot[:, 1:4], object_rotmat=rot[:, 4],
                          object_transl=torch.randn(2, 3, generator=generator),
                          shape=torch.randn(2, 4, generator=generator))
    state = layout.pack(parts)
    assert state.shape == (2, layout.size)
    back = layout.unpack(state)
    for name in ("root_rotmat", "body_pose_rotmat", "object_rotmat", "object_transl", "shape"):
        assert torch.allclose(getattr(back, name), getattr(parts, name), atol=1e-5), name
    assert torch.allclose(rot6d_to_rotmat(rotmat_to_rot6d(rot)), rot, atol=1e-5)


# ---- factory and helpers ----

def test_factory_rejects_unknown_names_and_keywords(smpl_files):
    with pytest.raises(ValueError, match="anny, smplh, smplx"):
        make_body_model("smpl-xyz")
    with pytest.raises(TypeError):
        make_body_model("smplh", model_path=smpl_files["smplh"], num_betas=10)


@pytest.mark.parametrize("name, url", [("smplh", "mano.is.tue.mpg.de"), ("smplx", "smpl-x.is.tue.mpg.de")])
def test_missing_smpl_file_gives_one_actionable_line(tmp_path, name, url):
    with pytest.raises(FileNotFoundError) as err:
        make_body_model(name, model_path=tmp_path, gender="male")
    message = str(err.value)
    assert "\n" not in message and url in message
    assert str(tmp_path / name / f"{name.upper()}_MALE.npz") in message
    with pytest.raises(FileNotFoundError, match=url):
        make_body_model(name)


def test_farthest_point_sampling_is_deterministic_and_spread():
    points = torch.rand(500, 3, generator=torch.Generator().manual_seed(4))
    first = farthest_point_sampling(points, 20)
    assert torch.equal(first, farthest_point_sampling(points, 20))
    assert len(set(first.tolist())) == 20
    assert farthest_point_sampling(points[:5], 20).numel() == 5
