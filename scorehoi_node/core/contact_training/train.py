"""Training of the learned contact predictor (`contact_net`) on synthetic-engine shards.

    python -m scorehoi_node.core.contact_training.train DATA_DIR [DATA_DIR ...] --out OUT
        [--steps N] [--batch-size B] [--seed S]

reads HOIShards (`contact_data.write_contact_shards` or `scorehoi synth --no-render`; training
seeds >= 1000), splits off whole scenes for validation, poses `variants` corrupted copies of
every sample once (`CorruptionMix`: the refinement ablation's initial-estimate noise scaled by
0-1.25, "nearby" scenes included: they teach "no contact"), then trains `ContactNet` with
per-vertex binary cross-entropy (AdamW, one-cycle schedule). The decision threshold that
maximises the validation F1 is stored in the checkpoint. Writes OUT/contact_net.safetensors and
OUT/train.json (samples, steps, seconds, validation BCE / precision / recall / F1).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.contact_training.data import (ContactExamples, CorruptionMix,
                                                      PosedExamples, corrupt_states,
                                                      pose_examples)
from scorehoi_node.core.estimate.contact_net import (ContactInputs, ContactNet,
                                                     ContactNetConfig, ContactPredictor)
from scorehoi_node.core.objects.library import ObjectLibrary


@dataclass(frozen=True)
class ContactTrainConfig:
    """Training settings (the only source of their defaults).

    Attributes:
        steps, batch_size, lr, weight_decay: optimiser (batch = persons).
        seed: data split, corruption and initialisation.
        variants: corrupted copies of every training sample (posed once, before training).
        val_fraction: share of scenes held out for validation and the threshold.
        pos_weight: BCE weight of positive (contact) vertices.
        hidden, head_hidden, nearest_keypoints: `ContactNetConfig`.
        mix: corruption of the inputs.
    """

    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    variants: int = 6
    val_fraction: float = 0.1
    pos_weight: float = 1.0
    hidden: int = 64
    head_hidden: int = 32
    nearest_keypoints: int = 4
    mix: CorruptionMix = field(default_factory=CorruptionMix)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.variants < 1:
            raise ValueError("steps, batch_size and variants must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


# -- scoring ---------------------------------------------------------------------------------------
def prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    """Precision, recall, F1 of counts (precision 1 / recall 1 when nothing is predicted / true;
    F1 0 when both are 0)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def mask_counts(pred: torch.Tensor, gt: torch.Tensor) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of bool masks of equal shape."""
    return (int((pred & gt).sum()), int((pred & ~gt).sum()), int((~pred & gt).sum()))


def best_threshold(prob: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(threshold, F1) of the grid threshold 0.05..0.95 with the highest pooled F1."""
    best = (0.5, -1.0)
    for t in torch.arange(0.05, 0.951, 0.025).tolist():
        f1 = prf(*mask_counts(prob >= t, labels))["f1"]
        if f1 > best[1]:
            best = (round(t, 3), f1)
    return best


# -- batches -----------------------------------------------------------------------------------------
def posed_inputs(posed: PosedExamples, library: ObjectLibrary, predictor: ContactPredictor
                 ) -> tuple[ContactInputs, torch.Tensor]:
    """`predictor`'s network inputs of `posed` (made per template, returned in sample order)
    and their (N, C) bool labels."""
    parts, order = [], []
    for tid in sorted(set(posed.template_ids)):
        idx = torch.tensor([i for i, t in enumerate(posed.template_ids) if t == tid])
        parts.append(predictor.inputs(posed.vertices[idx], posed.joints[idx],
                                      posed.object_rotmat[idx], posed.object_transl[idx],
                                      library.by_id(tid)))
        order.append(idx)
    inverse = torch.empty(len(posed), dtype=torch.int64)
    inverse[torch.cat(order)] = torch.arange(len(posed))
    return ContactInputs.cat(parts).index(inverse), posed.labels


def build_pool(examples: ContactExamples, body: BodyModel, variants: int, mix: CorruptionMix,
               g: torch.Generator,
               scales: torch.Tensor | None = None) -> PosedExamples:
    """`variants` corrupted, posed copies of every example (scales drawn from `mix`, or all
    equal to `scales` when given)."""
    copies = []
    for _ in range(variants):
        s = mix.draw(len(examples), g) if scales is None else scales
        raw = corrupt_states(examples.raw, body.state_layout, mix, g, scales=s)
        copies.append(pose_examples(examples, raw, s, body))
    return PosedExamples.cat(copies)


def split_scenes(examples: ContactExamples, fraction: float, g: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) sample indices; all frames of a scene fall on one side."""
    scenes = sorted(set(examples.sequences))
    perm = torch.randperm(len(scenes), generator=g).tolist()
    n_val = int(round(fraction * len(scenes)))
    val_scenes = {scenes[i] for i in perm[:n_val]}
    is_val = torch.tensor([s in val_scenes for s in examples.sequences])
    return torch.nonzero(~is_val)[:, 0], torch.nonzero(is_val)[:, 0]


@torch.no_grad()
def pool_probabilities(net: ContactNet, inputs: ContactInputs, chunk: int = 256
                       ) -> torch.Tensor:
    """(N, C) raw sigmoid outputs (no threshold folding)."""
    n = inputs.joints.shape[0]
    return torch.cat([torch.sigmoid(net(inputs.index(torch.arange(s, min(n, s + chunk)))))
                      for s in range(0, n, chunk)])


def bce(prob: torch.Tensor, labels: torch.Tensor) -> float:
    return float(torch.nn.functional.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6),
                                                          labels.float()))


# -- training ----------------------------------------------------------------------------------------
def train_contact_net(data_dirs: Sequence[str | Path], out: str | Path, steps: int | None = None,
                      batch_size: int | None = None, seed: int | None = None,
                      config: ContactTrainConfig = ContactTrainConfig(),
                      progress: Callable[[str, int, int, float], None] | None = None,
                      body: BodyModel | None = None, init: str | Path | None = None
                      ) -> tuple[ContactNet, dict]:
    """Train a contact net on the shards of `data_dirs`; write OUT/contact_net.safetensors and
    OUT/train.json. `steps`, `batch_size`, `seed` override `config`; `init`: start from this
    checkpoint's weights (fine-tuning; same architecture). `progress(stage, done, total, loss)`
    is called while posing ("pose") and after every step ("train")."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library

    config = replace(config, **{k: v for k, v in dict(steps=steps, batch_size=batch_size,
                                                      seed=seed).items() if v is not None})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    body = body or make_body_model("anny")
    library = load_library()
    net_config = ContactNetConfig(
        template_ids=library.ids, body_model=body.name, num_vertices=len(body.contact_vertex_ids),
        num_parts=len(body.contact_part_names), num_joints=body.num_joints, hidden=config.hidden,
        head_hidden=config.head_hidden, nearest_keypoints=config.nearest_keypoints)
    net = ContactNet.for_body(net_config, body)
    if init is not None:
        net.load_state_dict(ContactNet.load(init).state_dict())
    predictor = ContactPredictor(net, body)
    examples = ContactExamples.from_dirs(data_dirs, body)
    train_idx, val_idx = split_scenes(examples, config.val_fraction, g)
    train, val = examples.subset(train_idx), examples.subset(val_idx)
    pools = []
    for k, (part, variants) in enumerate(((train, config.variants), (val, 2))):
        if progress is not None:
            progress("pose", k, 2, float("nan"))
        pools.append(build_pool(part, body, variants, config.mix, g))
    train_in, train_labels = posed_inputs(pools[0], library, predictor)
    pose_s = time.perf_counter() - t0
    net.train()
    losses = fit(net, train_in, train_labels, config, g, progress)
    net.eval()
    report = {"train_samples": len(train), "train_inputs": len(pools[0]),
              "val_samples": len(val), "val_inputs": len(pools[1]), "steps": config.steps,
              "parameters": net.num_parameters, "pose_seconds": round(pose_s, 1),
              "seconds": round(time.perf_counter() - t0, 1),
              "final_loss": sum(losses[-100:]) / len(losses[-100:]),
              "interactions": _counts(examples.interactions),
              "config": {k: v for k, v in asdict(config).items() if k != "mix"},
              "init": str(init) if init is not None else None,
              "mix": {"scales": config.mix.scales, "weights": config.mix.weights,
                      "corruption": asdict(config.mix.corruption)}}
    if len(val):
        val_in, val_labels = posed_inputs(pools[1], library, predictor)
        prob = pool_probabilities(net, val_in)
        threshold, _ = best_threshold(prob, val_labels)
        net = _with_threshold(net, threshold)
        report.update(val_bce=bce(prob, val_labels), threshold=threshold, **{
            f"val_{k}": v for k, v in prf(*mask_counts(prob >= threshold, val_labels)).items()})
    net.save(out / "contact_net.safetensors",
             extra={k: v for k, v in report.items() if not isinstance(v, dict)})
    (out / "train.json").write_text(json.dumps(report, indent=2))
    return net, report


def fit(net: ContactNet, inputs: ContactInputs, labels: torch.Tensor, config: ContactTrainConfig,
        g: torch.Generator, progress: Callable[[str, int, int, float], None] | None = None
        ) -> list[float]:
    """`config.steps` AdamW steps of per-vertex BCE on random batches of `inputs`; the losses."""
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, config.steps))
    pos_weight = torch.tensor(config.pos_weight)
    n = inputs.joints.shape[0]
    losses: list[float] = []
    for step in range(config.steps):
        idx = torch.randint(0, n, (config.batch_size,), generator=g)
        logits = net(inputs.index(idx))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels[idx].float(), pos_weight=pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress("train", step + 1, config.steps, losses[-1])
    return losses


def warmup_cosine(step: int, steps: int, warmup: float = 0.05) -> float:
    """Learning-rate factor: linear warm-up over `warmup` of the steps (at least one), then a
    cosine decay to 0 at `steps`; defined for any step count >= 1."""
    ramp = max(1, round(warmup * steps))
    return min(1.0, (step + 1) / ramp) * 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))


def _with_threshold(net: ContactNet, threshold: float) -> ContactNet:
    tuned = ContactNet(replace(net.config, threshold=threshold))
    tuned.load_state_dict(net.state_dict())
    return tuned.eval()


def _counts(items: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def _main(argv: Sequence[str] | None = None) -> None:
    import argparse

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    defaults = ContactTrainConfig()
    parser = argparse.ArgumentParser(description="Train the learned contact predictor.")
    parser.add_argument("data", nargs="+", type=Path, help="HOIShard folders (seeds >= 1000)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--variants", type=int, default=defaults.variants,
                        help="corrupted copies of each training sample")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from this checkpoint's weights (fine-tuning)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("posing corrupted samples", total=args.steps)

        def progress(stage: str, done: int, total: int, loss: float) -> None:
            if stage == "train":
                bar.update(task, completed=done, description=f"training (BCE {loss:.4f})")
                if not console.is_terminal and done % max(1, total // 20) == 0:
                    print(f"step {done}/{total} BCE {loss:.4f}", flush=True)
            elif not console.is_terminal:
                print(f"posing part {done + 1} of {total}", flush=True)

        config = replace(defaults, lr=args.lr, variants=args.variants)
        _, report = train_contact_net(args.data, args.out, args.steps, args.batch_size,
                                      args.seed, config, progress=progress, init=args.init)
    print(json.dumps({k: v for k, v in report.items() if k not in ("config", "mix")}, indent=2))


if __name__ == "__main__":
    _main()
