"""The `scorehoi` command: its subcommands and their options.

The command bodies live in `scorehoi_node/commands/<name>.py` (`run(...)` with the options as
keyword arguments); this module only declares the options and dispatches.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from scorehoi_node.core.config import (CONTACT_PREDICTORS, DEVICES, REFINE_MODES, ContactConfig,
                                      PipelineConfig)
from scorehoi_node.startup import log_path, quiet_startup

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ScoreHOI human-object interaction perception node.")

Verbose = Annotated[bool, typer.Option(
    "--verbose", help="show the libraries' start-up output (Warp, CUDA, TFLite/absl, "
    f"protobuf); without it, it goes to {log_path()}")]


def _run(command: str, options: dict) -> None:
    """Run `scorehoi_node.commands.<command>` with `options` (the command's parameters). Run
    from `main()` (the process is ours), the libraries' start-up output goes to the log first
    unless --verbose; called in-process (typer's CliRunner) nothing about the process changes."""
    options = dict(options)
    verbose, ctx = options.pop("verbose"), options.pop("ctx")
    if (ctx.obj or {}).get("owns_process"):
        quiet_startup(verbose)
    # the command modules import torch, rclpy, MediaPipe, ...: kept lazy on purpose, so that
    # `scorehoi --help` and `scorehoi COMMAND --help` answer at once and load none of them
    importlib.import_module(f"scorehoi_node.commands.{command}").run(**options)


@app.command()
def node(ctx: typer.Context,
         params: Optional[Path] = typer.Option(
             None, "--params", exists=True, dir_okay=False,
             help="ROS 2 parameters file (the one the launch file uses, e.g. "
             "config/scorehoi.yaml)."),
         ros_args: Optional[list[str]] = typer.Argument(
             None, help="extra ROS arguments after --, e.g. -- -r camera/image_raw:=/cam/image"),
         verbose: Verbose = False) -> None:
    """Run the node without `ros2 launch` (the pip path)."""
    _run("node", locals())


@app.command()
def demo(ctx: typer.Context,
         out: Path = typer.Option(Path("demo_out"), help="output folder"),
         frames: int = typer.Option(6, min=1, help="synthetic frames to generate"),
         seed: int = typer.Option(0, help="seed of the synthetic stream"),
         verbose: Verbose = False) -> None:
    """The main job on the embedded default: a seeded synthetic RGB-D stream of people handling
    objects (no downloads) goes through the pipeline; prints a per-frame summary against the
    ground truth and writes metrics.json, frames.csv and overlay PNGs."""
    _run("demo", locals())


@app.command()
def synth(ctx: typer.Context,
          out: Path = typer.Option(..., "--out", help="output folder (created); the rosbag2 "
                                   "(mcap) goes to OUT/bag, shards to OUT/shards"),
          frames: int = typer.Option(64, "--frames", min=1,
                                     help="number of frames (of scenes with --no-render)"),
          seed: int = typer.Option(0, "--seed", help="random seed (same seed, same scenes, "
                                   "cameras, depth and ground truth)"),
          shards: bool = typer.Option(False, "--shards", help="also write training shards "
                                      "(HOIShard safetensors) to OUT/shards"),
          seq_len: int = typer.Option(8, "--seq-len", min=1, help="frames per sequence (fixed "
                                      "person, object, camera; with --no-render: mocap frames "
                                      "per scene, each with its own cameras)"),
          width: int = typer.Option(640, "--width", min=16, help="image width [px]"),
          height: int = typer.Option(480, "--height", min=16, help="image height [px]"),
          shard_size: int = typer.Option(256, "--shard-size", min=1,
                                         help="samples per shard file"),
          no_render: bool = typer.Option(False, "--no-render", help="training data only: no "
                                         "images, no bag; --frames scenes x --views-per-scene "
                                         "cameras go to OUT/shards"),
          views_per_scene: int = typer.Option(1, "--views-per-scene", min=1,
                                              help="cameras per scene (with --no-render)"),
          workers: int = typer.Option(1, "--workers", min=1, help="processes (with "
                                      "--no-render; the samples do not depend on it)"),
          crowd: int = typer.Option(0, "--crowd", min=0, max=8, help="crowd scenes: 1 to "
                                    "CROWD people per frame at 1.5-6 m, some without an "
                                    "object, occluding each other; one ground-truth "
                                    "interaction per person and the instance masks "
                                    "(/scorehoi/ground_truth/instances); 0: one person"),
          verbose: Verbose = False) -> None:
    """Render synthetic human-object interaction frames into a rosbag2 with ground truth.

    OUT/bag holds /camera/image_raw (rgb8), /camera/camera_info, /camera/depth (32FC1, m) and
    /scorehoi/ground_truth (scorehoi_msgs/HumanObjectInteractionArray), one stamp per frame.
    With --no-render nothing is rendered: OUT/shards gets HOIShards of --frames scenes seen by
    --views-per-scene cameras each (shard-w<worker>-<i>.safetensors), OUT/synth.json the counts.
    """
    _run("synth", locals())


_EVAL_OUT = ("output folder (created): metrics.json, frames.csv (one row per answered frame), "
             "report.md with metrics_distributions.png, metrics_per_frame.png, "
             "overlay_NNNN.png and view3d_NNNN.png (unless --no-report); with --via-node also "
             "recording/ (mcap of everything the node published), node.log (the node's output) "
             "and markers.png")
_REFINE = (f"refinement: {' | '.join(REFINE_MODES)} (unguided and optimize are ablations); "
           f"default: the --params file's `refine`, else {PipelineConfig().refine} — what the "
           "node runs")


@app.command("eval")
def eval_(ctx: typer.Context,
          bag: Path = typer.Argument(..., exists=True, help="rosbag2 directory (mcap or "
                                     "sqlite3), or a folder holding one bag (e.g. the --out of "
                                     "`scorehoi synth`)"),
          out: Path = typer.Option(..., "--out", help=_EVAL_OUT),
          refine: Optional[str] = typer.Option(None, "--refine", help=_REFINE,
                                               show_default=False),
          params: Optional[Path] = typer.Option(None, "--params", exists=True, dir_okay=False,
                                                help="node parameters file (pipeline settings)"),
          image_topic: str = typer.Option("/camera/image_raw", help="sensor_msgs/Image topic"),
          info_topic: str = typer.Option("/camera/camera_info", help="CameraInfo topic"),
          depth_topic: str = typer.Option("/camera/depth", help="depth image topic (optional)"),
          gt_topic: str = typer.Option("/scorehoi/ground_truth",
                                       help="HumanObjectInteractionArray ground truth (optional)"),
          via_node: bool = typer.Option(False, "--via-node", help="run the node as its own "
                                        "process, play the bag to it on real topics, record its "
                                        "outputs in DIR/recording and score the recording"),
          pacing: str = typer.Option("flow", help="--via-node: flow (next frame once the node "
                                     "answered) or bag (the bag's timing; the node drops what it "
                                     "cannot keep up with)"),
          rate: float = typer.Option(1.0, min=0.01, help="--via-node --pacing bag: speed factor"),
          frame_timeout: float = typer.Option(60.0, min=1.0, help="--via-node: seconds to wait "
                                              "for the answer to one frame"),
          report: bool = typer.Option(True, help="write DIR/report.md with plots"),
          report_frames: str = typer.Option("", help="comma-separated frame indices to show "
                                            "in the report (default: 4 spread over the bag)"),
          verbose: Verbose = False) -> None:
    """Replay a bag through the pipeline (in-process, or through the node with --via-node) and
    score it against its ground truth: DIR/metrics.json, frames.csv, report.md with plots."""
    _run("evaluate", locals())


@app.command()
def bench(ctx: typer.Context,
          out: Path = typer.Option(..., "--out", help="output folder for bench.json"),
          bag: Optional[Path] = typer.Option(None, "--bag", exists=True, file_okay=False,
                                             help="rosbag2 with /camera/image_raw, camera_info "
                                             "(and depth), or a folder holding one; default: a "
                                             "seeded synthetic bag"),
          frames: int = typer.Option(8, min=1, help="frames to measure"),
          seed: int = typer.Option(1, help="seed of the synthetic frames"),
          paper_frames: int = typer.Option(2, min=0, help="frames also refined with `paper` "
                                           "(the slow published schedule)"),
          via_node: bool = typer.Option(True, help="also replay through the node process "
                                        "(latency across processes, transport, node RSS)"),
          device: str = typer.Option("auto", help=" | ".join(DEVICES)),
          verbose: Verbose = False) -> None:
    """Per-stage milliseconds, end-to-end FPS, latency across processes, peak RSS and
    ratio_paper_over_fast, measured side by side in one run: DIR/bench.json."""
    _run("bench", locals())


@app.command()
def train(ctx: typer.Context,
          data: list[Path] = typer.Option(..., "--data", exists=True, file_okay=False,
                                          help="folder(s) of HOIShard files (scorehoi synth "
                                          "--shards / --no-render, BEHAVE or InterCap shards)"),
          out: Path = typer.Option(..., "--out", help="output folder: denoiser.safetensors, "
                                   "loss.png, train.json"),
          steps: int = typer.Option(6000, "--steps", min=1, help="optimiser steps"),
          batch_size: int = typer.Option(256, "--batch-size", min=2),
          lr: float = typer.Option(1e-3, "--lr", min=0.0),
          seed: int = typer.Option(0, "--seed"),
          threads: int = typer.Option(0, "--threads", min=0,
                                      help="torch CPU threads (0 = torch's default)"),
          device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
          verbose: Verbose = False) -> None:
    """Train the ScoreHOI diffusion prior on HOIShard data and write a safetensors checkpoint."""
    _run("train", locals())


@app.command("train-recogniser")
def train_recogniser(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="output folder: object_recogniser."
                                 "safetensors, train.json, loss.png (copy the weights to "
                                 "scorehoi_node/core/estimate/weights/ to ship them)"),
        data: Optional[Path] = typer.Option(None, "--data", file_okay=False,
                                            help="evidence folder (default OUT/evidence); "
                                            "existing evidence files are reused"),
        train_scenes: int = typer.Option(160, min=1, help="training scenes (seed --train-seed)"),
        heldout_scenes: int = typer.Option(20, min=1, help="held-out scenes"),
        train_seed: int = typer.Option(3000),
        heldout_seed: int = typer.Option(3999),
        steps: int = typer.Option(2000, min=1, help="optimiser steps"),
        batch_size: int = typer.Option(64, min=2),
        seed: int = typer.Option(0, help="initialisation and batch order"),
        workers: int = typer.Option(1, min=1, help="evidence processes"),
        threads: int = typer.Option(0, min=0, help="torch CPU threads (0 = torch's default)"),
        verbose: Verbose = False) -> None:
    """Generate object evidence from the data engine and train the object recogniser."""
    _run("train_recogniser", locals())


@app.command()
def ablate(ctx: typer.Context,
           data: Path = typer.Option(..., "--data", exists=True, file_okay=False,
                                     help="held-out HOIShard folder (seeds not used in training)"),
           out: Path = typer.Option(..., "--out", help="output folder: ablation.json, ablation.md"),
           cases: int = typer.Option(64, "--cases", min=1, help="samples to evaluate"),
           checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", exists=True,
                                                     dir_okay=False,
                                                     help="denoiser (default: the shipped one)"),
           seed: int = typer.Option(0, "--seed", help="seed of the initial-estimate noise"),
           modes: str = typer.Option("all", "--modes",
                                     help="comma-separated rows to run (none, optimize, "
                                     "unguided, guided, paper, fast, paper_raw, fast_raw) or "
                                     "all"),
           overrides: list[str] = typer.Option(
               [], "--set", help="KEY=VALUE for the guided rows (guided, paper, fast), e.g. "
               "rho=2, guidance_norm=none, weights.penetration=1; repeatable"),
           threads: int = typer.Option(0, "--threads", min=0),
           contact_predictor: str = typer.Option(
               ContactConfig().predictor, "--contact-predictor",
               help=f"contact rule of every row's rounds: {' | '.join(CONTACT_PREDICTORS)}"),
           verbose: Verbose = False) -> None:
    """Refinement ablation with controlled initial estimates (see core/ablation.py)."""
    _run("ablate", locals())


def main() -> None:
    """console_scripts entry point `scorehoi` (also `python -m scorehoi_node.cli`)."""
    app(prog_name="scorehoi", obj={"owns_process": True})


if __name__ == "__main__":
    main()
