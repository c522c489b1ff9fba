"""Keep the libraries' start-up output off the console: called first by every `scorehoi` command
and by the `scorehoi_node` entry point, before the heavy libraries load.

Without `--verbose`, what Warp (greeting, module loads, the CUDA driver probe), TFLite / absl
(MediaPipe's "XNNPACK delegate", "Feedback manager" lines) and protobuf (deprecation warnings)
print goes to a log file (`log_path()`) instead of the console:

- Warp's own lines are switched off with `warp.config.log_level` (they are Python prints to
  stdout, read when Warp initialises);
- native libraries write to file descriptor 2, which is pointed at the log; Python's
  `sys.stderr` (tracebacks, typer's errors) keeps the console, and ROS log lines (rcutils
  writes them to fd 2) go to stdout (`RCUTILS_LOGGING_USE_STDOUT`);
- Python warnings are logged to the same file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

#: the log keeps growing across runs up to this size, then starts over (the old one kept as .1)
MAX_LOG_BYTES = 10_000_000


def log_path() -> Path:
    """`$SCOREHOI_LOG_DIR/scorehoi.log`, by default ~/.cache/scorehoi/logs/scorehoi.log."""
    folder = os.environ.get("SCOREHOI_LOG_DIR") or Path.home() / ".cache" / "scorehoi" / "logs"
    return Path(folder) / "scorehoi.log"


NODE_USAGE = """\
The ScoreHOI perception node (an rclpy LifecycleNode named `scorehoi`): camera images in,
human-object interactions out. `ros2 launch scorehoi_node scorehoi.launch.py` starts it;
`scorehoi node --params FILE` is the same without launch.

ROS arguments follow --ros-args, e.g.
  scorehoi_node --ros-args --params-file config/scorehoi.yaml \\
      -r camera/image_raw:=/front/image -r __ns:=/front
Parameters: config/scorehoi.yaml (README "Parameters"); topics: README "Topics".
"""


def node_entry_arguments(argv: list[str]) -> tuple[bool, list[str]]:
    """The `scorehoi_node` command line -> (verbose, ROS arguments). What precedes
    `--ros-args` is ours: `--help` prints NODE_USAGE and exits, `--verbose` keeps the
    libraries' start-up output on the console; anything else exits with a usage error."""
    cut = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="scorehoi_node", description=NODE_USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true",
                        help="show the libraries' start-up output (Warp, CUDA, TFLite/absl, "
                        f"protobuf); without it, it goes to {log_path()}")
    options = parser.parse_args(argv[:cut])
    return options.verbose, list(argv[cut:])


def quiet_startup(verbose: bool = False) -> Path | None:
    """Send the libraries' start-up output to `log_path()` unless `verbose`; returns the log's
    path (None when verbose or already done in this process)."""
    if verbose or getattr(sys.stderr, "scorehoi_console", False):
        return None
    path = log_path()
    log = _open_log(path)
    sys.stdout.flush()
    sys.stderr.flush()
    console_fd = os.dup(2)
    os.dup2(log.fileno(), 2)
    console = os.fdopen(console_fd, "w", buffering=1, encoding=sys.stderr.encoding,
                        errors="backslashreplace")
    console.scorehoi_console = True  # marks the swap as done
    sys.stderr = console
    os.environ.setdefault("RCUTILS_LOGGING_USE_STDOUT", "1")
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.addHandler(handler)
    warnings_logger.propagate = False
    logging.captureWarnings(True)
    _quiet_warp()
    return path


def _open_log(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size > MAX_LOG_BYTES:
        path.replace(path.with_suffix(".log.1"))
    log = open(path, "a", buffering=1)
    log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}: "
              f"{' '.join(sys.argv)}\n")
    return log


def _quiet_warp() -> None:
    # Warp prints at initialisation unless its log level is raised first; importing it here
    # costs ~1 s, which every command pays anyway (the anny body model runs on Warp)
    try:
        import warp
    except ImportError:
        return
    warp.config.log_level = warp.LOG_WARNING
