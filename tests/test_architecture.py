"""The core is ROS-free: it never imports rclpy or message packages; the package has no import
cycles; `scorehoi --help` loads no heavy library."""

import ast
import subprocess
import sys
from pathlib import Path

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


PACKAGE = "scorehoi_node"


def _module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by __init__)."""
    out = {}
    for f in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the package's modules it imports, anywhere in the file (top level and inside
    functions); `from a.b import c` counts as importing a.b.c when that is a module, else a.b;
    relative imports are resolved."""
    files = _module_files(root)

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}".rstrip(".")
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name) if name.split(".")[0] == PACKAGE else None
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_import_cycle_detection_sees_function_level_imports(tmp_path):
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py"):
        (pkg / name).write_text("")
    (pkg / "a.py").write_text("from scorehoi_node.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a  # inside a function\n")
    (pkg / "sub" / "c.py").write_text("from .b import f\n")
    graph = import_graph(tmp_path)
    assert graph["scorehoi_node.a"] == {"scorehoi_node.sub", "scorehoi_node.sub.b"}
    assert graph["scorehoi_node.sub.b"] == {"scorehoi_node", "scorehoi_node.a"}
    assert graph["scorehoi_node.sub.c"] == {"scorehoi_node.sub.b"}
    assert import_cycles(graph) == [["scorehoi_node.a", "scorehoi_node.sub.b"]]


def test_no_import_cycles_among_the_packages_modules():
    graph = import_graph()
    assert len(graph) > 50
    assert import_cycles(graph) == []


def test_help_loads_no_heavy_library():
    """`scorehoi --help` / `scorehoi eval --help` answer without torch, rclpy or MediaPipe
    (the command modules are imported only when their command runs)."""
    code = ("import sys; from scorehoi_node.cli import app\n"
            "for args in (['--help'], ['eval', '--help'], ['synth', '--help']):\n"
            "    try:\n"
            "        app(args, prog_name='scorehoi')\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, (args, e.code)\n"
            "print(sorted(m for m in ('torch', 'rclpy', 'mediapipe', 'warp', 'cv2') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
