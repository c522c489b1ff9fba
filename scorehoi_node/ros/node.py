"""The `scorehoi` lifecycle node: camera images in, human-object interactions out.

configure: read parameters, build the pipeline (loads models), create publishers.
activate:  subscribe to the camera, start the worker thread.
deactivate: unsubscribe, stop the worker, free GPU memory.
cleanup:   drop publishers and the pipeline.

The callbacks never block: they hand their messages to a stamp synchroniser (`sync.py`:
images wait up to `sync_window_s` for the camera_info and depth image of their stamp; latest
frame wins, replaced frames are counted as dropped) and a worker thread runs the pipeline on
what it takes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.core.config import PARAM_RANGES, NodeConfig, PipelineConfig
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.types import Frame
from scorehoi_node.ros import conversions as conv
from scorehoi_node.ros.sync import StampSync, SyncedFrame
from scorehoi_node.startup import node_entry_arguments, quiet_startup

NODE_NAME = "scorehoi"
#: parameters that take effect at once while the node is configured (thresholds, publishing);
#: the others are read on configure
RUNTIME_PARAMETERS = Pipeline.RUNTIME_PARAMETERS | {
    "publish_markers", "marker_mesh_faces", "publish_tf", "warn_throttle_s",
    "depth_sync_tolerance_s", "sync_window_s"}


def _intrinsics_key(info) -> tuple:
    """A sensor_msgs/CameraInfo without its header: what tells two cameras apart."""
    return (info.width, info.height, info.distortion_model, tuple(info.k), tuple(info.d),
            tuple(info.p))


def _descriptions() -> dict[str, str]:
    """Parameter name -> the line documenting it in the config dataclasses."""
    out = {}
    for cls in (PipelineConfig, NodeConfig):
        for line in (cls.__doc__ or "").splitlines():
            name, _, text = line.strip().partition(":")
            if text and name.replace("_", "").isalnum():
                out[name] = text.strip()
    return out


class ScoreHOINode(LifecycleNode):
    """Reconstructs people, the objects they handle and their contacts from a camera stream."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        docs = _descriptions()
        for name, default in NodeConfig().to_flat_dict().items():
            desc = ParameterDescriptor(description=docs.get(name, name))
            if name in PARAM_RANGES:
                lo, hi = PARAM_RANGES[name]
                if isinstance(default, int) and not isinstance(default, bool):
                    desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi))]
                else:
                    desc.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                                    to_value=float(hi))]
            desc.additional_constraints = (
                "changes at run time" if name in RUNTIME_PARAMETERS
                else "read on configure (deactivate, cleanup, configure to change)")
            try:
                self.declare_parameter(name, default, desc)
            except (InvalidParameterValueException, InvalidParameterTypeException):
                # a bad value from the parameters file: declared untyped so that configure
                # rejects it with one line and the node stays up to be fixed
                self.declare_parameter(name, default, ParameterDescriptor(
                    description=desc.description, dynamic_typing=True))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.config: NodeConfig | None = None
        self.pipeline: Pipeline | None = None
        self._subs: dict = {}
        self._pubs: dict = {}
        # images matched to their camera_info / depth / detections by stamp; its counters
        # (frames_in, dropped_superseded, <input>_in, stamp and sync misses) join self.counts
        # on /diagnostics
        self.sync = StampSync(expects=self._expected_side_inputs, report=self._log_throttled,
                              info_key=_intrinsics_key)
        self._worker: threading.Thread | None = None
        self._running = False
        self.counts: Counter[str] = Counter()  # the node's own: frames_out, skipped_<reason>, …
        self._last_warn: dict[str, float] = {}
        self._warn_lock = threading.Lock()
        self._diag_timer = None
        self._recoveries_seen = 0  # the detector's rebuilds already counted

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Validate and apply parameter changes. Unconfigured: anything valid is taken (read on
        configure). Configured: runtime parameters apply between frames; others are refused
        with the reason."""
        if self.config is None:
            return SetParametersResult(successful=True)
        changes = {p.name: p.value for p in params}
        static = sorted(set(changes) - RUNTIME_PARAMETERS)
        if static:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(static)} is read on configure; deactivate, cleanup, set it, "
                "configure"))
        try:
            values = {**self.config.to_flat_dict(), **changes}
            new = NodeConfig.from_flat_dict(values)
            if self.pipeline is not None and new.pipeline != self.config.pipeline:
                # a frame in flight finishes with the objects it already holds; the next
                # frame reads the new settings
                self.pipeline.reconfigure(new.pipeline)
        except Exception as e:  # ValueError, CheckpointError: refused with one line
            return SetParametersResult(successful=False, reason=str(e).splitlines()[0])
        self.config = new
        self.sync.update(window_s=new.sync_window_s, tolerance_s=new.depth_sync_tolerance_s)
        self.get_logger().info("parameters changed: " + ", ".join(
            f"{k}={v}" for k, v in sorted(changes.items())))
        return SetParametersResult(successful=True)

    @staticmethod
    def default(name: str):
        """Default value of parameter `name` (from NodeConfig)."""
        return NodeConfig().to_flat_dict()[name]

    # -- lifecycle -----------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            values = {n: self.get_parameter(n).value for n in NodeConfig().to_flat_dict()}
            self.config = NodeConfig.from_flat_dict(values)
        except ValueError as e:
            self.get_logger().error(f"bad parameters: {e}")
            return TransitionCallbackReturn.FAILURE
        try:
            self.pipeline = Pipeline(self.config.pipeline)
        except Exception as e:  # model files missing/corrupt: one actionable line, stay alive
            self.get_logger().error(f"cannot build the pipeline: {e}")
            return TransitionCallbackReturn.FAILURE
        for note in self.pipeline.notes:  # "error: ..." notes: a fallback replaced a setting
            log = self.get_logger()
            (log.error if note.startswith("error:") else log.warning)(note)
        self._recoveries_seen = 0
        self._pubs = {
            "interactions": self.create_publisher(
                HumanObjectInteractionArray, "scorehoi/interactions", 10),
            "joint_states": self.create_publisher(JointState, "scorehoi/human/joint_states", 10),
            "object_pose": self.create_publisher(PoseStamped, "scorehoi/object/pose", 10),
            "markers": self.create_publisher(MarkerArray, "scorehoi/markers", 10),
            "tf": self.create_publisher(TFMessage, "/tf", 100),
            "diagnostics": self.create_publisher(DiagnosticArray, "/diagnostics", 10),
        }
        if self.config.keyframe_refine != "none":
            self._pubs["keyframes"] = self.create_publisher(
                HumanObjectInteractionArray, "scorehoi/interactions_keyframe", 10)
            try:
                self.pipeline.start_keyframe_refinement(self.config.keyframe_refine,
                                                        self._publish_keyframe)
            except Exception as e:
                self.get_logger().error(f"cannot start keyframe refinement: {e}")
                return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f"configured: detector={self.config.pipeline.detector} "
            f"refine={self.config.pipeline.refine} qos={self.config.image_qos}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        cfg = self.config
        # depth 10: the callback takes every image DDS delivers (it only queues it), so a
        # frame replaced by a newer one is counted (dropped_superseded), not lost in DDS
        qos = QoSProfile(
            depth=10, history=HistoryPolicy.KEEP_LAST,
            reliability=(ReliabilityPolicy.RELIABLE if cfg.image_qos == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT))
        self._subs = {
            "image": self.create_subscription(Image, "camera/image_raw", self.image_callback, qos),
            "camera_info": self.create_subscription(
                CameraInfo, "camera/camera_info", self.camera_info_callback, qos),
        }
        side_qos = QoSProfile(depth=5, reliability=qos.reliability)
        if cfg.use_depth:
            self._subs["depth"] = self.create_subscription(
                Image, "camera/depth", self.depth_callback, side_qos)
        if cfg.pipeline.object_source == "external":
            from vision_msgs.msg import Detection2DArray

            self._subs["detections"] = self.create_subscription(
                Detection2DArray, "detections", self.detections_callback, side_qos)
        self.sync.update(window_s=cfg.sync_window_s, tolerance_s=cfg.depth_sync_tolerance_s)
        self.sync.open()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="scorehoi-worker", daemon=True)
        self._worker.start()
        self._diag_timer = self.create_timer(cfg.diagnostics_period_s,
                                              self.diagnostics_callback)
        self.get_logger().info("active: waiting for camera/image_raw")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        for sub in self._subs.values():
            self.destroy_subscription(sub)
        self._subs = {}
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        for p in self._pubs.values():
            self.destroy_publisher(p)
        self._pubs = {}
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        self.config = None  # every parameter may change until the next configure
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        return TransitionCallbackReturn.SUCCESS

    def _publish_keyframe(self, result) -> None:
        """Background keyframe refinement done: publish it with the keyframe's stamp."""
        header = conv.Header(frame_id=result.frame_id)
        header.stamp.sec, header.stamp.nanosec = divmod(int(result.stamp_ns), 1_000_000_000)
        pub = self._pubs.get("keyframes")
        if pub is not None:
            pub.publish(conv.result_to_msg(result, header, result.total_ms / 1e3))
            self.counts["keyframes_out"] += 1

    # -- callbacks (never block) -------------------------------------------------------------
    def image_callback(self, msg: Image) -> None:
        self.sync.add_image(conv.stamp_to_ns(msg.header.stamp), msg)

    def camera_info_callback(self, msg: CameraInfo) -> None:
        self.sync.add_side("camera_info", conv.stamp_to_ns(msg.header.stamp), msg)

    def depth_callback(self, msg: Image) -> None:
        self.sync.add_side("depth", conv.stamp_to_ns(msg.header.stamp), msg)

    def detections_callback(self, msg) -> None:
        """vision_msgs/Detection2DArray from another detector node (object_source external)."""
        self.sync.add_side("detections", conv.stamp_to_ns(msg.header.stamp), msg)

    def _expected_side_inputs(self) -> list[str]:
        """The side inputs an image waits for besides camera_info: depth / detections when
        their topic has publishers."""
        return [k for k in ("depth", "detections")
                if (sub := self._subs.get(k)) is not None and sub.get_publisher_count()]

    def diagnostics_callback(self) -> None:
        """Counters of input/output frames and of every rejection reason, the pipeline's own
        (`Pipeline.counters`: persons not fitted, object warm starts, object owners `assign_*`,
        ...), plus how many publishers each input topic has (`publishers_<input>`: is the camera
        connected?)."""
        pipeline = self.pipeline  # the worker may clear it meanwhile (cleanup)
        counts = {**(pipeline.counters() if pipeline is not None else {}), **self.sync.counts(),
                  **self.counts}
        values = [KeyValue(key=k, value=str(v)) for k, v in sorted(counts.items())]
        values += [KeyValue(key=f"publishers_{k}", value=str(sub.get_publisher_count()))
                   for k, sub in sorted(self._subs.items())]
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK, name=f"{self.get_name()}: pipeline",
            hardware_id=self.get_fully_qualified_name(), message="running", values=values)
        if any(k.startswith(("skipped_", "ignored_")) for k in counts):
            status.level = DiagnosticStatus.WARN
            status.message = "some input frames or depth images were rejected (see values)"
        self._pubs["diagnostics"].publish(
            DiagnosticArray(header=conv.Header(stamp=self.get_clock().now().to_msg()),
                            status=[status]))

    # -- worker ----------------------------------------------------------------------------------
    def _stop_worker(self) -> None:
        self._running = False
        self.sync.close()  # wakes the worker waiting in take()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None

    def _log_throttled(self, key: str, text: str) -> None:
        """Log `text` at most once per `warn_throttle_s` per `key` (any thread)."""
        now = time.monotonic()
        period = self.config.warn_throttle_s if self.config else 5.0
        with self._warn_lock:
            if now - self._last_warn.get(key, -1e9) < period:
                return
            self._last_warn[key] = now
        n = self.counts.get(key) or self.sync.counts().get(key)
        what = ("skipped frame: " if key.startswith("skipped_") else
                "frame kept: " if key.startswith("ignored_") else "")
        self.get_logger().warning(f"{what}{text}" + (f" ({n} so far)" if n else ""))

    def _warn(self, reason: str, text: str, skipped: bool = True) -> None:
        """Count `reason` and log it at most once per `warn_throttle_s` per reason."""
        key = f"skipped_{reason}" if skipped else f"ignored_{reason}"
        self.counts[key] += 1
        self._log_throttled(key, text)

    def _work(self) -> None:
        while self._running:
            frame = self.sync.take(timeout_s=0.5)
            if frame is None:
                continue
            try:
                self._process(frame)
            except Exception as e:  # the node never dies on one frame
                self._warn("internal_error", f"{type(e).__name__}: {e}")

    def _process(self, synced: SyncedFrame) -> None:
        frame = self._to_frame(synced)
        if frame is None:
            return
        msg = synced.image
        external = None
        if synced.side.get("detections") is not None:
            from scorehoi_node.ros.external_detections import detections_from_msg

            external = detections_from_msg(synced.side["detections"],
                                           image_size=(frame.rgb.shape[1], frame.rgb.shape[0]))
        elif "detections" in self._subs:
            self.counts["frames_without_external_detections"] += 1
        try:
            result = self.pipeline.step(frame, external=external)
        finally:
            self._count_detector_recoveries()
        header = msg.header
        out = conv.result_to_msg(result, header, time.monotonic() - synced.received_s)
        self._pubs["interactions"].publish(out)
        if result.interactions:
            self._pubs["joint_states"].publish(conv.result_to_joint_states(result, header))
            for pose in conv.result_to_object_poses(result, header):
                self._pubs["object_pose"].publish(pose)
            if self.config.publish_tf:
                self._pubs["tf"].publish(conv.result_to_tf(result, header, self.config.tf_prefix))
        if self.config.publish_markers:
            # bytes serialized from numpy: rclpy would convert the points one object at a time
            self._pubs["markers"].publish(conv.result_to_markers_cdr(
                result, header, library=self.pipeline.library,
                mesh_faces=self.config.marker_mesh_faces, body=self.pipeline.body))
        self.counts["frames_out"] += 1  # counted once every output of the frame is out

    def _to_frame(self, synced: SyncedFrame) -> Frame | None:
        """The pipeline's Frame of a synchronised image, or None (skipped and counted)."""
        msg, info, depth_msg = synced.image, synced.camera_info, synced.side.get("depth")
        if info is None:
            self._warn("no_camera_info", "no camera_info received yet on camera/camera_info")
            return None
        try:
            rgb = conv.image_to_rgb(msg)
            camera = conv.camera_info_to_intrinsics(info)
            depth = None
            if depth_msg is not None:
                try:
                    depth = conv.depth_to_metres(depth_msg)
                    if depth.shape != rgb.shape[:2]:
                        raise conv.ConversionError("size_mismatch", (
                            f"depth is {depth.shape[1]}x{depth.shape[0]}, image is "
                            f"{rgb.shape[1]}x{rgb.shape[0]}"))
                except conv.ConversionError as e:
                    self._warn(f"depth_{e.reason}", f"ignoring its depth image: {e}",
                               skipped=False)
                    depth = None
            return Frame(rgb=rgb, camera=camera, stamp_ns=synced.stamp_ns,
                         frame_id=msg.header.frame_id, depth=depth)
        except conv.ConversionError as e:
            self._warn(e.reason, str(e))
        except ValueError as e:  # Frame checks: image vs camera_info size
            self._warn("size_mismatch", str(e))
        return None

    def _count_detector_recoveries(self) -> None:
        """The person detector's graph rebuilds (resolution change, error) since the last
        frame: counted as `detector_recovered` and logged (throttled)."""
        detector = self.pipeline.persons.detector
        n = detector.recoveries
        if n > self._recoveries_seen:
            self.counts["detector_recovered"] += n - self._recoveries_seen
            self._recoveries_seen = n
            self._log_throttled("detector_recovered", "person detector rebuilt: "
                                f"{detector.last_recovery}")


def run(args: list[str] | None = None) -> None:
    """Start the node (autostart: configure + activate) and spin until shutdown."""
    try:
        with rclpy.init(args=args):
            node = ScoreHOINode()
            if node.get_parameter("autostart").value:
                if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                    node.trigger_activate()
                else:
                    node.get_logger().error(
                        "configure failed; fix the parameters and call the configure transition")
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def main(args: list[str] | None = None) -> None:
    """console_scripts entry point `scorehoi_node` (used by the launch file): `--help` prints
    the usage, `--verbose` keeps the libraries' start-up output on the console; the ROS
    arguments follow `--ros-args`. `args`: the command line without the program name
    (default: sys.argv[1:])."""
    verbose, ros_args = node_entry_arguments(sys.argv[1:] if args is None else list(args))
    quiet_startup(verbose)
    run(ros_args)
