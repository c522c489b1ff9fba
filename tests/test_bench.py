"""`scorehoi bench --out DIR`: bench.json with every figure the performance issue names,
measured side by side in one run (values are measurements, not targets)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_bench_writes_every_figure(tmp_path):
    cmd = [sys.executable, "-m", "scorehoi_node.cli", "bench", "--out", str(tmp_path),
           "--frames", "3", "--paper-frames", "1", "--seed", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    b = json.loads((tmp_path / "bench.json").read_text())
    stages = b["stage_ms"]
    for k in ("image_conversion", "detection", "initial_estimate", "refinement_fast",
              "refinement_paper", "message_building", "publish_serialize"):
        assert stages[k] is not None and stages[k]["mean"] > 0, k
    assert b["frames"] == 3 and b["frames_refined"] >= 1 and b["ratio_frames"] == 1
    # paper (10 rounds) costs more than fast (2 rounds) on the same frame
    assert b["ratio_paper_over_fast"] > 2
    assert stages["refinement_paper"]["mean"] > stages["refinement_fast"]["mean"]
    assert 0 < b["end_to_end_fps"] < b["end_to_end_fps_refine_none"]
    assert 100 < b["peak_rss_mb_in_process"] < 24_000
    threads = b["torch_threads_fast"]
    assert "1" in threads and all(t["wall_ms"]["n"] == 3 and t["cpu_ms"]["mean"] > 0
                                  for t in threads.values())
    node = b["node"]
    assert node["frames_in"] == node["frames_out"] == 3
    assert node["latency_ms"]["median"] > 0 and node["peak_rss_mb"] > 100
    # the transport share of the latency is measured, and is the smaller part
    t = node["transport_overhead_ms"]["median"]
    assert 0 < t < node["latency_ms"]["median"]
    assert b["machine"]["cpu_count"] >= 1 and "torch" in b["machine"]
