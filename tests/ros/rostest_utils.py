"""Helpers for tests that run the node as its own process on real DDS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

from tests.conftest import ROOT


class NodeProcess:
    """`scorehoi node --params FILE` in its own process group; stopped with SIGINT."""

    def __init__(self, log_path: Path, params: Path = ROOT / "config" / "scorehoi.yaml",
                 extra: list[str] | None = None) -> None:
        self.log_path = log_path
        cmd = [sys.executable, "-m", "scorehoi_node.cli", "node", "--params", str(params)]
        if extra:
            cmd += ["--", *extra]
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ,
                                                                  "PYTHONUNBUFFERED": "1"})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


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
