"""`scorehoi node`: the node without `ros2 launch` (the pip path)."""

from __future__ import annotations

from pathlib import Path

from scorehoi_node.ros.node import run as run_node
from scorehoi_node.ros.transport import use_transport_profile


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
    """`scorehoi node` (options as in cli.py). Fast DDS gets the shipped large-image profile
    (config/fastdds.xml) unless the environment names its own transports, as with the launch
    file; it is read when the node's participant is created, so it is set first."""
    use_transport_profile()
    run_node(ros_arguments(params, ros_args))
