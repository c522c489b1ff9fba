"""Training of the object recogniser (`python -m scorehoi_node.core.estimate.train_recogniser`).

One command generates the evidence (`synth.recogniser_data`, render-free, from the data engine)
for a training seed and a held-out seed, trains both networks (points and mask) with a progress
bar, evaluates them on the held-out evidence (and a randomly initialised network beside, which
must be near chance) and writes `OUT/object_recogniser.safetensors` with the report in its
metadata, `OUT/train.json` and `OUT/loss.png`.

Losses: class cross-entropy (class-balanced sampling), yaw bin cross-entropy + residual smooth-L1
at the nearest symmetric equivalent of the true yaw (none for turn-symmetric templates), the
template origin's smooth-L1 in the evidence frame, and the per-point segmentation BCE.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scorehoi_node.core.estimate.object_recogniser import (RecogniserConfig, RecogniserNet,
                                                           yaw_symmetry)
from scorehoi_node.core.objects import ObjectLibrary, load_library

#: arrays of an evidence set (see `synth.recogniser_data.stack_samples`)
FIELDS = ("points", "segmentation", "has_points", "context", "mask", "mask_context", "label",
          "yaw", "translation", "interaction", "source", "anchor")


@dataclass(frozen=True)
class RecogniserTrainConfig:
    """Training settings (the only source of their defaults).

    Attributes:
        steps: optimiser steps (each: one points batch and one mask batch).
        batch_size: samples per batch.
        lr, weight_decay: AdamW.
        point_jitter_m: sigma of the per-point jitter augmentation [m].
        translation_weight, yaw_weight, seg_weight: loss weights (class loss: 1).
        seed: initialisation and batch order.
    """

    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    point_jitter_m: float = 0.004
    translation_weight: float = 3.0
    yaw_weight: float = 0.5
    seg_weight: float = 0.5
    seed: int = 0


def load_evidence(directory: str | Path) -> dict[str, np.ndarray]:
    """Concatenate every `evidence-*.npz` in `directory` (FileNotFoundError when none)."""
    paths = sorted(Path(directory).glob("evidence-*.npz"))
    if not paths:
        raise FileNotFoundError(f"no evidence-*.npz files in {directory}")
    parts = [dict(np.load(p)) for p in paths]
    return {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}


def recogniser_config(library: ObjectLibrary) -> RecogniserConfig:
    return RecogniserConfig(template_ids=library.ids,
                            symmetry=tuple(yaw_symmetry(t) for t in library))


def _yaw_targets(yaw: torch.Tensor, symmetry: torch.Tensor, bins: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, E) equivalent bin indices and residuals (half-bin units) of each true yaw under its
    template's symmetry (E = 8 candidates; extra ones repeat the first)."""
    width = 2 * np.pi / bins
    k = symmetry.clamp(min=1)
    j = torch.arange(8, device=yaw.device)[None]
    alt = yaw[:, None] + (j % k[:, None]) * (2 * np.pi / k[:, None])
    alt = torch.remainder(alt + np.pi, 2 * np.pi)  # [0, 2 pi)
    idx = torch.clamp((alt / width).long(), 0, bins - 1)
    res = (alt - (idx + 0.5) * width) / (width / 2)
    return idx, res


def _yaw_loss(out: dict, label: torch.Tensor, yaw: torch.Tensor, symmetry: torch.Tensor,
              templates: int) -> torch.Tensor:
    sel = (label < templates) & torch.isfinite(yaw)
    sel &= symmetry[label.clamp(max=templates - 1)] != 0
    if not sel.any():
        return out["logits"].sum() * 0.0
    lab = label[sel]
    logits = out["yaw_logits"][sel, lab]  # (b, bins)
    resid = out["yaw_residual"][sel, lab]
    idx, res = _yaw_targets(yaw[sel], symmetry[lab], logits.shape[1])
    ce = -torch.log_softmax(logits, 1).gather(1, idx)  # (b, E)
    rl = F.smooth_l1_loss(resid.gather(1, idx), res, reduction="none")
    return (ce + rl).min(1).values.mean()


def _point_loss(net: RecogniserNet, batch: dict, symmetry: torch.Tensor,
                cfg: RecogniserTrainConfig) -> tuple[torch.Tensor, dict]:
    out = net.forward_points(batch["points"], batch["context"])
    t = len(net.config.template_ids)
    label = batch["label"]
    cls = F.cross_entropy(out["logits"], label, label_smoothing=0.05)
    sel = label < t
    trans = out["logits"].sum() * 0.0
    if sel.any():
        pred = out["translation"][sel, label[sel]]
        trans = F.smooth_l1_loss(pred, batch["translation"][sel], beta=0.05)
    seg = F.binary_cross_entropy_with_logits(out["segmentation"], batch["segmentation"].float())
    yaw = _yaw_loss(out, label, batch["yaw"], symmetry, t)
    total = cls + cfg.translation_weight * trans + cfg.yaw_weight * yaw + cfg.seg_weight * seg
    parts = {"cls": cls, "trans": trans, "yaw": yaw, "seg": seg}
    return total, {k: float(v.detach()) for k, v in parts.items()}


def _mask_loss(net: RecogniserNet, batch: dict, symmetry: torch.Tensor,
               cfg: RecogniserTrainConfig) -> tuple[torch.Tensor, dict]:
    out = net.forward_mask(batch["mask"], batch["mask_context"])
    t = len(net.config.template_ids)
    cls = F.cross_entropy(out["logits"], batch["label"], label_smoothing=0.05)
    yaw = _yaw_loss(out, batch["label"], batch["yaw"], symmetry, t)
    return cls + cfg.yaw_weight * yaw, {"mask_cls": float(cls.detach()),
                                        "mask_yaw": float(yaw.detach())}


def _tensors(data: dict[str, np.ndarray], idx: np.ndarray, kind: str, num_points: int,
             rng: np.random.Generator | None = None) -> dict:
    """A batch; points: `num_points` of each sample's stored points (a random subset per sample
    with `rng`, else the first ones, as at run time)."""
    f32 = torch.float32
    out = {"label": torch.as_tensor(data["label"][idx]),
           "yaw": torch.as_tensor(data["yaw"][idx], dtype=f32)}
    if kind == "points":
        stored = data["points"].shape[1]
        if rng is None:
            sel = np.broadcast_to(np.arange(num_points), (len(idx), num_points))
        else:
            sel = np.argsort(rng.random((len(idx), stored)), axis=1)[:, :num_points]
        rows = np.asarray(idx)[:, None]
        out["points"] = torch.as_tensor(data["points"][rows, sel].astype(np.float32))
        out["context"] = torch.as_tensor(data["context"][idx], dtype=f32)
        out["segmentation"] = torch.as_tensor(data["segmentation"][rows, sel])
        out["translation"] = torch.as_tensor(data["translation"][idx], dtype=f32)
    else:
        out["mask"] = torch.as_tensor(data["mask"][idx].astype(np.float32) / 255.0)
        out["mask_context"] = torch.as_tensor(data["mask_context"][idx], dtype=f32)
    return out


def _balanced(labels: np.ndarray, classes: int) -> np.ndarray:
    """Sampling probability per sample: every class equally likely (classes present)."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    w = 1.0 / np.maximum(counts[labels], 1.0)
    return w / w.sum()


@torch.no_grad()
def evaluate(net: RecogniserNet, data: dict[str, np.ndarray], batch_size: int = 256) -> dict:
    """Held-out metrics of both networks: class accuracy (and chance = the largest class share),
    per-class recall, template accuracy on samples of a template, yaw error of the top bin
    (symmetry-aware, degrees), translation error (cm), segmentation IoU."""
    net.eval()
    classes = net.config.classes
    t = len(net.config.template_ids)
    sym = np.array(net.config.symmetry)
    report = {}
    for kind in ("points", "mask"):
        idx_all = np.flatnonzero(data["has_points"] == (kind == "points"))
        if not len(idx_all):
            continue
        preds, yaw_err, trans_err, inter, union = [], [], [], 0.0, 0.0
        for s in range(0, len(idx_all), batch_size):
            idx = idx_all[s:s + batch_size]
            b = _tensors(data, idx, kind, net.config.num_points)
            out = (net.forward_points(b["points"], b["context"]) if kind == "points"
                   else net.forward_mask(b["mask"], b["mask_context"]))
            pred = out["logits"].argmax(1).numpy()
            preds.append(pred)
            lab = data["label"][idx]
            for i in np.flatnonzero(lab < t):
                k = int(sym[lab[i]])
                if k != 0 and np.isfinite(data["yaw"][idx[i]]):
                    bins = out["yaw_logits"].shape[2]
                    j = int(out["yaw_logits"][i, lab[i]].argmax())
                    yaw = (j + 0.5) * 2 * np.pi / bins - np.pi + float(
                        out["yaw_residual"][i, lab[i], j].clamp(-1, 1)) * np.pi / bins
                    period = 2 * np.pi / k
                    d = (yaw - data["yaw"][idx[i]] + period / 2) % period - period / 2
                    yaw_err.append(abs(np.degrees(d)))
                if kind == "points":
                    trans_err.append(100 * float(np.linalg.norm(
                        out["translation"][i, lab[i]].numpy() - data["translation"][idx[i]])))
            if kind == "points":
                seg_pred = out["segmentation"].numpy() > 0
                seg_true = b["segmentation"].numpy()
                inter += float((seg_pred & seg_true).sum())
                union += float((seg_pred | seg_true).sum())
        pred = np.concatenate(preds)
        lab = data["label"][idx_all]
        counts = np.bincount(lab, minlength=len(classes))
        is_t = lab < t
        report[kind] = {
            "samples": int(len(lab)),
            "accuracy": float((pred == lab).mean()),
            "chance": float(counts.max() / counts.sum()),
            "balanced_accuracy": float(np.mean([(pred[lab == c] == c).mean()
                                                for c in range(len(classes)) if counts[c]])),
            "recall": {classes[c]: float((pred[lab == c] == c).mean())
                       for c in range(len(classes)) if counts[c]},
            "template_accuracy": float((pred[is_t] == lab[is_t]).mean()) if is_t.any() else None,
            "confusion": np.bincount(lab * len(classes) + pred,
                                     minlength=len(classes) ** 2).reshape(
                                         len(classes), -1).tolist(),
            "yaw_error_deg_median": float(np.median(yaw_err)) if yaw_err else None,
            "translation_error_cm_median": float(np.median(trans_err)) if trans_err else None,
            "segmentation_iou": inter / union if union else None,
        }
    net.train()
    return report


def train(train_data: dict[str, np.ndarray], library: ObjectLibrary,
          config: RecogniserTrainConfig = RecogniserTrainConfig(),
          progress: bool = True) -> tuple[RecogniserNet, list[dict]]:
    """Train both networks on `train_data` (see `load_evidence`); returns the network and the
    loss history (one entry per 50 steps)."""
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = RecogniserNet(recogniser_config(library))
    classes = len(net.config.classes)
    symmetry = torch.as_tensor(net.config.symmetry)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.steps,
                                                pct_start=0.1)
    pools = {kind: np.flatnonzero(train_data["has_points"] == (kind == "points"))
             for kind in ("points", "mask")}
    probs = {k: _balanced(train_data["label"][v], classes) for k, v in pools.items() if len(v)}
    history, running = [], {}
    bar = tqdm(range(config.steps), desc="recogniser", disable=not progress)
    for step in bar:
        total = 0.0
        for kind, loss_fn in (("points", _point_loss), ("mask", _mask_loss)):
            if kind not in probs:
                continue
            idx = pools[kind][rng.choice(len(pools[kind]), config.batch_size, p=probs[kind])]
            batch = _tensors(train_data, idx, kind, net.config.num_points, rng)
            if kind == "points":
                jitter = torch.randn_like(batch["points"][..., :3]) * config.point_jitter_m
                batch["points"] = torch.cat([batch["points"][..., :3] + jitter,
                                             batch["points"][..., 3:]], -1)
            loss, parts = loss_fn(net, batch, symmetry, config)
            total = total + loss
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        if (step + 1) % 50 == 0:
            history.append({"step": step + 1, **{k: v / 50 for k, v in running.items()}})
            bar.set_postfix(cls=f"{history[-1].get('cls', 0):.3f}",
                            mask=f"{history[-1].get('mask_cls', 0):.3f}")
            running = {}
    return net.eval(), history


def _plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [h["step"] for h in history]
    for key in ("cls", "trans", "yaw", "seg", "mask_cls", "mask_yaw"):
        if key in history[0]:
            ax.plot(steps, [h[key] for h in history], label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (50-step mean)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def generate_evidence(out_dir: str | Path, n_scenes: int, seed: int, *, shard_scenes: int = 10,
                      progress: bool = True, config=None, worker: int = 0,
                      workers: int = 1) -> list[Path]:
    """Write the evidence of `n_scenes` scenes of `seed` to `out_dir/evidence-<i>.npz`
    (`shard_scenes` scenes per file; existing files are kept, so an interrupted run resumes;
    `worker` of `workers` processes writes only shards i % workers == worker)."""
    from tqdm import tqdm

    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.synth.frames import SynthContext
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.recogniser_data import (EvidenceDataConfig, evidence_samples,
                                                          stack_samples)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = make_body_model("anny")
    library = load_library()
    context = SynthContext.from_body(body, library)
    generator = SceneGenerator(body, library)
    config = config or EvidenceDataConfig()
    paths = []
    bar = tqdm(total=n_scenes, desc=f"evidence seed {seed}", disable=not progress)
    for shard, start in enumerate(range(0, n_scenes, shard_scenes)):
        path = out_dir / f"evidence-{shard:04d}.npz"
        count = min(shard_scenes, n_scenes - start)
        if shard % workers != worker:
            bar.update(count)
            continue
        if not path.exists():
            samples = []
            for scene_samples in evidence_samples(count, seed, body, context, generator,
                                                  config=config, start=start):
                samples += scene_samples
                bar.update(1)
            np.savez(path, **stack_samples(samples))
        else:
            bar.update(count)
        paths.append(path)
    bar.close()
    return paths


def _generate_parallel(out_dir: Path, n_scenes: int, seed: int, workers: int,
                       progress: bool) -> None:
    """`generate_evidence` in `workers` spawned processes (shard i in worker i % workers)."""
    if workers <= 1:
        generate_evidence(out_dir, n_scenes, seed, progress=progress)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(generate_evidence, out_dir, n_scenes, seed, worker=w,
                            workers=workers, progress=progress and w == 0)
                for w in range(workers)]
        for job in jobs:
            job.result()


def run(out: str | Path, *, train_scenes: int = 160, heldout_scenes: int = 20,
        train_seed: int = 3000, heldout_seed: int = 3999, data_dir: str | Path | None = None,
        config: RecogniserTrainConfig = RecogniserTrainConfig(), workers: int = 1,
        progress: bool = True) -> dict:
    """Generate (or reuse) the evidence, train, evaluate and write the weights and report."""
    out = Path(out)
    data_dir = Path(data_dir) if data_dir else out / "evidence"
    library = load_library()
    t0 = time.perf_counter()
    _generate_parallel(data_dir / f"seed{train_seed}", train_scenes, train_seed, workers,
                       progress)
    _generate_parallel(data_dir / f"seed{heldout_seed}", heldout_scenes, heldout_seed, workers,
                       progress)
    t1 = time.perf_counter()
    train_data = load_evidence(data_dir / f"seed{train_seed}")
    held = load_evidence(data_dir / f"seed{heldout_seed}")
    net, history = train(train_data, library, config, progress)
    t2 = time.perf_counter()
    torch.manual_seed(config.seed + 1)
    report = {
        "config": asdict(config), "train_seed": train_seed, "heldout_seed": heldout_seed,
        "train_scenes": train_scenes, "heldout_scenes": heldout_scenes,
        "train_samples": int(len(train_data["label"])), "heldout_samples": int(len(held["label"])),
        "classes": list(net.config.classes), "symmetry": list(net.config.symmetry),
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "data_seconds": round(t1 - t0, 1), "train_seconds": round(t2 - t1, 1),
        "heldout": evaluate(net, held),
        "heldout_random_init": evaluate(RecogniserNet(net.config), held),
    }
    out.mkdir(parents=True, exist_ok=True)
    net.save(out / "object_recogniser.safetensors", extra=report)
    (out / "train.json").write_text(json.dumps({**report, "history": history}, indent=1))
    if history:
        _plot(history, out / "loss.png")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scorehoi_node.core.estimate.train_recogniser",
        description="Generate evidence from the data engine and train the object recogniser.")
    parser.add_argument("--out", required=True, help="output directory (weights, train.json)")
    parser.add_argument("--data", default=None, help="evidence directory (default OUT/evidence)")
    parser.add_argument("--train-scenes", type=int, default=160)
    parser.add_argument("--heldout-scenes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="evidence processes")
    parser.add_argument("--train-seed", type=int, default=3000)
    parser.add_argument("--heldout-seed", type=int, default=3999)
    parser.add_argument("--steps", type=int, default=RecogniserTrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=RecogniserTrainConfig.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = RecogniserTrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    report = run(args.out, train_scenes=args.train_scenes, heldout_scenes=args.heldout_scenes,
                 train_seed=args.train_seed, heldout_seed=args.heldout_seed, data_dir=args.data,
                 config=cfg, workers=args.workers)
    held = report["heldout"]
    print(json.dumps({k: {m: held[k][m] for m in ("accuracy", "chance", "template_accuracy")}
                      for k in held}, indent=1))


if __name__ == "__main__":
    main()
