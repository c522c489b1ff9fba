"""The core is ROS-free: it never imports rclpy or message packages."""

import ast
import subprocess
import sys

from tests.conftest import ROOT

FORBIDDEN = ("rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "visualization_msgs",
             "tf2_msgs", "scorehoi_msgs", "builtin_interfaces", "diagnostic_msgs", "scorehoi_node.ros")


def _imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_sources_import_no_ros():
    files = sorted((ROOT / "scorehoi_node" / "core").rglob("*.py"))
    assert len(files) >= 8
    bad = [(f.name, m) for f in files for m in _imports(f)
           if any(m == x or m.startswith(x + ".") for x in FORBIDDEN)]
    assert bad == []


def test_importing_the_core_loads_no_ros_module():
    code = ("import sys, scorehoi_node.core.pipeline, scorehoi_node.core.viz;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{FORBIDDEN!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
