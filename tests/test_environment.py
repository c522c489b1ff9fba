"""The project environment runs this clone's code and no other's: `make setup` installs nothing
of the project into the shared venv and writes launchers into the clone (.env/bin);
`source scripts/activate` puts the clone first. Two clones on one shared venv, each entered
with its own activate script, each run their own code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
ENV = Path(sys.prefix)  # the shared environment this test session runs in
APP_HELP = "ScoreHOI human-object interaction perception node."


def _clone(dest: Path) -> Path:
    """`git clone` of this repository with the working tree's uncommitted changes on top (so
    that what is tested is what is checked out here)."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    listing = subprocess.run(["git", "ls-files", "-z", "--modified", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listing.stdout.decode().split("\0")):
        src, dst = ROOT / name, dest / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.exists():  # deleted here, not yet committed
            dst.unlink()
    return dest


def _clean_env(tmp: Path) -> dict[str, str]:
    """A login-like environment: no venv, no PYTHONPATH, nothing of this test session."""
    return {"HOME": os.environ["HOME"], "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8", "COLUMNS": "200", "TERM": "dumb",
            "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", "1"),
            "SCOREHOI_LOG_DIR": str(tmp / "logs")}


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    res = subprocess.run(["bash", "-c", "set -e\n" + script], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def clones(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clones")
    a, b = _clone(tmp / "a"), _clone(tmp / "b")
    # clone b's code differs visibly: its `scorehoi --help` names the clone
    cli = b / "scorehoi_node" / "cli.py"
    cli.write_text(cli.read_text().replace(APP_HELP, "CLONE-B " + APP_HELP))
    env = _clean_env(tmp)
    for clone in (a, b):
        _bash(f"make -s setup SCOREHOI_ENV={ENV}", clone, env)
    return a, b, env


def test_setup_installs_nothing_of_the_project_into_the_shared_venv(clones):
    a, _, env = clones
    site = list(ENV.glob("lib/python3*/site-packages"))
    assert site and not list(site[0].glob("scorehoi_node*"))
    assert not list(site[0].glob("__editable__*scorehoi*"))
    assert not (ENV / "bin" / "scorehoi").exists() and not (ENV / "bin" / "scorehoi_node").exists()
    # so the venv alone runs no clone's code
    res = subprocess.run([str(ENV / "bin" / "python"), "-c", "import scorehoi_node"], cwd=a.parent,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 1 and "No module named 'scorehoi_node'" in res.stderr
    assert (a / ".env" / "env_dir").read_text().strip() == str(ENV)
    ignored = subprocess.run(["git", "status", "--porcelain", "--ignored", ".env"], cwd=a,
                             capture_output=True, text=True, check=True).stdout
    assert ignored.startswith("!! .env/")  # the launchers are the clone's, never committed


@pytest.mark.parametrize("which", ["a", "b"])
def test_each_clone_entered_with_its_activate_script_runs_its_own_code(clones, which):
    a, b, env = clones
    clone, other = (a, b) if which == "a" else (b, a)
    res = _bash(f"cd {clone}\n"
                "source scripts/activate\n"
                "cd /\n"  # anywhere: the clone is found through the environment, not the cwd
                "python -c 'import scorehoi_node; print(scorehoi_node.__file__)'\n"
                "type -P scorehoi scorehoi_node\n"
                "scorehoi --help\n"
                "scorehoi_node --help\n"
                "echo \"AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH\"\n"
                "python -c 'from scorehoi_msgs.msg import HumanObjectInteractionArray'\n"
                "deactivate\n"
                "echo \"after: PYTHONPATH=${PYTHONPATH-unset} scorehoi=$(type -P scorehoi || true)\"",
                clone, env)
    lines = res.stdout.splitlines()
    assert lines[0] == str(clone / "scorehoi_node" / "__init__.py")
    assert lines[1:3] == [str(clone / ".env" / "bin" / "scorehoi"),
                          str(clone / ".env" / "bin" / "scorehoi_node")]
    assert str(other) not in res.stdout
    assert ("CLONE-B " + APP_HELP in res.stdout) == (which == "b")
    assert APP_HELP in res.stdout
    assert "usage: scorehoi_node" in res.stdout  # the node's entry point prints its help
    assert f"AMENT_PREFIX_PATH={ENV}" in res.stdout
    assert lines[-1] == "after: PYTHONPATH=unset scorehoi="
