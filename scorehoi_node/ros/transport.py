"""Fast DDS transport for large images: the shipped XML profile and a latency probe.

Fast DDS's default builtin transports (SHM + UDPv4) cap every message at UDP's 64 kB, so a
640x480 RGB image (0.9 MB) and its depth image (1.2 MB) travel as ~35 fragments through a
0.5 MB shared-memory segment, with the reliability protocol acknowledging the fragments. The
shipped profile `config/fastdds.xml` (see its comments) sends such messages whole through a
large shared-memory segment. `FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA` does that too, but with
the PyPI Fast DDS 3.2.3 its TCP transport was seen to deadlock when a participant is destroyed
inside a running process; the profile has no TCP transport.

`transport_environment` / `use_transport_profile` point Fast DDS at the profile unless the user
chose a transport configuration of their own (`FASTDDS_DEFAULT_PROFILES_FILE`,
`FASTRTPS_DEFAULT_PROFILES_FILE`, `FASTDDS_BUILTIN_TRANSPORTS`, or a `DEFAULT_FASTDDS_PROFILES.xml`
in the working directory, which Fast DDS loads by itself). Fast DDS reads the profile when a
process creates its first participant: apply it before `rclpy.init`, or in the environment of
a child process.

`python -m scorehoi_node.ros.transport echo|send ...` are the two ends of the probe
`probe_round_trips` runs (the bench's transport figure without the node's processing).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from rclpy.executors import ExternalShutdownException
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
#: variables by which a user chooses their own Fast DDS transports; any of them set: hands off
USER_TRANSPORT_ENVS = (PROFILE_ENV, "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS")
#: the file Fast DDS loads from the working directory when no profile variable is set
CWD_PROFILE = "DEFAULT_FASTDDS_PROFILES.xml"
PROFILE_NAME = "fastdds.xml"
#: probe topics (relative to the probe node's namespace)
PROBE_IMAGE, PROBE_DEPTH, PROBE_REPLY = "probe/image", "probe/depth", "probe/reply"


def profile_file() -> Path:
    """config/fastdds.xml of this checkout, or of the installed share directory."""
    here = Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME
    if here.is_file():
        return here
    return Path(get_package_share_directory("scorehoi_node")) / "config" / PROFILE_NAME


def user_transport_choice(environ: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """What the user set to choose Fast DDS's transports themselves, or None."""
    for name in USER_TRANSPORT_ENVS:
        if environ.get(name):
            return f"{name}={environ[name]}"
    if ((cwd or Path.cwd()) / CWD_PROFILE).is_file():
        return f"{CWD_PROFILE} in the working directory"
    return None


def transport_environment(environ: Mapping[str, str], cwd: Path | None = None) -> dict[str, str]:
    """The variables to add to `environ` so Fast DDS uses the shipped profile: empty when the
    user chose their own transports (see `user_transport_choice`)."""
    if user_transport_choice(environ, cwd) is not None:
        return {}
    return {PROFILE_ENV: str(profile_file())}


def use_transport_profile(environ=None) -> dict[str, str]:
    """Apply `transport_environment` to `environ` (default: this process's environment, before
    its first participant); returns what it set."""
    environ = os.environ if environ is None else environ
    added = transport_environment(environ)
    environ.update(added)
    return added


# -- probe: image + depth one way, a small reply back, across processes ------------------------
def _probe_images(width: int, height: int):
    """A 640x480-style RGB (rgb8) and depth (32FC1) message pair, random content."""
    rng = np.random.default_rng(0)
    rgb = Image(height=height, width=width, encoding="rgb8", step=3 * width,
                data=rng.integers(0, 255, (height, width, 3), dtype=np.uint8).tobytes())
    depth = Image(height=height, width=width, encoding="32FC1", step=4 * width,
                  data=rng.uniform(0.5, 5.0, (height, width)).astype("<f4").tobytes())
    return rgb, depth


def _qos():
    return QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE)


def run_echo(seconds: float) -> None:
    """Probe end 1: answers each image whose depth image of the same stamp arrived (and each
    depth image whose image arrived) with a std_msgs/Header of that stamp, like the node
    answers a frame; exits after `seconds`."""
    with rclpy.init():
        node = rclpy.create_node("scorehoi_probe_echo")
        reply = node.create_publisher(Header, PROBE_REPLY, _qos())
        seen: dict[tuple[int, int], int] = {}

        def on_msg(msg: Image) -> None:
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 2:
                reply.publish(msg.header)
                del seen[key]

        node.create_subscription(Image, PROBE_IMAGE, on_msg, _qos())
        node.create_subscription(Image, PROBE_DEPTH, on_msg, _qos())
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):  # stopped by a signal
            pass


def run_send(count: int, warmup: int, width: int, height: int, timeout_s: float,
             destroy: bool = True) -> dict:
    """Probe end 2: once the echo is matched, sends `warmup + count` image + depth pairs, each
    after the previous reply (or 2 s without one: counted as lost), and returns the round-trip
    milliseconds of the last `count`.
    The context is shut down at the end; the node is destroyed first (`destroy`) or left to
    the garbage collector."""
    rgb, depth = _probe_images(width, height)
    got: set[int] = set()
    with rclpy.init():
        node = rclpy.create_node("scorehoi_probe_send")
        pubs = (node.create_publisher(Image, PROBE_IMAGE, _qos()),
                node.create_publisher(Image, PROBE_DEPTH, _qos()))
        node.create_subscription(Header, PROBE_REPLY, lambda m: got.add(m.stamp.sec), _qos())
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and (node.count_subscribers(PROBE_DEPTH) == 0
                                          or node.count_publishers(PROBE_REPLY) == 0):
            rclpy.spin_once(node, timeout_sec=0.05)
        rtt, lost = [], 0
        for i in range(1, warmup + count + 1):
            for msg in (rgb, depth):
                msg.header.stamp.sec = i
            t0 = time.perf_counter()
            for pub, msg in zip(pubs, (rgb, depth)):
                pub.publish(msg)
            while i not in got and time.perf_counter() - t0 < 2.0:
                rclpy.spin_once(node, timeout_sec=0.002)
            if i not in got:
                lost += 1
            elif i > warmup:
                rtt.append(1e3 * (time.perf_counter() - t0))
        if destroy:
            node.destroy_node()
    del node, pubs
    gc.collect()
    return {"round_trip_ms": rtt, "lost": lost}


def probe_round_trips(env: Mapping[str, str], count: int = 60, warmup: int = 5,
                      width: int = 640, height: int = 480, timeout_s: float = 120.0) -> dict:
    """Round trips of `width`x`height` RGB + depth pairs between two fresh processes that both
    run with `env`: {"round_trip_ms": [...], "lost": n}. The echo's answer is a few bytes, so
    the figure is what carrying the pair from one process to another costs."""
    env = dict(env)
    cmd = [sys.executable, "-m", "scorehoi_node.ros.transport"]
    echo = subprocess.Popen(cmd + ["echo", "--seconds", str(timeout_s)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run(cmd + ["send", "--count", str(count), "--warmup", str(warmup),
                                    "--width", str(width), "--height", str(height),
                                    "--timeout", str(timeout_s)],
                             env=env, capture_output=True, text=True, timeout=timeout_s + 60)
    finally:
        echo.kill()
        echo.wait()
    if out.returncode != 0:
        raise RuntimeError(f"transport probe failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="two ends of the transport probe")
    sub = parser.add_subparsers(dest="role", required=True)
    echo = sub.add_parser("echo")
    echo.add_argument("--seconds", type=float, default=120.0)
    send = sub.add_parser("send")
    send.add_argument("--count", type=int, default=60)
    send.add_argument("--warmup", type=int, default=5)
    send.add_argument("--width", type=int, default=640)
    send.add_argument("--height", type=int, default=480)
    send.add_argument("--timeout", type=float, default=120.0)
    send.add_argument("--cycles", type=int, default=1,
                      help="repeat the whole exchange (context, node, endpoints, destroy) "
                      "this many times in this process")
    a = parser.parse_args(argv)
    if a.role == "echo":
        run_echo(a.seconds)
        return
    total = {"round_trip_ms": [], "lost": 0, "cycles": 0}
    for cycle in range(a.cycles):
        # alternately destroyed explicitly and by the garbage collector
        res = run_send(a.count, a.warmup, a.width, a.height, a.timeout, destroy=cycle % 2 == 0)
        total["round_trip_ms"] += res["round_trip_ms"]
        total["lost"] += res["lost"]
        total["cycles"] += 1
        print(f"cycle {total['cycles']} done", file=sys.stderr, flush=True)
    print(json.dumps(total))


if __name__ == "__main__":
    main()
