"""Static checks of the ROS package: setup.py installs real files, the launch file is valid."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import setuptools

from scorehoi_node.ros.transport import USER_TRANSPORT_ENVS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def setup_kwargs():
    captured = {}
    orig, cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        os.chdir(ROOT)
        spec = importlib.util.spec_from_file_location("_setup", ROOT / "setup.py")
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    finally:
        setuptools.setup, _ = orig, os.chdir(cwd)
    return captured


def test_every_installed_data_file_exists(setup_kwargs):
    files = [f for _, fs in setup_kwargs["data_files"] for f in fs]
    assert "package.xml" in files and "resource/scorehoi_node" in files
    assert "launch/scorehoi.launch.py" in files and "config/scorehoi.yaml" in files
    assert "config/fastdds.xml" in files
    for f in files:
        assert (ROOT / f).is_file(), f


def test_console_scripts_resolve(setup_kwargs):
    scripts = dict(s.split(" = ") for s in setup_kwargs["entry_points"]["console_scripts"])
    assert set(scripts) == {"scorehoi", "scorehoi_node"}
    for target in scripts.values():
        mod, func = target.split(":")
        assert callable(getattr(importlib.import_module(mod), func))


def test_package_xml_names_the_package_and_its_message_dependency():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "scorehoi_node"
    deps = {e.text for e in root if e.tag.endswith("depend")}
    assert {"rclpy", "scorehoi_msgs", "sensor_msgs", "tf2_msgs", "visualization_msgs"} <= deps
    assert root.find("export/build_type").text == "ament_python"
    msgs = ET.parse(ROOT / "msgs" / "package.xml").getroot()
    assert msgs.findtext("name") == "scorehoi_msgs"
    cmake = (ROOT / "msgs" / "CMakeLists.txt").read_text()
    for f in sorted((ROOT / "msgs" / "msg").glob("*.msg")):
        assert f'"msg/{f.name}"' in cmake


class _Recorder:
    """Stands in for a launch / launch_ros class and records its constructor arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _stub_modules(share: Path) -> dict[str, types.ModuleType]:
    mods = {n: types.ModuleType(n) for n in (
        "launch", "launch.actions", "launch.conditions", "launch.substitutions", "launch_ros",
        "launch_ros.actions",
        "ament_index_python", "ament_index_python.packages")}
    for n in ("LaunchDescription",):
        setattr(mods["launch"], n, type(n, (_Recorder,), {}))
    for n in ("DeclareLaunchArgument", "SetEnvironmentVariable"):
        setattr(mods["launch.actions"], n, type(n, (_Recorder,), {}))
    mods["launch.substitutions"].LaunchConfiguration = type("LaunchConfiguration", (_Recorder,), {})
    mods["launch.conditions"].IfCondition = type("IfCondition", (_Recorder,), {})
    for n in ("Node", "LifecycleNode"):
        setattr(mods["launch_ros.actions"], n, type(n, (_Recorder,), {}))

    def get_package_share_directory(pkg):
        assert pkg == "scorehoi_node"
        return str(share)

    mods["ament_index_python.packages"].get_package_share_directory = get_package_share_directory
    return mods


def _launch_entities(monkeypatch, setup_kwargs, tmp_path) -> list:
    """The launch file's entities, run against the stand-ins with the share directory exactly
    as setup.py installs it (in tmp_path/share/scorehoi_node), from tmp_path/run."""
    for dest, files in setup_kwargs["data_files"]:
        if dest.startswith("share/scorehoi_node"):
            d = tmp_path / dest
            d.mkdir(parents=True, exist_ok=True)
            for f in files:
                (d / Path(f).name).write_bytes((ROOT / f).read_bytes())
    share = tmp_path / "share" / "scorehoi_node"
    for name, mod in _stub_modules(share).items():
        monkeypatch.setitem(sys.modules, name, mod)
    (tmp_path / "run").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / "run")
    spec = importlib.util.spec_from_file_location("_launch", ROOT / "launch" / "scorehoi.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    (entities,) = ld.args
    return entities


def _clear_transport_environment(monkeypatch) -> None:
    for name in USER_TRANSPORT_ENVS:
        monkeypatch.delenv(name, raising=False)


def test_launch_file_builds_a_valid_description(monkeypatch, setup_kwargs, tmp_path):
    _clear_transport_environment(monkeypatch)
    entities = _launch_entities(monkeypatch, setup_kwargs, tmp_path)
    declared = {e.args[0]: e.kwargs for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    assert {"params_file", "namespace", "image", "camera_info", "depth"} <= set(declared)
    assert Path(declared["params_file"]["default_value"]).is_file()
    (node,) = [e for e in entities if type(e).__name__ == "LifecycleNode"]
    kw = node.kwargs
    scripts = dict(s.split(" = ") for s in setup_kwargs["entry_points"]["console_scripts"])
    assert kw["package"] == "scorehoi_node" and kw["executable"] in scripts
    assert kw["name"] == "scorehoi"
    assert [p.args[0] for p in kw["parameters"]] == ["params_file"]
    # remapped names are the ones the node subscribes to
    node_src = (ROOT / "scorehoi_node" / "ros" / "node.py").read_text()
    subscribed = set(re.findall(r'create_subscription\(\s*\w+, "([^"]+)"', node_src))
    assert {src for src, _ in kw["remappings"]} == subscribed == {
        "camera/image_raw", "camera/camera_info", "camera/depth", "detections"}
    # RViz only on request, with the installed layout
    (rviz,) = [e for e in entities if type(e).__name__ == "Node"]
    assert rviz.kwargs["executable"] == "rviz2"
    assert rviz.kwargs["condition"].args[0].args[0] == "rviz"
    assert declared["rviz"]["default_value"] == "false"
    assert Path(declared["rviz_config"]["default_value"]).is_file()


def test_launch_file_gives_the_installed_transport_profile(monkeypatch, setup_kwargs, tmp_path):
    """Without a transport choice in the environment, FASTDDS_DEFAULT_PROFILES_FILE is set to the
    `fastdds_profile` argument (default: the installed config/fastdds.xml: shared memory with a
    segment for several 640x480 RGB + depth pairs, UDPv4 kept, no TCP) before the node and RViz
    start; a user's own choice (any of the Fast DDS variables, or a DEFAULT_FASTDDS_PROFILES.xml
    in the working directory) is left alone."""
    _clear_transport_environment(monkeypatch)
    entities = _launch_entities(monkeypatch, setup_kwargs, tmp_path)
    names = [type(e).__name__ for e in entities]
    (env,) = [e for e in entities if type(e).__name__ == "SetEnvironmentVariable"]
    assert env.args[0] == "FASTDDS_DEFAULT_PROFILES_FILE"
    assert env.args[1].args[0] == "fastdds_profile"
    assert names.index("SetEnvironmentVariable") < min(names.index("LifecycleNode"),
                                                       names.index("Node"))
    declared = {e.args[0]: e.kwargs for e in entities
                if type(e).__name__ == "DeclareLaunchArgument"}
    profile = Path(declared["fastdds_profile"]["default_value"])  # as setup.py installs it
    assert profile == tmp_path / "share" / "scorehoi_node" / "config" / "fastdds.xml"
    assert profile.read_bytes() == (ROOT / "config" / "fastdds.xml").read_bytes()
    ns = {"d": "http://www.eprosima.com"}
    root = ET.parse(profile).getroot()
    kinds = {t.findtext("d:transport_id", namespaces=ns): t for t in
             root.iterfind("d:profiles/d:transport_descriptors/d:transport_descriptor", ns)}
    (participant,) = root.iterfind("d:profiles/d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    used = [e.text for e in participant.iterfind("d:rtps/d:userTransports/d:transport_id", ns)]
    assert participant.findtext("d:rtps/d:useBuiltinTransports", namespaces=ns) == "false"
    assert sorted(kinds[u].findtext("d:type", namespaces=ns) for u in used) == ["SHM", "UDPv4"]
    (shm,) = [kinds[u] for u in used if kinds[u].findtext("d:type", namespaces=ns) == "SHM"]
    assert int(shm.findtext("d:segment_size", namespaces=ns)) >= 4 * (640 * 480 * 3 + 640 * 480 * 4)
    for choice in ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"},
                   {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
                   {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}, "cwd"):
        _clear_transport_environment(monkeypatch)
        if choice == "cwd":
            (tmp_path / "run" / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
        else:
            for k, v in choice.items():
                monkeypatch.setenv(k, v)
        entities = _launch_entities(monkeypatch, setup_kwargs, tmp_path)
        assert "SetEnvironmentVariable" not in [type(e).__name__ for e in entities], choice
        assert "LifecycleNode" in [type(e).__name__ for e in entities]


def test_launch_file_has_no_side_effects():
    src = (ROOT / "launch" / "scorehoi.launch.py").read_text()
    for bad in ("subprocess", "os.system", "eval(", "exec(", "ExecuteProcess"):
        assert bad not in src


@pytest.mark.slow
def test_colcon_builds_the_workspace(tmp_path):
    """`colcon build` of ros2_ws (both packages) installs the executables and share files."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = ["colcon", "--log-base", str(tmp_path / "log"), "build",
           "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install"),
           "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"]
    out = subprocess.run(cmd, cwd=ROOT / "ros2_ws", env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "2 packages finished" in out.stdout
    inst = tmp_path / "install"
    assert (inst / "scorehoi_node/lib/scorehoi_node/scorehoi_node").is_file()
    assert (inst / "scorehoi_node/share/scorehoi_node/launch/scorehoi.launch.py").is_file()
    assert (inst / "scorehoi_node/share/scorehoi_node/rviz/scorehoi.rviz").is_file()
    assert (inst / "scorehoi_node/share/scorehoi_node/config/scorehoi.yaml").is_file()
    assert (inst / "scorehoi_node/share/scorehoi_node/config/fastdds.xml").is_file()
    assert list((inst / "scorehoi_msgs").rglob("_human_object_interaction_array.py"))
