"""Client process of test_node_external: plays a camera plus a detector node publishing
vision_msgs/Detection2DArray, and prints the node's answers as JSON (one line).

Runs in its own process so the test process holds no rclpy node: tearing down a client node
inside a long pytest process was seen to block in rclpy's destroy_node.

    python -m tests.ros.external_client IMAGE.npy
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.core.types import CameraIntrinsics
from scorehoi_node.ros import conversions as conv
from tests.ros.rostest_utils import spin_until


def main() -> None:
    rgb = np.load(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("external_client")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    got: list = []
    image_pub = node.create_publisher(Image, "/camera/image_raw", 10)
    info_pub = node.create_publisher(CameraInfo, "/camera/camera_info", 10)
    det_pub = node.create_publisher(Detection2DArray, "/detections", 10)
    node.create_subscription(HumanObjectInteractionArray, "/scorehoi/interactions", got.append, 10)
    counts: dict[str, int] = {}
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: counts.update(
        {kv.key: int(kv.value) for st in m.status for kv in st.values}), 10)
    out: dict = {"matched": spin_until(ex, lambda: image_pub.get_subscription_count() > 0
                                       and det_pub.get_subscription_count() > 0, 90)}
    cam = CameraIntrinsics.from_fov(640, 480, 60.0)
    # Fast DDS was seen to drop the first reliable samples for a while after both sides report
    # the match: a camera_info (stamp 0) until the node has counted one
    for _ in range(100):
        info_pub.publish(conv.intrinsics_to_camera_info(cam, Header(frame_id="cam")))
        if spin_until(ex, lambda: counts.get("camera_info_in", 0) > 0, 0.3):
            break
    # frame 1 without detections: where is the person's right wrist?
    h = Header(frame_id="cam")
    h.stamp.sec = 6
    info_pub.publish(conv.intrinsics_to_camera_info(cam, h))
    image_pub.publish(conv.rgb_to_image(rgb, h))
    if spin_until(ex, lambda: len(got) == 1, 60) and got[0].interactions:
        first = got[0].interactions[0]
        out["first_has_object"] = bool(first.has_object)
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
        spin_until(ex, lambda: False, 0.3)  # let the detections arrive before the image
        image_pub.publish(conv.rgb_to_image(rgb, h))
        if spin_until(ex, lambda: len(got) == 2, 60) and got[1].interactions:
            inter = got[1].interactions[0]
            p = inter.object_pose.position
            out.update(has_object=bool(inter.has_object), object_class=inter.object_class,
                       object_template=inter.object_template, position=[p.x, p.y, p.z])
    print(json.dumps(out), flush=True)
    os._exit(0)  # no rclpy teardown: this process only reports


if __name__ == "__main__":
    main()
