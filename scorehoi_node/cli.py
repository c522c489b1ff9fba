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
    """HOIShard of synthetic frames: GT in the camera frame, keypoints_2d = projected joints
    (score 1 inside the image and in front of the camera, else 0)."""
    import numpy as np

    from scorehoi_node.core.data.shards import HOIShard

    kp = np.stack([f.joints_2d for f in frames]).astype(np.float32)
    z = np.stack([f.human_joints[:, 2] for f in frames])
    w = np.array([f.camera.width for f in frames])[:, None]
    h = np.array([f.camera.height for f in frames])[:, None]
    inside = (z > 0) & (kp[..., 0] >= 0) & (kp[..., 0] < w) & (kp[..., 1] >= 0) & (kp[..., 1] < h)
    return HOIShard(
        body_model=body_model,
        body_pose_rotmat=np.stack([f.scene.body_pose_rotmat for f in frames]),
        shape=np.stack([f.scene.shape for f in frames]),
        root_rotmat=np.stack([f.root_rotmat for f in frames]),
        root_transl=np.stack([f.root_transl for f in frames]),
        object_id=tuple(f.scene.object_id for f in frames),
        object_rotmat=np.stack([f.object_rotmat for f in frames]),
        object_transl=np.stack([f.object_transl for f in frames]),
        camera_K=np.stack([f.camera.K for f in frames]),
        image_size=np.array([[f.camera.width, f.camera.height] for f in frames]),
        sequence=tuple(f.scene.sequence for f in frames),
        frame_index=np.array([f.scene.frame_index for f in frames]),
        contact_labels=np.stack([f.scene.contact_labels for f in frames]),
        keypoints_2d=kp, keypoint_scores=inside.astype(np.float32),
        floor_plane=np.stack([f.floor_plane for f in frames]))


@app.command()
def synth(out: Path = typer.Option(..., "--out", help="output folder (created); the rosbag2 "
                                   "(mcap) goes to OUT/bag, shards to OUT/shards"),
          frames: int = typer.Option(64, "--frames", min=1, help="number of frames"),
          seed: int = typer.Option(0, "--seed", help="random seed (same seed, same scenes, cameras, depth and ground truth)"),
          shards: bool = typer.Option(False, "--shards", help="also write training shards "
                                      "(HOIShard safetensors) to OUT/shards"),
          seq_len: int = typer.Option(8, "--seq-len", min=1,
                                      help="frames per sequence (fixed person, object, camera)"),
          width: int = typer.Option(640, "--width", min=16, help="image width [px]"),
          height: int = typer.Option(480, "--height", min=16, help="image height [px]"),
          shard_size: int = typer.Option(256, "--shard-size", min=1,
                                         help="samples per shard file")) -> None:
    """Render synthetic human-object interaction frames into a rosbag2 with ground truth.

    OUT/bag holds /camera/image_raw (rgb8), /camera/camera_info, /camera/depth (32FC1, m) and
    /scorehoi/ground_truth (scorehoi_msgs/HumanObjectInteractionArray), one stamp per frame.
    """
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
          refine: str = typer.Option("none", "--refine", help="refinement: none"),
          params: Optional[Path] = typer.Option(None, "--params", exists=True, dir_okay=False,
                                                help="node parameters file (pipeline settings)"),
          image_topic: str = typer.Option("/camera/image_raw", help="sensor_msgs/Image topic"),
          info_topic: str = typer.Option("/camera/camera_info", help="CameraInfo topic"),
          depth_topic: str = typer.Option("/camera/depth", help="depth image topic (optional)"),
          gt_topic: str = typer.Option("/scorehoi/ground_truth",
                                       help="HumanObjectInteractionArray ground truth (optional)"),
          ) -> None:
    """Replay a bag through the pipeline (in-process) and write DIR/metrics.json + frames.csv."""
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
    pipeline = Pipeline(cfg)
    console = Console()
    with Progress(console=console) as bar:
        task = bar.add_task("evaluating", total=n_images)
        summary = evaluate_bag(bag, out, pipeline, make_body_model("anny"), load_library(),
                               topics, progress=lambda: bar.advance(task))
    pipeline.close()
    console.print_json(data=summary)
    console.print(f"wrote {out / 'metrics.json'} and {out / 'frames.csv'}")


def _params_from_file(path: Path) -> dict:
    """The `ros__parameters` of a node parameters file (any node key, e.g. `/**`)."""
    import yaml

    doc = yaml.safe_load(path.read_text()) or {}
    for node in doc.values():
        if isinstance(node, dict) and "ros__parameters" in node:
            return dict(node["ros__parameters"])
    raise typer.BadParameter(f"{path} has no ros__parameters section")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
