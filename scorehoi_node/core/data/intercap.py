"""InterCap (Huang et al., GCPR 2022) -> `HOIShard` (body model "smplx").

Assumed release layout (github.com/YinghaoHuang91/InterCap; the real data is not reachable from
this machine, so every path and key is a field of `InterCapLayout`):

    <root>/Res/<subject>/<object>/Seg_<k>/res_2.pkl   list, one dict per frame:
        "body_pose" (63,) SMPL-X axis-angle of the 21 body joints, "global_orient" (3,),
        "transl" (3,) metres, "betas" (10,), "ob_pose" (3,) object axis-angle,
        "ob_trans" (3,) metres; optional "left_hand_pose" / "right_hand_pose" (45 axis-angle
        or K PCA coefficients), "jaw_pose", "leye_pose", "reye_pose" (3,). Values may carry a
        leading batch axis of 1. ("res_1.pkl" holds an earlier fitting stage; set
        `InterCapLayout.result_file` to read it.)
    <root>/Data/calibration_third/Color_<c>.json       {"R": 3x3 (or 9), "T": 3 (metres),
        "f": [fx, fy], "c": [cx, cy]} (or "K": 3x3), camera c in 1..6.

    Subjects are folders "01".."10", objects "01".."10" (`INTERCAP_OBJECT_NAMES`). The sequence
    name is "<subject>_<object>_Seg_<k>".

Frames: fits are in the InterCap world frame; the calibration of camera c gives
``x_cam = R x_world + T`` (`InterCapLayout.extrinsics_world_to_camera`; set False if a release
stores camera -> world instead), camera frame = optical frame (x right, y down, z forward).

Output pose joints (SMPL-X order, root excluded): with hands, 54 = 21 body + jaw + left eye +
right eye + 15 left hand + 15 right hand (jaw/eyes at identity when absent); with
`include_hands=False`, the 21 body joints only. PCA hand poses need `HandPCA` from the user's
SMPL-X model file. `root_transl` keeps SMPL-X's `transl` convention (see `shards`), so
`rest_root` maps the subject's gender ("neutral" unless `subject_genders` says otherwise) to
its rest pelvis. Fit pickles are read with `core.safe_pickle.load_numpy_pickle` (numpy-only unpickler).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorehoi_node.core.data.behave import apply_object_offset, read_json
from scorehoi_node.core.safe_pickle import load_numpy_pickle
from scorehoi_node.core.data.shards import (
    HOIShard,
    RestRootJoint,
    concat_shards,
    rotvec_to_rotmat,
    smpl_root_to_frame,
)

# InterCap object folder -> object name (order as listed by the InterCap release; assumption).
INTERCAP_OBJECT_NAMES: dict[str, str] = {
    "01": "suitcase",
    "02": "skateboard",
    "03": "football",
    "04": "umbrella",
    "05": "tennis_racket",
    "06": "toolbox",
    "07": "chair",
    "08": "bottle",
    "09": "cup",
    "10": "stool",
}

# InterCap object name -> our template id (class-level match); others become "intercap:<name>".
INTERCAP_OBJECT_IDS: dict[str, str] = {
    "football": "ball",
    "chair": "chair",
    "bottle": "bottle",
    "cup": "mug",
    "stool": "stool",
}

SMPLX_BODY_JOINTS = 21
SMPLX_HAND_JOINTS = 15
SMPLX_POSE_JOINTS_WITH_HANDS = SMPLX_BODY_JOINTS + 3 + 2 * SMPLX_HAND_JOINTS  # 54


@dataclass(frozen=True)
class InterCapLayout:
    """Paths and keys of the InterCap release (defaults: the layout in the module docstring)."""

    results_dir: str = "Res"
    segment_pattern: str = r"^Seg_\d+$"
    result_file: str = "res_2.pkl"
    calibration: str = "Data/calibration_third/Color_{camera}.json"
    extrinsics_world_to_camera: bool = True
    image_size: tuple[int, int] = (1920, 1080)  # colour image (width, height)
    body_pose_key: str = "body_pose"
    global_orient_key: str = "global_orient"
    transl_key: str = "transl"
    betas_key: str = "betas"
    object_pose_key: str = "ob_pose"
    object_trans_key: str = "ob_trans"
    num_betas: int = 10


@dataclass(frozen=True)
class HandPCA:
    """SMPL-X hand PCA: full hand pose (45,) = mean + coefficients @ components[:K].

    Attributes:
        left_components, right_components: (C, 45) float64 PCA bases (C >= K used).
        left_mean, right_mean: (45,) float64 mean hand pose (zeros for `flat_hand_mean=True`).
    """

    left_components: np.ndarray
    right_components: np.ndarray
    left_mean: np.ndarray
    right_mean: np.ndarray

    @classmethod
    def from_npz(cls, path: str | Path, flat_hand_mean: bool = True) -> "HandPCA":
        """From a SMPL-X `.npz` model file (hands_componentsl/r, hands_meanl/r), no pickle."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SMPL-X model file not found: {path}")
        with np.load(path, allow_pickle=False) as data:
            keys = ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr")
            missing = [k for k in keys if k not in data]
            if missing:
                raise ValueError(f"{path}: SMPL-X model file lacks {missing}")
            zeros = np.zeros(45)
            return cls(np.asarray(data["hands_componentsl"], dtype=np.float64),
                       np.asarray(data["hands_componentsr"], dtype=np.float64),
                       zeros if flat_hand_mean else np.asarray(data["hands_meanl"], dtype=np.float64),
                       zeros if flat_hand_mean else np.asarray(data["hands_meanr"], dtype=np.float64))

    def decode(self, coefficients: np.ndarray, side: str) -> np.ndarray:
        """(K,) PCA coefficients of the "left" or "right" hand -> (45,) axis-angle."""
        comps, mean = ((self.left_components, self.left_mean) if side == "left"
                       else (self.right_components, self.right_mean))
        k = coefficients.shape[0]
        if k > comps.shape[0]:
            raise ValueError(f"{k} hand PCA coefficients but the model has {comps.shape[0]} components")
        return mean + coefficients @ comps[:k]


def _vector(frame: Mapping, key: str, path: Path, index: int, size: int | None = None) -> np.ndarray:
    """`frame[key]` flattened to float64 (of length `size` when given)."""
    if key not in frame:
        raise ValueError(f"{path}: frame {index} lacks key {key!r} (has {sorted(frame)})")
    value = np.asarray(frame[key], dtype=np.float64).reshape(-1)
    if size is not None and value.shape != (size,):
        raise ValueError(f"{path}: frame {index} {key!r} must hold {size} numbers, got "
                         f"shape {np.shape(frame[key])}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{path}: frame {index} {key!r} contains NaN or inf")
    return value


@dataclass(frozen=True)
class InterCapCamera:
    """world -> camera transform (x_cam = R x_world + t, optical frame, metres) and intrinsics."""

    world_to_camera_R: np.ndarray
    world_to_camera_t: np.ndarray
    K: np.ndarray
    image_size: tuple[int, int]


def load_intercap_camera(root: str | Path, camera: int,
                         layout: InterCapLayout = InterCapLayout()) -> InterCapCamera:
    """Calibration of colour camera `camera` (1-based, as in the file names)."""
    path = Path(root) / layout.calibration.format(camera=camera)
    calib = read_json(path)
    if not isinstance(calib, dict) or "R" not in calib or "T" not in calib:
        raise ValueError(f"{path}: expected keys 'R' and 'T' (and 'K' or 'f'/'c')")
    R = np.asarray(calib["R"], dtype=np.float64).reshape(3, 3)
    T = np.asarray(calib["T"], dtype=np.float64).reshape(3)
    if np.abs(R.T @ R - np.eye(3)).max() > 1e-4 or np.linalg.det(R) <= 0:
        raise ValueError(f"{path}: 'R' is not a rotation matrix")
    if not layout.extrinsics_world_to_camera:
        R, T = R.T, -R.T @ T
    if "K" in calib:
        K = np.asarray(calib["K"], dtype=np.float64).reshape(3, 3)
    elif "f" in calib and "c" in calib:
        f = np.asarray(calib["f"], dtype=np.float64).reshape(-1)
        c = np.asarray(calib["c"], dtype=np.float64).reshape(2)
        fx, fy = (f[0], f[0]) if f.size == 1 else (f[0], f[1])
        K = np.array([[fx, 0.0, c[0]], [0.0, fy, c[1]], [0.0, 0.0, 1.0]])
    else:
        raise ValueError(f"{path}: expected intrinsics as 'K' or as 'f' and 'c'")
    size = (int(calib.get("width", layout.image_size[0])), int(calib.get("height", layout.image_size[1])))
    return InterCapCamera(world_to_camera_R=R, world_to_camera_t=T, K=K, image_size=size)


def intercap_sequences(root: str | Path, layout: InterCapLayout = InterCapLayout()) -> list[tuple[str, str, str]]:
    """Sorted (subject, object, segment) folder names under `<root>/Res` that hold a result file."""
    res = Path(root) / layout.results_dir
    if not res.is_dir():
        raise FileNotFoundError(f"InterCap results folder not found: {res} (is {root} the InterCap root?)")
    pattern = re.compile(layout.segment_pattern)
    return sorted((seg.parent.parent.name, seg.parent.name, seg.name)
                  for seg in res.glob("*/*/*")
                  if seg.is_dir() and pattern.match(seg.name) and (seg / layout.result_file).is_file())


def _read_frames(path: Path) -> list[Mapping]:
    """The per-frame fit dicts of one segment's result pickle (ValueError naming the file)."""
    frames = load_numpy_pickle(path)
    if not isinstance(frames, Sequence) or isinstance(frames, (str, bytes)) or not frames:
        raise ValueError(f"{path}: expected a non-empty list of per-frame dicts, got "
                         f"{type(frames).__name__}")
    if not all(isinstance(f, Mapping) for f in frames):
        raise ValueError(f"{path}: every entry must be a dict of fit parameters")
    return list(frames)


def _frame_joints(f: Mapping, path: Path, i: int, layout: InterCapLayout, include_hands: bool,
                  hand_pca: HandPCA | None) -> list[np.ndarray]:
    """Axis-angle blocks of frame `i`: body joints, then (with hands) jaw, eyes and both hands
    (45 numbers each, decoded from PCA coefficients by `hand_pca` when needed)."""
    joints = [_vector(f, layout.body_pose_key, path, i, 3 * SMPLX_BODY_JOINTS)]
    if not include_hands:
        return joints
    for key in ("jaw_pose", "leye_pose", "reye_pose"):
        joints.append(_vector(f, key, path, i, 3) if key in f else np.zeros(3))
    for side in ("left", "right"):
        key = f"{side}_hand_pose"
        if key not in f:
            raise ValueError(f"{path}: frame {i} lacks {key!r}; pass include_hands=False "
                             "to load the body joints only")
        hand = _vector(f, key, path, i)
        if hand.shape[0] != 3 * SMPLX_HAND_JOINTS:
            if hand_pca is None:
                raise ValueError(f"{path}: frame {i} {key!r} has {hand.shape[0]} PCA "
                                 "coefficients; pass hand_pca=HandPCA.from_npz(<SMPL-X "
                                 "model>) or include_hands=False")
            hand = hand_pca.decode(hand, side)
        joints.append(hand)
    return joints


def load_intercap_sequence(
    root: str | Path,
    subject: str,
    object_folder: str,
    segment: str,
    *,
    rest_root: Mapping[str, RestRootJoint],
    camera: int = 1,
    subject_genders: Mapping[str, str] | None = None,
    include_hands: bool = True,
    hand_pca: HandPCA | None = None,
    object_names: Mapping[str, str] = INTERCAP_OBJECT_NAMES,
    object_ids: Mapping[str, str] = INTERCAP_OBJECT_IDS,
    object_frame_offsets: Mapping[str, np.ndarray] | None = None,
    layout: InterCapLayout = InterCapLayout(),
) -> HOIShard:
    """All frames of one InterCap segment, seen from `camera`, as an "smplx" shard.

    Args:
        root: dataset root (holds `Res/` and `Data/`).
        subject, object_folder, segment: e.g. "01", "07", "Seg_0".
        rest_root: gender -> rest-pose pelvis of that SMPL-X model.
        camera: colour camera index (1-based).
        subject_genders: subject folder -> gender ("neutral" when absent).
        include_hands: J = 54 with hands/jaw/eyes (needs 45-dim hand poses or `hand_pca`),
            else J = 21 body joints.
        hand_pca: decodes PCA hand poses.
        object_names / object_ids: object folder -> name -> template id ("intercap:<name>").
        object_frame_offsets: optional name -> (4, 4) our template frame -> InterCap mesh frame.
    Returns:
        HOIShard with N frames (list order, frame_index = list position), S = num_betas.
    """
    root = Path(root)
    path = root / layout.results_dir / subject / object_folder / segment / layout.result_file
    frames = _read_frames(path)
    gender = (subject_genders or {}).get(subject, "neutral")
    if gender not in rest_root:
        raise ValueError(f"{path}: no rest_root for gender {gender!r} (have {sorted(rest_root)}); "
                         "build one with RestRootJoint.from_npz from the SMPL-X model file")
    cam = load_intercap_camera(root, camera, layout)

    poses, orient, transl, betas, ob_pose, ob_trans = [], [], [], [], [], []
    for i, f in enumerate(frames):
        joints = _frame_joints(f, path, i, layout, include_hands, hand_pca)
        poses.append(np.concatenate(joints))
        orient.append(_vector(f, layout.global_orient_key, path, i, 3))
        transl.append(_vector(f, layout.transl_key, path, i, 3))
        betas.append(_vector(f, layout.betas_key, path, i)[: layout.num_betas])
        ob_pose.append(_vector(f, layout.object_pose_key, path, i, 3))
        ob_trans.append(_vector(f, layout.object_trans_key, path, i, 3))
    n = len(frames)
    if any(b.shape != (layout.num_betas,) for b in betas):
        raise ValueError(f"{path}: every frame needs >= {layout.num_betas} betas")
    betas_arr = np.stack(betas)
    R, t = cam.world_to_camera_R, cam.world_to_camera_t
    root_rotmat, root_transl = smpl_root_to_frame(
        rotvec_to_rotmat(np.stack(orient)), np.stack(transl), rest_root[gender](betas_arr), R, t)
    object_rotmat = R @ rotvec_to_rotmat(np.stack(ob_pose))
    object_transl = np.stack(ob_trans) @ R.T + t
    name = object_names.get(object_folder, object_folder)
    object_rotmat, object_transl = apply_object_offset(
        object_rotmat, object_transl, (object_frame_offsets or {}).get(name))
    return HOIShard(
        body_model="smplx",
        body_pose_rotmat=rotvec_to_rotmat(np.stack(poses).reshape(n, -1, 3)),
        shape=betas_arr,
        root_rotmat=root_rotmat,
        root_transl=root_transl,
        object_id=(object_ids.get(name, f"intercap:{name}"),) * n,
        object_rotmat=object_rotmat,
        object_transl=object_transl,
        camera_K=np.broadcast_to(cam.K, (n, 3, 3)),
        image_size=np.broadcast_to(np.array(cam.image_size, dtype=np.int32), (n, 2)),
        sequence=(f"{subject}_{object_folder}_{segment}",) * n,
        frame_index=np.arange(n, dtype=np.int64),
    )


def load_intercap(
    root: str | Path,
    sequences: Iterable[tuple[str, str, str]] | None = None,
    *,
    rest_root: Mapping[str, RestRootJoint],
    camera: int = 1,
    subject_genders: Mapping[str, str] | None = None,
    include_hands: bool = True,
    hand_pca: HandPCA | None = None,
    object_names: Mapping[str, str] = INTERCAP_OBJECT_NAMES,
    object_ids: Mapping[str, str] = INTERCAP_OBJECT_IDS,
    object_frame_offsets: Mapping[str, np.ndarray] | None = None,
    layout: InterCapLayout = InterCapLayout(),
) -> HOIShard:
    """`load_intercap_sequence` over (subject, object, segment) triples (all of
    `intercap_sequences(root)` when None), concatenated in order."""
    triples = list(sequences) if sequences is not None else intercap_sequences(root, layout)
    if not triples:
        raise FileNotFoundError(f"no InterCap segments with {layout.result_file} under {root}")
    return concat_shards([
        load_intercap_sequence(
            root, subject, obj, seg, rest_root=rest_root, camera=camera,
            subject_genders=subject_genders, include_hands=include_hands, hand_pca=hand_pca,
            object_names=object_names, object_ids=object_ids,
            object_frame_offsets=object_frame_offsets, layout=layout)
        for subject, obj, seg in triples])
