"""rosbag2 write -> read equality (mcap and sqlite3), custom and standard types."""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from scorehoi_msgs.msg import ContactPoint, HumanObjectInteraction, HumanObjectInteractionArray
from scorehoi_node.bags import BagWriter, message_class, read_messages, type_name
from scorehoi_node.bags.io import bag_topics, resolve_bag
from scorehoi_node.core.types import CameraIntrinsics
from scorehoi_node.ros import conversions as conv


def _frames(n):
    rng = np.random.default_rng(0)
    cam = CameraIntrinsics.from_fov(32, 24, 70)
    for i in range(n):
        h = Header(frame_id="cam")
        h.stamp.sec, h.stamp.nanosec = 10 + i, 250
        img = conv.rgb_to_image(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), h)
        info = conv.intrinsics_to_camera_info(cam, h)
        gt = HumanObjectInteractionArray(header=h, interactions=[HumanObjectInteraction(
            track_id=i, body_model="anny", joint_names=["pelvis"], shape=[0.5, 0.25],
            has_object=True, object_class="cup",
            contacts=[ContactPoint(body_part="left_hand", distance=-0.001, probability=1.0)])])
        yield h, img, info, gt


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_write_read_equality(tmp_path, storage):
    frames = list(_frames(3))
    with BagWriter(tmp_path / "bag", storage=storage) as w:
        for h, img, info, gt in frames:
            t = conv.stamp_to_ns(h.stamp)
            w.write("/camera/image_raw", img, t)
            w.write("/camera/camera_info", info, t)
            w.write("/scorehoi/ground_truth", gt, t)
    topics = bag_topics(tmp_path / "bag")
    assert topics == {"/camera/image_raw": ("sensor_msgs/msg/Image", 3),
                      "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", 3),
                      "/scorehoi/ground_truth": ("scorehoi_msgs/msg/HumanObjectInteractionArray", 3)}
    got = list(read_messages(tmp_path / "bag"))
    assert len(got) == 9
    by_topic = {}
    for topic, msgtype, t, msg in got:
        by_topic.setdefault(topic, []).append((t, msg))
    for k, (h, img, info, gt) in enumerate(frames):
        t = conv.stamp_to_ns(h.stamp)
        assert by_topic["/camera/image_raw"][k] == (t, img)
        assert by_topic["/camera/camera_info"][k] == (t, info)
        # float32 fields come back rounded: compare with what rclpy itself round-trips
        assert by_topic["/scorehoi/ground_truth"][k][1] == deserialize_message(
            serialize_message(gt), HumanObjectInteractionArray)
    only = list(read_messages(tmp_path / "bag", topics=["/camera/camera_info"], raw=True))
    assert len(only) == 3 and isinstance(only[0][3], bytes)


def test_bag_opens_with_an_independent_reader(tmp_path):
    """mcap_ros2 decodes our custom type from the schema stored in the bag."""
    from mcap_ros2.reader import read_ros2_messages

    (h, img, info, gt), = list(_frames(1))
    with BagWriter(tmp_path / "bag") as w:
        w.write("/scorehoi/ground_truth", gt, 5)
    (mcap_file,) = (tmp_path / "bag").glob("*.mcap")
    (m,) = list(read_ros2_messages(str(mcap_file)))
    assert m.ros_msg.interactions[0].contacts[0].body_part == "left_hand"
    assert m.ros_msg.interactions[0].object_class == "cup"


def test_type_names():
    assert type_name(Image) == "sensor_msgs/msg/Image"
    assert type_name(CameraInfo()) == "sensor_msgs/msg/CameraInfo"
    assert message_class("scorehoi_msgs/msg/ContactPoint") is ContactPoint
    assert message_class("sensor_msgs/Image") is Image
    with pytest.raises(ValueError, match="not installed"):
        message_class("nope_msgs/msg/Nothing")


def test_same_messages_give_identical_bag_bytes(tmp_path):
    """rclpy leaves CDR padding uninitialised; the writer canonicalises it."""
    frames = list(_frames(2))
    for k in range(2):
        with BagWriter(tmp_path / str(k) / "bag") as w:
            for h, img, info, gt in frames:
                t = conv.stamp_to_ns(h.stamp)
                w.write("/camera/image_raw", img, t)
                w.write("/scorehoi/ground_truth", gt, t)
    (a,), (b,) = (tmp_path / "0/bag").glob("*.mcap"), (tmp_path / "1/bag").glob("*.mcap")
    assert a.read_bytes() == b.read_bytes()


def test_resolve_bag_finds_the_one_bag_in_a_folder(tmp_path):
    bag = tmp_path / "run" / "bag"
    bag.mkdir(parents=True)
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (tmp_path / "run" / "shards").mkdir()
    assert resolve_bag(bag) == bag
    assert resolve_bag(tmp_path / "run") == bag  # what `scorehoi synth --out run` wrote
    with pytest.raises(ValueError, match="holds none"):
        resolve_bag(tmp_path / "run" / "shards")
    other = tmp_path / "run" / "recording"
    other.mkdir()
    (other / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    with pytest.raises(ValueError, match=r"holds 2 bags \(bag, recording\)"):
        resolve_bag(tmp_path / "run")
    with pytest.raises(ValueError, match="is not a rosbag2 directory"):
        resolve_bag(bag / "metadata.yaml")
