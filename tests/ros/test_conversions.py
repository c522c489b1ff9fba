"""Message <-> core conversions and message (de)serialization."""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from scorehoi_msgs.msg import (ContactPoint, HumanObjectInteraction,
                               HumanObjectInteractionArray)
from scorehoi_node.core.estimate import skeleton
from scorehoi_node.core.types import (CameraIntrinsics, Contact, Detections, FrameResult,
                                      HumanEstimate, Interaction, ObjectEstimate)
from scorehoi_node.ros import conversions as conv

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def _image(arr: np.ndarray, encoding: str, pad: int = 0) -> Image:
    h, w = arr.shape[:2]
    row = arr.reshape(h, -1).view(np.uint8).reshape(h, -1)
    data = np.concatenate([row, np.zeros((h, pad), np.uint8)], axis=1)
    return Image(height=h, width=w, encoding=encoding, step=row.shape[1] + pad,
                 data=data.tobytes())


@pytest.mark.parametrize("encoding,arr", [
    ("rgb8", RGB), ("bgr8", RGB[:, :, ::-1]),
    ("rgba8", np.dstack([RGB, np.full((5, 7), 9, np.uint8)])),
    ("bgra8", np.dstack([RGB[:, :, ::-1], np.full((5, 7), 9, np.uint8)])),
])
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_rgb(encoding, arr, pad):
    out = conv.image_to_rgb(_image(np.ascontiguousarray(arr), encoding, pad))
    assert out.dtype == np.uint8 and np.array_equal(out, RGB)


def test_mono8_becomes_grey_rgb():
    grey = RGB[:, :, 0].copy()
    out = conv.image_to_rgb(_image(grey[:, :, None], "mono8"))
    assert np.array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_rgb_roundtrip_through_message():
    msg = conv.rgb_to_image(RGB, Header(frame_id="c"), "bgr8")
    assert np.array_equal(conv.image_to_rgb(deserialize_message(serialize_message(msg), Image)),
                          RGB)


@pytest.mark.parametrize("mutate,match", [
    (lambda m: setattr(m, "encoding", "yuv422"), "unsupported image encoding 'yuv422'"),
    (lambda m: setattr(m, "step", 3), "step 3 is smaller"),
    (lambda m: setattr(m, "step", m.step + 1), "expected step\\*height"),
    (lambda m: setattr(m, "width", 0), "zero size"),
    (lambda m: setattr(m, "height", 100000), "100000|expected"),
    (lambda m: (setattr(m, "width", 100000), setattr(m, "height", 100000)), "pixel limit"),
    (lambda m: setattr(m, "data", bytes(3)), "expected step\\*height"),
])
def test_malformed_images_raise_one_line_errors(mutate, match):
    msg = _image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(conv.ConversionError, match=match) as e:
        conv.image_to_rgb(msg)
    assert "\n" not in str(e.value)


def test_depth_encodings():
    mm = np.array([[0, 1500], [65535, 800]], np.uint16)
    d = conv.depth_to_metres(_image(mm[:, :, None], "16UC1"))
    assert np.isnan(d[0, 0]) and d[0, 1] == pytest.approx(1.5) and d[1, 1] == pytest.approx(0.8)
    m = np.array([[np.nan, 2.0], [-1.0, 0.5]], np.float32)
    d = conv.depth_to_metres(conv.depth_to_image(m, Header()))
    assert np.isnan(d[0, 0]) and np.isnan(d[1, 0]) and d[0, 1] == 2.0
    big = _image(m.astype(">f4")[:, :, None], "32FC1")
    big.is_bigendian = 1
    assert conv.depth_to_metres(big)[0, 1] == 2.0
    with pytest.raises(conv.ConversionError, match="unsupported depth encoding"):
        conv.depth_to_metres(_image(RGB, "rgb8"))


def test_camera_info_roundtrip_and_validation():
    cam = CameraIntrinsics.from_fov(640, 480, 70)
    back = conv.camera_info_to_intrinsics(conv.intrinsics_to_camera_info(cam, Header()))
    assert np.allclose(back.K, cam.K) and (back.width, back.height) == (640, 480)
    for k in ([float("nan")] * 9, [0.0] * 9):
        with pytest.raises(conv.ConversionError, match="invalid camera_info"):
            conv.camera_info_to_intrinsics(CameraInfo(width=640, height=480, k=k))
    with pytest.raises(conv.ConversionError, match="image size"):
        conv.camera_info_to_intrinsics(CameraInfo(width=0, height=0, k=list(cam.K.ravel())))


def _result(with_object: bool = True) -> FrameResult:
    rng = np.random.default_rng(3)
    from scipy.spatial.transform import Rotation

    local = Rotation.from_rotvec(rng.normal(scale=0.4, size=(16, 3))).as_matrix()
    lengths = np.r_[0, 0.25, 0.25, 0.2, 0.18, 0.3, 0.26, 0.18, 0.3, 0.26,
                    0.1, 0.42, 0.4, 0.1, 0.42, 0.4]
    pos, _ = skeleton.forward_kinematics(local, lengths, np.array([0.1, 0.2, 2.5]))
    human = HumanEstimate("skeleton", skeleton.JOINT_NAMES, skeleton.PARENTS, local, pos,
                          lengths, 0.9)
    obj = ObjectEstimate("cup", "mug", np.eye(3), np.array([0.3, 0.1, 2.2]),
                         np.array([0.1, 0.12, 0.08]), 0.7) if with_object else None
    contacts = [Contact(pos[6], pos[6] + [0, 0, 0.01], np.array([0, 0, -1.0]), "left_hand",
                        123, 0.01, 0.8)] if with_object else []
    inter = Interaction(7, human, obj, contacts, 0.004, "none")
    return FrameResult(5, "cam", [inter], Detections([], [], "test"), {"detect": 1.0})


def test_result_to_msg_roundtrip_keeps_values():
    res = _result()
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = conv.result_to_msg(res, header, 0.05)
    back = deserialize_message(serialize_message(msg), HumanObjectInteractionArray)
    assert back.header.frame_id == "cam" and back.header.stamp.nanosec == 345
    (i,) = back.interactions
    assert i.track_id == 7 and i.body_model == "skeleton" and i.has_object
    assert list(i.joint_names) == list(skeleton.JOINT_NAMES)
    h = res.interactions[0].human
    pos = np.array([[p.x, p.y, p.z] for p in i.joint_positions])
    assert np.allclose(pos, h.joint_positions)
    from scipy.spatial.transform import Rotation

    q = np.array([[r.x, r.y, r.z, r.w] for r in i.joint_rotations])
    assert np.allclose(Rotation.from_quat(q).as_matrix(), h.joint_rotations, atol=1e-9)
    assert i.object_class == "cup" and i.object_pose.position.z == pytest.approx(2.2)
    assert i.contacts[0].body_part == "left_hand" and i.contacts[0].human_vertex_index == 123
    assert i.contacts[0].probability == pytest.approx(0.8)
    assert i.processing_time == pytest.approx(0.05) and i.refinement == "none"


def test_empty_messages_serialize():
    for cls in (ContactPoint, HumanObjectInteraction, HumanObjectInteractionArray):
        m = cls()
        assert deserialize_message(serialize_message(m), cls) == m


def test_joint_states_are_three_revolute_dofs_per_ball_joint():
    res = _result()
    js = conv.result_to_joint_states(res, Header())
    assert len(js.name) == len(js.position) == 3 * 15
    assert js.name[:3] == ["spine_x", "spine_y", "spine_z"]
    from scipy.spatial.transform import Rotation

    angles = np.array(js.position).reshape(15, 3)
    R = Rotation.from_euler("XYZ", angles).as_matrix()
    assert np.allclose(R, res.interactions[0].human.joint_rotations[1:], atol=1e-9)


def test_tf_and_markers():
    res = _result()
    header = Header(frame_id="cam")
    tf = conv.result_to_tf(res, header, "scorehoi")
    assert [t.child_frame_id for t in tf.transforms] == ["scorehoi/human_7/pelvis",
                                                          "scorehoi/object_7"]
    assert all(t.header.frame_id == "cam" for t in tf.transforms)
    assert tf.transforms[0].transform.translation.z == pytest.approx(2.5)
    ma = conv.result_to_markers(res, header)
    kinds = {m.ns: m for m in ma.markers[1:]}
    assert ma.markers[0].action == ma.markers[0].DELETEALL
    assert len(kinds["human_skeleton"].points) == 2 * 15
    assert len(kinds["human_joints"].points) == 16
    assert kinds["object"].scale.y == pytest.approx(0.12)
    assert len(kinds["contacts"].points) == 1
    assert all(m.header.frame_id == "cam" for m in ma.markers)
    assert conv.result_to_object_poses(_result(False), header) == []
