"""Object stage pieces: warm starts between keyframes, the wrist distance of a candidate."""

from __future__ import annotations

import numpy as np

from scorehoi_node.core.stages.objects import WarmStarts, wrist_distance
from scorehoi_node.core.types import FoundObject, ObjectCandidate, ObjectEstimate


def _found(keyframe: bool, x: float = 0.0) -> FoundObject:
    est = ObjectEstimate("sports ball", "ball", np.eye(3), np.array([x, 0.0, 2.0]),
                         np.full(3, 0.2), 0.9)
    return FoundObject(est, None, None, person=0, keyframe=keyframe)


def test_warm_start_until_a_keyframe_is_due():
    warm = WarmStarts()
    assert warm.get(7, keyframe_interval=3) is None  # nothing known yet
    warm.remember(7, _found(keyframe=True, x=0.1))     # full search: age 0
    got = warm.get(7, 3)
    assert got is not None and got.template_id == "ball" and got.translation[0] == 0.1
    warm.remember(7, _found(keyframe=False, x=0.2))    # warm fit: age 1
    assert warm.get(7, 3).translation[0] == 0.2
    warm.remember(7, _found(keyframe=False))           # age 2: the next frame is a keyframe
    assert warm.get(7, 3) is None
    assert warm.get(7, 4) is not None                   # with a longer interval it is not
    warm.remember(7, None)                              # lost the object: forget it
    assert warm.get(7, 4) is None


def test_warm_starts_of_dead_tracks_are_forgotten():
    warm = WarmStarts()
    warm.remember(1, _found(True))
    warm.remember(2, _found(True))
    warm.keep({2})
    assert warm.get(1, 8) is None and warm.get(2, 8) is not None


def test_wrist_distance_uses_the_mask_centroid_else_the_box_centre():
    mask = np.zeros((10, 20), bool)
    mask[2:4, 10:12] = True  # centroid (10.5, 2.5)
    wrists = np.array([[0.0, 0.0], [10.5, 6.5]])
    with_mask = ObjectCandidate("external", "cup", np.array([0, 0, 20, 10.0]), 1.0, mask=mask)
    assert wrist_distance(with_mask, wrists) == 4.0
    box_only = ObjectCandidate("external", "cup", np.array([10, 2, 14, 6.0]), 1.0)
    assert wrist_distance(box_only, wrists) == np.hypot(1.5, 2.5)
