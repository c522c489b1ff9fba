"""Evaluation through the node a robot runs: `scorehoi eval BAG --out DIR --via-node`.

1. The node starts as its own process (`scorehoi node`, the parameters file of a robot, its
   camera inputs remapped to the bag's topic names, in the namespace `/scorehoi_eval`).
2. A player publishes the bag's camera topics on real DDS topics: `flow` pacing publishes the
   next frame once the node has answered (or counted) the previous one — as fast as the node
   keeps up — and its image once the node has counted its camera_info and depth image; `bag`
   pacing keeps the bag's timing (times `rate`), and the node drops what it cannot keep up
   with (latest frame wins), as on a robot.
3. Everything the node publishes is recorded, serialized bytes as received, into an mcap bag
   `DIR/recording` (open it in Foxglove or `ros2 bag play`).
4. The metrics are computed from that recording, so they score exactly what a planner would
   have received; `metrics.json` accounts for every input frame: answered (`frames_out`) or
   dropped under the node's reason from its `/diagnostics` counters (`no_camera_info`,
   `superseded_by_newer_frame`, a conversion error, ...) or `no_answer` (lost in transport or
   no answer within `frame_timeout_s`).

Run it on a ROS domain of its own (`ROS_DOMAIN_ID`) so it neither hears nor feeds a live robot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import JointState
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.bags.evaluate import BagFrame, Topics, bag_frames, frame_from_bag
from scorehoi_node.bags.io import BagWriter, bag_topics, message_class, read_messages, type_name
from scorehoi_node.bags.meshes import result_from_msg
from scorehoi_node.bags.report import Examples, write_outputs
from scorehoi_node.bags.scoring import score_frame, summarise
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import PipelineConfig, params_from_file
from scorehoi_node.core.objects import load_library
from scorehoi_node.ros import conversions as conv

NAMESPACE = "/scorehoi_eval"
PACINGS = ("flow", "bag")


@dataclass(frozen=True)
class ReplayOptions:
    """How a bag is replayed through the node.

    Attributes:
        params: the node's parameters file (None: the installed config/scorehoi.yaml).
        overrides: parameter values that win over the file, e.g. {"refine": "fast"}.
        pacing: "flow" (next frame when the node answered the previous one) or "bag".
        rate: playback speed factor for `bag` pacing.
        frame_timeout_s: how long to wait for the answer to one frame (flow) or for the node
            to drain at the end [s].
        startup_timeout_s: how long the node may take to come up (model loading) [s].
        namespace: namespace of the node under test.
    """

    params: Path | None = None
    overrides: dict = field(default_factory=dict)
    pacing: str = "flow"
    rate: float = 1.0
    frame_timeout_s: float = 60.0
    startup_timeout_s: float = 300.0
    namespace: str = NAMESPACE

    def __post_init__(self) -> None:
        if self.pacing not in PACINGS:
            raise ValueError(f"pacing={self.pacing!r} must be one of {', '.join(PACINGS)}")
        if not self.rate > 0:
            raise ValueError(f"rate={self.rate} must be > 0")


@dataclass
class Replay:
    """What happened during a replay."""

    recording: Path
    node_log: Path
    frames_in: int
    sent_s: dict[int, float]       # stamp [ns] -> publish time (perf_counter)
    answered_s: dict[int, float]   # stamp [ns] -> receive time of the node's answer
    node_counts: dict[str, int]    # the node's last /diagnostics counters
    wall_s: float
    node_peak_rss_mb: float | None = None

    def latency_ms(self) -> dict[int, float]:
        """stamp -> frame→message latency across processes [ms]."""
        return {s: 1e3 * (t - self.sent_s[s]) for s, t in self.answered_s.items()
                if s in self.sent_s}

    def dropped(self) -> Counter:
        """Reason -> count for every input frame without an answer; frames_in = answered +
        sum(dropped)."""
        out: Counter = Counter()
        for key, n in self.node_counts.items():
            if key.startswith("skipped_") and n:
                out[key[len("skipped_"):]] += n
            elif key == "dropped_superseded" and n:
                out["superseded_by_newer_frame"] += n
        missing = self.frames_in - len(self.answered_s) - sum(out.values())
        if missing > 0:
            out["no_answer"] += missing
        return out


def default_params_file() -> Path:
    """config/scorehoi.yaml of this checkout, or of the installed share directory."""
    here = Path(__file__).resolve().parents[2] / "config" / "scorehoi.yaml"
    if here.is_file():
        return here
    return Path(get_package_share_directory("scorehoi_node")) / "config" / "scorehoi.yaml"


def _ros_value(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


class NodeProcess:
    """`scorehoi node --verbose --params FILE -- ROS_ARGS` in its own process group (all its
    output, the libraries' start-up lines included, to `log_path`), stopped with SIGINT
    (SIGKILL after `stop_timeout_s`)."""

    def __init__(self, params: Path, ros_args: list[str], log_path: Path,
                 stop_timeout_s: float = 20.0) -> None:
        cmd = [sys.executable, "-m", "scorehoi_node.cli", "node", "--verbose", "--params",
               str(params)]
        if ros_args:
            cmd += ["--", *ros_args]
        self.log_path, self.stop_timeout_s = Path(log_path), stop_timeout_s
        self.peak_rss: float | None = None
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def peak_rss_mb(self) -> float | None:
        """The node process's peak resident memory (VmHWM) [MB], while it runs."""
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return None

    def stop(self) -> int:
        """Stop the node (its peak RSS is kept in `peak_rss`); returns its exit code."""
        if self.alive():
            self.peak_rss = self.peak_rss_mb()
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def _node_under_test(topics: Topics, opts: ReplayOptions, log_path: Path) -> NodeProcess:
    """The node of a replay: namespace, inputs remapped to the bag's topics, overrides."""
    args = ["-r", f"__ns:={opts.namespace}",
            "-r", f"camera/image_raw:={topics.image}",
            "-r", f"camera/camera_info:={topics.camera_info}",
            "-r", f"camera/depth:={topics.depth}"]
    # frequent counters: flow pacing waits on them for each frame's side inputs
    for k, v in {"diagnostics_period_s": 0.05, **opts.overrides}.items():
        args += ["-p", f"{k}:={_ros_value(v)}"]
    return NodeProcess(opts.params or default_params_file(), args, log_path)


class NodeReplayError(RuntimeError):
    """The node under test did not come up or died; the message ends with its log's tail."""


#: what the node under test publishes, below its namespace
NODE_OUTPUTS = {"scorehoi/interactions": HumanObjectInteractionArray,
                "scorehoi/markers": MarkerArray,
                "scorehoi/human/joint_states": JointState,
                "scorehoi/object/pose": PoseStamped}


class _Player:
    """The replay's own ROS node: publishes the bag's camera topics to the node under test,
    records everything that node publishes (serialized bytes as received) into an mcap bag,
    and follows the node's `/diagnostics` counters."""

    def __init__(self, topics: Topics, types: dict[str, str], namespace: str,
                 recording: Path, node_proc: NodeProcess) -> None:
        self.topics, self.node_proc = topics, node_proc
        self.ctx = rclpy.context.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("scorehoi_eval_player", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {t: self.node.create_publisher(message_class(types[t]), t, qos)
                     for t in (topics.image, topics.camera_info, topics.depth) if t in types}
        self.sent: dict[int, float] = {}
        self.answered: dict[int, float] = {}
        self.counts: dict[str, int] = {}
        self.diag_seen = 0
        self.me = f"{namespace}/scorehoi"
        self.writer = BagWriter(recording, "mcap").__enter__()
        outputs = {**{f"{namespace}/{k}": v for k, v in NODE_OUTPUTS.items()},
                   "/tf": TFMessage, "/diagnostics": DiagnosticArray}
        for topic, cls in outputs.items():
            self.node.create_subscription(
                cls, topic, self._recorder(topic, cls),
                QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE), raw=True)

    def _recorder(self, topic: str, cls: type):
        name = type_name(cls)

        def cb(data: bytes) -> None:
            now = time.perf_counter()
            self.writer.write_raw(topic, name, data, time.time_ns())
            if cls is HumanObjectInteractionArray:
                msg = deserialize_message(data, cls)
                self.answered.setdefault(conv.stamp_to_ns(msg.header.stamp), now)
            elif cls is DiagnosticArray:
                for st in deserialize_message(data, cls).status:
                    if st.hardware_id == self.me:
                        self.counts.clear()
                        self.counts.update({kv.key: int(kv.value) for kv in st.values
                                            if kv.value.lstrip("-").isdigit()})
                        self.diag_seen += 1
        return cb

    def spin_until(self, pred, timeout: float) -> bool:
        """Spin until `pred()` or `timeout` [s]; NodeReplayError when the node exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            if not self.node_proc.alive():
                raise NodeReplayError(f"the node exited (code {self.node_proc.proc.returncode}):\n"
                                      + self.node_proc.tail())
            self.ex.spin_once(timeout_sec=0.01)
        return pred()

    def handled(self) -> int:
        """Input frames the node has accounted for: answered, superseded or skipped."""
        c = self.counts
        return (c.get("frames_out", 0) + c.get("dropped_superseded", 0)
                + sum(v for k, v in c.items() if k.startswith("skipped_")))

    def wait_ready(self, timeout: float) -> None:
        """Discovery complete on both sides: our publishers see the node's subscriptions, and
        the node reports (on /diagnostics) that it sees our publishers; otherwise a reliable
        camera_info can be lost while its image arrives."""
        info = self.topics.camera_info
        ready = self.spin_until(
            lambda: all(p.get_subscription_count() > 0 for t, p in self.pubs.items()
                        if t != self.topics.depth)
            and self.node.count_publishers(f"{self.me}/interactions") > 0
            and self.counts.get("publishers_image", 0) > 0
            and (info not in self.pubs or self.counts.get("publishers_camera_info", 0) > 0),
            timeout)
        if not ready:
            raise NodeReplayError(f"the node did not come up within {timeout:.0f} s:\n"
                                  + self.node_proc.tail())
        if self.topics.depth in self.pubs:  # optional input: a moment for discovery, no block
            self.spin_until(lambda: self.counts.get("publishers_depth", 0) > 0, 5.0)

    def play(self, i: int, bf: BagFrame, opts: ReplayOptions) -> None:
        """Publish frame `i`: its side inputs, then its image (flow pacing: and wait until the
        node has answered or counted it).

        Side inputs go first, each until the node has counted it (at most 1 s): with flow
        pacing for every frame — the node waits only 50 ms for them and otherwise uses the
        latest camera_info / no depth (ignored_*_not_in_time on /diagnostics), which made two
        replays of one bag differ; with bag pacing only until the first one arrived (Fast DDS
        was seen to drop the first reliable samples for ~2 s after both sides report the
        match), so that the timing of images is kept."""
        side = [(self.topics.camera_info, bf.camera_info, "camera_info_in"),
                (self.topics.depth, bf.depth, "depth_in")]
        for topic, msg, key in side:
            if msg is None or topic not in self.pubs:
                continue
            before = self.counts.get(key, 0)
            self.pubs[topic].publish(msg)
            if not before or opts.pacing == "flow":
                self.spin_until(lambda: self.counts.get(key, 0) > before, 1.0)
        self.sent[bf.stamp_ns] = time.perf_counter()
        self.pubs[self.topics.image].publish(bf.image)
        if opts.pacing == "flow":
            stamp = bf.stamp_ns
            self.spin_until(lambda: stamp in self.answered or self.handled() >= i + 1,
                            opts.frame_timeout_s)

    def close(self) -> None:
        """Close the recording, stop the node, shut our node down."""
        self.writer.__exit__(None, None, None)
        self.node_proc.stop()
        self.ex.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def replay_through_node(bag: str | Path, out: str | Path, topics: Topics = Topics(),
                        opts: ReplayOptions = ReplayOptions(), progress=None) -> Replay:
    """Play `bag`'s camera topics to a node process and record its outputs in
    `out/recording` (mcap). `progress()` is called once per input frame."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recording = out / "recording"
    if recording.exists():
        raise FileExistsError(f"{recording} exists; evaluate into a fresh --out folder")
    types = {t: ty for t, (ty, _) in bag_topics(bag).items()}
    frames: list[BagFrame] = list(bag_frames(bag, topics))
    node_proc = _node_under_test(topics, opts, out / "node.log")
    player = _Player(topics, types, opts.namespace.rstrip("/"), recording, node_proc)
    try:
        player.wait_ready(opts.startup_timeout_s)
        t_start = time.perf_counter()
        first_stamp = frames[0].stamp_ns if frames else 0
        for i, bf in enumerate(frames):
            if opts.pacing == "bag":
                due = t_start + (bf.stamp_ns - first_stamp) * 1e-9 / opts.rate
                player.spin_until(lambda: time.perf_counter() >= due,
                                  max(due - time.perf_counter(), 0))
            player.play(i, bf, opts)
            if progress is not None:
                progress()
        # drain: every frame counted by the node (frames_out is counted once all outputs of a
        # frame are published), then one more counters message
        player.spin_until(lambda: player.handled() >= len(frames), opts.frame_timeout_s)
        wall = time.perf_counter() - t_start
        seen = player.diag_seen
        player.spin_until(lambda: player.diag_seen > seen + 1, 5.0)
    finally:
        player.close()
    return Replay(recording, node_proc.log_path, len(frames), player.sent,
                  {s: t for s, t in player.answered.items() if s in player.sent},
                  dict(player.counts), wall, node_proc.peak_rss)


def evaluate_via_node(bag: str | Path, out: str | Path, topics: Topics = Topics(),
                      opts: ReplayOptions = ReplayOptions(), progress=None,
                      report: bool = True, report_frames: tuple[int, ...] = ()) -> dict:
    """Replay `bag` through the node, then score the recording: `out/metrics.json`,
    `out/frames.csv` (+ latency column), the report. Returns the metrics dict."""
    out = Path(out)
    replay = replay_through_node(bag, out, topics, opts, progress)
    ns = opts.namespace.rstrip("/")
    recorded = {}
    markers = {}
    for topic, _, _, msg in read_messages(replay.recording, [f"{ns}/scorehoi/interactions",
                                                             f"{ns}/scorehoi/markers"]):
        if topic.endswith("/interactions"):
            recorded.setdefault(conv.stamp_to_ns(msg.header.stamp), msg)
        elif msg.markers:
            markers[conv.stamp_to_ns(msg.markers[-1].header.stamp)] = msg
    body, library = make_body_model("anny"), load_library()
    rows, examples = [], Examples(stride=len(recorded) // 4, wanted=report_frames)
    latency = replay.latency_ms()
    index_latency = {}
    for index, bf in enumerate(bag_frames(bag, topics)):
        msg = recorded.get(bf.stamp_ns)
        if msg is None:
            continue
        result = result_from_msg(msg, body, library)
        rows.append(score_frame(index, result, bf.ground_truth, body, library))
        if bf.stamp_ns in latency:
            index_latency[index] = latency[bf.stamp_ns]
        if bf.camera_info is not None:
            try:
                examples.offer(index, frame_from_bag(bf), result, bf.ground_truth)
            except ValueError:
                pass  # the node answered a frame this process cannot decode: no picture
    values = {**params_from_file(opts.params or default_params_file()), **opts.overrides}
    lat = np.array(list(index_latency.values()), dtype=np.float64)
    summary = summarise(
        rows, replay.frames_in, replay.dropped(), replay.wall_s,
        refine=str(values.get("refine", PipelineConfig().refine)),
        detector=str(values.get("detector", PipelineConfig().detector)),
        bag=str(bag), via_node=True, pacing=opts.pacing, recording=str(replay.recording),
        latency_ms=({"mean": float(lat.mean()), "median": float(np.median(lat)),
                     "p95": float(np.percentile(lat, 95)), "max": float(lat.max())}
                    if lat.size else None),
        node_counters=replay.node_counts)
    first = examples.items[0][2].stamp_ns if examples.items else None
    marker_msg = markers.get(first) if first is not None else None
    if marker_msg is None and markers:
        marker_msg = markers[max(markers)]
    write_outputs(out, summary, rows, examples.items if report else None, body, library,
                  {"latency_ms": index_latency}, markers=marker_msg, latency_ms=index_latency)
    return summary
