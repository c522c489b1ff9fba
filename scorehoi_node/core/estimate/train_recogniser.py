"""Training of the object recogniser: losses, the training loop and the held-out evaluation.

`scorehoi train-recogniser` (`commands/train_recogniser.py`) generates the evidence
(`synth.recogniser_data`, render-free, from the data engine) for a training seed and a held-out
seed, trains both networks (points and mask) here with a progress bar, evaluates them on the
held-out evidence (and a randomly initialised network beside, which must be near chance) and
writes `OUT/object_recogniser.safetensors` with the report in its metadata, `OUT/train.json`
and `OUT/loss.png`.

Losses: class cross-entropy (class-balanced sampling), yaw bin cross-entropy + residual smooth-L1
at the nearest symmetric equivalent of the true yaw (none for turn-symmetric templates), the
template origin's smooth-L1 in the evidence frame, and the per-point segmentation BCE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scorehoi_node.core.estimate.object_recogniser import (RecogniserConfig, RecogniserNet,
                                                           yaw_symmetry)
from scorehoi_node.core.objects import ObjectLibrary

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


def plot_history(history: list[dict], path: Path) -> None:
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
