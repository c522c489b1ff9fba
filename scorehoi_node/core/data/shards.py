"""`HOIShard`: the one training-data format (synthetic engine, BEHAVE and InterCap all write it).

A shard is a batch of N samples stored as one safetensors file: every array is a named tensor,
the string fields (`body_model`, `object_id`, `sequence`) and a format version are JSON in the
safetensors metadata. Nothing is pickled, so reading a shard never runs code.

Frames and units (every sample):
    - Camera optical frame: x right, y down, z forward; metres; pixels (u, v) from the top-left
      corner of the top-left pixel.
    - Body: `root_rotmat` rotates the body frame (see `core.bodies.base`: +Y up, +X the person's
      left, +Z forward) into the camera frame, about the root joint (pelvis).
      `root_transl` follows the body model's own translation convention, the one
      `BodyModel.forward` takes: after posing, the root joint sits at
      ``root_rotmat @ 0 + rest_root(shape) + root_transl`` = ``rest_root(shape) + root_transl``,
      where ``rest_root(shape)`` is the root joint of the unposed, shaped body in the body frame.
      For "smplh" / "smplx" this is exactly SMPL's `transl` (the pelvis is at
      ``J_0(betas) + transl``, vertices are ``R (v - J_0) + J_0 + transl``); for "anny" the rest
      root is at the origin, so `root_transl` is the pelvis position. Re-expressing a fit in
      another frame therefore needs ``rest_root(shape)``: see `RestRootJoint` and
      `smpl_root_to_frame`.
    - Object: the template `object_id` (canonical frame of that template) is placed by
      ``x_cam = object_rotmat @ x_template + object_transl``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

FORMAT_NAME = "scorehoi.hoishard"
FORMAT_VERSION = 1
BODY_MODELS = ("anny", "smplh", "smplx")
SHARD_GLOB = "shard-*.safetensors"
ROTATION_TOLERANCE = 1e-4

# Array fields: name -> (dtype, trailing shape; None = any size, "S"/"K" = shared sizes).
_REQUIRED_ARRAYS = ("body_pose_rotmat", "shape", "root_rotmat", "root_transl", "object_rotmat",
                    "object_transl", "camera_K", "image_size", "frame_index")
_OPTIONAL_ARRAYS = ("contact_labels", "keypoints_2d", "keypoint_scores", "floor_plane")
_STRING_FIELDS = ("object_id", "sequence")


@dataclass(frozen=True)
class HOIShard:
    """A batch of N human-object interaction samples (see the module docstring for frames).

    Arrays are stored as read-only copies with the dtype given here (float fields are cast to
    float32). N >= 1.

    Attributes:
        body_model: "anny", "smplh" or "smplx".
        body_pose_rotmat: (N, J, 3, 3) float32 local joint rotations, the body model's pose-joint
            order with the root excluded (smplh: 21 body + 30 hand = 51; smplx: 21 body, or 54 =
            21 body + jaw + left eye + right eye + 15 left hand + 15 right hand).
        shape: (N, S) float32 body shape coefficients (SMPL family: betas; anny: phenotypes).
        root_rotmat: (N, 3, 3) float32 body frame -> camera frame rotation about the root joint.
        root_transl: (N, 3) float32 metres, camera frame, the model's own translation
            convention (module docstring).
        object_id: N object template ids (dataset-specific objects: "<dataset>:<name>").
        object_rotmat: (N, 3, 3) float32 template frame -> camera frame rotation.
        object_transl: (N, 3) float32 template origin in the camera frame, metres.
        camera_K: (N, 3, 3) float32 pinhole matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], pixels.
        image_size: (N, 2) int32 (width, height) in pixels.
        sequence: N sequence names.
        frame_index: (N,) int64 index of the frame inside its sequence.
        contact_labels: optional (N, C) bool, True = that vertex of the body model's contact
            subset (`BodyModel.contact_vertex_ids` order) touches the object.
        keypoints_2d: optional (N, K, 2) float32 (u, v) pixels.
        keypoint_scores: optional (N, K) float32 confidence in [0, 1]; needs `keypoints_2d`.
        floor_plane: optional (N, 4) float32 (n, d) with unit normal n, camera frame:
            points x on the floor satisfy n.x + d = 0; n.x + d > 0 is above the floor.
    """

    body_model: str
    body_pose_rotmat: np.ndarray
    shape: np.ndarray
    root_rotmat: np.ndarray
    root_transl: np.ndarray
    object_id: tuple[str, ...]
    object_rotmat: np.ndarray
    object_transl: np.ndarray
    camera_K: np.ndarray
    image_size: np.ndarray
    sequence: tuple[str, ...]
    frame_index: np.ndarray
    contact_labels: np.ndarray | None = None
    keypoints_2d: np.ndarray | None = None
    keypoint_scores: np.ndarray | None = None
    floor_plane: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.body_model not in BODY_MODELS:
            raise ValueError(f"HOIShard.body_model must be one of {BODY_MODELS}, got {self.body_model!r}")
        n = _leading(self.body_pose_rotmat, "body_pose_rotmat")
        if n < 1:
            raise ValueError("HOIShard must hold at least one sample, got N=0")
        pose = _array(self.body_pose_rotmat, "body_pose_rotmat", np.float32, (n, None, 3, 3))
        shape = _array(self.shape, "shape", np.float32, (n, None))
        floats = {
            "body_pose_rotmat": pose,
            "shape": shape,
            "root_rotmat": _array(self.root_rotmat, "root_rotmat", np.float32, (n, 3, 3)),
            "root_transl": _array(self.root_transl, "root_transl", np.float32, (n, 3)),
            "object_rotmat": _array(self.object_rotmat, "object_rotmat", np.float32, (n, 3, 3)),
            "object_transl": _array(self.object_transl, "object_transl", np.float32, (n, 3)),
            "camera_K": _array(self.camera_K, "camera_K", np.float32, (n, 3, 3)),
        }
        for name in ("body_pose_rotmat", "root_rotmat", "object_rotmat"):
            _check_rotations(floats[name], name)
        K = floats["camera_K"]
        if np.any(K[:, 0, 0] <= 0) or np.any(K[:, 1, 1] <= 0):
            raise ValueError("HOIShard.camera_K: focal lengths fx, fy must be positive")
        if not np.allclose(K[:, 2], [0.0, 0.0, 1.0], atol=1e-6):
            raise ValueError("HOIShard.camera_K: last row must be [0, 0, 1]")
        image_size = _array(self.image_size, "image_size", np.int32, (n, 2))
        if np.any(image_size <= 0):
            raise ValueError("HOIShard.image_size: width and height must be positive")
        frame_index = _array(self.frame_index, "frame_index", np.int64, (n,))
        values: dict[str, object] = dict(floats, image_size=image_size, frame_index=frame_index)
        for name in _STRING_FIELDS:
            values[name] = _strings(getattr(self, name), name, n)

        if self.contact_labels is not None:
            values["contact_labels"] = _bool_array(self.contact_labels, "contact_labels", (n, None))
        if self.keypoints_2d is not None:
            values["keypoints_2d"] = _array(self.keypoints_2d, "keypoints_2d", np.float32, (n, None, 2))
        if self.keypoint_scores is not None:
            if self.keypoints_2d is None:
                raise ValueError("HOIShard.keypoint_scores given without keypoints_2d")
            k = values["keypoints_2d"].shape[1]
            values["keypoint_scores"] = _array(self.keypoint_scores, "keypoint_scores", np.float32, (n, k))
        if self.floor_plane is not None:
            plane = _array(self.floor_plane, "floor_plane", np.float32, (n, 4))
            norms = np.linalg.norm(plane[:, :3].astype(np.float64), axis=-1)
            if np.any(np.abs(norms - 1.0) > ROTATION_TOLERANCE):
                raise ValueError(f"HOIShard.floor_plane: normals must be unit length, got norms "
                                 f"in [{norms.min():.6f}, {norms.max():.6f}]")
            values["floor_plane"] = plane
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.body_pose_rotmat.shape[0])

    @property
    def num_pose_joints(self) -> int:
        """J, the number of non-root joints in `body_pose_rotmat`."""
        return int(self.body_pose_rotmat.shape[1])

    @property
    def num_shape(self) -> int:
        """S, the length of the shape vector."""
        return int(self.shape.shape[1])


def _leading(value: object, name: str) -> int:
    shape = np.shape(value)
    if len(shape) == 0:
        raise ValueError(f"HOIShard.{name} must be an array with a batch dimension, got a scalar")
    return int(shape[0])


def _check_shape(arr: np.ndarray, name: str, want: tuple[int | None, ...]) -> None:
    ok = arr.ndim == len(want) and all(w is None or w == s for w, s in zip(want, arr.shape))
    if not ok:
        pretty = "(" + ", ".join("*" if w is None else str(w) for w in want) + ")"
        raise ValueError(f"HOIShard.{name} must have shape {pretty}, got {tuple(arr.shape)}")


def _array(value: object, name: str, dtype: type, want: tuple[int | None, ...]) -> np.ndarray:
    """Validated read-only copy of `value` as `dtype` with shape `want` (None = any)."""
    raw = np.asarray(value)
    _check_shape(raw, name, want)
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"HOIShard.{name} must be numeric, got dtype {raw.dtype}")
    if np.issubdtype(dtype, np.integer):
        if raw.dtype.kind == "f":
            raise ValueError(f"HOIShard.{name} must be integer, got dtype {raw.dtype}")
    elif not np.all(np.isfinite(raw)):
        raise ValueError(f"HOIShard.{name} contains NaN or inf")
    arr = np.array(raw, dtype=dtype, copy=True, order="C")
    if dtype is np.float32 and not np.all(np.isfinite(arr)):
        raise ValueError(f"HOIShard.{name} overflows float32")
    arr.setflags(write=False)
    return arr


def _bool_array(value: object, name: str, want: tuple[int | None, ...]) -> np.ndarray:
    raw = np.asarray(value)
    _check_shape(raw, name, want)
    if raw.dtype != np.bool_:
        if raw.dtype.kind not in "iu" or not np.all((raw == 0) | (raw == 1)):
            raise ValueError(f"HOIShard.{name} must be bool (or integer 0/1), got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.bool_, copy=True, order="C")
    arr.setflags(write=False)
    return arr


def _strings(value: object, name: str, n: int) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValueError(f"HOIShard.{name} must be a sequence of N={n} strings, got one string")
    items = tuple(value)  # type: ignore[arg-type]
    if len(items) != n:
        raise ValueError(f"HOIShard.{name} must hold N={n} strings, got {len(items)}")
    if not all(isinstance(s, str) and s for s in items):
        raise ValueError(f"HOIShard.{name} entries must be non-empty strings")
    return items


def _check_rotations(rotmat: np.ndarray, name: str) -> None:
    """Raise unless every 3x3 block is a proper rotation (R^T R = I within 1e-4, det > 0)."""
    r = rotmat.astype(np.float64).reshape(-1, 3, 3)
    err = np.abs(np.swapaxes(r, -1, -2) @ r - np.eye(3)).max(axis=(-1, -2))
    if np.any(err > ROTATION_TOLERANCE):
        worst = int(np.argmax(err))
        raise ValueError(f"HOIShard.{name} is not orthonormal: max |R^T R - I| = {err[worst]:.2e} "
                         f"(> {ROTATION_TOLERANCE}) at flat index {worst}")
    if np.any(np.linalg.det(r) <= 0):
        raise ValueError(f"HOIShard.{name} contains reflections (det <= 0), not rotations")


# --------------------------------------------------------------------------------------------
# Reading and writing


def write_shard(path: str | Path, shard: HOIShard) -> Path:
    """Write `shard` to `path` (safetensors; strings + format version as JSON metadata).

    Returns the path. Parent folders are created. Training reads folders of
    `shard-<number>.safetensors` files (`iter_shards`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: np.ascontiguousarray(getattr(shard, name))
               for name in _REQUIRED_ARRAYS + _OPTIONAL_ARRAYS if getattr(shard, name) is not None}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "body_model": shard.body_model,
        "object_id": json.dumps(list(shard.object_id)),
        "sequence": json.dumps(list(shard.sequence)),
    }
    path.write_bytes(_canonical_header(save(tensors, metadata=metadata)))
    return path


def _canonical_header(data: bytes) -> bytes:
    """The same safetensors file with its JSON header keys sorted, so equal shards give equal
    bytes (safetensors writes its metadata map in arbitrary order). Offsets in the header are
    relative to the end of the header, so only the length prefix changes."""
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + data[8 + n:]


def read_shard(path: str | Path) -> HOIShard:
    """Read a shard written by `write_shard`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a safetensors file, is from another format or version,
            lacks a field, or its contents fail `HOIShard` validation (message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HOI shard not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for any corruption
        raise ValueError(f"{path}: not a readable safetensors HOI shard ({type(exc).__name__}: "
                         f"{exc}); delete it and write it again with write_shard") from None
    if metadata.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not an HOI shard (metadata format={metadata.get('format')!r}, "
                         f"expected {FORMAT_NAME!r})")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ValueError(f"{path}: HOI shard format version {metadata.get('format_version')!r} is "
                         f"not supported (this code reads version {FORMAT_VERSION}); re-create it")
    missing = [n for n in _REQUIRED_ARRAYS if n not in tensors]
    missing += [n for n in ("body_model",) + _STRING_FIELDS if n not in metadata]
    if missing:
        raise ValueError(f"{path}: HOI shard lacks fields {missing}")
    try:
        strings = {name: tuple(json.loads(metadata[name])) for name in _STRING_FIELDS}
        return HOIShard(body_model=metadata["body_model"], **strings,
                        **{name: tensors[name] for name in _REQUIRED_ARRAYS},
                        **{name: tensors.get(name) for name in _OPTIONAL_ARRAYS})
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: invalid HOI shard: {exc}") from None


def iter_shards(directory: str | Path) -> Iterator[HOIShard]:
    """Yield the shards `directory/shard-*.safetensors` in sorted file-name order.

    Raises FileNotFoundError when the folder is missing or holds no shard.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"shard folder not found: {directory}")
    paths = sorted(directory.glob(SHARD_GLOB))
    if not paths:
        raise FileNotFoundError(f"no {SHARD_GLOB} files in {directory}")
    for path in paths:
        yield read_shard(path)


def concat_shards(shards: Sequence[HOIShard]) -> HOIShard:
    """One shard holding all samples of `shards`, in order.

    All shards must share the body model, J, S and the set of optional fields present (and their
    sizes); otherwise ValueError says which.
    """
    shards = list(shards)
    if not shards:
        raise ValueError("concat_shards needs at least one shard")
    first = shards[0]
    for i, s in enumerate(shards[1:], start=1):
        if s.body_model != first.body_model:
            raise ValueError(f"concat_shards: shard {i} has body_model {s.body_model!r}, "
                             f"shard 0 has {first.body_model!r}")
        for name in _REQUIRED_ARRAYS + _OPTIONAL_ARRAYS:
            a, b = getattr(first, name), getattr(s, name)
            if (a is None) != (b is None):
                raise ValueError(f"concat_shards: {name} is present in only some shards (shard {i})")
            if a is not None and a.shape[1:] != b.shape[1:]:
                raise ValueError(f"concat_shards: {name} of shard {i} has per-sample shape "
                                 f"{b.shape[1:]}, shard 0 has {a.shape[1:]}")
    values: dict[str, object] = {}
    for f in fields(HOIShard):
        name = f.name
        if name == "body_model":
            values[name] = first.body_model
        elif name in _STRING_FIELDS:
            values[name] = tuple(x for s in shards for x in getattr(s, name))
        elif getattr(first, name) is None:
            values[name] = None
        else:
            values[name] = np.concatenate([getattr(s, name) for s in shards], axis=0)
    return HOIShard(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Helpers for producers: SMPL-family translation convention across frames


@dataclass(frozen=True)
class RestRootJoint:
    """Rest-pose root joint of a SMPL-family model as a linear function of the betas.

    ``rest_root(betas) = template + shapedirs @ betas`` (body frame, metres), which is
    ``J_regressor[0] @ (v_template + shapedirs_v @ betas)`` of the model file; precomputing the
    3 x S map avoids keeping the whole model around.

    Attributes:
        template: (3,) float64 root joint of the mean shape.
        shapedirs: (3, S) float64 change of the root joint per beta.
    """

    template: np.ndarray
    shapedirs: np.ndarray

    def __post_init__(self) -> None:
        template = np.asarray(self.template, dtype=np.float64)
        shapedirs = np.asarray(self.shapedirs, dtype=np.float64)
        if template.shape != (3,) or shapedirs.ndim != 2 or shapedirs.shape[0] != 3:
            raise ValueError(f"RestRootJoint needs template (3,) and shapedirs (3, S), got "
                             f"{template.shape} and {shapedirs.shape}")
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "shapedirs", shapedirs)

    @classmethod
    def from_model_arrays(cls, J_regressor: np.ndarray, v_template: np.ndarray,
                          shapedirs: np.ndarray) -> "RestRootJoint":
        """From model-file arrays: J_regressor (J, V) (dense or scipy sparse), v_template (V, 3),
        shapedirs (V, 3, S)."""
        row = J_regressor[0]
        row = np.asarray(row.toarray() if hasattr(row, "toarray") else row, dtype=np.float64).reshape(-1)
        v_template = np.asarray(v_template, dtype=np.float64)
        shapedirs = np.asarray(shapedirs, dtype=np.float64)
        return cls(template=row @ v_template, shapedirs=np.einsum("v,vcs->cs", row, shapedirs))

    @classmethod
    def from_npz(cls, path: str | Path, num_betas: int | None = None) -> "RestRootJoint":
        """From a SMPL-H / SMPL-X `.npz` model file (keys J_regressor, v_template, shapedirs),
        keeping the first `num_betas` shape directions (all when None). Loaded without pickle."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"body model file not found: {path}")
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("J_regressor", "v_template", "shapedirs") if k not in data]
            if missing:
                raise ValueError(f"{path}: body model file lacks {missing}")
            shapedirs = data["shapedirs"]
            if num_betas is not None:
                shapedirs = shapedirs[..., :num_betas]
            return cls.from_model_arrays(data["J_regressor"], data["v_template"], shapedirs)

    def __call__(self, betas: np.ndarray) -> np.ndarray:
        """(N, S') betas -> (N, 3) float64 rest root joints; S' may be shorter than S."""
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 2 or betas.shape[1] > self.shapedirs.shape[1]:
            raise ValueError(f"RestRootJoint: betas must be (N, <= {self.shapedirs.shape[1]}), "
                             f"got {betas.shape}")
        return self.template + betas @ self.shapedirs[:, : betas.shape[1]].T


def smpl_root_to_frame(root_rotmat: np.ndarray, transl: np.ndarray, rest_root: np.ndarray,
                       rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-express a SMPL-family root (model `transl` convention) in a new frame.

    With ``x_new = rotation @ x_old + translation`` and SMPL vertices
    ``v = R (v_rest - J0) + J0 + transl``, the same body in the new frame has
    ``R' = rotation @ R`` and ``transl' = rotation @ (J0 + transl) + translation - J0``.

    Args:
        root_rotmat: (N, 3, 3) root rotation, old frame.
        transl: (N, 3) SMPL `transl`, old frame, metres.
        rest_root: (N, 3) rest-pose root joint J0(betas), body frame, metres.
        rotation: (3, 3) or (N, 3, 3) old -> new rotation.
        translation: (3,) or (N, 3) old -> new translation, metres.
    Returns:
        (root_rotmat (N, 3, 3), transl (N, 3)) float64 in the new frame.
    """
    rotation = np.broadcast_to(np.asarray(rotation, dtype=np.float64), np.shape(root_rotmat))
    translation = np.asarray(translation, dtype=np.float64)
    pelvis = np.asarray(rest_root, dtype=np.float64) + np.asarray(transl, dtype=np.float64)
    pelvis_new = np.einsum("nij,nj->ni", rotation, pelvis) + translation
    return rotation @ np.asarray(root_rotmat, dtype=np.float64), pelvis_new - rest_root


def rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (radians) -> (..., 3, 3) float64 rotation matrices.

    Rodrigues' formula R = I + sin(a)/a K + (1 - cos(a))/a^2 K^2 (K the cross-product matrix of
    the rotation vector, a its norm) in numpy float64, with Taylor terms below a = 1e-4; same
    result as `roma.rotvec_to_rotmat` without importing torch in data tools.
    """
    rotvec = np.asarray(rotvec, dtype=np.float64)
    if rotvec.shape[-1:] != (3,):
        raise ValueError(f"axis-angle arrays must end with 3, got shape {rotvec.shape}")
    angle = np.linalg.norm(rotvec, axis=-1)[..., None, None]
    small = angle < 1e-4
    safe = np.where(small, 1.0, angle)
    a = np.where(small, 1.0 - angle**2 / 6.0, np.sin(safe) / safe)  # sin(a)/a
    b = np.where(small, 0.5 - angle**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)  # (1-cos a)/a^2
    x, y, z = rotvec[..., 0], rotvec[..., 1], rotvec[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(rotvec.shape[:-1] + (3, 3))
    return np.eye(3) + a * K + b * (K @ K)
