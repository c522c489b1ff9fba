"""Assignment stage: each object goes to at most one person, the one touching it in 3D, else the
nearest in the image within a gate relative to the person's size; never to a far person."""

from __future__ import annotations

import numpy as np
import pytest

from scorehoi_node.core.config import AssignmentConfig, PipelineConfig
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.stages.assignment import (AssignmentStage, box_point_distance,
                                                  image_distance)
from scorehoi_node.core.stages.object_sources import ExternalSource
from scorehoi_node.core.stages.objects import ObjectStage
from scorehoi_node.core.types import (CameraIntrinsics, Detections, Frame, HumanEstimate,
                                      ObjectCandidate, ObjectDetection, Person, PersonDetection)

CAMERA = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), 640, 480)
JOINTS = ("pelvis", "spine", "head", "wrist.L", "wrist.R")


def person(track: int, pelvis_xyz, hand_offset=(0.3, 0.0, 0.0)) -> Person:
    """A standing person (camera frame, y down): pelvis, spine, head and two wrists, the right
    wrist at `hand_offset` from the pelvis; 33 MediaPipe keypoints at the projected joints,
    the person's box from head to feet."""
    p = np.asarray(pelvis_xyz, np.float64)
    joints = np.array([p, p + [0, -0.3, 0], p + [0, -0.7, 0], p + [-0.3, 0, 0],
                       p + np.asarray(hand_offset)])
    uv = CAMERA.project(joints)
    kp = np.tile(uv[0], (33, 1))
    kp[0], kp[11], kp[12], kp[15], kp[16] = uv[2], uv[1], uv[1], uv[3], uv[4]
    feet = CAMERA.project((p + [0, 0.9, 0])[None])[0]
    box = np.array([uv[:, 0].min() - 5, uv[2, 1], uv[:, 0].max() + 5, feet[1]])
    det = PersonDetection(kp, np.ones(33), None, "mediapipe33", box, 0.9)
    human = HumanEstimate("skeleton", JOINTS, np.array([-1, 0, 1, 0, 0]),
                          np.tile(np.eye(3), (5, 1, 1)), joints, np.zeros(5), 0.9)
    return Person(track, det, human)


def cube_points(centre, half=0.05, n=5) -> np.ndarray:
    g = np.linspace(-half, half, n)
    return np.stack(np.meshgrid(g, g, g), -1).reshape(-1, 3) + np.asarray(centre)


def candidate(points=None, box=None, score=0.8, owner_hint=None, mask=None) -> ObjectCandidate:
    if box is None:
        uv = CAMERA.project(points)
        box = np.r_[uv.min(0), uv.max(0)]
    return ObjectCandidate("rgbd" if owner_hint is not None else "external",
                           None if owner_hint is not None else "sports ball",
                           np.asarray(box, np.float64), score, mask=mask, points=points,
                           person=owner_hint)


def test_3d_far_person_never_gets_the_object():
    near, far = person(1, [0.0, 0.0, 3.0]), person(2, [1.5, 0.0, 5.0])
    obj = candidate(cube_points([0.35, 0.0, 3.0]))  # in the near person's right hand
    stage = AssignmentStage()
    for order in ([near, far], [far, near]):
        got = stage(order, [obj])
        assert got.owner == (order.index(near),)
        assert got.cost[0, order.index(far)] > 1.0  # beyond the gate, not just second best
    # the near person walks away: nobody gets it, and it is counted
    got = stage([person(1, [-1.5, 0.0, 3.0]), far], [obj])
    assert got.owner == (None,)
    assert stage.stats["near_nobody"] == 1 and stage.stats["assigned"] == 2


def test_3d_ambiguous_object_goes_to_the_nearest():
    a = person(1, [0.0, 0.0, 3.0], hand_offset=(0.3, 0.0, 0.0))
    b = person(2, [0.88, 0.0, 3.0], hand_offset=(-0.3, 0.0, 0.0))
    # the object sits between the two right hands: 5 cm (surface) from a's, 13 cm from b's
    obj = candidate(cube_points([0.40, 0.0, 3.0]))
    stage = AssignmentStage(AssignmentConfig(touch_m=0.25))
    got = stage([b, a], [obj])
    assert np.all(got.cost[0] <= 1.0)               # both could touch it ...
    assert got.owner == (1,)                        # ... the nearest in 3D (a) gets it
    assert stage.stats["contested"] == 1
    np.testing.assert_allclose(got.cost[0, 1] * 0.25, 0.05, atol=1e-9)
    np.testing.assert_allclose(got.cost[0, 0] * 0.25, 0.13, atol=1e-9)


def test_one_object_per_person_and_duplicates_merged():
    a, b = person(1, [0.0, 0.0, 3.0]), person(2, [1.5, 0.0, 3.0])
    mask = np.zeros((480, 640), bool)
    mask[200:220, 400:420] = True
    pts = cube_points([0.35, 0.0, 3.0])
    # the same cluster found at both people's wrists (source hints 0 and 1) and a second
    # object in a's other hand: a gets one object, the duplicate is merged, b gets nothing
    dup0 = candidate(pts, owner_hint=0, mask=mask, score=0.9)
    dup1 = candidate(pts, owner_hint=1, mask=mask.copy(), score=0.7)
    other = candidate(cube_points([-0.35, 0.0, 3.0]), owner_hint=0, score=0.5)
    stage = AssignmentStage()
    got = stage([a, b], [dup0, dup1, other])
    assert got.kept == (True, False, True)
    assert sorted(o for o in got.owner if o is not None) == [0]
    assert got.owner[1] is None and got.of_person(1) is None
    assert stage.stats == {"assigned": 1, "near_nobody": 0, "outranked": 1, "contested": 0,
                           "merged": 1}


def test_2d_gate_is_relative_to_the_person_height():
    big, small = person(1, [0.0, 0.0, 2.0]), person(2, [0.0, 0.0, 8.0])
    h_big = big.detection.box[3] - big.detection.box[1]
    h_small = small.detection.box[3] - small.detection.box[1]
    assert h_big > 3 * h_small
    for p, h in ((big, h_big), (small, h_small)):
        wrist = p.detection.keypoints_2d[16]
        box = np.r_[wrist + [0.1 * h_big, -5], wrist + [0.1 * h_big + 10, 5]]  # same px gap
        np.testing.assert_allclose(image_distance(p, box), 0.1 * h_big / h, rtol=1e-9)
        got = AssignmentStage(AssignmentConfig(image_gate=0.15))([p], [candidate(box=box)])
        assert got.owner == ((0,) if p is big else (None,))


def test_2d_far_person_never_gets_the_object():
    near = person(1, [-0.5, 0.0, 2.5])
    far = person(2, [0.9, 0.0, 6.0])  # smaller in the image, standing to the right
    wrist = near.detection.keypoints_2d[16]
    obj = candidate(box=np.r_[wrist - 8, wrist + 8])
    got = AssignmentStage()([far, near], [obj])
    assert got.owner == (1,)
    assert got.cost[0, 0] > 1.0


def test_box_point_distance_is_zero_inside_and_euclidean_outside():
    box = np.array([10.0, 10.0, 20.0, 30.0])
    d = box_point_distance(box, np.array([[15.0, 20.0], [25.0, 20.0], [23.0, 34.0]]))
    np.testing.assert_allclose(d, [0.0, 5.0, 5.0])


@pytest.fixture(scope="module")
def library():
    return load_library()


def test_object_stage_gives_a_detected_object_to_the_person_holding_it(library):
    """The issue's photo: two people, one holds a ball (an external 2D detection, no depth);
    the other person, whose wrist is nearer than any gate would allow, gets nothing."""
    holder, other = person(1, [-0.6, 0.0, 3.0]), person(2, [0.6, 0.0, 3.0])
    wrist = holder.detection.keypoints_2d[16]
    ball = ObjectDetection("sports ball", np.r_[wrist - 15, wrist + 15], 0.9)
    frame = Frame(rgb=np.zeros((480, 640, 3), np.uint8), camera=CAMERA, stamp_ns=1,
                  frame_id="cam")
    stage = ObjectStage(PipelineConfig(object_source="external"), library,
                        source=ExternalSource())
    out = stage(frame, [other, holder], Detections([], [ball], "external"))
    assert [f.person for f in out.found] == [1]
    assert out.found[0].estimate.class_name == "sports ball"
    assert stage.assignment.stats["assigned"] == 1
