"""BVH parsing and forward kinematics; the shipped pose library."""

import numpy as np
import pytest

from scorehoi_node.core.synth.mocap import (LIBRARY_JOINTS, forward_kinematics, load_library,
                                            parse_bvh)

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT Hand
    {
      OFFSET 2 0 0
      CHANNELS 3 Zrotation Yrotation Xrotation
      End Site
      {
        OFFSET 1 0 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0083333
0 0 0 0 0 0 0 0 0 0 0 0
10 0 0 90 0 0 0 0 0 0 90 0
"""


def test_parse_and_fk_by_hand():
    clip = parse_bvh(BVH)
    assert clip.names == ("Hips", "Arm", "Hand") and list(clip.parents) == [-1, 0, 1]
    assert clip.motion.shape == (2, 12) and clip.frame_time == pytest.approx(1 / 120, rel=1e-3)
    pos = forward_kinematics(clip)
    assert np.allclose(pos[0], [[0, 0, 0], [1, 0, 0], [3, 0, 0]])
    # frame 1: root at x=10 turned 90 deg about z, so the arm offset (1,0,0) -> (0,1,0) and
    # the hand offset (2,0,0) -> (0,2,0); the hand's own 90 deg about y moves only its children
    assert np.allclose(pos[1], [[10, 0, 0], [10, 1, 0], [10, 3, 0]], atol=1e-9)
    clip2 = parse_bvh(BVH.replace("0 0 0 0 0 0 0 0 0 0 0 0", "0 0 0 0 0 0 0 0 90 0 0 0"))
    # 90 deg on the arm's X channel (the 9th value): a spin about the bone itself
    pos2 = forward_kinematics(clip2)
    assert np.allclose(pos2[0], [[0, 0, 0], [1, 0, 0], [3, 0, 0]], atol=1e-9)  # x-axis spin


def test_bad_bvh_is_a_clear_error():
    with pytest.raises(ValueError, match="no MOTION section"):
        parse_bvh("HIERARCHY\nROOT Hips\n{\n}\n")
    with pytest.raises(ValueError, match="columns"):
        parse_bvh(BVH.replace("10 0 0 90 0 0 0 0 0 0 90 0", "10 0 0 90"))


def test_shipped_library_is_metric_and_upright():
    lib = load_library()
    assert lib.joints.shape[1:] == (len(LIBRARY_JOINTS), 3) and len(lib) > 1000
    assert lib.fps == 30.0 and set(np.unique(lib.clip)) == {0, 1}
    j = lib.joints
    shin = np.linalg.norm(j[:, LIBRARY_JOINTS.index("LeftLeg")] - j[:, LIBRARY_JOINTS.index("LeftFoot")], axis=1)
    assert 0.35 < np.median(shin) < 0.5  # metres
    head_up = j[:, LIBRARY_JOINTS.index("Head"), 1] - j[:, 0, 1]
    assert np.median(head_up) > 0.4  # Y up
