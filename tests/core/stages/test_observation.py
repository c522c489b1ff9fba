"""The refinement's view of a frame: one floor plane per frame from depth, with every person's
and object's pixels left out."""

from __future__ import annotations

import numpy as np

from scorehoi_node.core.stages.observation import frame_floor
from scorehoi_node.core.types import FoundObject, Frame, ObjectEstimate, PersonDetection


def _person(mask: np.ndarray) -> PersonDetection:
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    return PersonDetection(keypoints_2d=np.zeros((33, 2)), keypoint_scores=np.zeros(33),
                           keypoints_3d=None, keypoint_layout="mediapipe33", box=box,
                           score=1.0, mask=mask)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(a[:3] @ b[:3]), -1.0, 1.0))))


def test_frame_floor_matches_the_true_floor_and_ignores_people_and_objects(rendered):
    sf, _ = rendered
    frame = Frame(rgb=sf.rgb, camera=sf.camera, depth=sf.depth)
    person = _person(sf.mask == 1)
    obj = FoundObject(person=0, estimate=ObjectEstimate("x", "x", np.eye(3), np.zeros(3),
                                                         np.ones(3), 1.0),
                      mask=sf.mask == 2, points=None)
    plane = frame_floor(frame, [person], [obj])
    true = np.asarray(sf.floor_plane, float)
    assert _angle_deg(plane, true) < 0.5
    assert abs(plane[3] - true[3]) < 0.01  # [m]
    # a "person" covering the whole lower half: the floor pixels are gone, no plane
    lower = np.zeros(sf.mask.shape, bool)
    lower[sf.mask.shape[0] // 3:] = True
    assert frame_floor(frame, [person, _person(lower)], [obj]) is None
    assert frame_floor(Frame(rgb=sf.rgb, camera=sf.camera), [person], [obj]) is None
