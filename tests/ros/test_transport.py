"""The shipped Fast DDS profile (config/fastdds.xml): who gets it, that the node process really
runs with it, and participants created and destroyed again and again inside one process while
large images cross to another process (the LARGE_DATA transport deadlocked there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scorehoi_node.ros import transport
from tests.conftest import ROOT
from tests.ros.rostest_utils import NodeProcess

pytestmark = pytest.mark.ros

SEGMENT_BYTES = 16 * 1024 * 1024  # config/fastdds.xml segment_size


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in transport.USER_TRANSPORT_ENVS}
    return {**env, **extra}


def test_profile_is_given_unless_the_user_chose_transports(tmp_path):
    assert transport.profile_file() == ROOT / "config" / "fastdds.xml"
    assert transport.transport_environment(_clean_env(), cwd=tmp_path) == {
        "FASTDDS_DEFAULT_PROFILES_FILE": str(ROOT / "config" / "fastdds.xml")}
    for name in transport.USER_TRANSPORT_ENVS:
        env = _clean_env(**{name: "LARGE_DATA" if "BUILTIN" in name else "/etc/mine.xml"})
        assert transport.transport_environment(env, cwd=tmp_path) == {}
        assert name in transport.user_transport_choice(env, cwd=tmp_path)
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
    assert transport.transport_environment(_clean_env(), cwd=tmp_path) == {}
    environ = _clean_env()
    added = transport.use_transport_profile(environ)
    assert environ["FASTDDS_DEFAULT_PROFILES_FILE"] == added["FASTDDS_DEFAULT_PROFILES_FILE"]


def _shm_segments(pid: int) -> dict[str, int]:
    """Fast DDS shared-memory segments (not ports) mapped by process `pid`: path -> bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split()[-1]
        if path.startswith("/dev/shm/fastdds_") and "_port" not in path and path[-3:] != "_el":
            out[path] = os.stat(path).st_size
    return out


@pytest.mark.slow
def test_node_process_runs_with_the_profile(tmp_path, monkeypatch):
    """`scorehoi node` as tests and `scorehoi eval --via-node` start it (NodeProcess), with no
    Fast DDS variable set: its participant's shared-memory segment is the profile's 16 MiB
    (Fast DDS's default is 0.5 MiB). On a domain of its own (runs use 1-100): a participant
    also maps the segments of the peers it discovers, which may run without the profile."""
    for name in transport.USER_TRANSPORT_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(101 + int(os.environ["ROS_DOMAIN_ID"]) % 100))
    node = NodeProcess(tmp_path / "node.log", extra=["-p", "autostart:=false"])
    try:
        deadline, segments = time.monotonic() + 180, {}
        while time.monotonic() < deadline and not segments and node.alive():
            time.sleep(1.0)
            segments = _shm_segments(node.proc.pid)
        assert segments, node.tail()
        assert all(size >= SEGMENT_BYTES for size in segments.values()), segments
    finally:
        node.stop()


def test_participants_come_and_go_in_one_process_with_the_profile():
    """20 times in one process: a context, a node, publishers of a 640x480 RGB and depth image
    and a reply subscriber, one exchange with an echo in another process (through the
    profile's shared memory), then the context shut down — the node destroyed explicitly or
    left to the garbage collector, alternately. A teardown that hangs fails on the timeout."""
    env = _clean_env(FASTDDS_DEFAULT_PROFILES_FILE=str(transport.profile_file()))
    cmd = [sys.executable, "-m", "scorehoi_node.ros.transport"]
    echo = subprocess.Popen(cmd + ["echo", "--seconds", "400"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run(cmd + ["send", "--cycles", "20", "--count", "1", "--warmup", "0",
                                    "--timeout", "30"],
                             env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"participant create/destroy cycles hung: {(e.stderr or b'')[-500:]!r}")
    finally:
        echo.kill()
        echo.wait()
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["cycles"] == 20 and res["lost"] == 0 and len(res["round_trip_ms"]) == 20
