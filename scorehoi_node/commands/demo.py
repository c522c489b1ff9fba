"""`scorehoi demo`: the main job on the embedded default — a seeded synthetic RGB-D stream of
people handling objects (no downloads) through the pipeline, a per-frame table against the
ground truth, metrics.json, frames.csv and overlay PNGs."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from scorehoi_node.bags.evaluate import evaluate_bag
from scorehoi_node.commands import progress_bar
from scorehoi_node.commands.synth import render_synth_bag
from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.viz import draw_result

#: frames.csv column -> table heading
COLUMNS = {"index": "frame", "persons": "persons", "has_object": "object",
           "pelvis_error_cm": "pelvis err cm", "cd_human_cm": "CD human cm",
           "cd_object_cm": "CD object cm", "contact_f1": "contact F1",
           "penetration_cm": "penetration cm"}
SUMMARY_KEYS = ("cd_human_cm", "cd_object_cm", "contact_precision", "contact_recall",
                "contact_f1", "penetration_cm", "fps")


def run(out: Path, frames: int, seed: int) -> None:
    """`scorehoi demo` (options as in cli.py)."""
    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "synth" / "bag"
    if not bag.exists():
        with progress_bar(console) as bar:
            task = bar.add_task("rendering", total=frames)
            render_synth_bag(out / "synth", frames, seed, seq_len=3,
                             progress=lambda: bar.advance(task))
    pipeline = Pipeline(PipelineConfig())
    for note in pipeline.notes:
        console.print(f"[yellow]{note}[/yellow]")

    def overlay(index, frame, result):
        cv2.imwrite(str(out / f"frame_{index:03d}.png"), draw_result(frame, result)[:, :, ::-1])

    summary = evaluate_bag(bag, out, pipeline, pipeline.body, pipeline.library,
                           on_result=overlay)
    pipeline.close()
    console.print(frame_table(out / "frames.csv", f"scorehoi demo: {frames} synthetic RGB-D "
                              f"frames (seed {seed}) through detect -> anny fit -> hand object "
                              "-> contacts"))
    console.print("mean: " + ", ".join(f"{k}={fmt(summary[k])}" for k in SUMMARY_KEYS))
    console.print(f"wrote {out / 'metrics.json'}, {out / 'frames.csv'} and overlays "
                  f"{out}/frame_*.png")


def frame_table(frames_csv: Path, title: str) -> Table:
    """One row per frame of frames.csv: COLUMNS and the sum of the stage milliseconds."""
    table = Table(title=title)
    for name in COLUMNS.values():
        table.add_column(name)
    table.add_column("ms")
    with open(frames_csv) as f:
        for row in csv.DictReader(f):
            ms = sum(float(v) for k, v in row.items() if k.endswith("_ms") and v)
            table.add_row(*[fmt(row[k]) for k in COLUMNS], f"{ms:.0f}")
    return table


def fmt(value) -> str:
    """A CSV/JSON cell for the table: integers as is, floats with 2 decimals, NaN/None as -."""
    if value is None or str(value).lower() in ("nan", "none", ""):
        return "-"
    if str(value).lstrip("-").isdigit():
        return str(value)
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return str(value)
