"""HOIShard format + BEHAVE / InterCap loaders on small files of the assumed release layouts."""

from __future__ import annotations

import json
import math
import os
import pickle

import numpy as np
import pytest

from scorehoi_node.core.data import behave, intercap
from scorehoi_node.core.safe_pickle import load_numpy_pickle
from scorehoi_node.core.data.shards import (
    HOIShard,
    RestRootJoint,
    concat_shards,
    iter_shards,
    read_shard,
    rotvec_to_rotmat,
    smpl_root_to_frame,
    write_shard,
)

J0 = np.array([0.0, -0.2, 0.03])  # rest pelvis of the fake body model (mean shape), metres
RX90 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
RY90 = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])


def _rest_root() -> RestRootJoint:
    rng = np.random.default_rng(0)
    return RestRootJoint(template=J0, shapedirs=0.01 * rng.standard_normal((3, 10)))


def _shard(n: int = 2, **overrides) -> HOIShard:
    rng = np.random.default_rng(1)
    eye = np.broadcast_to(np.eye(3), (n, 3, 3))
    values = dict(
        body_model="smplh",
        body_pose_rotmat=rotvec_to_rotmat(0.3 * rng.standard_normal((n, 51, 3))),
        shape=rng.standard_normal((n, 10)),
        root_rotmat=rotvec_to_rotmat(rng.standard_normal((n, 3))),
        root_transl=rng.standard_normal((n, 3)),
        object_id=("chair",) * n,
        object_rotmat=eye,
        object_transl=np.tile([0.0, 0.0, 2.0], (n, 1)),
        camera_K=np.broadcast_to([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]], (n, 3, 3)),
        image_size=np.tile(np.array([640, 480], np.int32), (n, 1)),
        sequence=("seq",) * n,
        frame_index=np.arange(n),
        contact_labels=rng.random((n, 400)) > 0.5,
        keypoints_2d=rng.random((n, 17, 2)) * 400,
        keypoint_scores=rng.random((n, 17)),
        floor_plane=np.tile([0.0, -1.0, 0.0, 1.5], (n, 1)),
    )
    values.update(overrides)
    return HOIShard(**values)


# ----------------------------------------------------------------------------- shard format


def test_shard_roundtrip_is_bitwise(tmp_path):
    shard = _shard()
    back = read_shard(write_shard(tmp_path / "shard-000.safetensors", shard))
    for name in ("body_pose_rotmat", "shape", "root_rotmat", "root_transl", "object_rotmat",
                 "object_transl", "camera_K", "image_size", "frame_index", "contact_labels",
                 "keypoints_2d", "keypoint_scores", "floor_plane"):
        a, b = getattr(shard, name), getattr(back, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    assert back.object_id == shard.object_id and back.sequence == shard.sequence
    assert back.body_model == "smplh" and len(back) == 2 and back.num_pose_joints == 51
    assert back.root_rotmat.dtype == np.float32 and back.image_size.dtype == np.int32
    assert back.frame_index.dtype == np.int64 and back.contact_labels.dtype == np.bool_


def test_shard_without_optional_fields_roundtrips(tmp_path):
    shard = _shard(contact_labels=None, keypoints_2d=None, keypoint_scores=None, floor_plane=None)
    back = read_shard(write_shard(tmp_path / "s.safetensors", shard))
    assert back.contact_labels is None and back.keypoints_2d is None and back.floor_plane is None


def test_shard_arrays_are_read_only_copies():
    pose = rotvec_to_rotmat(np.zeros((2, 51, 3)))
    shard = _shard(body_pose_rotmat=pose)
    pose[0, 0] = 0.0
    assert shard.body_pose_rotmat[0, 0, 0, 0] == 1.0
    with pytest.raises(ValueError):
        shard.root_transl[0, 0] = 1.0


@pytest.mark.parametrize("override, message", [
    (dict(root_transl=np.zeros((2, 2))), r"root_transl must have shape \(2, 3\)"),
    (dict(shape=np.zeros((3, 10))), r"shape must have shape \(2, \*\)"),
    (dict(object_transl=np.array([[0, 0, np.nan], [0, 0, 1.0]])), "object_transl contains NaN"),
    (dict(root_rotmat=1.01 * np.broadcast_to(np.eye(3), (2, 3, 3))), "root_rotmat is not orthonormal"),
    (dict(object_rotmat=np.broadcast_to(np.diag([1.0, 1, -1]), (2, 3, 3))), "reflections"),
    (dict(object_id=("chair",)), "object_id must hold N=2 strings"),
    (dict(body_model="smpl"), "body_model must be one of"),
    (dict(image_size=np.array([[640, 0], [640, 480]])), "image_size: width and height"),
    (dict(keypoints_2d=None), "keypoint_scores given without keypoints_2d"),
    (dict(floor_plane=np.tile([0.0, -2.0, 0.0, 1.5], (2, 1))), "unit length"),
    (dict(contact_labels=np.full((2, 4), 0.5)), "contact_labels must be bool"),
])
def test_shard_validation_messages(override, message):
    with pytest.raises(ValueError, match=message):
        _shard(**override)


def test_corrupt_and_missing_shard_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="HOI shard not found"):
        read_shard(tmp_path / "nope.safetensors")
    garbage = tmp_path / "shard-000.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file at all")
    with pytest.raises(ValueError, match="not a readable safetensors HOI shard") as info:
        read_shard(garbage)
    assert "\n" not in str(info.value)
    good = write_shard(tmp_path / "shard-001.safetensors", _shard())
    truncated = tmp_path / "shard-002.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a readable safetensors HOI shard"):
        read_shard(truncated)
    from safetensors.numpy import save_file

    other = tmp_path / "other.safetensors"
    save_file({"x": np.zeros(3, np.float32)}, str(other))
    with pytest.raises(ValueError, match="not an HOI shard"):
        read_shard(other)


def test_iter_and_concat_shards(tmp_path):
    with pytest.raises(FileNotFoundError, match="no shard-"):
        list(iter_shards(tmp_path))
    write_shard(tmp_path / "shard-001.safetensors", _shard(3, sequence=("b",) * 3))
    write_shard(tmp_path / "shard-000.safetensors", _shard(2, sequence=("a",) * 2))
    (tmp_path / "notes.txt").write_text("ignored")
    shards = list(iter_shards(tmp_path))
    assert [s.sequence[0] for s in shards] == ["a", "b"]
    merged = concat_shards(shards)
    assert len(merged) == 5 and merged.sequence == ("a",) * 2 + ("b",) * 3
    np.testing.assert_array_equal(merged.root_transl[2:], shards[1].root_transl)
    with pytest.raises(ValueError, match="floor_plane is present in only some shards"):
        concat_shards([shards[0], _shard(floor_plane=None)])
    with pytest.raises(ValueError, match="body_pose_rotmat of shard 1 has per-sample shape"):
        concat_shards([shards[0], _shard(body_pose_rotmat=np.broadcast_to(np.eye(3), (2, 21, 3, 3)))])


def test_smpl_root_to_frame_moves_the_whole_body_rigidly():
    """Vertices of SMPL's root transform, v = R (x - J0) + J0 + transl, move as x_new = A x + b."""
    rng = np.random.default_rng(2)
    rest = _rest_root()
    betas = rng.standard_normal((4, 10))
    j0 = rest(betas)
    R, transl = rotvec_to_rotmat(rng.standard_normal((4, 3))), rng.standard_normal((4, 3))
    A, b = rotvec_to_rotmat(rng.standard_normal(3)), rng.standard_normal(3)
    R2, transl2 = smpl_root_to_frame(R, transl, j0, A, b)
    x = rng.standard_normal((4, 5, 3))  # points of the unposed body

    def place(rot, tr):
        return np.einsum("nij,nkj->nki", rot, x - j0[:, None]) + (j0 + tr)[:, None]

    np.testing.assert_allclose(place(R2, transl2), place(R, transl) @ A.T + b, atol=1e-12)


def test_rotvec_to_rotmat_matches_scipy():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    rotvec = np.concatenate([rng.standard_normal((50, 3)) * 2.0, 1e-6 * rng.standard_normal((5, 3)),
                             np.zeros((1, 3))])
    np.testing.assert_allclose(rotvec_to_rotmat(rotvec), Rotation.from_rotvec(rotvec).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rotvec_to_rotmat(np.array([math.pi / 2, 0, 0])), RX90, atol=1e-12)


# ----------------------------------------------------------------------------- pickles


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "person_fit.pkl"
    path.write_bytes(pickle.dumps({"pose": _Evil(marker)}))
    with pytest.raises(ValueError, match=r"refusing global (posix|nt|os)\.system"):
        load_numpy_pickle(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(eval))
    with pytest.raises(ValueError, match="refusing global builtins.eval"):
        load_numpy_pickle(path)
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="pickle"):
        load_numpy_pickle(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_loads_numpy(tmp_path, protocol):
    data = {"pose": np.arange(156.0), "betas": np.ones(10, np.float32), "s": np.float64(2.5), "n": [1, "a"]}
    raw = pickle.dumps(data, protocol=protocol)
    if protocol == 2:  # pickles written by numpy 1.x name numpy.core
        raw = raw.replace(b"numpy._core", b"numpy.core")
    path = tmp_path / "fit.pkl"
    path.write_bytes(raw)
    back = load_numpy_pickle(path)
    np.testing.assert_array_equal(back["pose"], data["pose"])
    assert back["betas"].dtype == np.float32 and back["s"] == 2.5 and back["n"] == [1, "a"]


# ----------------------------------------------------------------------------- BEHAVE

BEHAVE_EXT_R = RY90                       # kinect 2 local -> world rotation
BEHAVE_EXT_T = np.array([-2.0, 0.0, 0.0])  # kinect 2 local -> world translation


def _dump(path, obj, protocol=4):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _make_behave(root):
    for k in range(4):
        R = BEHAVE_EXT_R if k == 2 else np.eye(3)
        t = BEHAVE_EXT_T if k == 2 else np.zeros(3)
        _write_json(root / f"calibs/Date03/config/{k}/config.json",
                    {"rotation": R.reshape(-1).tolist(), "translation": t.tolist()})
        _write_json(root / f"calibs/intrinsics/{k}/calibration.json",
                    {"color": {"fx": 976.0, "fy": 975.0, "cx": 1020.0, "cy": 780.0, "k1": 0.1}})
    sequences = {"Date03_Sub03_chairwood_hand": ("chairwood", "female"),
                 "Date03_Sub05_keyboard_move": ("keyboard", "male")}
    for seq, (obj, gender) in sequences.items():
        info = {"gender": gender, "kinects": [0, 1, 2, 3], "config": "/BS/calibs/Date03/config"}
        if obj == "chairwood":
            info["cat"] = obj  # the keyboard sequence exercises the name-token fallback
        _write_json(root / "sequences" / seq / "info.json", info)
        for i, frame in enumerate(["t0001.000", "t0002.000", "t0010.000"]):
            pose = np.zeros(156)
            pose[:3] = [0.0, 0.0, math.pi / 2]       # root: Rz(90)
            pose[3:6] = [math.pi / 2, 0.0, 0.0]      # joint 1 (left hip): Rx(90)
            pose[-3:] = [0.0, 0.1 * i, 0.0]          # last right-hand joint
            fdir = root / "sequences" / seq / frame
            _dump(fdir / "person/fit02/person_fit.pkl",
                  {"pose": pose, "betas": np.zeros(10), "trans": np.array([0.5, 0.1, 3.0])},
                  protocol=2 if i == 0 else 4)
            _dump(fdir / f"{obj}/fit01/{obj}_fit.pkl",
                  {"angle": np.array([0.0, math.pi / 2 * i, 0.0]), "trans": np.array([0.0, 0.0, 1.0])})
    return list(sequences)


def test_behave_loader_camera_frame(tmp_path):
    names = _make_behave(tmp_path)
    assert behave.behave_sequences(tmp_path) == sorted(names)
    rest = {"male": _rest_root(), "female": _rest_root()}
    shard = behave.load_behave(tmp_path, rest_root=rest, kinect=2)
    assert len(shard) == 6 and shard.body_model == "smplh"
    assert shard.body_pose_rotmat.shape == (6, 51, 3, 3) and shard.shape.shape == (6, 10)
    assert shard.sequence == ("Date03_Sub03_chairwood_hand",) * 3 + ("Date03_Sub05_keyboard_move",) * 3
    assert shard.object_id == ("chair",) * 3 + ("behave:keyboard",) * 3
    np.testing.assert_array_equal(shard.frame_index, [0, 1, 2, 0, 1, 2])
    # Local joint rotations do not depend on the camera.
    np.testing.assert_allclose(shard.body_pose_rotmat[:, 0], np.broadcast_to(RX90, (6, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(shard.body_pose_rotmat[2, 50], rotvec_to_rotmat(np.array([0, 0.2, 0])), atol=1e-6)
    # world -> kinect 2: x_cam = Ry(90)^T (x_world - t). Root: Ry(90)^T Rz(90), worked by hand.
    expected_root = np.array([[0.0, 0, -1], [1, 0, 0], [0, -1, 0]])
    np.testing.assert_allclose(shard.root_rotmat, np.broadcast_to(expected_root, (6, 3, 3)), atol=1e-6)
    # Pelvis world = J0 + trans = (0.5, -0.1, 3.03); minus t = (2.5, -0.1, 3.03);
    # rotated -> (-3.03, -0.1, 2.5); transl = pelvis_cam - J0 = (-3.03, 0.1, 2.47).
    np.testing.assert_allclose(shard.root_transl, np.tile([-3.03, 0.1, 2.47], (6, 1)), atol=1e-6)
    # Object: trans (0, 0, 1) -> (2, 0, 1) -> (-1, 0, 2); rotation Ry(90)^T Ry(90 i).
    np.testing.assert_allclose(shard.object_transl, np.tile([-1.0, 0, 2], (6, 1)), atol=1e-6)
    np.testing.assert_allclose(shard.object_rotmat[0], RY90.T, atol=1e-6)
    np.testing.assert_allclose(shard.object_rotmat[1], np.eye(3), atol=1e-6)
    K = np.array([[976.0, 0, 1020], [0, 975, 780], [0, 0, 1]])
    np.testing.assert_allclose(shard.camera_K, np.broadcast_to(K, (6, 3, 3)))
    np.testing.assert_array_equal(shard.image_size, np.tile([2048, 1536], (6, 1)))
    assert shard.contact_labels is None and shard.keypoints_2d is None


def test_behave_kinect1_is_world_and_offsets_apply(tmp_path):
    _make_behave(tmp_path)
    rest = {"male": _rest_root(), "female": _rest_root()}
    offset = np.eye(4)
    offset[:3, 3] = [0.1, -0.4, 0.0]  # our template origin in the BEHAVE mesh frame
    shard = behave.load_behave_sequence(tmp_path, "Date03_Sub03_chairwood_hand", rest_root=rest,
                                        kinect=1, object_frame_offsets={"chairwood": offset})
    np.testing.assert_allclose(shard.root_transl, np.tile([0.5, 0.1, 3.0], (3, 1)), atol=1e-6)
    # frame 0: identity object rotation; frame 1: Ry(90) (0.1, -0.4, 0) = (0, -0.4, -0.1).
    np.testing.assert_allclose(shard.object_transl[0], [0.1, -0.4, 1.0], atol=1e-6)
    np.testing.assert_allclose(shard.object_transl[1], [0.0, -0.4, 0.9], atol=1e-6)
    np.testing.assert_allclose(shard.object_rotmat[1], RY90, atol=1e-6)


def test_behave_errors_are_actionable(tmp_path):
    _make_behave(tmp_path)
    with pytest.raises(ValueError, match="no rest_root for gender 'female'"):
        behave.load_behave_sequence(tmp_path, "Date03_Sub03_chairwood_hand", rest_root={"male": _rest_root()})
    fit = tmp_path / "sequences/Date03_Sub05_keyboard_move/t0002.000/person/fit02/person_fit.pkl"
    _dump(fit, {"pose": np.zeros(72), "betas": np.zeros(10), "trans": np.zeros(3)})
    with pytest.raises(ValueError, match="'pose' must hold 156 numbers"):
        behave.load_behave_sequence(tmp_path, "Date03_Sub05_keyboard_move", rest_root={"male": _rest_root()})
    fit.unlink()
    with pytest.raises(FileNotFoundError, match="person_fit.pkl"):
        behave.load_behave_sequence(tmp_path, "Date03_Sub05_keyboard_move", rest_root={"male": _rest_root()})
    with pytest.raises(FileNotFoundError, match="BEHAVE sequences folder not found"):
        behave.behave_sequences(tmp_path / "elsewhere")


# ----------------------------------------------------------------------------- InterCap

INTERCAP_R = RX90                        # world -> camera 1
INTERCAP_T = np.array([0.1, 1.2, 3.0])


def _make_intercap(root):
    _write_json(root / "Data/calibration_third/Color_1.json",
                {"R": INTERCAP_R.tolist(), "T": INTERCAP_T.tolist(), "f": [918.0, 917.0], "c": [956.0, 552.0]})
    for subject, obj, seg, hand_dims in [("01", "07", "Seg_0", 45), ("02", "04", "Seg_1", 12)]:
        frames = []
        for i in range(3):
            hand = np.zeros((1, hand_dims))
            hand[0, 0] = 0.5
            frames.append({
                "body_pose": np.full((1, 63), 0.0), "global_orient": np.zeros((1, 3)),
                "transl": np.zeros((1, 3)), "betas": np.zeros((1, 10)),
                "left_hand_pose": hand, "right_hand_pose": np.zeros((1, hand_dims)),
                "jaw_pose": np.array([[0.2 * i, 0.0, 0.0]]),
                "ob_pose": np.zeros(3), "ob_trans": np.array([0.0, 1.0, 0.0]),
            })
        _dump(root / "Res" / subject / obj / seg / "res_2.pkl", frames)


def test_intercap_loader_camera_frame(tmp_path):
    _make_intercap(tmp_path)
    assert intercap.intercap_sequences(tmp_path) == [("01", "07", "Seg_0"), ("02", "04", "Seg_1")]
    comps = np.zeros((12, 45))
    comps[np.arange(12), np.arange(12)] = 1.0
    pca = intercap.HandPCA(comps, comps, np.zeros(45), np.zeros(45))
    shard = intercap.load_intercap(tmp_path, rest_root={"neutral": _rest_root()}, hand_pca=pca)
    assert len(shard) == 6 and shard.body_model == "smplx"
    assert shard.body_pose_rotmat.shape == (6, 54, 3, 3)
    assert shard.object_id == ("chair",) * 3 + ("intercap:umbrella",) * 3
    assert shard.sequence[0] == "01_07_Seg_0" and shard.sequence[3] == "02_04_Seg_1"
    # Left hand joint 1 = pose joint 24 (21 body + jaw + 2 eyes): Rx(0.5) in both (45-dim and PCA).
    np.testing.assert_allclose(shard.body_pose_rotmat[:, 24],
                               np.broadcast_to(rotvec_to_rotmat(np.array([0.5, 0, 0])), (6, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(shard.body_pose_rotmat[2, 21], rotvec_to_rotmat(np.array([0.4, 0, 0])), atol=1e-6)
    np.testing.assert_allclose(shard.root_rotmat, np.broadcast_to(RX90, (6, 3, 3)), atol=1e-6)
    # Pelvis cam = R J0 + T = (0, -0.03, -0.2) + T = (0.1, 1.17, 2.8); transl = that - J0.
    np.testing.assert_allclose(shard.root_transl, np.tile([0.1, 1.37, 2.77], (6, 1)), atol=1e-6)
    np.testing.assert_allclose(shard.object_transl, np.tile([0.1, 1.2, 4.0], (6, 1)), atol=1e-6)
    K = np.array([[918.0, 0, 956], [0, 917, 552], [0, 0, 1]])
    np.testing.assert_allclose(shard.camera_K[0], K)
    np.testing.assert_array_equal(shard.image_size[0], [1920, 1080])


def test_intercap_hands_options(tmp_path):
    _make_intercap(tmp_path)
    rest = {"neutral": _rest_root()}
    with pytest.raises(ValueError, match="12 PCA coefficients; pass hand_pca"):
        intercap.load_intercap_sequence(tmp_path, "02", "04", "Seg_1", rest_root=rest)
    body_only = intercap.load_intercap_sequence(tmp_path, "02", "04", "Seg_1", rest_root=rest,
                                                include_hands=False)
    assert body_only.body_pose_rotmat.shape == (3, 21, 3, 3)
    with pytest.raises(ValueError, match="no rest_root for gender 'female'"):
        intercap.load_intercap_sequence(tmp_path, "01", "07", "Seg_0", rest_root=rest,
                                        subject_genders={"01": "female"})


def test_loader_shards_roundtrip(tmp_path):
    _make_behave(tmp_path / "behave")
    shard = behave.load_behave(tmp_path / "behave", rest_root={"male": _rest_root(), "female": _rest_root()})
    back = read_shard(write_shard(tmp_path / "out/shard-000.safetensors", shard))
    assert back.object_id == shard.object_id and back.root_transl.tobytes() == shard.root_transl.tobytes()


def test_equal_shards_are_byte_identical(tmp_path):
    from scorehoi_node.core.data.shards import read_shard, write_shard

    shard = _shard(3)
    a, b = write_shard(tmp_path / "a.safetensors", shard), write_shard(tmp_path / "b.safetensors", shard)
    assert a.read_bytes() == b.read_bytes()
    back = read_shard(a)
    assert back.object_id == shard.object_id and np.array_equal(back.shape, shard.shape)
