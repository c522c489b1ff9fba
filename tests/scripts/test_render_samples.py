"""scripts/render_samples.py never replaces a file unless asked (the README's picture
docs/synth_samples.png is tracked)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "render_samples.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_out_is_required():
    res = _run("--frames", 1)
    assert res.returncode == 2 and "the following arguments are required: --out" in res.stderr


def test_an_existing_file_is_kept_without_force(tmp_path):
    tracked = ROOT / "docs" / "synth_samples.png"
    before = tracked.read_bytes()
    res = _run("--frames", 1, "--out", tracked)
    assert res.returncode == 2 and "exists; pass --force to replace it" in res.stderr
    assert tracked.read_bytes() == before
    summary = tmp_path / "summary.json"
    summary.write_text("{}")
    res = _run("--frames", 1, "--out", tmp_path / "grid.png", "--json", summary)
    assert res.returncode == 2 and f"{summary} exists" in res.stderr
    assert summary.read_text() == "{}" and not (tmp_path / "grid.png").exists()
