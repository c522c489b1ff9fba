"""RViz output: markers decoded after serialization (triangles, frames, colours, poses) and the
shipped rviz/scorehoi.rviz layout pointing at what the node publishes."""

import re

import numpy as np
import pytest
import torch
import yaml
from rclpy.serialization import deserialize_message, serialize_message
from scipy.spatial.transform import Rotation
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from scorehoi_node.bags.report import draw_markers
from scorehoi_node.bags.synth_bag import FRAME_ID
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.types import (Contact, Detections, FrameResult, HumanEstimate,
                                      Interaction, ObjectEstimate)
from scorehoi_node.ros import conversions as conv
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def anny_result():
    body = make_body_model("anny")
    inp = body.rest_inputs(1)
    with torch.no_grad():
        out = body(inp["body_pose_rotmat"], body.default_shape[None], inp["root_rotmat"],
                   torch.tensor([[0.0, 0.0, 3.0]]))
    v = out.vertices[0].double().numpy()
    J = len(body.joint_names)
    human = HumanEstimate("anny", tuple(body.joint_names), np.asarray(body.parents),
                          np.tile(np.eye(3), (J, 1, 1)), out.joints[0].double().numpy(),
                          body.default_shape.double().numpy(), 0.9, v, body.faces.numpy())
    R = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    obj = ObjectEstimate("cup", "mug", R, np.array([0.3, 0.1, 2.8]), np.array([0.1, 0.1, 0.1]), 0.8)
    contacts = [Contact(v[i], v[i] + [0, 0, 0.01], np.array([0, 0, -1.0]), "right_hand", i, 0.01,
                        0.9) for i in (10, 20, 30)]
    inter = Interaction(4, human, obj, contacts, 0.0, "fast")
    return FrameResult(1, FRAME_ID, [inter], Detections([], [], "test"), {}), body


def _decoded(ma: MarkerArray) -> MarkerArray:
    return deserialize_message(serialize_message(ma), MarkerArray)


def test_markers_decode_to_meshes_with_frames_and_colours(anny_result):
    res, body = anny_result
    library = load_library()
    header = Header(frame_id=FRAME_ID)
    ma = _decoded(conv.result_to_markers(res, header, library=library))
    assert ma.markers[0].action == Marker.DELETEALL
    by_ns = {m.ns: m for m in ma.markers[1:]}
    assert set(by_ns) == {"human_mesh", "human_skeleton", "human_joints", "object_mesh",
                          "contacts"}
    assert all(m.header.frame_id == FRAME_ID and m.id == 4 for m in ma.markers[1:])
    human = by_ns["human_mesh"]
    assert human.type == Marker.TRIANGLE_LIST and len(human.points) == 3 * len(body.faces)
    tri0 = np.array([[p.x, p.y, p.z] for p in human.points[:3]])
    inter = res.interactions[0]
    assert np.allclose(tri0, inter.human.vertices[inter.human.faces[0]], atol=1e-9)
    assert (human.color.r, human.color.g, human.color.b) == pytest.approx((0.2, 0.6, 1.0))
    obj = by_ns["object_mesh"]
    mug = library.by_id("mug")
    assert obj.type == Marker.TRIANGLE_LIST and len(obj.points) == 3 * len(mug.faces)
    assert (obj.color.r, obj.color.g, obj.color.b) == pytest.approx((1.0, 0.6, 0.1))
    # points are in the template frame; the marker pose puts them where the object is
    q = obj.pose.orientation
    R = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    local = np.array([[p.x, p.y, p.z] for p in obj.points])
    world = local @ R.T + [obj.pose.position.x, obj.pose.position.y, obj.pose.position.z]
    expect = mug.vertices[mug.faces.reshape(-1)] @ inter.obj.rotation.T + inter.obj.translation
    assert np.allclose(world, expect, atol=1e-6)
    contacts = by_ns["contacts"]
    assert contacts.type == Marker.SPHERE_LIST and len(contacts.points) == 3
    assert contacts.color.r == pytest.approx(1.0) and contacts.color.g < 0.2
    # without a library the object is its box
    box = {m.ns: m for m in conv.result_to_markers(res, header).markers[1:]}["object"]
    assert box.type == Marker.CUBE and box.scale.x == pytest.approx(0.1)


def test_offscreen_marker_picture_draws_every_primitive(anny_result, tmp_path):
    res, body = anny_result
    ma = _decoded(conv.result_to_markers(res, Header(frame_id=FRAME_ID), library=load_library()))
    drawn = draw_markers(ma, tmp_path / "m.png")
    assert drawn["human_mesh"] == len(body.faces) and drawn["contacts"] == 3
    assert drawn["object_mesh"] == len(load_library().by_id("mug").faces)
    assert (tmp_path / "m.png").stat().st_size > 20_000


def test_rviz_layout_shows_what_the_node_publishes():
    cfg = yaml.safe_load((ROOT / "rviz" / "scorehoi.rviz").read_text())
    vm = cfg["Visualization Manager"]
    displays = {d["Class"]: d for d in vm["Displays"]}
    assert {"rviz_default_plugins/Image", "rviz_default_plugins/MarkerArray",
            "rviz_default_plugins/TF"} <= set(displays)
    node_src = (ROOT / "scorehoi_node" / "ros" / "node.py").read_text()
    published = set(re.findall(r'create_publisher\(\s*\w+, "([^"]+)"', node_src))
    markers = displays["rviz_default_plugins/MarkerArray"]
    assert markers["Topic"]["Value"].lstrip("/") in published
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/camera/image_raw"
    # every namespace the node draws can be toggled
    conv_src = (ROOT / "scorehoi_node" / "ros" / "conversions.py").read_text()
    assert set(re.findall(r'ns="(\w+)"', conv_src)) == set(markers["Namespaces"])
    assert vm["Global Options"]["Fixed Frame"] == FRAME_ID
