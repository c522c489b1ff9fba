"""Commands print their own output only: the libraries' start-up lines (Warp, the CUDA driver
probe, TFLite/absl, protobuf deprecations) go to a log file unless --verbose."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

#: lines the libraries print at start-up (not the help text that names them)
NOISE = re.compile(r"^Warp \d|Warp CUDA warning|^Module \S+ \S+ load on device|"
                   r"INFO: Created TensorFlow Lite|absl::InitializeLog|"
                   r"^[IWEF]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\]|GetPrototype\(\) is deprecated", re.M)


def scorehoi(log_dir, *args, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m scorehoi_node.cli ARGS` with its log in `log_dir`, 200 columns wide."""
    env = {**os.environ, "SCOREHOI_LOG_DIR": str(log_dir), "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "scorehoi_node.cli", *map(str, args)], env=env,
                         capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_noise_pattern_matches_the_libraries_lines_only():
    seen = ("Warp 1.19.0 initialized:\n"
            "Warp CUDA warning: Could not find or load the NVIDIA CUDA driver.\n"
            "Module anny.skinning.warp_skinning 1fd9882 load on device 'cpu' took 6.52 ms\n"
            "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
            "WARNING: All log messages before absl::InitializeLog() is called are written\n"
            "W0000 00:00:1796009159.147814    6896 inference_feedback_manager.cc:114] x\n"
            "UserWarning: SymbolDatabase.GetPrototype() is deprecated.\n")
    assert len(NOISE.findall(seen)) == 7
    assert not NOISE.search("--verbose  show the libraries' start-up output (Warp, CUDA, "
                            "TFLite/absl, protobuf)\nwrote 1 frames to out/bag\n")


@pytest.mark.parametrize("args", [["--help"], ["synth", "--help"], ["eval", "--help"]])
def test_help_is_only_help(tmp_path, args):
    res = scorehoi(tmp_path, *args)
    assert "Usage: scorehoi" in res.stdout and res.stderr == ""
    assert not NOISE.search(res.stdout)


@pytest.mark.slow
def test_a_real_command_prints_its_output_and_logs_the_libraries(tmp_path):
    args = ["synth", "--no-render", "--frames", "1", "--seq-len", "1", "--seed", "3"]
    quiet = scorehoi(tmp_path / "logs", *args, "--out", tmp_path / "quiet")
    out = quiet.stdout + quiet.stderr
    assert "wrote 1 samples" in out and not NOISE.search(out), out
    log = (tmp_path / "logs" / "scorehoi.log").read_text()
    assert f"synth --no-render --frames 1 --seq-len 1 --seed 3 --out {tmp_path / 'quiet'}" in log
    # the same command with --verbose: the lines the log took are on the console
    loud = scorehoi(tmp_path / "logs2", *args, "--out", tmp_path / "loud", "--verbose")
    assert NOISE.search(loud.stdout + loud.stderr)
    assert not (tmp_path / "logs2").exists()
