"""`scorehoi node`: the node without `ros2 launch` (the pip path)."""

from __future__ import annotations

from pathlib import Path

from scorehoi_node.ros.node import run as run_node


def ros_arguments(params: Path | None, extra: list[str] | None) -> list[str]:
    """The node's ROS arguments: `--ros-args [--params-file PARAMS] EXTRA` (a leading
    `--ros-args` in EXTRA is dropped)."""
    args = ["--ros-args"]
    if params is not None:
        args += ["--params-file", str(params)]
    extra = list(extra or [])
    if extra and extra[0] == "--ros-args":
        extra = extra[1:]
    return args + extra


def run(params: Path | None, ros_args: list[str] | None) -> None:
    """`scorehoi node` (options as in cli.py)."""
    run_node(ros_arguments(params, ros_args))
