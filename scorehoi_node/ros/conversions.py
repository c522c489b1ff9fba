"""Pure functions between ROS messages and core dataclasses. No math beyond unit/layout changes.

Images convert without cv_bridge (not installable from PyPI); the layouts follow
sensor_msgs/image_encodings.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import (Point, Pose, PoseStamped, Quaternion, Transform,
                               TransformStamped, Vector3)
from rclpy.serialization import serialize_message
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehoi_msgs.msg import ContactPoint, HumanObjectInteraction, HumanObjectInteractionArray
from scorehoi_node.core.config import NodeConfig
from scorehoi_node.core.types import CameraIntrinsics, FrameResult, Interaction
from scorehoi_node.ros.marker_mesh import DecimatedMesh, DecimationCache, rest_vertices

#: encoding -> (channels, numpy dtype, index order that yields RGB or None for mono)
IMAGE_ENCODINGS = {
    "rgb8": (3, np.uint8, (0, 1, 2)),
    "bgr8": (3, np.uint8, (2, 1, 0)),
    "rgba8": (4, np.uint8, (0, 1, 2)),
    "bgra8": (4, np.uint8, (2, 1, 0)),
    "mono8": (1, np.uint8, None),
}
DEPTH_ENCODINGS = {"32FC1": (np.float32, 1.0), "16UC1": (np.uint16, 1e-3)}
MAX_IMAGE_PIXELS = 8192 * 8192


class ConversionError(ValueError):
    """A message that cannot be turned into valid input; the text is one actionable line.

    `reason` is a short slug for counting and log throttling (e.g. "unsupported_encoding").
    """

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _image_array(msg: Image, channels: int, dtype: type) -> np.ndarray:
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ConversionError("zero_size", f"image has zero size ({w}x{h})")
    if h * w > MAX_IMAGE_PIXELS:
        raise ConversionError("too_large", f"image of {w}x{h} pixels exceeds the {MAX_IMAGE_PIXELS} pixel limit")
    itemsize = np.dtype(dtype).itemsize
    row = w * channels * itemsize
    if step < row:
        raise ConversionError("bad_step", f"step {step} is smaller than width*channels*bytes = {row}")
    if len(msg.data) != step * h:
        raise ConversionError("bad_data_size", f"data has {len(msg.data)} bytes, expected step*height = {step * h}")
    buf = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, bytes) else msg.data,
                        dtype=np.uint8).reshape(h, step)[:, :row]
    big = bool(msg.is_bigendian)
    dt = np.dtype(dtype).newbyteorder(">" if big else "<") if itemsize > 1 else np.dtype(dtype)
    return np.ascontiguousarray(buf).view(dt).reshape(h, w, channels).astype(dtype, copy=False)


def image_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8) -> (H, W, 3) uint8 RGB."""
    enc = msg.encoding.lower() if msg.encoding.lower() in IMAGE_ENCODINGS else msg.encoding
    if enc not in IMAGE_ENCODINGS:
        raise ConversionError("unsupported_encoding", f"unsupported image encoding {msg.encoding!r} "
                              f"(supported: {', '.join(IMAGE_ENCODINGS)})")
    channels, dtype, order = IMAGE_ENCODINGS[enc]
    arr = _image_array(msg, channels, dtype)
    if order is None:
        return np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, list(order)])


def depth_to_metres(msg: Image) -> np.ndarray:
    """sensor_msgs/Image 32FC1 [m] or 16UC1 [mm] -> (H, W) float32 metres, NaN where invalid."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ConversionError("unsupported_encoding", f"unsupported depth encoding {msg.encoding!r} "
                              f"(supported: {', '.join(DEPTH_ENCODINGS)})")
    dtype, scale = DEPTH_ENCODINGS[msg.encoding]
    d = _image_array(msg, 1, dtype)[:, :, 0].astype(np.float32) * np.float32(scale)
    d[~np.isfinite(d) | (d <= 0)] = np.nan
    return d


def rgb_to_image(rgb: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image in rgb8 or bgr8."""
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"encoding must be rgb8 or bgr8, got {encoding!r}")
    arr = rgb if encoding == "rgb8" else rgb[:, :, ::-1]
    h, w = rgb.shape[:2]
    return Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                 step=w * 3, data=np.ascontiguousarray(arr).tobytes())


def depth_to_image(depth_m: np.ndarray, header: Header) -> Image:
    """(H, W) float32 depth [m] -> sensor_msgs/Image 32FC1."""
    d = np.ascontiguousarray(depth_m, dtype="<f4")
    h, w = d.shape
    return Image(header=header, height=h, width=w, encoding="32FC1", is_bigendian=0,
                 step=w * 4, data=d.tobytes())


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """sensor_msgs/CameraInfo -> CameraIntrinsics (raises ConversionError on bad values)."""
    try:
        return CameraIntrinsics(K=np.array(msg.k, dtype=np.float64).reshape(3, 3),
                                width=int(msg.width), height=int(msg.height),
                                distortion=np.array(msg.d, dtype=np.float64) if len(msg.d)
                                else np.zeros(5))
    except ValueError as e:
        raise ConversionError("invalid_camera_info", f"invalid camera_info: {e}") from e


def intrinsics_to_camera_info(cam: CameraIntrinsics, header: Header) -> CameraInfo:
    P = np.zeros((3, 4))
    P[:, :3] = cam.K
    return CameraInfo(header=header, width=cam.width, height=cam.height,
                      distortion_model="plumb_bob", d=[float(x) for x in cam.distortion],
                      k=[float(x) for x in cam.K.ravel()],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[float(x) for x in P.ravel()])


# -- outputs -----------------------------------------------------------------------------------
def _point(p: np.ndarray) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _vector(p: np.ndarray) -> Vector3:
    return Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _quat(R: np.ndarray) -> Quaternion:
    return _quats(np.asarray(R)[None])[0]


def _quats(Rs: np.ndarray) -> list[Quaternion]:
    """(N, 3, 3) rotation matrices -> N quaternions (one scipy call for all)."""
    if not len(Rs):
        return []
    return [Quaternion(x=x, y=y, z=z, w=w)
            for x, y, z, w in Rotation.from_matrix(np.asarray(Rs)).as_quat().tolist()]


def _pose(R: np.ndarray, t: np.ndarray) -> Pose:
    return Pose(position=_point(t), orientation=_quat(R))


def interaction_to_msg(inter: Interaction, processing_time_s: float) -> HumanObjectInteraction:
    h, o = inter.human, inter.obj
    # every rotation of the interaction in one conversion: joints, root, object
    rotations = [np.asarray(h.joint_rotations).reshape(-1, 3, 3), np.asarray(h.root_rotation)[None]]
    if o is not None:
        rotations.append(np.asarray(o.rotation)[None])
    quats = _quats(np.concatenate(rotations))
    J = len(h.joint_rotations)
    cs = inter.contacts
    # per contact: human point | object point | normal, as Python floats in one conversion
    rows = np.array([np.concatenate([c.human_point, c.object_point, c.normal]) for c in cs],
                    np.float64).reshape(-1, 9).tolist()
    msg = HumanObjectInteraction(
        track_id=int(inter.track_id), body_model=h.body_model,
        joint_names=list(h.joint_names),
        joint_rotations=quats[:J],
        root_pose=Pose(position=_point(h.root_position), orientation=quats[J]),
        shape=np.asarray(h.shape, np.float64).tolist(),
        joint_positions=_points(h.joint_positions, None),
        human_confidence=float(h.confidence),
        has_object=o is not None,
        contacts=[ContactPoint(human_point=Point(x=r[0], y=r[1], z=r[2]),
                               object_point=Point(x=r[3], y=r[4], z=r[5]),
                               normal=Vector3(x=r[6], y=r[7], z=r[8]), body_part=c.body_part,
                               human_vertex_index=int(c.human_vertex_index),
                               distance=float(c.distance), probability=float(c.probability))
                  for c, r in zip(cs, rows)],
        penetration_depth=float(inter.penetration_depth),
        refinement=inter.refinement,
        processing_time=float(processing_time_s),
    )
    if o is not None:
        msg.object_class = o.class_name
        msg.object_template = o.template_id
        msg.object_pose = Pose(position=_point(o.translation), orientation=quats[J + 1])
        msg.object_extent = _vector(o.extent)
        msg.object_confidence = float(o.confidence)
    return msg


def result_to_msg(result: FrameResult, header: Header,
                  processing_time_s: float) -> HumanObjectInteractionArray:
    """FrameResult -> HumanObjectInteractionArray with the input image's header."""
    return HumanObjectInteractionArray(
        header=header,
        interactions=[interaction_to_msg(i, processing_time_s) for i in result.interactions])


def joint_dof_names(inter: Interaction, prefix: str) -> list[str]:
    """URDF-style names: three revolute DOFs (x, y, z) per ball joint."""
    tag = f"{prefix}_{inter.track_id}_" if prefix else ""
    return [f"{tag}{j}_{axis}" for j in inter.human.joint_names[1:] for axis in "xyz"]


def result_to_joint_states(result: FrameResult, header: Header, prefix: str = "") -> JointState:
    """Local joint rotations as intrinsic XYZ Euler angles [rad] (3 revolute DOFs per ball joint).

    The root's 6-DoF pose is not a joint state; it is published on TF. Several people get the
    prefix `<prefix>_<track_id>_`.
    """
    names: list[str] = []
    positions: list[float] = []
    for inter in result.interactions:
        angles = Rotation.from_matrix(inter.human.joint_rotations[1:]).as_euler("XYZ")
        names += joint_dof_names(inter, prefix if len(result.interactions) > 1 else "")
        positions += [float(a) for a in angles.ravel()]
    return JointState(header=header, name=names, position=positions)


def result_to_object_poses(result: FrameResult, header: Header) -> list[PoseStamped]:
    return [PoseStamped(header=header, pose=_pose(i.obj.rotation, i.obj.translation))
            for i in result.interactions if i.obj is not None]


def human_frame_id(prefix: str, inter: Interaction) -> str:
    return f"{prefix}/human_{inter.track_id}/pelvis"


def object_frame_id(prefix: str, inter: Interaction) -> str:
    return f"{prefix}/object_{inter.track_id}"


def result_to_tf(result: FrameResult, header: Header, prefix: str) -> TFMessage:
    """camera -> pelvis and camera -> object transforms of every interaction."""
    tfs = []
    for inter in result.interactions:
        h = inter.human
        tfs.append(TransformStamped(
            header=header, child_frame_id=human_frame_id(prefix, inter),
            transform=_transform(h.root_rotation, h.root_position)))
        if inter.obj is not None:
            tfs.append(TransformStamped(
                header=header, child_frame_id=object_frame_id(prefix, inter),
                transform=_transform(inter.obj.rotation, inter.obj.translation)))
    return TFMessage(transforms=tfs)


def _transform(R: np.ndarray, t: np.ndarray) -> Transform:
    return Transform(translation=_vector(t), rotation=_quat(R))


HUMAN_COLOR = ColorRGBA(r=0.2, g=0.6, b=1.0, a=0.9)
OBJECT_COLOR = ColorRGBA(r=1.0, g=0.6, b=0.1, a=0.9)
CONTACT_COLOR = ColorRGBA(r=1.0, g=0.1, b=0.1, a=1.0)
#: default triangles per mesh marker (NodeConfig.marker_mesh_faces; 0 = full meshes)
MARKER_MESH_FACES = NodeConfig().marker_mesh_faces
#: decimated marker meshes, one per body model / object template and triangle count
MARKER_MESHES = DecimationCache()


@dataclass(frozen=True)
class _MarkerPart:
    """A marker without its points, and the points it gets: (N, 3) float64 `vertices`, used
    in the order of `index` (M,) when given (TRIANGLE_LIST corners), else as they are."""

    marker: Marker
    vertices: np.ndarray | None = None
    index: np.ndarray | None = None

    def corners(self) -> np.ndarray:
        v = np.asarray(self.vertices, np.float64).reshape(-1, 3)
        return v if self.index is None else v[self.index]


def result_to_markers(result: FrameResult, header: Header, lifetime_s: float = 0.5,
                      library=None, mesh_faces: int = MARKER_MESH_FACES,
                      body=None) -> MarkerArray:
    """RViz markers, all in the image's frame: human mesh (ns human_mesh, TRIANGLE_LIST, blue),
    skeleton (human_skeleton LINE_LIST + human_joints SPHERE_LIST), object mesh (ns
    object_mesh, TRIANGLE_LIST, orange; the template's triangles from `library`, an
    ObjectLibrary) or its box (ns object, CUBE) without a library, contact spheres (ns
    contacts, red). Marker ids are track ids. A DELETEALL first, so people who left the view
    disappear.

    `mesh_faces`: triangles per mesh marker, 0 = the full meshes. The human mesh is decimated
    once per body model — from `body`'s rest mesh when given (the pipeline's body model), else
    from the first mesh seen — and each frame gathers its vertices; object templates with more
    triangles likewise. The node publishes `result_to_markers_cdr` (the same message,
    serialized from numpy); this builds the message objects."""
    parts = _marker_parts(result, header, lifetime_s, library, mesh_faces, body)
    for part in parts:
        if part.vertices is not None:
            part.marker.points = _points(part.vertices, part.index)
    return MarkerArray(markers=[p.marker for p in parts])


def result_to_markers_cdr(result: FrameResult, header: Header, lifetime_s: float = 0.5,
                          library=None, mesh_faces: int = MARKER_MESH_FACES,
                          body=None) -> bytes:
    """`result_to_markers`, serialized (CDR, what `Publisher.publish` takes as bytes): the
    markers are serialized by rclpy with a placeholder point each, then every placeholder is
    replaced by the marker's points straight from numpy. rclpy serializes a point list one
    Python object at a time (~10 ms for 6 000 points); this copies arrays (~0.1 ms)."""
    return _serialize_markers(_marker_parts(result, header, lifetime_s, library, mesh_faces, body))


def prepare_marker_mesh(body, mesh_faces: int = MARKER_MESH_FACES) -> DecimatedMesh | None:
    """Decimate `body`'s mesh for the markers now (from its rest mesh) rather than on the
    first frame that shows a person; None when there is nothing to decimate."""
    faces = np.asarray(body.faces.cpu().numpy(), np.int64)
    if mesh_faces == 0 or mesh_faces >= len(faces):
        return None
    return MARKER_MESHES.get(faces, mesh_faces, lambda: rest_vertices(body))


def _marker_parts(result: FrameResult, header: Header, lifetime_s: float, library,
                  mesh_faces: int, body) -> list[_MarkerPart]:
    life = _duration(lifetime_s)

    def marker(ns: str, tid: int, kind: int, color: ColorRGBA, scale: float | Vector3,
               pose: Pose | None = None) -> Marker:
        if not isinstance(scale, Vector3):
            scale = Vector3(x=scale, y=scale, z=scale)
        if pose is None:
            pose = Pose(orientation=Quaternion(w=1.0))
        return Marker(header=header, ns=ns, id=tid, type=kind, action=Marker.ADD, color=color,
                      lifetime=life, scale=scale, pose=pose)

    parts = [_MarkerPart(Marker(header=header, action=Marker.DELETEALL))]
    for inter in result.interactions:
        h, tid = inter.human, inter.track_id
        if h.vertices is not None and h.faces is not None:
            parts.append(_MarkerPart(marker("human_mesh", tid, Marker.TRIANGLE_LIST, HUMAN_COLOR,
                                            1.0), *_human_mesh(h, mesh_faces, body)))
        joints = np.asarray(h.joint_positions, np.float64)
        parents = np.asarray(h.parents)
        child = np.nonzero(parents >= 0)[0]
        bones = np.stack([parents[child], child], axis=1).reshape(-1)
        parts.append(_MarkerPart(marker("human_skeleton", tid, Marker.LINE_LIST, HUMAN_COLOR,
                                        Vector3(x=0.02)), joints, bones))
        parts.append(_MarkerPart(marker("human_joints", tid, Marker.SPHERE_LIST, HUMAN_COLOR,
                                        0.04), joints))
        tmpl = _template(library, inter.obj.template_id) if inter.obj is not None else None
        if tmpl is not None:
            pose = _pose(inter.obj.rotation, inter.obj.translation)
            parts.append(_MarkerPart(marker("object_mesh", tid, Marker.TRIANGLE_LIST, OBJECT_COLOR,
                                            1.0, pose=pose),
                                     *_mesh(tmpl.vertices, tmpl.faces, mesh_faces,
                                            lambda t=tmpl: t.vertices)))
        elif inter.obj is not None:
            parts.append(_MarkerPart(marker(
                "object", tid, Marker.CUBE, OBJECT_COLOR, _vector(inter.obj.extent),
                pose=_pose(inter.obj.rotation, inter.obj.translation))))
        if inter.contacts:
            parts.append(_MarkerPart(marker("contacts", tid, Marker.SPHERE_LIST, CONTACT_COLOR,
                                            0.03),
                                     np.array([c.human_point for c in inter.contacts])))
    return parts


def _human_mesh(h, mesh_faces: int, body) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, corner index) of the human mesh marker: decimated from `body`'s rest mesh
    when `body` is the model of this mesh, else from this mesh."""
    if body is not None and int(body.num_vertices) == len(h.vertices):
        return _mesh(h.vertices, h.faces, mesh_faces, lambda: rest_vertices(body))
    return _mesh(h.vertices, h.faces, mesh_faces, lambda: h.vertices)


def _mesh(vertices: np.ndarray, faces: np.ndarray, mesh_faces: int,
          source) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, corner index) of a TRIANGLE_LIST: the full mesh when `mesh_faces` is 0 or
    not below its triangle count, else its cached decimation (computed from `source()`)."""
    if mesh_faces == 0 or mesh_faces >= len(faces):
        return vertices, np.asarray(faces).reshape(-1)
    small = MARKER_MESHES.get(faces, mesh_faces, source)
    return np.asarray(vertices)[small.vertex_index], small.faces.reshape(-1)


def _points(vertices: np.ndarray, index: np.ndarray | None) -> list[Point]:
    """Marker points: one Point per vertex, shared by the corners that use it."""
    pts = [Point(x=x, y=y, z=z) for x, y, z in np.asarray(vertices, np.float64).reshape(-1, 3)
           .tolist()]
    return pts if index is None else [pts[i] for i in np.asarray(index).tolist()]


def _placeholder(i: int) -> bytes:
    """24 bytes no real point has: marker `i`'s stand-in point, little-endian doubles."""
    return struct.pack("<3d", 1.0e-300, -7.77e-301, -(i + 1) * 1.0e-299)


def _serialize_markers(parts: list[_MarkerPart]) -> bytes:
    """Serialize with rclpy, each point list a placeholder point, then put the points in.

    In the CDR stream a point list is a uint32 count, padding to 8 bytes, then 24 bytes per
    point. The placeholder is found by its bytes; its count (1) sits 4 or 8 bytes before it
    (the padding is uninitialised memory). Replacing one point by N shifts what follows by a
    multiple of 8, so every later field keeps its alignment. Should the placeholder not be
    unique or its count not be found unambiguously, rclpy serializes the real points."""
    lists = [(i, p) for i, p in enumerate(parts) if p.vertices is not None
             and len(p.vertices if p.index is None else p.index)]
    for i, p in lists:
        x, y, z = struct.unpack("<3d", _placeholder(i))
        p.marker.points = [Point(x=x, y=y, z=z)]
    raw = serialize_message(MarkerArray(markers=[p.marker for p in parts]))
    spans = _placeholder_spans(raw, [i for i, _ in lists])
    if spans is None:
        return _serialize_slow(parts)
    out, pos = [], 0
    for (count_at, start), (_, part) in zip(spans, lists):
        corners = part.corners()
        out += [raw[pos:count_at], struct.pack("<I", len(corners)), raw[count_at + 4:start],
                np.ascontiguousarray(corners, "<f8").tobytes()]
        pos = start + 24
    out.append(raw[pos:])
    return b"".join(out)


def _placeholder_spans(raw: bytes, ids: list[int]) -> list[tuple[int, int]] | None:
    """(count offset, data offset) of each placeholder in `raw`, in order; None when the stream
    is not little-endian CDR or a placeholder is not unambiguous."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] % 2 != 1:  # encapsulation: a little-endian kind
        return None
    spans = []
    for i in ids:
        token = _placeholder(i)
        start = raw.find(token)
        if start < 0 or raw.count(token) != 1:
            return None
        at = [c for c in (start - 4, start - 8)
              if c >= 4 and struct.unpack_from("<I", raw, c)[0] == 1]
        if len(at) != 1:
            return None
        spans.append((at[0], start))
    return spans if all(a[1] < b[0] for a, b in zip(spans, spans[1:])) else None


def _serialize_slow(parts: list[_MarkerPart]) -> bytes:
    for part in parts:
        if part.vertices is not None:
            part.marker.points = _points(part.vertices, part.index)
    return serialize_message(MarkerArray(markers=[p.marker for p in parts]))


def _template(library, template_id: str):
    if library is None:
        return None
    try:
        return library.by_id(template_id)
    except KeyError:
        return None


def _duration(seconds: float) -> Duration:
    return Duration(sec=int(seconds), nanosec=int((seconds % 1) * 1e9))
