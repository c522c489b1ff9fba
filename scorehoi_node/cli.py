"""The `scorehoi` command: run the node, run the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ScoreHOI human-object interaction perception node.")


@app.command()
def node(params: Optional[Path] = typer.Option(
        None, "--params", exists=True, dir_okay=False,
        help="ROS 2 parameters file (the one the launch file uses, e.g. config/scorehoi.yaml)."),
         ros_args: Optional[list[str]] = typer.Argument(
             None, help="extra ROS arguments after --, e.g. -- -r camera/image_raw:=/cam/image")) -> None:
    """Run the node without `ros2 launch` (the pip path)."""
    from scorehoi_node.ros.node import run

    args = ["--ros-args"]
    if params is not None:
        args += ["--params-file", str(params)]
    extra = list(ros_args or [])
    if extra and extra[0] == "--ros-args":
        extra = extra[1:]
    run(args + extra)


@app.command()
def demo(out: Path = typer.Option(Path("demo_out"), help="output folder"),
         frames: int = typer.Option(6, min=1, help="synthetic frames to generate"),
         seed: int = typer.Option(0, help="seed of the synthetic stream")) -> None:
    """The main job on the embedded default: a seeded synthetic RGB-D stream of people handling
    objects (no downloads) goes through the pipeline; prints a per-frame summary against the
    ground truth and writes metrics.json, frames.csv and overlay PNGs."""
    import csv

    import cv2
    from rich.console import Console
    from rich.table import Table

    from scorehoi_node.bags.evaluate import evaluate_bag
    from scorehoi_node.core.config import PipelineConfig
    from scorehoi_node.core.pipeline import Pipeline
    from scorehoi_node.core.viz import draw_result

    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "synth" / "bag"
    if not bag.exists():
        synth(out=out / "synth", frames=frames, seed=seed, shards=False, seq_len=3, width=640,
              height=480, shard_size=256)
    pipeline = Pipeline(PipelineConfig())
    for note in pipeline.notes:
        console.print(f"[yellow]{note}[/yellow]")

    def overlay(index, frame, result):
        cv2.imwrite(str(out / f"frame_{index:03d}.png"), draw_result(frame, result)[:, :, ::-1])

    summary = evaluate_bag(bag, out, pipeline, pipeline.body, pipeline.library,
                           on_result=overlay)
    pipeline.close()
    table = Table(title=f"scorehoi demo: {frames} synthetic RGB-D frames (seed {seed}) through "
                        "detect -> anny fit -> hand object -> contacts")
    cols = {"index": "frame", "persons": "persons", "has_object": "object",
            "pelvis_error_cm": "pelvis err cm", "cd_human_cm": "CD human cm",
            "cd_object_cm": "CD object cm", "contact_f1": "contact F1",
            "penetration_cm": "penetration cm"}
    for name in cols.values():
        table.add_column(name)
    table.add_column("ms")
    for row in csv.DictReader(open(out / "frames.csv")):
        ms = sum(float(v) for k, v in row.items() if k.endswith("_ms") and v)
        table.add_row(*[_fmt(row[k]) for k in cols], f"{ms:.0f}")
    console.print(table)
    keys = ("cd_human_cm", "cd_object_cm", "contact_precision", "contact_recall", "contact_f1",
            "penetration_cm", "fps")
    console.print("mean: " + ", ".join(f"{k}={_fmt(summary[k])}" for k in keys))
    console.print(f"wrote {out / 'metrics.json'}, {out / 'frames.csv'} and overlays "
                  f"{out}/frame_*.png")


def _fmt(value) -> str:
    """A CSV/JSON cell for the table: integers as is, floats with 2 decimals, NaN/None as -."""
    if value is None or str(value).lower() in ("nan", "none", ""):
        return "-"
    if str(value).lstrip("-").isdigit():
        return str(value)
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return str(value)


def _shard_of(frames: list, body_model: str):
    """HOIShard of rendered synthetic frames (`samples_to_shard` of their samples)."""
    from scorehoi_node.core.synth.samples import SynthSample, samples_to_shard

    return samples_to_shard([SynthSample.from_frame(f) for f in frames], body_model)


def _synth_no_render(out: Path, scenes: int, seed: int, views_per_scene: int, workers: int,
                     width: int, height: int, shard_size: int, frames_per_scene: int = 1) -> None:
    """`synth --no-render`: scenes and cameras only, HOIShards to OUT/shards, OUT/synth.json."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from scorehoi_node.core.synth.camera import CameraSampler
    from scorehoi_node.core.synth.samples import SynthJob, merge_stats, write_synth_shards

    console = Console()
    shard_dir = out / "shards"
    if shard_dir.exists():
        raise typer.BadParameter(f"{shard_dir} already exists; pick a new --out", param_hint="--out")
    out.mkdir(parents=True, exist_ok=True)
    job = SynthJob(n_scenes=scenes, seed=seed, views_per_scene=views_per_scene,
                   frames_per_scene=frames_per_scene, sampler=CameraSampler(width=width, height=height), shard_size=shard_size)
    t0 = time.perf_counter()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(f"scenes ({workers} worker{'s' * (workers > 1)})", total=scenes)
        results = write_synth_shards(shard_dir, job, workers,
                                     on_scene=lambda: progress.advance(task))
    elapsed = time.perf_counter() - t0
    n_samples = sum(r.samples for r in results)
    paths = [p for r in results for p in r.paths]
    summary = {"render": False, "scenes": sum(r.scenes for r in results),
               "views_per_scene": views_per_scene, "frames_per_scene": frames_per_scene,
               "samples": n_samples, "seed": seed,
               "workers": len(results), "width": width, "height": height,
               "shard_size": shard_size, "shards": [str(p) for p in paths],
               "elapsed_s": round(elapsed, 2), "scenes_per_s": round(scenes / elapsed, 3),
               "samples_per_s": round(n_samples / elapsed, 3),
               "setup_s": round(max(r.setup_s for r in results), 2),
               "generator": merge_stats(results)}
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    console.print(f"wrote {n_samples} samples ({scenes} scenes x {frames_per_scene} frames x "
                  f"{views_per_scene} views) in "
                  f"{len(paths)} shard(s) to {shard_dir}")
    console.print(f"{scenes / elapsed:.2f} scenes/s, {n_samples / elapsed:.2f} samples/s "
                  f"({len(results)} worker(s); setup {summary['setup_s']:.1f} s, included)")


# `Annotated` options keep plain Python defaults, so `demo` may call `synth` without them
from typing import Annotated  # noqa: E402

_NoRender = Annotated[bool, typer.Option(
    "--no-render", help="training data only: no images, no bag; --frames scenes x "
    "--views-per-scene cameras go to OUT/shards")]
_ViewsPerScene = Annotated[int, typer.Option(
    "--views-per-scene", min=1, help="cameras per scene (with --no-render)")]
_Workers = Annotated[int, typer.Option(
    "--workers", min=1, help="processes (with --no-render; the samples do not depend on it)")]


@app.command()
def synth(out: Path = typer.Option(..., "--out", help="output folder (created); the rosbag2 "
                                   "(mcap) goes to OUT/bag, shards to OUT/shards"),
          frames: int = typer.Option(64, "--frames", min=1,
                                     help="number of frames (of scenes with --no-render)"),
          seed: int = typer.Option(0, "--seed", help="random seed (same seed, same scenes, cameras, depth and ground truth)"),
          shards: bool = typer.Option(False, "--shards", help="also write training shards "
                                      "(HOIShard safetensors) to OUT/shards"),
          seq_len: int = typer.Option(8, "--seq-len", min=1,
                                      help="frames per sequence (fixed person, object, camera; with --no-render: mocap frames per scene, each with its own cameras)"),
          width: int = typer.Option(640, "--width", min=16, help="image width [px]"),
          height: int = typer.Option(480, "--height", min=16, help="image height [px]"),
          shard_size: int = typer.Option(256, "--shard-size", min=1,
                                         help="samples per shard file"),
          no_render: _NoRender = False, views_per_scene: _ViewsPerScene = 1,
          workers: _Workers = 1) -> None:
    """Render synthetic human-object interaction frames into a rosbag2 with ground truth.

    OUT/bag holds /camera/image_raw (rgb8), /camera/camera_info, /camera/depth (32FC1, m) and
    /scorehoi/ground_truth (scorehoi_msgs/HumanObjectInteractionArray), one stamp per frame.
    With --no-render nothing is rendered: OUT/shards gets HOIShards of --frames scenes seen by
    --views-per-scene cameras each (shard-w<worker>-<i>.safetensors), OUT/synth.json the counts.
    """
    if no_render:
        _synth_no_render(out, frames, seed, views_per_scene, workers, width, height, shard_size,
                         frames_per_scene=seq_len)
        return
    if workers != 1 or views_per_scene != 1:
        raise typer.BadParameter("--workers and --views-per-scene need --no-render",
                                 param_hint="--workers / --views-per-scene")
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from scorehoi_node.bags.synth_bag import TOPICS, write_synth_bag
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.camera import CameraSampler
    from scorehoi_node.core.synth.frames import SynthContext, synth_frames
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.render import Renderer

    console = Console()
    bag_dir, shard_dir = out / "bag", out / "shards"
    if bag_dir.exists() or (shards and shard_dir.exists()):
        raise typer.BadParameter(f"{bag_dir} or {shard_dir} already exists; pick a new --out",
                                 param_hint="--out")
    out.mkdir(parents=True, exist_ok=True)
    t_setup = time.perf_counter()
    body = make_body_model("anny")
    library = load_library()
    context = SynthContext.from_body(body, library)
    generator = SceneGenerator(body, library)
    renderer = Renderer(width, height)
    sampler = CameraSampler(width=width, height=height)
    setup_s = time.perf_counter() - t_setup

    pending: list = []
    shard_paths: list[Path] = []

    def flush() -> None:
        from scorehoi_node.core.data.shards import write_shard

        if pending:
            path = shard_dir / f"shard-{len(shard_paths):05d}.safetensors"
            shard_paths.append(write_shard(path, _shard_of(pending, body.name)))
            pending.clear()

    t0 = time.perf_counter()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("rendering", total=frames)

        def tracked():
            for frame in synth_frames(frames, seed, sequences=generator.sample_sequence,
                                      context=context, renderer=renderer, sampler=sampler,
                                      seq_len=seq_len):
                yield frame
                if shards:
                    pending.append(frame)
                    if len(pending) >= shard_size:
                        flush()
                progress.advance(task)

        info = write_synth_bag(bag_dir, tracked(), context)
        if shards:
            flush()
    elapsed = time.perf_counter() - t0
    renderer.close()
    fps = info.frames / elapsed
    summary = {"frames": info.frames, "seed": seed, "seq_len": seq_len, "width": width,
               "height": height, "bag": str(bag_dir), "topics": list(TOPICS),
               "shards": [str(p) for p in shard_paths], "fps": round(fps, 3),
               "setup_s": round(setup_s, 2)}
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    console.print(f"wrote {info.frames} frames to {bag_dir}"
                  + (f" and {len(shard_paths)} shard(s) to {shard_dir}" if shards else ""))
    console.print(f"{fps:.2f} frames/s ({1000 / fps:.0f} ms/frame; setup {setup_s:.1f} s)")


@app.command("eval")
def eval_(bag: Path = typer.Argument(..., exists=True, help="rosbag2 directory (mcap or sqlite3)"),
          out: Path = typer.Option(..., "--out", help="output folder for metrics.json, frames.csv"),
          refine: str = typer.Option("none", "--refine", help="refinement: none | fast | paper (ablations: unguided, optimize)"),
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
          ) -> None:
    """Replay a bag through the pipeline (in-process, or through the node with --via-node) and
    write DIR/metrics.json, frames.csv and report.md with plots."""
    from rich.console import Console
    from rich.progress import Progress

    from scorehoi_node.bags.evaluate import Topics, evaluate_bag
    from scorehoi_node.bags.io import bag_topics
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.config import PipelineConfig
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.pipeline import Pipeline

    values = _params_from_file(params) if params else {}
    values["refine"] = refine
    pipe_fields = set(PipelineConfig.__dataclass_fields__)
    try:
        cfg = PipelineConfig(**{k: v for k, v in values.items() if k in pipe_fields})
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    topics = Topics(image_topic, info_topic, depth_topic, gt_topic)
    n_images = bag_topics(bag).get(image_topic, ("", 0))[1]
    if not n_images:
        raise typer.BadParameter(f"{bag} has no messages on {image_topic}")
    try:
        wanted = tuple(int(x) for x in report_frames.split(",") if x.strip())
    except ValueError as e:
        raise typer.BadParameter(f"--report-frames: {e}") from e
    console = Console()
    if via_node:
        from scorehoi_node.bags.via_node import NodeReplayError, ReplayOptions, evaluate_via_node

        try:
            opts = ReplayOptions(params=params, overrides={"refine": refine}, pacing=pacing,
                                 rate=rate, frame_timeout_s=frame_timeout)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
        with Progress(console=console) as bar:
            task = bar.add_task("replaying through the node", total=n_images)
            try:
                summary = evaluate_via_node(bag, out, topics, opts, lambda: bar.advance(task),
                                            report=report, report_frames=wanted)
            except (NodeReplayError, FileExistsError) as e:
                console.print(f"[red]error:[/red] {e}")
                raise typer.Exit(1) from e
    else:
        pipeline = Pipeline(cfg)
        with Progress(console=console) as bar:
            task = bar.add_task("evaluating", total=n_images)
            summary = evaluate_bag(bag, out, pipeline, make_body_model("anny"), load_library(),
                                   topics, progress=lambda: bar.advance(task), n_frames=n_images,
                                   report=report, report_frames=wanted)
        pipeline.close()
    console.print_json(data=summary)
    console.print(f"wrote {out / 'metrics.json'}, {out / 'frames.csv'}"
                  + (f" and {out / 'report.md'}" if report else ""))


@app.command()
def bench(out: Path = typer.Option(..., "--out", help="output folder for bench.json"),
          bag: Optional[Path] = typer.Option(None, "--bag", exists=True, file_okay=False,
                                             help="rosbag2 with /camera/image_raw, camera_info "
                                             "(and depth); default: a seeded synthetic bag"),
          frames: int = typer.Option(8, min=1, help="frames to measure"),
          seed: int = typer.Option(1, help="seed of the synthetic frames"),
          paper_frames: int = typer.Option(2, min=0, help="frames also refined with `paper` "
                                           "(the slow published schedule)"),
          via_node: bool = typer.Option(True, help="also replay through the node process "
                                        "(latency across processes, transport, node RSS)"),
          device: str = typer.Option("auto", help="auto | cpu | cuda"),
          ) -> None:
    """Per-stage milliseconds, end-to-end FPS, latency across processes, peak RSS and
    ratio_paper_over_fast, measured side by side in one run: DIR/bench.json."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from scorehoi_node.bench import run_bench

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
    keys = ["end_to_end_fps", "end_to_end_fps_refine_none", "ratio_paper_over_fast",
            "peak_rss_mb_in_process", "end_to_end_fps_node"]
    console.print({k: res.get(k) for k in keys})
    if "node" in res:
        n = res["node"]
        console.print({"node_latency_ms": n["latency_ms"],
                       "transport_overhead_ms": n["transport_overhead_ms"],
                       "node_peak_rss_mb": n["peak_rss_mb"]})
    console.print(f"wrote {out / 'bench.json'}")


@app.command()
def train(data: list[Path] = typer.Option(..., "--data", exists=True, file_okay=False,
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
          device: str = typer.Option("cpu", "--device", help="cpu or cuda")) -> None:
    """Train the ScoreHOI diffusion prior on HOIShard data and write a safetensors checkpoint."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.data.shards import iter_shards
    from scorehoi_node.core.diffusion.dataset import PriorDataset
    from scorehoi_node.core.bodies.landmarks import landmark_index
    from scorehoi_node.core.diffusion.state import StateCodec
    from scorehoi_node.core.diffusion.train import TrainConfig, train_prior
    from scorehoi_node.core.objects import load_library

    if threads:
        torch.set_num_threads(threads)
    if device != "cpu":
        raise typer.BadParameter("training runs on the CPU in this version (the model is "
                                 "small); use --device cpu", param_hint="--device")
    console = Console()
    shards = [s for d in data for s in iter_shards(d)]
    if not shards:
        raise typer.BadParameter(f"no shard-*.safetensors in {', '.join(map(str, data))}")
    body = make_body_model(shards[0].body_model)
    layout = body.state_layout
    dataset = PriorDataset.from_shards(shards, body, load_library(), StateCodec(layout),
                                       landmark_index(body))
    codec = StateCodec(layout, dataset.raw.mean(0), dataset.raw.std(0))
    console.print(f"{len(dataset)} samples from {len(shards)} shard(s); state size {layout.size}")
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("training", total=steps)

        def progress(step: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"training (loss {loss:.4f})")

        _, report = train_prior(dataset, codec, out, cfg, body.name, progress)
    console.print_json(data={k: v for k, v in report.items() if not isinstance(v, dict)})
    console.print(f"wrote {out / 'denoiser.safetensors'}, {out / 'loss.png'}, {out / 'train.json'}")


@app.command()
def ablate(data: Path = typer.Option(..., "--data", exists=True, file_okay=False,
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
           threads: int = typer.Option(0, "--threads", min=0)) -> None:
    """Refinement ablation with controlled initial estimates (see core/ablation.py)."""
    import numpy as np
    import torch
    from rich.console import Console

    from scorehoi_node.core.ablation import (ABLATION_MODES, ablation_markdown, build_cases,
                                             parse_overrides, run_ablation)
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.data.shards import concat_shards, iter_shards
    from scorehoi_node.core.diffusion.dataset import PriorDataset
    from scorehoi_node.core.diffusion.model import load_prior
    from scorehoi_node.core.objects import load_library

    try:
        changes = parse_overrides(overrides)
        wanted = (ABLATION_MODES if modes.strip() == "all"
                  else tuple(m.strip() for m in modes.split(",") if m.strip()))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    if threads:
        torch.set_num_threads(threads)
    console = Console()
    shard = concat_shards(list(iter_shards(data)))
    n = min(cases, len(shard))
    body = make_body_model(shard.body_model)
    library = load_library()
    prior = load_prior(body, checkpoint)
    dataset = PriorDataset.from_shards([shard], body, library, prior.codec,
                                       prior.index.landmark_index).subset(torch.arange(n))
    built = build_cases(dataset, list(shard.object_id[:n]), np.asarray(shard.floor_plane[:n]),
                        np.asarray(shard.image_size[:n]), prior, body, library, seed=seed)
    try:
        results = run_ablation(built, prior, body, library, wanted, changes,
                               progress=lambda label: console.print(f"{label} ..."))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(
        {"overrides": changes, "cases": n, "seed": seed, "results": results}, indent=2))
    table = ablation_markdown(results)
    (out / "ablation.md").write_text(table)
    console.print(table)


def _params_from_file(path: Path) -> dict:
    """The `ros__parameters` of a node parameters file (any node key, e.g. `/**`)."""
    from scorehoi_node.core.config import params_from_file

    try:
        return params_from_file(path)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e


def main() -> None:
    app()


if __name__ == "__main__":
    main()
