"""The node in its own process on real DDS: one answer per frame, robust to bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.core.types import CameraIntrinsics
from scorehoi_node.ros import conversions as conv
from tests.ros.rostest_utils import CameraClient, NodeProcess, make_context, spin_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CAM = CameraIntrinsics.from_fov(640, 480, 60.0)


class Client(CameraClient):
    """Plays a camera and records everything the node publishes."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx, "scorehoi_test_client")
        self.depth_pub = self.node.create_publisher(Image, "/camera/depth", self.qos)
        self.got: dict[str, list] = {k: [] for k in ("hoi", "tf", "markers", "joints", "diag")}
        self.rx_time: dict[int, float] = {}
        for key, cls, topic in (("hoi", HumanObjectInteractionArray, "/scorehoi/interactions"),
                                ("tf", TFMessage, "/tf"), ("markers", MarkerArray, "/scorehoi/markers"),
                                ("joints", JointState, "/scorehoi/human/joint_states"),
                                ("diag", DiagnosticArray, "/diagnostics")):
            self.node.create_subscription(cls, topic, self._cb(key), 50)

    def _cb(self, key):
        def cb(msg):
            if key == "hoi":
                self.rx_time[conv.stamp_to_ns(msg.header.stamp)] = time.perf_counter()
            self.got[key].append(msg)
        return cb

    def header(self, i: int) -> Header:
        h = Header(frame_id="test_camera_optical")
        h.stamp.sec, h.stamp.nanosec = 1000 + i, 500
        return h

    def send(self, i: int, image: Image, info: CameraInfo | None = None, depth: Image | None = None):
        h = self.header(i)
        if info is not None:
            info.header = h
            self.info_pub.publish(info)
        if depth is not None:
            depth.header = h
            self.depth_pub.publish(depth)
            # let the ~1.2 MB depth image arrive first (the node waits at most 50 ms for it
            # after the image; a real RGB-D camera publishes both together)
            spin_until(self.ex, lambda: False, 0.3)
        image.header = h
        t = time.perf_counter()
        self.image_pub.publish(image)
        return t

    def answered(self, i: int) -> bool:
        return conv.stamp_to_ns(self.header(i).stamp) in self.rx_time


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    log = tmp_path_factory.mktemp("node") / "node.log"
    node = NodeProcess(log)
    ctx = make_context()
    client = Client(ctx)
    try:
        # discovery complete on both sides for every input (our publishers see the node, and
        # the node reports on /diagnostics that it sees them), or a camera_info sent just
        # before the first image can still be in discovery when the image arrives
        def node_sees_us():
            if not client.got["diag"]:
                return False
            c = {kv.key: kv.value for st in client.got["diag"][-1].status for kv in st.values}
            return all(int(c.get(f"publishers_{k}", 0)) > 0
                       for k in ("image", "camera_info", "depth"))

        ok = spin_until(client.ex, lambda: all(
            pub.get_subscription_count() > 0
            for pub in (client.image_pub, client.info_pub, client.depth_pub))
            and client.node.count_publishers("/scorehoi/interactions") > 0
            and node_sees_us(), 90)
        assert ok, f"node did not come up:\n{node.log()}"
        # Fast DDS was seen to drop the first reliable samples for a while after both sides
        # report the match: send camera_infos until the node counted one
        info = conv.intrinsics_to_camera_info(CAM, Header(frame_id="test_camera_optical"))

        def infos_in():
            return sum(int(kv.value) for st in client.got["diag"][-1:] for kv in st.status[0].values
                       if kv.key == "camera_info_in")

        for _ in range(100):
            client.info_pub.publish(info)
            if spin_until(client.ex, lambda: infos_in() > 0, 0.3):
                break
        time.sleep(0.3)  # the first sample after matching can take 100-170 ms
        yield node, client
    finally:
        client.close()
        node.stop()


def test_one_array_per_frame_with_the_image_header(running, person_640x480, tmp_path):
    node, client = running
    info = conv.intrinsics_to_camera_info(CAM, Header())
    person = conv.rgb_to_image(person_640x480, Header(), "bgr8")
    blank = conv.rgb_to_image(np.full((480, 640, 3), 90, np.uint8), Header())
    latencies = []
    n = 8
    for i in range(n):
        t0 = client.send(i, person if i % 2 == 0 else blank, info)
        assert spin_until(client.ex, lambda: client.answered(i), 30), node.log()
        if i % 2 == 0:
            latencies.append(client.rx_time[conv.stamp_to_ns(client.header(i).stamp)] - t0)
    hoi = client.got["hoi"]
    assert len(hoi) == n
    for i, msg in enumerate(hoi):
        assert msg.header.stamp == client.header(i).stamp
        assert msg.header.frame_id == "test_camera_optical"
        assert len(msg.interactions) == (1 if i % 2 == 0 else 0), i
    inter = hoi[0].interactions[0]
    assert inter.body_model == "anny" and len(inter.joint_names) == 20
    assert 1.0 < inter.root_pose.position.z < 8.0 and inter.processing_time > 0
    # side outputs for frames with a person
    assert spin_until(client.ex, lambda: len(client.got["tf"]) >= n // 2, 5)
    assert client.got["tf"][0].transforms[0].child_frame_id == "scorehoi/human_1/pelvis"
    assert client.got["tf"][0].transforms[0].header.frame_id == "test_camera_optical"
    assert len(client.got["joints"]) == n // 2 and len(client.got["joints"][0].name) == 3 * 19
    mesh = [m for m in client.got["markers"][0].markers if m.ns == "human_mesh"]
    # the body mesh decimated to marker_mesh_faces triangles (the node's bytes decode to it)
    faces = conv.MARKER_MESH_FACES
    assert len(mesh) == 1 and 0.95 * 3 * faces <= len(mesh[0].points) <= 3 * faces
    assert spin_until(client.ex, lambda: len(client.got["markers"]) == n, 5)
    print(json.dumps({"frame_to_interactions_latency_ms_median":
                      round(1e3 * float(np.median(latencies)), 1),
                      "latencies_ms": [round(1e3 * x, 1) for x in latencies]}))


def test_malformed_input_is_skipped_and_the_node_keeps_answering(running, person_640x480):
    node, client = running
    good_info = conv.intrinsics_to_camera_info(CAM, Header())
    good = conv.rgb_to_image(person_640x480, Header())
    bad_images = []
    for mutate in (lambda m: setattr(m, "encoding", "yuv422"),
                   lambda m: setattr(m, "step", 7),
                   lambda m: setattr(m, "data", bytes(100)),
                   lambda m: (setattr(m, "width", 0), setattr(m, "height", 0),
                              setattr(m, "step", 0), setattr(m, "data", b""))):
        m = conv.rgb_to_image(person_640x480, Header())
        mutate(m)
        bad_images.append(m)
    small = conv.rgb_to_image(person_640x480[:240, :320].copy(), Header())  # != camera_info size
    nan_info = CameraInfo(width=640, height=480, k=[float("nan")] * 9)
    base = 100
    for k, img in enumerate(bad_images + [small]):
        client.send(base + k, img, good_info)
        spin_until(client.ex, lambda: False, 0.3)
    nan_info.header = client.header(base + 10)
    client.info_pub.publish(nan_info)
    spin_until(client.ex, lambda: False, 0.3)
    client.send(base + 10, good)  # the NaN camera_info of this stamp arrived before the image

    def counted():
        if not client.got["diag"]:
            return {}
        return {kv.key: int(kv.value) for s in client.got["diag"][-1].status for kv in s.values
                if not kv.key.startswith("publishers_")}

    # the node has rejected that frame (diagnostics, 1 Hz) before the next camera_info comes
    assert spin_until(client.ex, lambda: counted().get("skipped_invalid_camera_info", 0) >= 1,
                      10), node.log()[-2000:]
    # a depth image of the wrong size is ignored, the frame itself still answered
    wrong_depth = conv.depth_to_image(np.ones((10, 10), np.float32), Header())
    client.send(base + 11, good, good_info, depth=wrong_depth)
    assert spin_until(client.ex, lambda: client.answered(base + 11), 30), node.log()
    assert node.alive()
    for k in range(len(bad_images) + 1):
        assert not client.answered(base + k)
    assert not client.answered(base + 10), node.log()[-3000:]
    # throttled, counted, one line each
    log = node.log()
    assert log.count("unsupported image encoding 'yuv422'") == 1
    assert "invalid camera_info" in log and "ignoring its depth image" in log
    assert "image is 320x240 but camera_info says 640x480" in log

    want = {"skipped_unsupported_encoding", "skipped_bad_step", "skipped_bad_data_size",
            "skipped_zero_size", "skipped_size_mismatch", "skipped_invalid_camera_info",
            "ignored_depth_size_mismatch"}
    assert spin_until(client.ex, lambda: want <= set(counted()), 5), counted()
    c = counted()
    dropped = c.get("dropped_superseded", 0)
    assert sum(c[k] for k in want) + dropped >= 7 and c["frames_out"] >= 1


def test_depth_image_is_used_when_its_stamp_matches(running, person_640x480):
    node, client = running
    info = conv.intrinsics_to_camera_info(CAM, Header())
    good = conv.rgb_to_image(person_640x480, Header())
    client.send(200, good, info)
    assert spin_until(client.ex, lambda: client.answered(200), 30)
    z_rgb = client.got["hoi"][-1].interactions[0].root_pose.position.z
    depth = conv.depth_to_image(np.full((480, 640), 1.5 * z_rgb, np.float32), Header())
    client.send(201, good, info, depth=depth)
    assert spin_until(client.ex, lambda: client.answered(201), 30)
    z_depth = client.got["hoi"][-1].interactions[0].root_pose.position.z
    assert z_depth == pytest.approx(1.5 * z_rgb + 0.1, rel=0.1)
