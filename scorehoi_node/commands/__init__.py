"""The bodies of the `scorehoi` commands: one module per command, each with `run(...)` taking
the command's options. `scorehoi_node/cli.py` declares the options (help, defaults) and imports
a command's module only when that command runs."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn


def progress_bar(console: Console) -> Progress:
    """The commands' progress bar: description, bar, done/total, time left."""
    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console)
