"""Helpers for tests that run the node as its own process on real DDS."""

from __future__ import annotations

import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from scorehoi_node.bags.via_node import NodeProcess as _NodeProcess
from tests.conftest import ROOT


class NodeProcess(_NodeProcess):
    """`scorehoi node --params FILE` in its own process group; stopped with SIGINT."""

    def __init__(self, log_path: Path, params: Path = ROOT / "config" / "scorehoi.yaml",
                 extra: list[str] | None = None) -> None:
        super().__init__(params, list(extra or []), log_path, stop_timeout_s=15.0)


def spin_until(executor: SingleThreadedExecutor, predicate, timeout: float) -> bool:
    """Spin `executor` until `predicate()` is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.02)
    return predicate()


def make_context():
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    return ctx


def teardown_client(executor: SingleThreadedExecutor, node, ctx, timeout: float = 10.0) -> None:
    """Shut a test client down without risking the test run: rclpy's destroy_node waits until
    no handle is in use and was seen to block inside long pytest processes, so the teardown
    runs in a daemon thread that is abandoned after `timeout` seconds."""
    import threading

    def work() -> None:
        executor.shutdown(timeout_sec=timeout)
        node.destroy_node()
        rclpy.shutdown(context=ctx)

    t = threading.Thread(target=work, name="client-teardown", daemon=True)
    t.start()
    t.join(timeout)


class CameraClient:
    """A test camera on real DDS: a node with its own executor and reliable publishers of
    /camera/image_raw and /camera/camera_info (`queue` deep); subclasses add what they
    subscribe to and record."""

    def __init__(self, ctx, name: str, queue: int = 10) -> None:
        self.ctx = ctx
        self.node = rclpy.create_node(name, context=ctx)
        self.ex = SingleThreadedExecutor(context=ctx)
        self.ex.add_node(self.node)
        self.qos = QoSProfile(depth=queue, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, "/camera/image_raw", self.qos)
        self.info_pub = self.node.create_publisher(CameraInfo, "/camera/camera_info", self.qos)

    def spin(self, predicate, timeout: float) -> bool:
        return spin_until(self.ex, predicate, timeout)

    def close(self) -> None:
        teardown_client(self.ex, self.node, self.ctx)
