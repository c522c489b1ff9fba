"""Motion capture as a source of natural poses: BVH parsing, forward kinematics, and the
shipped pose library (CMU clips, positions of the main joints).

The library stores joint *positions* of a fixed joint set, not rotations of one skeleton, so
any body model can be posed from it by aiming its bones (see `synth.retarget`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

ASSETS = Path(__file__).parent / "assets"
LIBRARY_FILE = ASSETS / "mocap_library.npz"

#: joints kept in the library (names of the CMU BVH skeleton), in library order
LIBRARY_JOINTS = (
    "Hips", "LowerBack", "Spine1", "Neck1", "Head",
    "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
    "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase",
    "LeftFingerBase", "RightFingerBase", "LeftShoulder", "RightShoulder", "Neck",
)


@dataclass(frozen=True)
class BVHClip:
    """A parsed BVH file.

    Attributes:
        names: (J,) joint names (end sites excluded).
        parents: (J,) parent index, -1 for the root.
        offsets: (J, 3) joint offsets from the parent, file units.
        channels: per joint, the channel names in file order.
        motion: (F, C) channel values per frame (degrees, file units).
        frame_time: seconds per frame.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    motion: np.ndarray
    frame_time: float


def parse_bvh(text: str) -> BVHClip:
    """Parse a BVH file's text (HIERARCHY + MOTION)."""
    head, sep, motion_txt = text.partition("MOTION")
    if not sep:
        raise ValueError("not a BVH file: no MOTION section")
    tokens = re.findall(r"[^\s{}]+|[{}]", head)
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i, pending_end = 0, False
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append(())
            i += 2
        elif tok == "End":
            pending_end = True
            i += 2
        elif tok == "{":
            stack.append(-2 if pending_end else len(names) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            pending_end = False
            i += 1
        elif tok == "OFFSET":
            if not pending_end:
                offsets[-1] = [float(x) for x in tokens[i + 1:i + 4]]
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels[-1] = tuple(tokens[i + 2:i + 2 + n])
            i += 2 + n
        else:
            i += 1
    lines = [ln for ln in motion_txt.strip().splitlines() if ln.strip()]
    frame_time = float(lines[1].split(":")[1])
    n_channels = sum(len(c) for c in channels)
    rows = [ln.split() for ln in lines[2:]]
    bad = [k for k, r in enumerate(rows) if len(r) != n_channels]
    if bad:
        raise ValueError(f"BVH motion frame {bad[0]} has {len(rows[bad[0]])} columns, the "
                         f"hierarchy declares {n_channels} channels")
    motion = np.array(rows, dtype=np.float64).reshape(len(rows), n_channels)
    return BVHClip(tuple(names), np.array(parents), np.array(offsets, dtype=np.float64),
                   tuple(channels), motion, frame_time)


def forward_kinematics(clip: BVHClip, frames: np.ndarray | None = None) -> np.ndarray:
    """Joint positions (F, J, 3) in file units and the file's world frame."""
    motion = clip.motion if frames is None else clip.motion[frames]
    n_frames, n_joints = len(motion), len(clip.names)
    pos = np.zeros((n_frames, n_joints, 3))
    glob = np.zeros((n_frames, n_joints, 3, 3))
    col = 0
    for j in range(n_joints):
        ch = clip.channels[j]
        vals = motion[:, col:col + len(ch)]
        col += len(ch)
        rot_axes = "".join(c[0] for c in ch if c.endswith("rotation"))
        rot_vals = np.stack([vals[:, k] for k, c in enumerate(ch) if c.endswith("rotation")], 1) \
            if rot_axes else np.zeros((n_frames, 0))
        local = (Rotation.from_euler(rot_axes.upper(), rot_vals, degrees=True).as_matrix()
                 if rot_axes else np.tile(np.eye(3), (n_frames, 1, 1)))
        offset = clip.offsets[j].copy()
        trans = np.zeros((n_frames, 3))
        for k, c in enumerate(ch):
            if c.endswith("position"):
                trans[:, "XYZ".index(c[0])] = vals[:, k]
        p = clip.parents[j]
        if p < 0:
            glob[:, j] = local
            pos[:, j] = offset + trans
        else:
            glob[:, j] = glob[:, p] @ local
            pos[:, j] = pos[:, p] + np.einsum("fij,j->fi", glob[:, p], offset) + trans
    return pos


@dataclass(frozen=True)
class MocapLibrary:
    """Poses of the shipped clips.

    Attributes:
        joints: (F, len(LIBRARY_JOINTS), 3) float32 joint positions [m], Y up, root-relative
            horizontally (the hips' x/z removed), feet on y = 0 at the clip's lowest point.
        clip: (F,) int index into `clip_names`.
        clip_names: source clip of each index.
        fps: frames per second of the library.
    """

    joints: np.ndarray
    clip: np.ndarray
    clip_names: tuple[str, ...]
    fps: float

    def __len__(self) -> int:
        return len(self.joints)


@lru_cache(maxsize=1)
def load_library(path: Path = LIBRARY_FILE) -> MocapLibrary:
    if not path.is_file():
        raise FileNotFoundError(f"mocap library {path} is missing; rebuild it with "
                                "scripts/build_mocap_library.py (needs apt assimp-testmodels)")
    with np.load(path) as z:
        return MocapLibrary(z["joints"].astype(np.float32), z["clip"], tuple(z["clip_names"]),
                            float(z["fps"]))
