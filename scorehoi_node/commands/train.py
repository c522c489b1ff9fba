"""`scorehoi train`: train the ScoreHOI diffusion prior on HOIShard data and write a
safetensors checkpoint, the loss curve and train.json."""

from __future__ import annotations

from pathlib import Path

import torch
import typer
from rich.console import Console

from scorehoi_node.commands import progress_bar
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.data.shards import iter_shards
from scorehoi_node.core.diffusion.dataset import PriorDataset
from scorehoi_node.core.bodies.landmarks import landmark_index
from scorehoi_node.core.diffusion.state import StateCodec
from scorehoi_node.core.diffusion.train import MIN_SAMPLES_FOR_VAL, TrainConfig, train_prior
from scorehoi_node.core.objects import load_library


def run(data: list[Path], out: Path, steps: int, batch_size: int, lr: float, seed: int,
        threads: int, device: str) -> None:
    """`scorehoi train` (options as in cli.py)."""
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
    if len(dataset) < MIN_SAMPLES_FOR_VAL:
        console.print(f"[yellow]no held-out split: {len(dataset)} samples (it needs at least "
                      f"{MIN_SAMPLES_FOR_VAL}); every sample trains and train.json has no "
                      "held-out denoising error[/yellow]")
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    with progress_bar(console) as bar:
        task = bar.add_task("training", total=steps)

        def progress(step: int, loss: float) -> None:
            bar.update(task, completed=step, description=f"training (loss {loss:.4f})")

        _, report = train_prior(dataset, codec, out, cfg, body.name, progress)
    console.print_json(data={k: v for k, v in report.items() if not isinstance(v, dict)})
    console.print(f"wrote {out / 'denoiser.safetensors'}, {out / 'loss.png'}, {out / 'train.json'}")
