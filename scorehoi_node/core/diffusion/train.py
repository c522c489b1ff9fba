"""Training of the diffusion prior (`scorehoi train`): eps-prediction MSE on HOIShard data.

Timesteps are drawn half uniformly over [0, T) and half over the low-noise end [0, 250) that
inversion-based refinement visits. AdamW with cosine decay, an EMA of the weights (what gets
saved), a held-out split whose denoising error is reported with the true and with a shuffled
condition (the condition must matter), checkpoints as safetensors and a loss-curve PNG.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from scorehoi_node.core.diffusion.dataset import Corruption, PriorDataset
from scorehoi_node.core.diffusion.denoiser import Denoiser, DenoiserConfig
from scorehoi_node.core.diffusion.schedule import NUM_TRAIN_TIMESTEPS, make_scheduler
from scorehoi_node.core.diffusion.state import StateCodec


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    ema: float = 0.999
    low_noise_max_t: int = 250
    val_fraction: float = 0.05
    seed: int = 0
    hidden: int = 384
    blocks: int = 6
    embed: int = 256
    checkpoint_every: int = 1000
    corruption: Corruption = field(default_factory=Corruption)


#: fewer samples than this: no held-out split (every sample trains), no held-out error
MIN_SAMPLES_FOR_VAL = 21


def lr_schedule(opt: torch.optim.Optimizer, max_lr: float, steps: int,
                warmup_fraction: float = 0.05) -> torch.optim.lr_scheduler.LRScheduler:
    """One-cycle learning rate over `steps` optimiser steps (any steps >= 1): a warm-up of
    `warmup_fraction` of the steps, then cosine decay.

    torch's OneCycleLR divides by the length of each phase (the warm-up ends at step
    pct_start * steps - 1, the decay at steps - 1), so a warm-up of zero steps (e.g. 20 steps
    at 5 %) raised ZeroDivisionError; the warm-up is at least one step, the decay too, and
    below 3 steps the rate stays at `max_lr`. From 40 steps on this is OneCycleLR with
    pct_start = `warmup_fraction`."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    if steps < 3:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    pct_start = min(max(warmup_fraction, 2 / steps), (steps - 1) / steps)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps,
                                               pct_start=pct_start)


def sample_timesteps(n: int, low_max: int, g: torch.Generator) -> torch.Tensor:
    full = torch.randint(0, NUM_TRAIN_TIMESTEPS, (n,), generator=g)
    low = torch.randint(0, low_max, (n,), generator=g)
    return torch.where(torch.arange(n) % 2 == 0, full, low)


def denoising_loss(model: Denoiser, x0: torch.Tensor, cond: torch.Tensor, t: torch.Tensor,
                   noise: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted noise (per sample, (B,))."""
    a = alphas_cumprod[t][:, None].to(x0)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    return ((model(x_t, t, cond) - noise) ** 2).mean(1)


@torch.no_grad()
def evaluate_condition(model: Denoiser, data: PriorDataset, codec: StateCodec,
                       corruption: Corruption, seed: int = 1, max_t: int = 250) -> dict:
    """Held-out denoising error with the true condition, a shuffled one and none (t < max_t)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.arange(len(data))
    no_drop = Corruption(**{**asdict(corruption), "drop_all": 0.0, "drop_initial": 0.0,
                            "drop_object": 0.0, "drop_template": 0.0})
    cond = data.conditions(idx, codec, no_drop, g)
    x0 = codec.normalise(data.raw)
    t = torch.randint(0, max_t, (len(data),), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    ac = make_scheduler().alphas_cumprod
    perm = torch.randperm(len(data), generator=g)
    out = {}
    for name, c in (("true", cond), ("shuffled", cond[perm]), ("none", torch.zeros_like(cond))):
        out[f"val_mse_{name}_condition"] = float(denoising_loss(model, x0, c, t, noise, ac).mean())
    return out


def train_prior(data: PriorDataset, codec: StateCodec, out_dir: str | Path, config: TrainConfig,
                body_model: str, progress: Callable[[int, float], None] | None = None,
                ) -> tuple[Denoiser, dict]:
    """Train a denoiser on `data`; write OUT/denoiser.safetensors, loss.png, train.json.

    `progress(step, loss)` is called after every step (the CLI drives a progress bar with it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(config.seed)
    n = len(data)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(round(config.val_fraction * n))) if n >= MIN_SAMPLES_FOR_VAL else 0
    val, train = data.subset(perm[:n_val]), data.subset(perm[n_val:])
    model = Denoiser(DenoiserConfig(state_dim=codec.layout.size,
                                    template_ids=data.spec.template_ids, body_model=body_model,
                                    hidden=config.hidden, blocks=config.blocks,
                                    embed=config.embed))
    model.state_mean.copy_(codec.mean)
    model.state_std.copy_(codec.std)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = lr_schedule(opt, config.lr, config.steps)
    ac = make_scheduler().alphas_cumprod
    x0_all = codec.normalise(train.raw)
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(config.steps):
        idx = torch.randint(0, len(train), (config.batch_size,), generator=g)
        cond = train.conditions(idx, codec, config.corruption, g)
        t = sample_timesteps(config.batch_size, config.low_noise_max_t, g)
        noise = torch.randn(config.batch_size, x0_all.shape[1], generator=g)
        loss = denoising_loss(model, x0_all[idx], cond, t, noise, ac).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1.0 - config.ema)
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, losses[-1])
        if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
            ema.save(out_dir / "denoiser.safetensors", extra={"step": step + 1})
    seconds = time.perf_counter() - t0
    report = {"train_samples": len(train), "val_samples": n_val, "steps": config.steps,
              "seconds": round(seconds, 1), "final_loss": sum(losses[-100:]) / min(100, len(losses)),
              "parameters": ema.num_parameters,
              "config": {k: v for k, v in asdict(config).items() if k != "corruption"},
              "corruption": asdict(config.corruption)}
    if n_val:
        report.update(evaluate_condition(ema, val, codec, config.corruption))
    else:
        report["held_out"] = (f"none: {n} samples (a held-out split needs at least "
                              f"{MIN_SAMPLES_FOR_VAL}), so no held-out denoising error")
    ema.save(out_dir / "denoiser.safetensors", extra={k: v for k, v in report.items()
                                                        if not isinstance(v, dict)})
    (out_dir / "train.json").write_text(json.dumps(report, indent=2))
    plot_losses(losses, out_dir / "loss.png")
    return ema, report


def plot_losses(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    y = np.asarray(losses)
    k = max(1, len(y) // 100)
    smooth = np.convolve(y, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(y, lw=0.5, alpha=0.35, label="batch")
    ax.plot(np.arange(len(smooth)) + k - 1, smooth, lw=1.5, label=f"mean of {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("eps MSE")
    ax.set_title("ScoreHOI prior: training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
