"""`scorehoi bench`: runs `scorehoi_node.bench.run_bench` and prints its figures."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from scorehoi_node.bench import run_bench

SUMMARY_KEYS = ("end_to_end_fps", "end_to_end_fps_refine_none", "ratio_paper_over_fast",
                "peak_rss_mb_in_process", "end_to_end_fps_node")


def run(out: Path, bag: Path | None, frames: int, seed: int, paper_frames: int, via_node: bool,
        device: str) -> None:
    """`scorehoi bench` (options as in cli.py)."""
    console = Console()
    with Progress(console=console) as bar:
        task = bar.add_task("benchmarking", total=frames)
        res = run_bench(out, bag, frames, seed, paper_frames, via_node, device,
                        progress=lambda: bar.advance(task))
    table = Table(title=f"scorehoi bench ({res['frames']} frames, {res['machine']['device']}, "
                        f"{res['machine']['cpu_count']} CPUs)")
    for col in ("stage", "mean ms", "median ms", "p95 ms", "n"):
        table.add_column(col)
    for k, v in res["stage_ms"].items():
        if v:
            table.add_row(k, *(str(v[x]) for x in ("mean", "median", "p95", "n")))
    console.print(table)
    console.print({k: res.get(k) for k in SUMMARY_KEYS})
    console.print({"message_bytes": res["message_bytes"]["median"],
                   "message_bytes_full_mesh": res["message_bytes_full_mesh"]["median"]})
    if "transport_probe" in res:
        p = res["transport_probe"]
        console.print({"round_trip_ms_default_transports": p["default"]["round_trip_ms"],
                       "round_trip_ms_profile": p["profile"]["round_trip_ms"]})
    if "node" in res:
        n = res["node"]
        console.print({"node_latency_ms": n["latency_ms"],
                       "transport_overhead_ms": n["transport_overhead_ms"],
                       "node_peak_rss_mb": n["peak_rss_mb"]})
    console.print(f"wrote {out / 'bench.json'}")
