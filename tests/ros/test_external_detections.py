"""vision_msgs/Detection2DArray -> core Detections (messages from the vendored vision_msgs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from vision_msgs.msg import (BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesis,
                             ObjectHypothesisWithPose, Point2D, Pose2D)

from scorehoi_node.ros.external_detections import (bbox_to_xyxy, class_name_of,
                                                   detections_from_msg)


def _det(cx, cy, sx, sy, *hyps, theta=0.0):
    return Detection2D(
        header=Header(frame_id="camera"),
        results=[ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=c, score=s))
                 for c, s in hyps],
        bbox=BoundingBox2D(center=Pose2D(position=Point2D(x=cx, y=cy), theta=theta),
                           size_x=sx, size_y=sy),
        id="")


def _array(*dets):
    msg = Detection2DArray(header=Header(frame_id="camera"), detections=list(dets))
    return deserialize_message(serialize_message(msg), Detection2DArray)  # a real wire round trip


@pytest.mark.parametrize("class_id,name", [
    ("person", "person"), ("Person ", "person"), ("0", "person"), ("41", "cup"), ("41.0", "cup"),
    ("79", "toothbrush"), ("80", "80"), ("-1", "-1"), ("sports ball", "sports ball"),
    ("", "unknown"),
])
def test_class_ids_map_to_coco_names(class_id, name):
    assert class_name_of(class_id) == name


def test_persons_and_objects_with_pixel_boxes():
    msg = _array(
        _det(100.0, 200.0, 40.0, 120.0, ("person", 0.9)),
        _det(300.5, 50.0, 20.0, 10.0, ("39", 0.3), ("41", 0.7)),  # best hypothesis wins: cup
        _det(10.0, 10.0, 4.0, 4.0, ("0", 0.05)),  # below min_score
        _det(50.0, 50.0, 10.0, 10.0),  # no results
    )
    out = detections_from_msg(msg, min_score=0.1)
    assert out.detector == "external"
    (p,) = out.persons
    np.testing.assert_allclose(p.box, [80, 140, 120, 260])
    assert p.score == pytest.approx(0.9) and p.keypoint_layout == "none"
    assert p.keypoints_2d.shape == (0, 2) and p.keypoint_scores.shape == (0,)
    assert p.keypoints_3d is None and p.mask is None
    (o,) = out.objects
    assert o.class_name == "cup" and o.score == pytest.approx(0.7) and o.mask is None
    np.testing.assert_allclose(o.box, [290.5, 45, 310.5, 55])


def test_boxes_clip_to_the_image_and_rotated_boxes_become_their_hull():
    msg = _array(_det(5.0, 5.0, 20.0, 20.0, ("cup", 0.8)),
                 _det(100.0, 100.0, 40.0, 20.0, ("bottle", 0.8), theta=math.pi / 2))
    out = detections_from_msg(msg, image_size=(640, 480))
    np.testing.assert_allclose(out.objects[0].box, [0, 0, 15, 15])
    np.testing.assert_allclose(out.objects[1].box, [90, 80, 110, 120], atol=1e-9)
    np.testing.assert_allclose(bbox_to_xyxy(msg.detections[1]), [90, 80, 110, 120], atol=1e-9)


def test_empty_array():
    out = detections_from_msg(_array())
    assert out.persons == [] and out.objects == []
