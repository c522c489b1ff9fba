"""`scorehoi synth`: synthetic human-object interaction frames rendered into a rosbag2 with
ground truth (and HOIShards), or with `--no-render` training shards only."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from scorehoi_node.bags.synth_bag import TOPICS, write_synth_bag
from scorehoi_node.commands import progress_bar
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.data.shards import write_shard
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.camera import CameraSampler
from scorehoi_node.core.synth.frames import SynthContext, SynthFrame, synth_frames
from scorehoi_node.core.synth.generator import SceneGenerator
from scorehoi_node.core.synth.render import Renderer
from scorehoi_node.core.synth.samples import (SynthJob, SynthSample, merge_stats,
                                              samples_to_shard, write_synth_shards)


def run(out: Path, frames: int, seed: int, shards: bool, seq_len: int, width: int, height: int,
        shard_size: int, no_render: bool, views_per_scene: int, workers: int) -> None:
    """`scorehoi synth` (options as in cli.py)."""
    console = Console()
    if no_render:
        synth_no_render(out, frames, seed, views_per_scene, workers, width, height, shard_size,
                        frames_per_scene=seq_len, console=console)
        return
    if workers != 1 or views_per_scene != 1:
        raise typer.BadParameter("--workers and --views-per-scene need --no-render",
                                 param_hint="--workers / --views-per-scene")
    with progress_bar(console) as bar:
        task = bar.add_task("rendering", total=frames)
        summary = render_synth_bag(out, frames, seed, seq_len=seq_len, width=width,
                                   height=height, shards=shards, shard_size=shard_size,
                                   progress=lambda: bar.advance(task))
    console.print(f"wrote {summary['frames']} frames to {summary['bag']}"
                  + (f" and {len(summary['shards'])} shard(s) to {out / 'shards'}"
                     if shards else ""))
    fps = summary["fps"]
    console.print(f"{fps:.2f} frames/s ({1000 / fps:.0f} ms/frame; "
                  f"setup {summary['setup_s']:.1f} s)")


class _ShardWriter:
    """Collects rendered frames and writes them as HOIShards of `size` samples."""

    def __init__(self, folder: Path, size: int, body_model: str) -> None:
        self.folder, self.size, self.body_model = folder, size, body_model
        self.pending: list[SynthFrame] = []
        self.paths: list[Path] = []

    def add(self, frame: SynthFrame) -> None:
        self.pending.append(frame)
        if len(self.pending) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            shard = samples_to_shard([SynthSample.from_frame(f) for f in self.pending],
                                     self.body_model)
            path = self.folder / f"shard-{len(self.paths):05d}.safetensors"
            self.paths.append(write_shard(path, shard))
            self.pending.clear()


def render_synth_bag(out: Path, frames: int, seed: int, *, seq_len: int = 8, width: int = 640,
                     height: int = 480, shards: bool = False, shard_size: int = 256,
                     progress: Callable[[], None] | None = None) -> dict:
    """Render `frames` seeded synthetic frames into the rosbag2 OUT/bag (and with `shards`
    HOIShards into OUT/shards); writes OUT/synth.json and returns its content. `progress()` is
    called after each frame. typer.BadParameter when OUT/bag (or OUT/shards) exists."""
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
    writer = _ShardWriter(shard_dir, shard_size, body.name)

    def tracked():
        for frame in synth_frames(frames, seed, sequences=generator.sample_sequence,
                                  context=context, renderer=renderer, sampler=sampler,
                                  seq_len=seq_len):
            yield frame
            if shards:
                writer.add(frame)
            if progress is not None:
                progress()

    t0 = time.perf_counter()
    info = write_synth_bag(bag_dir, tracked(), context)
    writer.flush()
    elapsed = time.perf_counter() - t0
    renderer.close()
    summary = {"frames": info.frames, "seed": seed, "seq_len": seq_len, "width": width,
               "height": height, "bag": str(bag_dir), "topics": list(TOPICS),
               "shards": [str(p) for p in writer.paths],
               "fps": round(info.frames / elapsed, 3), "setup_s": round(setup_s, 2)}
    (out / "synth.json").write_text(json.dumps(summary, indent=2))
    return summary


def synth_no_render(out: Path, scenes: int, seed: int, views_per_scene: int, workers: int,
                    width: int, height: int, shard_size: int, frames_per_scene: int = 1,
                    console: Console | None = None) -> dict:
    """`synth --no-render`: scenes and cameras only, HOIShards to OUT/shards; writes
    OUT/synth.json and returns its content."""
    console = console or Console()
    shard_dir = out / "shards"
    if shard_dir.exists():
        raise typer.BadParameter(f"{shard_dir} already exists; pick a new --out",
                                 param_hint="--out")
    out.mkdir(parents=True, exist_ok=True)
    job = SynthJob(n_scenes=scenes, seed=seed, views_per_scene=views_per_scene,
                   frames_per_scene=frames_per_scene,
                   sampler=CameraSampler(width=width, height=height), shard_size=shard_size)
    t0 = time.perf_counter()
    with progress_bar(console) as bar:
        task = bar.add_task(f"scenes ({workers} worker{'s' * (workers > 1)})", total=scenes)
        results = write_synth_shards(shard_dir, job, workers, on_scene=lambda: bar.advance(task))
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
                  f"{views_per_scene} views) in {len(paths)} shard(s) to {shard_dir}")
    console.print(f"{scenes / elapsed:.2f} scenes/s, {n_samples / elapsed:.2f} samples/s "
                  f"({len(results)} worker(s); setup {summary['setup_s']:.1f} s, included)")
    return summary
