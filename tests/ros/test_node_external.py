"""object_source: external — 2D boxes from another detector node (vision_msgs) become the
object of the interaction, across processes on real DDS."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.core.types import CameraIntrinsics
from scorehoi_node.ros import conversions as conv
from tests.conftest import ROOT
from tests.ros.rostest_utils import NodeProcess, make_context, spin_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_external_detection_becomes_the_held_object(tmp_path, person_640x480):
    params = yaml.safe_load((ROOT / "config" / "scorehoi.yaml").read_text())
    params["/**"]["ros__parameters"]["object_source"] = "external"
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    node = NodeProcess(tmp_path / "node.log", params=pfile)
    ctx = make_context()
    client = rclpy.create_node("external_client", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(client)
    got = []
    try:
        image_pub = client.create_publisher(Image, "/camera/image_raw", 10)
        info_pub = client.create_publisher(CameraInfo, "/camera/camera_info", 10)
        det_pub = client.create_publisher(Detection2DArray, "/detections", 10)
        client.create_subscription(HumanObjectInteractionArray, "/scorehoi/interactions",
                                   got.append, 10)
        assert spin_until(ex, lambda: image_pub.get_subscription_count() > 0
                          and det_pub.get_subscription_count() > 0, 90), node.log()
        time.sleep(0.3)
        cam = CameraIntrinsics.from_fov(640, 480, 60.0)
        # frame 1 without detections: where is the person's right wrist?
        h = Header(frame_id="cam")
        h.stamp.sec = 6
        info_pub.publish(conv.intrinsics_to_camera_info(cam, h))
        image_pub.publish(conv.rgb_to_image(person_640x480, h))
        assert spin_until(ex, lambda: len(got) == 1, 60), node.log()
        first = got[0].interactions[0]
        assert not first.has_object  # no depth, no detections: no object
        j = first.joint_positions[list(first.joint_names).index("wrist.R")]
        wrist = cam.project(np.array([[j.x, j.y, j.z]]))[0]
        # frame 2: a detector node reports a cup at that wrist
        h = Header(frame_id="cam")
        h.stamp.sec = 7
        box = Detection2D(header=h)
        box.bbox.center.position.x, box.bbox.center.position.y = float(wrist[0]), float(wrist[1])
        box.bbox.size_x, box.bbox.size_y = 30.0, 36.0
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = "cup", 0.9
        box.results = [hyp]
        info_pub.publish(conv.intrinsics_to_camera_info(cam, h))
        det_pub.publish(Detection2DArray(header=h, detections=[box]))
        image_pub.publish(conv.rgb_to_image(person_640x480, h))
        assert spin_until(ex, lambda: len(got) == 2, 60), node.log()
        (inter,) = got[1].interactions
        assert inter.has_object and inter.object_class == "cup" and inter.object_template == "mug"
        p = inter.object_pose.position
        assert 0.5 < p.z < 8.0 and np.isfinite([p.x, p.y, p.z]).all()
        assert node.alive()
    finally:
        ex.shutdown()  # leave the executor before destroying its node (else destroy can block)
        client.destroy_node()
        rclpy.shutdown(context=ctx)
        node.stop()
