#!/usr/bin/env python3
"""Build scorehoi_node/core/synth/assets/mocap_library.npz from CMU BVH clips.

Source: Debian package `assimp-testmodels` (/usr/share/assimp/models/BVH/01_01.bvh, 01_03.bvh:
CMU Graphics Lab Motion Capture Database, cgspeed BVH conversion; "free for use in research and
commercial projects worldwide"). Install it with `apt-get install assimp-testmodels`.

    python scripts/build_mocap_library.py [--src DIR] [--fps 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scorehoi_node.core.synth.mocap import LIBRARY_FILE, LIBRARY_JOINTS, forward_kinematics, parse_bvh

CLIPS = ("01_01.bvh", "01_03.bvh")
INCH_TO_M = 0.0254 * 2.222  # cgspeed CMU BVH units (1 unit = 1/0.45 inch, CMU's ASF scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", type=Path, default=Path("/usr/share/assimp/models/BVH"))
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    joints, clip_ids = [], []
    for k, name in enumerate(CLIPS):
        clip = parse_bvh((args.src / name).read_text())
        step = max(int(round(1.0 / (clip.frame_time * args.fps))), 1)
        pos = forward_kinematics(clip, np.arange(0, len(clip.motion), step))
        idx = [clip.names.index(j) for j in LIBRARY_JOINTS]
        p = pos[:, idx] * INCH_TO_M
        p[:, :, [0, 2]] -= p[:, :1, [0, 2]]          # root-relative horizontally
        p[:, :, 1] -= p[:, :, 1].min(axis=1, keepdims=True)  # lowest joint of each frame on y=0
        joints.append(p.astype(np.float32))
        clip_ids.append(np.full(len(p), k, np.int16))
    LIBRARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(LIBRARY_FILE, joints=np.concatenate(joints), clip=np.concatenate(clip_ids),
                        clip_names=np.array(CLIPS), fps=np.float32(args.fps))
    print(f"wrote {LIBRARY_FILE} ({sum(len(j) for j in joints)} poses)")


if __name__ == "__main__":
    main()
