"""Helpers for tests that run the node as its own process on real DDS."""

from __future__ import annotations

import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

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
