"""SMPL-H and SMPL-X backends through the `smplx` package (model files supplied by the user).

The SMPL-family model files are licence-restricted and never shipped: the user points
`model_path` at their own file (or a folder holding it). Loading goes through smplx's layer
classes (`SMPLHLayer` / `SMPLXLayer`); the math is `smplx.lbs.lbs` on their buffers, with
rotation matrices in and the root rotation applied by `BodyModel`.

Frame: SMPL's canonical frame already is the body frame (+Y up, +X left, +Z forward), metres.
Joints: the model's skeleton joints only (SMPL-H 52, SMPL-X 55), smplx's joint-name order; the
extra vertex "joints" smplx appends (nose, toes, finger tips) are not included.
Hands: rotations are given per finger joint, so identity means a flat hand (smplx's
`flat_hand_mean=True`); the hand PCA space and the mean hand pose are not used.
SMPL-X face: jaw and eyes are ordinary pose joints; the expression is kept at zero.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import smplx
import torch
from smplx.joint_names import JOINT_NAMES, SMPLH_JOINT_NAMES
from smplx.lbs import lbs
from smplx.utils import Struct

from scorehoi_node.core.bodies.base import CONTACT_PART_BUDGET, BodyModel
from scorehoi_node.core.bodies.functional import contact_subset, dominant_bone
from scorehoi_node.core.safe_pickle import load_numpy_pickle

# model type -> (file prefix, human label, number of skeleton joints, where to get the files)
SMPL_FAMILY: dict[str, tuple[str, str, int, str]] = {
    "smplh": ("SMPLH", "SMPL-H", 52,
              "download the 'Extended SMPL+H model' from https://mano.is.tue.mpg.de "
              "(free registration, non-commercial licence)"),
    "smplx": ("SMPLX", "SMPL-X", 55,
              "download 'SMPL-X' from https://smpl-x.is.tue.mpg.de "
              "(free registration, non-commercial licence)"),
}
GENDERS = ("neutral", "male", "female")


def _part_of(joint: str) -> str:
    """Body part of an SMPL-family joint name ("" for none); "torso" is split into back/front."""
    side = "left" if joint.startswith("left") else "right" if joint.startswith("right") else ""
    stem = joint.split("_", 1)[-1] if side else joint
    if stem == "wrist" or stem.rstrip("123") in ("index", "middle", "pinky", "ring", "thumb"):
        return f"{side}_hand"
    if stem in ("ankle", "foot"):
        return f"{side}_foot"
    if stem in ("hip", "knee"):
        return f"{side}_leg"
    if stem in ("shoulder", "elbow"):
        return f"{side}_arm"
    if stem == "collar" or joint in ("spine1", "spine2", "spine3"):
        return "torso"
    if joint == "pelvis":
        return "hips"
    if joint in ("neck", "head", "jaw") or stem.startswith("eye"):
        return "head"
    return ""


def resolve_model_file(model_type: str, model_path: str | Path | None, gender: str) -> Path:
    """Find the model file of `model_type` for `gender` from a file or folder path.

    A folder may hold `{PREFIX}_{GENDER}.npz|pkl` directly, in a `smplh/` or `smplx/` subfolder
    (smplx's layout), or as `{gender}/model.npz` (the AMASS SMPL+H layout).
    Raises FileNotFoundError with one line naming what was looked for and where to get it.
    """
    prefix, label, _, source = SMPL_FAMILY[model_type]
    if model_path is None or str(model_path) == "":
        raise FileNotFoundError(
            f"{label} needs model_path=<model file or folder>; {source} (SMPL files are never shipped)")
    path = Path(model_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        stem = f"{prefix}_{gender.upper()}"
        candidates = [folder / f"{stem}.{ext}" for folder in (path, path / model_type)
                      for ext in ("npz", "pkl")]
        candidates += [path / gender / "model.npz", path / model_type / gender / "model.npz"]
    else:
        candidates = [path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{label} model file not found (looked for {looked}); {source} "
                            f"and pass its path as model_path")


# scipy sparse matrices (J_regressor of SMPL/SMPL-H pickles) are the only non-numpy objects
# a chumpy-free model pickle may hold
_SPARSE_GLOBALS = frozenset({("scipy.sparse._csc", "csc_matrix"), ("scipy.sparse.csc", "csc_matrix"),
                             ("scipy.sparse._csr", "csr_matrix"), ("scipy.sparse.csr", "csr_matrix")})


def _load_model_data(path: Path) -> dict[str, object]:
    """Arrays of an SMPL-family .npz or .pkl (chumpy-free pickles) as a plain dict.

    Never executes code from the file: .npz arrays load with allow_pickle=False (object arrays,
    metadata such as `joint2num`, are skipped) and .pkl files through an unpickler that only
    rebuilds numpy arrays and scipy sparse matrices."""
    if path.suffix == ".npz":
        out = {}
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                try:
                    out[key] = data[key]
                except ValueError:  # an object array: needs pickle, not model data we use
                    continue
        return out
    if path.suffix == ".pkl":
        data = load_numpy_pickle(path, extra_globals=_SPARSE_GLOBALS)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a dict of model arrays, got {type(data).__name__}")
        return dict(data)
    raise ValueError(f"unsupported model file extension {path.suffix!r} ({path}); use .npz or .pkl")


class SMPLFamilyBody(BodyModel):
    """SMPL-H ("smplh") or SMPL-X ("smplx") as a `BodyModel`.

    Shape vector: the first `num_shape` betas (PCA coefficients, unitless, neutral 0). smplx caps
    it at 10 when the file holds fewer than 300 shape components (e.g. AMASS SMPL+H files).
    dtype: float32 unless given.
    """

    def __init__(
        self,
        model_type: str = "smplh",
        model_path: str | Path | None = None,
        gender: str = "neutral",
        num_shape: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if model_type not in SMPL_FAMILY:
            raise ValueError(f"model_type must be one of {sorted(SMPL_FAMILY)}, got {model_type!r}")
        if gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
        if num_shape < 1:
            raise ValueError(f"num_shape must be >= 1, got {num_shape}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        _, label, num_joints, _ = SMPL_FAMILY[model_type]
        path = resolve_model_file(model_type, model_path, gender)
        data = _load_model_data(path)
        missing = [k for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                               "kintree_table", "f") if k not in data]
        if missing:
            raise ValueError(f"{path} is not an {label} model file: it lacks {missing}")
        common = dict(ext=path.suffix[1:], gender=gender, num_betas=num_shape, use_pca=False,
                      flat_hand_mean=True, dtype=dtype)
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for <300 betas
            if model_type == "smplh":
                # Hand PCA is unused (rotations come per joint): files without it (the AMASS
                # SMPL+H npz) load too, which plain smplx refuses.
                for side in ("l", "r"):
                    data.setdefault(f"hands_components{side}", np.eye(45))
                    data.setdefault(f"hands_mean{side}", np.zeros(45))
                layer = smplx.SMPLHLayer(str(path), data_struct=Struct(**data), **common)
            else:
                absent = [k for k in ("hands_componentsl", "hands_componentsr", "lmk_faces_idx",
                                      "lmk_bary_coords") if k not in data]
                if absent:
                    raise ValueError(f"{path} is not an {label} model file: it lacks {absent}")
                layer = smplx.SMPLXLayer(str(path), num_expression_coeffs=10,
                                         use_face_contour=False, **common)
        if layer.J_regressor.shape[0] != num_joints:
            raise ValueError(f"{path}: {label} has {num_joints} joints, "
                             f"the file has {layer.J_regressor.shape[0]}")

        self.name = model_type
        self.layer = layer
        self.num_vertices = int(layer.v_template.shape[0])
        names = SMPLH_JOINT_NAMES[:num_joints] if model_type == "smplh" else JOINT_NAMES[:num_joints]
        self.joint_names = tuple(names)
        self.parents = tuple(int(p) for p in layer.parents.tolist())
        self.shape_names = tuple(f"beta{i}" for i in range(layer.num_betas))

        part_bones: dict[str, list[int]] = {}
        for i, joint in enumerate(self.joint_names):
            part_bones.setdefault(_part_of(joint), []).append(i)
        part_bones.pop("", None)
        vertex_ids, part_ids, part_names = contact_subset(
            layer.v_template, dominant_bone(layer.lbs_weights), part_bones, CONTACT_PART_BUDGET)
        self.contact_part_names = part_names

        # shapedirs with the expression directions appended (SMPL-X), so lbs sees one basis.
        shapedirs = layer.shapedirs
        if model_type == "smplx":
            shapedirs = torch.cat([shapedirs, layer.expr_dirs], dim=-1)
        self.register_buffer("blend_shapedirs", shapedirs, persistent=False)
        self.num_expression = shapedirs.shape[-1] - layer.num_betas
        self.register_buffer("faces", layer.faces_tensor.to(torch.int64), persistent=False)
        self.register_buffer("default_shape", torch.zeros(layer.num_betas, dtype=dtype), persistent=False)
        self.register_buffer("contact_vertex_ids", vertex_ids, persistent=False)
        self.register_buffer("contact_part_ids", part_ids, persistent=False)

    def _forward_local(
        self, body_pose_rotmat: torch.Tensor, shape: torch.Tensor,
        vertex_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bx(J-1)x3x3 local rotations + BxS betas -> (BxVx3, BxJx3) with identity root (the
        whole mesh is skinned; `vertex_ids` selects rows of it)."""
        batch = body_pose_rotmat.shape[0]
        eye = torch.eye(3, dtype=self.dtype, device=self.device).expand(batch, 1, 3, 3)
        full_pose = torch.cat([eye, body_pose_rotmat], dim=1)
        betas = torch.cat([shape, shape.new_zeros(batch, self.num_expression)], dim=1)
        layer = self.layer
        vertices, joints = lbs(betas, full_pose, layer.v_template, self.blend_shapedirs,
                               layer.posedirs, layer.J_regressor, layer.parents,
                               layer.lbs_weights, pose2rot=False)
        return (vertices if vertex_ids is None else vertices[:, vertex_ids]), joints
