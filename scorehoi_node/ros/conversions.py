"""Pure functions between ROS messages and core dataclasses. No math beyond unit/layout changes.

Images convert without cv_bridge (not installable from PyPI); the layouts follow
sensor_msgs/image_encodings.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import (Point, Pose, PoseStamped, Quaternion, TransformStamped,
                               Vector3)
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import ColorRGBA, Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehoi_msgs.msg import ContactPoint, HumanObjectInteraction, HumanObjectInteractionArray
from scorehoi_node.core.types import CameraIntrinsics, FrameResult, Interaction

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
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))


def _pose(R: np.ndarray, t: np.ndarray) -> Pose:
    return Pose(position=_point(t), orientation=_quat(R))


def interaction_to_msg(inter: Interaction, processing_time_s: float) -> HumanObjectInteraction:
    h = inter.human
    msg = HumanObjectInteraction(
        track_id=int(inter.track_id), body_model=h.body_model,
        joint_names=list(h.joint_names),
        joint_rotations=[_quat(R) for R in h.joint_rotations],
        root_pose=_pose(h.root_rotation, h.root_position),
        shape=[float(x) for x in h.shape],
        joint_positions=[_point(p) for p in h.joint_positions],
        human_confidence=float(h.confidence),
        has_object=inter.obj is not None,
        contacts=[ContactPoint(human_point=_point(c.human_point), object_point=_point(c.object_point),
                               normal=_vector(c.normal), body_part=c.body_part,
                               human_vertex_index=int(c.human_vertex_index),
                               distance=float(c.distance), probability=float(c.probability))
                  for c in inter.contacts],
        penetration_depth=float(inter.penetration_depth),
        refinement=inter.refinement,
        processing_time=float(processing_time_s),
    )
    if inter.obj is not None:
        o = inter.obj
        msg.object_class = o.class_name
        msg.object_template = o.template_id
        msg.object_pose = _pose(o.rotation, o.translation)
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


def _transform(R: np.ndarray, t: np.ndarray):
    from geometry_msgs.msg import Transform

    return Transform(translation=_vector(t), rotation=_quat(R))


HUMAN_COLOR = ColorRGBA(r=0.2, g=0.6, b=1.0, a=0.9)
OBJECT_COLOR = ColorRGBA(r=1.0, g=0.6, b=0.1, a=0.9)
CONTACT_COLOR = ColorRGBA(r=1.0, g=0.1, b=0.1, a=1.0)


def result_to_markers(result: FrameResult, header: Header, lifetime_s: float = 0.5,
                      library=None) -> MarkerArray:
    """RViz markers, all in the image's frame: human mesh (ns human_mesh, TRIANGLE_LIST, blue),
    skeleton (human_skeleton LINE_LIST + human_joints SPHERE_LIST), object mesh (ns
    object_mesh, TRIANGLE_LIST, orange; the template's triangles from `library`, an
    ObjectLibrary) or its box (ns object, CUBE) without a library, contact spheres (ns
    contacts, red). Marker ids are track ids. A DELETEALL first, so people who left the view
    disappear."""
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    life = _duration(lifetime_s)
    for inter in result.interactions:
        h, tid = inter.human, inter.track_id
        if h.vertices is not None and h.faces is not None:
            tri = Marker(header=header, ns="human_mesh", id=tid, type=Marker.TRIANGLE_LIST,
                         action=Marker.ADD, color=HUMAN_COLOR, lifetime=life)
            tri.pose.orientation.w = 1.0
            tri.scale = Vector3(x=1.0, y=1.0, z=1.0)
            tri.points = _triangle_points(h.vertices, h.faces)
            markers.append(tri)
        bones = Marker(header=header, ns="human_skeleton", id=tid, type=Marker.LINE_LIST,
                       action=Marker.ADD, color=HUMAN_COLOR, lifetime=life)
        bones.pose.orientation.w = 1.0
        bones.scale.x = 0.02
        for j, p in enumerate(h.parents):
            if p >= 0:
                bones.points += [_point(h.joint_positions[p]), _point(h.joint_positions[j])]
        joints = Marker(header=header, ns="human_joints", id=tid, type=Marker.SPHERE_LIST,
                        action=Marker.ADD, color=HUMAN_COLOR, lifetime=life)
        joints.pose.orientation.w = 1.0
        joints.scale = Vector3(x=0.04, y=0.04, z=0.04)
        joints.points = [_point(p) for p in h.joint_positions]
        markers += [bones, joints]
        tmpl = _template(library, inter.obj) if inter.obj is not None else None
        if tmpl is not None:
            mesh = Marker(header=header, ns="object_mesh", id=tid, type=Marker.TRIANGLE_LIST,
                          action=Marker.ADD, color=OBJECT_COLOR, lifetime=life,
                          pose=_pose(inter.obj.rotation, inter.obj.translation),
                          scale=Vector3(x=1.0, y=1.0, z=1.0))
            mesh.points = _triangle_points(tmpl.vertices, tmpl.faces)
            markers.append(mesh)
        elif inter.obj is not None:
            box = Marker(header=header, ns="object", id=tid, type=Marker.CUBE, action=Marker.ADD,
                         color=OBJECT_COLOR, lifetime=life,
                         pose=_pose(inter.obj.rotation, inter.obj.translation),
                         scale=_vector(inter.obj.extent))
            markers.append(box)
        if inter.contacts:
            c = Marker(header=header, ns="contacts", id=tid, type=Marker.SPHERE_LIST,
                       action=Marker.ADD, color=CONTACT_COLOR, lifetime=life)
            c.pose.orientation.w = 1.0
            c.scale = Vector3(x=0.03, y=0.03, z=0.03)
            c.points = [_point(x.human_point) for x in inter.contacts]
            markers.append(c)
    return MarkerArray(markers=markers)


def _triangle_points(vertices: np.ndarray, faces: np.ndarray) -> list[Point]:
    """TRIANGLE_LIST points: one Point per vertex, shared by the triangles that use it (a
    marker cannot index vertices; building one Point per vertex instead of per corner cuts the
    Python work ~6x on a body mesh)."""
    pts = [Point(x=x, y=y, z=z) for x, y, z in np.asarray(vertices, np.float64).tolist()]
    return [pts[i] for i in np.asarray(faces).reshape(-1).tolist()]


def _template(library, obj):
    if library is None:
        return None
    try:
        return library.template_for(obj.template_id, obj.extent, obj.class_name)
    except KeyError:
        return None


def _duration(seconds: float):
    from builtin_interfaces.msg import Duration

    return Duration(sec=int(seconds), nanosec=int((seconds % 1) * 1e9))
