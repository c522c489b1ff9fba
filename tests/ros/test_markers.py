"""RViz output: markers decoded after serialization (triangles, frames, colours, poses; the
decimated human mesh on the body surface; the bytes the node publishes equal to the message)
and the shipped rviz/scorehoi.rviz layout pointing at what the node publishes."""

import re

import numpy as np
import open3d as o3d
import pytest
import torch
import yaml
from rclpy.serialization import deserialize_message, serialize_message
from scipy.spatial import cKDTree
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
    # a pose away from the rest pose (every joint turned up to ~30 deg, seeded)
    rotvec = np.random.default_rng(3).uniform(-0.5, 0.5, (body.num_pose_joints, 3))
    pose = torch.as_tensor(Rotation.from_rotvec(rotvec).as_matrix(), dtype=body.dtype)[None]
    with torch.no_grad():
        out = body(pose, body.default_shape[None], inp["root_rotmat"],
                   torch.tensor([[0.0, 0.0, 3.0]]))
    v = out.vertices[0].double().numpy()
    J = len(body.joint_names)
    rotations = np.concatenate([np.eye(3)[None], pose[0].double().numpy()])
    human = HumanEstimate("anny", tuple(body.joint_names), np.asarray(body.parents),
                          rotations, out.joints[0].double().numpy(),
                          body.default_shape.double().numpy(), 0.9, v, body.faces.numpy())
    R = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    obj = ObjectEstimate("cup", "mug", R, np.array([0.3, 0.1, 2.8]), np.array([0.1, 0.1, 0.1]), 0.8)
    contacts = [Contact(v[i], v[i] + [0, 0, 0.01], np.array([0, 0, -1.0]), "right_hand", i, 0.01,
                        0.9) for i in (10, 20, 30)]
    inter = Interaction(4, human, obj, contacts, 0.0, "fast")
    return FrameResult(1, FRAME_ID, [inter], Detections([], [], "test"), {}), body


def _decoded(ma: MarkerArray | bytes) -> MarkerArray:
    return deserialize_message(ma if isinstance(ma, bytes) else serialize_message(ma), MarkerArray)


def _corners(m: Marker) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in m.points])


def _surface_distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)),
                        o3d.core.Tensor(faces.astype(np.uint32)))
    return scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


def _triangle_samples(tri: np.ndarray, per_triangle: int, seed: int = 0) -> np.ndarray:
    """Uniform points on each of the (F, 3, 3) triangles `tri`."""
    u = np.random.default_rng(seed).random((len(tri), per_triangle, 2))
    flip = u.sum(-1) > 1
    u[flip] = 1 - u[flip]
    a, b, c = tri[:, None, 0], tri[:, None, 1], tri[:, None, 2]
    return (a + u[..., :1] * (b - a) + u[..., 1:] * (c - a)).reshape(-1, 3)


def test_markers_decode_to_meshes_with_frames_and_colours(anny_result):
    res, body = anny_result
    library = load_library()
    header = Header(frame_id=FRAME_ID)
    ma = _decoded(conv.result_to_markers(res, header, library=library, mesh_faces=0))
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


def test_decimated_human_mesh_follows_the_parameter_and_stays_on_the_body(anny_result):
    """marker_mesh_faces sets the human mesh marker's triangle count (decimated from the rest
    mesh, applied to a posed body): every corner is a vertex of the posed full mesh, points on
    the decimated triangles lie close to the full surface and the full mesh's vertices close to
    the decimated surface (no limb left out); distances [m] (95th percentile, max) per count."""
    # target triangles -> (on body p95, on body max, full-mesh vertices p95)
    tolerance = {500: (0.013, 0.035, 0.02), 2000: (0.006, 0.02, 0.01)}
    res, body = anny_result
    h = res.interactions[0].human
    header = Header(frame_id=FRAME_ID)
    full = {m.ns: m for m in _decoded(conv.result_to_markers_cdr(res, header, mesh_faces=0,
                                                                 body=body)).markers}
    assert len(full["human_mesh"].points) == 3 * len(h.faces)
    for target, (p95_max, all_max, cover_max) in tolerance.items():
        ma = _decoded(conv.result_to_markers_cdr(res, header, mesh_faces=target, body=body))
        mesh = {m.ns: m for m in ma.markers}["human_mesh"]
        assert mesh.header.frame_id == FRAME_ID and mesh.type == Marker.TRIANGLE_LIST
        corners = _corners(mesh)
        assert 0.95 * target <= len(corners) // 3 <= target, len(corners)
        # corners are vertices of this frame's full mesh (gathered, not moved)
        d_vertex, _ = cKDTree(h.vertices).query(corners)
        assert d_vertex.max() < 1e-9
        tri = corners.reshape(-1, 3, 3)
        on_body = _surface_distance(h.vertices, h.faces, _triangle_samples(tri, 10))
        assert np.percentile(on_body, 95) < p95_max and on_body.max() < all_max, (
            target, np.percentile(on_body, 95), on_body.max())
        _, inverse = np.unique(corners, axis=0, return_inverse=True)
        faces = inverse.reshape(-1, 3)
        uniq = corners[np.unique(inverse, return_index=True)[1]]
        cover = _surface_distance(uniq, faces, h.vertices)
        assert np.percentile(cover, 95) < cover_max, (target, np.percentile(cover, 95))
    # the colour, frame and pose of the mesh marker do not depend on the decimation
    assert (mesh.color.r, mesh.color.g, mesh.color.b) == pytest.approx((0.2, 0.6, 1.0))
    assert mesh.pose.orientation.w == 1.0 and mesh.pose.position.z == 0.0


def test_decimation_is_computed_once_per_mesh_topology(anny_result):
    """Frames carry new faces arrays of the same body model: the cached decimation is reused
    (its source is never called again) and gathers each frame's vertices."""
    res, body = anny_result
    h = res.interactions[0].human
    cache = conv.MARKER_MESHES
    first = cache.get(h.faces.copy(), 777, lambda: h.vertices)

    def must_not_run():
        raise AssertionError("decimated again")

    again = cache.get(np.array(h.faces), 777, must_not_run)
    assert again is first and len(first.faces) <= 777
    moved = h.vertices + [0.5, 0.0, 0.0]
    assert np.allclose(first.triangle_corners(moved),
                       first.triangle_corners(h.vertices) + [0.5, 0.0, 0.0])
    # another topology (fewer faces) is another entry
    other = cache.get(h.faces[:-3].copy(), 777, lambda: h.vertices)
    assert other is not first
    # prepared from the body model ahead of the first frame: the frames reuse it
    prepared = conv.prepare_marker_mesh(body, 1234)
    assert cache.get(h.faces.copy(), 1234, must_not_run) is prepared


def test_published_bytes_decode_to_the_marker_message(anny_result, monkeypatch):
    """result_to_markers_cdr (what the node publishes, points copied from numpy into the CDR
    stream) decodes to exactly the message result_to_markers builds, for a person with an
    object mesh, a second person with a box and no contacts, and a skeleton without a mesh; the
    fallback (rclpy serializes the real points) gives the same."""
    res, body = anny_result
    inter = res.interactions[0]
    h = inter.human
    skeleton = HumanEstimate("skeleton", h.joint_names, h.parents, h.joint_rotations,
                             h.joint_positions + [1.0, 0, 0], h.shape, 0.7)
    second = Interaction(9, skeleton, inter.obj, [], 0.0, "none")
    library = load_library()
    header = Header(frame_id=FRAME_ID)
    for result, lib in ((res, library), (FrameResult(1, FRAME_ID, [inter, second],
                                                     res.detections, {}), library),
                        (FrameResult(2, FRAME_ID, [second], res.detections, {}), None)):
        for faces in (2000, 0):
            want = _decoded(conv.result_to_markers(result, header, library=lib, mesh_faces=faces,
                                                   body=body))
            got = _decoded(conv.result_to_markers_cdr(result, header, library=lib,
                                                      mesh_faces=faces, body=body))
            assert got == want
    sizes = {m.ns: len(m.points) for m in want.markers}
    assert sizes["human_skeleton"] == 2 * (len(h.joint_names) - 1) and "human_mesh" not in sizes
    monkeypatch.setattr(conv, "_placeholder_spans", lambda raw, ids: None)
    slow = _decoded(conv.result_to_markers_cdr(res, header, library=library, body=body))
    assert slow == _decoded(conv.result_to_markers(res, header, library=library, body=body))


def test_object_meshes_above_the_parameter_are_decimated_in_their_own_frame(anny_result):
    res, body = anny_result
    mug = load_library().by_id("mug")
    header = Header(frame_id=FRAME_ID)
    obj = {m.ns: m for m in _decoded(conv.result_to_markers_cdr(
        res, header, library=load_library(), mesh_faces=500, body=body)).markers}["object_mesh"]
    corners = _corners(obj)
    assert 0.95 * 500 <= len(corners) // 3 <= 500 < len(mug.faces)
    # template-frame corners (the pose places them): template vertices, on its surface
    assert cKDTree(mug.vertices).query(corners)[0].max() < 1e-6
    q = obj.pose.orientation
    R = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    assert np.allclose(R, res.interactions[0].obj.rotation, atol=1e-6)


def test_offscreen_marker_picture_draws_every_primitive(anny_result, tmp_path):
    res, body = anny_result
    ma = _decoded(conv.result_to_markers_cdr(res, Header(frame_id=FRAME_ID), library=load_library(),
                                             body=body))
    drawn = draw_markers(ma, tmp_path / "m.png")
    human = {m.ns: m for m in ma.markers}["human_mesh"]
    assert drawn["human_mesh"] == len(human.points) // 3 <= 2000 and drawn["contacts"] == 3
    assert drawn["object_mesh"] == len(load_library().by_id("mug").faces)
    assert (tmp_path / "m.png").stat().st_size > 20_000


def test_rviz_layout_shows_what_the_node_publishes(anny_result):
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
    # every namespace the node draws can be toggled (object mesh with a library, box without)
    res, body = anny_result
    drawn = {m.ns for lib in (load_library(), None) for m in _decoded(conv.result_to_markers_cdr(
        res, Header(frame_id=FRAME_ID), library=lib, body=body)).markers[1:]}
    assert drawn == set(markers["Namespaces"])
    assert vm["Global Options"]["Fixed Frame"] == FRAME_ID
