"""`scorehoi eval`: replay a bag through the pipeline (in-process, or through the node process
with --via-node) and score it against the ground truth it carries."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from scorehoi_node.bags.evaluate import Topics, evaluate_bag
from scorehoi_node.bags.io import bag_topics, resolve_bag
from scorehoi_node.bags.via_node import NodeReplayError, ReplayOptions, evaluate_via_node
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import PipelineConfig, params_from_file
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.pipeline import Pipeline

#: the message type each required topic must carry
REQUIRED = (("--image-topic", "image", "sensor_msgs/msg/Image"),
            ("--info-topic", "camera_info", "sensor_msgs/msg/CameraInfo"))


def run(bag: Path, out: Path, refine: str | None, params: Path | None, image_topic: str,
        info_topic: str, depth_topic: str, gt_topic: str, via_node: bool, pacing: str,
        rate: float, frame_timeout: float, report: bool, report_frames: str) -> None:
    """`scorehoi eval` (options as in cli.py). `refine` None: the --params file's value, else
    PipelineConfig's default — what the node runs."""
    try:
        bag = resolve_bag(bag)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="BAG") from e
    topics = Topics(image_topic, info_topic, depth_topic, gt_topic)
    n_images = check_topics(bag, topics)
    overrides = {} if refine is None else {"refine": refine}
    cfg = pipeline_config(params, overrides)
    try:
        wanted = tuple(int(x) for x in report_frames.split(",") if x.strip())
    except ValueError as e:
        raise typer.BadParameter(f"--report-frames: {e}") from e
    console = Console()
    if via_node:
        try:
            opts = ReplayOptions(params=params, overrides=overrides, pacing=pacing, rate=rate,
                                 frame_timeout_s=frame_timeout)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
        summary = _via_node(bag, out, topics, opts, n_images, report, wanted, console)
    else:
        pipeline = Pipeline(cfg)
        with Progress(console=console) as bar:
            task = bar.add_task("evaluating", total=n_images)
            summary = evaluate_bag(bag, out, pipeline, make_body_model("anny"), load_library(),
                                   topics, progress=lambda: bar.advance(task), n_frames=n_images,
                                   report=report, report_frames=wanted)
        pipeline.close()
    console.print_json(data=summary)
    written = ["metrics.json", "frames.csv"]
    if report:
        written.append("report.md")
    if via_node:
        written += ["recording/", "node.log"]
    console.print(f"wrote {', '.join(str(out / w) for w in written)}")


def _via_node(bag: Path, out: Path, topics: Topics, opts: ReplayOptions, n_images: int,
              report: bool, wanted: tuple[int, ...], console: Console) -> dict:
    with Progress(console=console) as bar:
        task = bar.add_task("replaying through the node", total=n_images)
        try:
            return evaluate_via_node(bag, out, topics, opts, lambda: bar.advance(task),
                                     report=report, report_frames=wanted)
        except (NodeReplayError, FileExistsError) as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(1) from e


def check_topics(bag: Path, topics: Topics) -> int:
    """Number of images in `bag`; typer.BadParameter listing the bag's topics with their types
    when the image or camera_info topic is missing or of another type."""
    found = bag_topics(bag)
    listing = "\n".join(f"  {t}  {ty}  ({n} messages)" for t, (ty, n) in sorted(found.items()))
    for option, field, msgtype in REQUIRED:
        topic = getattr(topics, field)
        have, count = found.get(topic, (None, 0))
        if have is not None and have != msgtype:
            problem = f"{topic} carries {have}, not {msgtype}"
        elif not count:
            problem = f"no {msgtype} messages on {topic}"
        else:
            continue
        raise typer.BadParameter(f"{bag}: {problem}. The bag's topics:\n{listing}",
                                 param_hint=option)
    return found[topics.image][1]


def pipeline_config(params: Path | None, overrides: dict) -> PipelineConfig:
    """PipelineConfig from the `ros__parameters` of `params` (if given) and `overrides`; the
    fields neither sets keep PipelineConfig's defaults."""
    try:
        values = {**(params_from_file(params) if params else {}), **overrides}
        fields = set(PipelineConfig.__dataclass_fields__)
        return PipelineConfig(**{k: v for k, v in values.items() if k in fields})
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
