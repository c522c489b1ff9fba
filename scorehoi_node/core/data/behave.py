"""BEHAVE (Bhatnagar et al., CVPR 2022) -> `HOIShard` (body model "smplh").

Assumed release layout (github.com/xiexh20/behave-dataset; the real data is not reachable from
this machine, so every path and key is a field of `BehaveLayout`, change it there if a release
differs):

    <root>/sequences/<seq>/info.json            {"cat": object name, "gender": "male"|"female",
                                                  "kinects": [0, 1, 2, 3], "config": ..., ...}
    <root>/sequences/<seq>/<frame>/             frame folders named like "t0003.000" (seconds)
        person/fit02/person_fit.pkl             {"pose": (156,) SMPL-H axis-angle = 3 root +
                                                  63 body (21 joints) + 90 hands (30 joints),
                                                  "betas": (10,), "trans": (3,) metres}
        <obj>/fit01/<obj>_fit.pkl               {"angle": (3,) axis-angle, "trans": (3,) metres}
    <root>/calibs/<date>/config/<k>/config.json {"rotation": 9 (row-major 3x3), "translation": 3}
    <root>/calibs/intrinsics/<k>/calibration.json
                                                {"color": {"fx", "fy", "cx", "cy", ...}}

    <seq> is "<date>_<subject>_<obj>[_<action>]", e.g. "Date03_Sub03_chairwood_hand": the first
    token names the calibration date, the third the object (used when info.json has no "cat").
    `info.json` is looked up in the sequence folder, then in the first frame folder.

Frames (as in the BEHAVE code, `KinectTransform.local2world`): fits are in the world frame,
which is the frame of kinect 1; config.json of kinect k gives its local -> world transform
``x_world = rotation @ x_k + translation``. Kinect local frames are taken to be the optical
frame (x right, y down, z forward, `BehaveLayout.camera_to_optical` = identity); projecting
with the colour intrinsics K is then ``K @ x_k``.

Output: the SMPL-H fit and the object fit re-expressed in the chosen kinect's optical frame.
`root_transl` keeps SMPL's `transl` convention (see `shards`), which needs the rest-pose pelvis
J0(betas) of the subject's gendered SMPL-H model: pass `rest_root={"male": ..., "female": ...}`
built with `RestRootJoint.from_npz` from the user's own (licence-restricted) model files.

Object poses are those of BEHAVE's own object meshes (their canonical frame). `object_id` maps
the BEHAVE name to one of our template ids when the class matches (`BEHAVE_OBJECT_IDS`), else
"behave:<name>"; our templates have their own canonical frame (origin at the bounding-box bottom
centre), so pass `object_frame_offsets` (our template frame -> BEHAVE mesh frame, 4x4) to make
the pose refer to our template; without it the pose still describes the BEHAVE mesh.

The fits are Python pickles. Unpickling runs arbitrary code named by the file, and these files
come from the internet, so they are read with `core.safe_pickle.load_numpy_pickle`, which
rebuilds numpy arrays and scalars and refuses every other global.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorehoi_node.core.data.shards import (
    HOIShard,
    RestRootJoint,
    concat_shards,
    rotvec_to_rotmat,
    smpl_root_to_frame,
)
from scorehoi_node.core.safe_pickle import load_numpy_pickle

# BEHAVE object name -> our template id (class-level match only; see module docstring).
BEHAVE_OBJECT_IDS: dict[str, str] = {
    "backpack": "backpack",
    "basketball": "ball",
    "yogaball": "ball",
    "boxlarge": "box",
    "boxlong": "box",
    "boxmedium": "box",
    "boxsmall": "box",
    "boxtiny": "box",
    "chairblack": "chair",
    "chairwood": "chair",
    "stool": "stool",
    "tablesmall": "table",
    "tablesquare": "table",
}

SMPLH_NUM_POSE_JOINTS = 51  # 21 body + 15 left hand + 15 right hand, root excluded


@dataclass(frozen=True)
class BehaveLayout:
    """Paths and keys of the BEHAVE release (defaults: the layout in the module docstring).

    Path fields are relative to the dataset root, the sequence folder or the frame folder as
    named; "{obj}", "{date}" and "{kinect}" are filled in.
    """

    sequences_dir: str = "sequences"
    info_file: str = "info.json"
    frame_pattern: str = r"^t\d+\.\d+$"
    person_fit: str = "person/fit02/person_fit.pkl"
    object_fit: str = "{obj}/fit01/{obj}_fit.pkl"
    extrinsics: str = "calibs/{date}/config/{kinect}/config.json"
    intrinsics: str = "calibs/intrinsics/{kinect}/calibration.json"
    # (3, 3) rotation from the kinect local frame to our optical frame (x right, y down, z fwd).
    camera_to_optical: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    # Colour image size (width, height) when calibration.json's "color" has no width/height.
    image_size: tuple[int, int] = (2048, 1536)
    pose_key: str = "pose"
    betas_key: str = "betas"
    trans_key: str = "trans"
    object_angle_key: str = "angle"
    object_trans_key: str = "trans"
    default_gender: str = "male"


def _field(data: object, key: str, size: int, path: Path) -> np.ndarray:
    """`data[key]` flattened to (size,) float64, or ValueError naming file and key."""
    if not isinstance(data, Mapping) or key not in data:
        keys = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"{path}: expected a dict with key {key!r}, got {keys}")
    value = np.asarray(data[key], dtype=np.float64).reshape(-1)
    if value.shape != (size,):
        raise ValueError(f"{path}: {key!r} must hold {size} numbers, got shape {np.shape(data[key])}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{path}: {key!r} contains NaN or inf")
    return value


def read_json(path: Path) -> dict:
    """Parsed JSON file; FileNotFoundError / ValueError naming the path."""
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None


def apply_object_offset(object_rotmat: np.ndarray, object_transl: np.ndarray,
                        offset: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Compose a dataset-mesh pose (N,3,3)/(N,3) with `offset` (4, 4): our template frame ->
    dataset mesh frame. Returns the pose of our template (identity offset when None)."""
    if offset is None:
        return object_rotmat, object_transl
    offset = np.asarray(offset, dtype=np.float64)
    if offset.shape != (4, 4):
        raise ValueError(f"object frame offsets must be 4x4, got {offset.shape}")
    return (object_rotmat @ offset[:3, :3],
            np.einsum("nij,j->ni", object_rotmat, offset[:3, 3]) + object_transl)


# --------------------------------------------------------------------------------------------
# Loader


@dataclass(frozen=True)
class BehaveCamera:
    """One kinect of one capture date.

    Attributes:
        world_to_camera_R: (3, 3) float64, x_cam = R x_world + t, optical frame.
        world_to_camera_t: (3,) float64 metres.
        K: (3, 3) float64 colour intrinsics, pixels.
        image_size: (width, height) pixels.
    """

    world_to_camera_R: np.ndarray
    world_to_camera_t: np.ndarray
    K: np.ndarray
    image_size: tuple[int, int]


def load_behave_camera(root: str | Path, date: str, kinect: int,
                       layout: BehaveLayout = BehaveLayout()) -> BehaveCamera:
    """Extrinsics of `kinect` on `date` (inverted to world -> camera) and its colour intrinsics."""
    root = Path(root)
    ext_path = root / layout.extrinsics.format(date=date, kinect=kinect)
    ext = read_json(ext_path)
    rot = _field(ext, "rotation", 9, ext_path).reshape(3, 3)
    trans = _field(ext, "translation", 3, ext_path)
    if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-4 or np.linalg.det(rot) <= 0:
        raise ValueError(f"{ext_path}: 'rotation' is not a rotation matrix")
    to_optical = np.asarray(layout.camera_to_optical, dtype=np.float64)
    R = to_optical @ rot.T  # world -> kinect local -> optical
    t = -R @ trans
    int_path = root / layout.intrinsics.format(kinect=kinect)
    calib = read_json(int_path)
    color = calib.get("color") if isinstance(calib, dict) else None
    if not isinstance(color, dict):
        raise ValueError(f"{int_path}: expected a 'color' section with fx, fy, cx, cy")
    fx, fy, cx, cy = (_field(color, k, 1, int_path)[0] for k in ("fx", "fy", "cx", "cy"))
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    size = (int(color.get("width", layout.image_size[0])), int(color.get("height", layout.image_size[1])))
    return BehaveCamera(world_to_camera_R=R, world_to_camera_t=t, K=K, image_size=size)


def _frame_sort_key(path: Path) -> tuple[float, str]:
    """Frames sort by their time stamp ("t0003.000" -> 3.0), then by name."""
    try:
        return float(path.name[1:]), path.name
    except ValueError:
        return float("inf"), path.name


def behave_sequences(root: str | Path, layout: BehaveLayout = BehaveLayout()) -> list[str]:
    """Sorted sequence names under `<root>/sequences`."""
    folder = Path(root) / layout.sequences_dir
    if not folder.is_dir():
        raise FileNotFoundError(f"BEHAVE sequences folder not found: {folder} (is {root} the "
                                "BEHAVE root with sequences/ and calibs/?)")
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _sequence_frames(root: Path, sequence: str, layout: BehaveLayout
                     ) -> tuple[list[Path], str, str]:
    """The frame folders of a sequence (time order), its object name and the subject's gender
    (from info.json, else the sequence name and `layout.default_gender`)."""
    seq_dir = root / layout.sequences_dir / sequence
    if not seq_dir.is_dir():
        raise FileNotFoundError(f"BEHAVE sequence not found: {seq_dir}")
    pattern = re.compile(layout.frame_pattern)
    frames = sorted((p for p in seq_dir.iterdir() if p.is_dir() and pattern.match(p.name)),
                    key=_frame_sort_key)
    if not frames:
        raise FileNotFoundError(f"{seq_dir}: no frame folders matching {layout.frame_pattern!r}")
    info_path = seq_dir / layout.info_file
    if not info_path.is_file():
        info_path = frames[0] / layout.info_file
    info = read_json(info_path) if info_path.is_file() else {}
    tokens = sequence.split("_")
    if len(tokens) < 3:
        raise ValueError(f"BEHAVE sequence name {sequence!r} is not '<date>_<subject>_<object>[_...]'")
    return frames, str(info.get("cat", tokens[2])), str(info.get("gender", layout.default_gender))


def load_behave_sequence(
    root: str | Path,
    sequence: str,
    *,
    rest_root: Mapping[str, RestRootJoint],
    kinect: int = 1,
    object_ids: Mapping[str, str] = BEHAVE_OBJECT_IDS,
    object_frame_offsets: Mapping[str, np.ndarray] | None = None,
    layout: BehaveLayout = BehaveLayout(),
) -> HOIShard:
    """All fitted frames of one BEHAVE sequence, seen from `kinect`, as an "smplh" shard.

    Args:
        root: dataset root (holds `sequences/` and `calibs/`).
        sequence: e.g. "Date03_Sub03_chairwood_hand".
        rest_root: gender ("male", "female", ...) -> rest-pose pelvis of that SMPL-H model.
        kinect: camera index 0-3 whose optical frame the shard uses.
        object_ids: BEHAVE object name -> template id; other names become "behave:<name>".
        object_frame_offsets: optional BEHAVE object name -> (4, 4) our template frame ->
            BEHAVE mesh frame (see module docstring).
    Returns:
        HOIShard with N = number of frame folders (time order), J = 51, S = 10; frame_index is
        the position in that order. Optional fields are None.
    Raises:
        FileNotFoundError: a folder, fit or calibration file is missing (message has the path).
        ValueError: a file has the wrong content, or `rest_root` lacks the subject's gender.
    """
    root = Path(root)
    frames, obj_name, gender = _sequence_frames(root, sequence, layout)
    if gender not in rest_root:
        raise ValueError(f"{sequence}: no rest_root for gender {gender!r} (have {sorted(rest_root)}); "
                         "build one with RestRootJoint.from_npz from the SMPL-H model file")
    tokens = sequence.split("_")
    camera = load_behave_camera(root, tokens[0], kinect, layout)

    pose, betas, trans, obj_angle, obj_trans = [], [], [], [], []
    for frame in frames:
        person_path = frame / layout.person_fit
        person = load_numpy_pickle(person_path)
        pose.append(_field(person, layout.pose_key, 3 + 3 * SMPLH_NUM_POSE_JOINTS, person_path))
        betas.append(_field(person, layout.betas_key, 10, person_path))
        trans.append(_field(person, layout.trans_key, 3, person_path))
        obj_path = frame / layout.object_fit.format(obj=obj_name)
        obj = load_numpy_pickle(obj_path)
        obj_angle.append(_field(obj, layout.object_angle_key, 3, obj_path))
        obj_trans.append(_field(obj, layout.object_trans_key, 3, obj_path))
    pose_aa = np.stack(pose).reshape(len(frames), 1 + SMPLH_NUM_POSE_JOINTS, 3)
    betas_arr = np.stack(betas)
    rotmats = rotvec_to_rotmat(pose_aa)
    R, t = camera.world_to_camera_R, camera.world_to_camera_t
    root_rotmat, root_transl = smpl_root_to_frame(
        rotmats[:, 0], np.stack(trans), rest_root[gender](betas_arr), R, t)
    object_rotmat = R @ rotvec_to_rotmat(np.stack(obj_angle))
    object_transl = np.stack(obj_trans) @ R.T + t
    offset = (object_frame_offsets or {}).get(obj_name)
    object_rotmat, object_transl = apply_object_offset(object_rotmat, object_transl, offset)
    n = len(frames)
    return HOIShard(
        body_model="smplh",
        body_pose_rotmat=rotmats[:, 1:],
        shape=betas_arr,
        root_rotmat=root_rotmat,
        root_transl=root_transl,
        object_id=(object_ids.get(obj_name, f"behave:{obj_name}"),) * n,
        object_rotmat=object_rotmat,
        object_transl=object_transl,
        camera_K=np.broadcast_to(camera.K, (n, 3, 3)),
        image_size=np.broadcast_to(np.array(camera.image_size, dtype=np.int32), (n, 2)),
        sequence=(sequence,) * n,
        frame_index=np.arange(n, dtype=np.int64),
    )


def load_behave(
    root: str | Path,
    sequences: Iterable[str] | None = None,
    *,
    rest_root: Mapping[str, RestRootJoint],
    kinect: int = 1,
    object_ids: Mapping[str, str] = BEHAVE_OBJECT_IDS,
    object_frame_offsets: Mapping[str, np.ndarray] | None = None,
    layout: BehaveLayout = BehaveLayout(),
) -> HOIShard:
    """`load_behave_sequence` over `sequences` (all of `behave_sequences(root)` when None),
    concatenated in order (one shard; split it with the sequence names if needed)."""
    names = list(sequences) if sequences is not None else behave_sequences(root, layout)
    if not names:
        raise FileNotFoundError(f"no BEHAVE sequences under {root}")
    return concat_shards([
        load_behave_sequence(root, name, rest_root=rest_root, kinect=kinect, object_ids=object_ids,
                             object_frame_offsets=object_frame_offsets, layout=layout)
        for name in names])
