"""Learned vs geometric contacts on held-out synthetic cases, and refinement driven by each.

    python -m scorehoi_node.core.contact_training.evaluate HELDOUT_DIR --out OUT [--cases N]
        [--refine fast,paper] [--checkpoint FILE]

HELDOUT_DIR holds render-free shards of a held-out seed (98 or 99; `contact_data`, with its
`interactions.json`). The cases are exactly those of the refinement ablation
(`ablation.build_cases`, noise seed `--seed`): the ground truth corrupted like a real initial
estimate. Two more corruption levels (`CorruptionMix` scale 0.5: a partly refined state; 0: the
true pose) show how the predictors behave as refinement improves the pose.

Predictors of the contact-subset vertices, on the same reconstructions:
    distance  the initial-contact rule of `estimate.contacts` (exact distance <= 3 cm),
    rounds    the per-round rule of `refine.predict_contacts` (part within 10 cm, 3 cm band),
    learned   `ContactPredictor` (the shipped or given checkpoint).
Ground truth: the engine's `contact_labels` (within 2 cm of the true object) and the protocol's
criterion on the same vertices (within 5 cm, `metrics.CONTACT_THRESHOLD_M`). Scores: precision,
recall, F1 pooled over all vertices of all cases ("micro"), the mean per-case F1 (cases with
contact), per body part and per interaction type.

`--refine`: the ablation's refinement rows (fast, paper) with the per-round contacts of
`refine.predict_contacts` and with the learned predictor in its place (`learned_contacts`),
scored with the CONTHO-protocol metrics (`ablation.score`), plus the F1 of the contact masks
each round used. Writes OUT/contact_eval.json and OUT/contact_eval.md.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from scorehoi_node.core.ablation import AblationCase, build_cases, score
from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.contact_training.data import (ContactExamples, CorruptionMix,
                                                      corrupt_states, read_interactions,
                                                      shard_dir)
from scorehoi_node.core.contact_training.train import mask_counts, prf
from scorehoi_node.core.data.shards import concat_shards, iter_shards
from scorehoi_node.core.diffusion.dataset import PriorDataset
from scorehoi_node.core.diffusion.guidance.base import Reconstruction
from scorehoi_node.core.diffusion.model import Prior
from scorehoi_node.core.diffusion.state import CameraFrameHOI, reconstruct
from scorehoi_node.core.estimate.contact_net import ContactPredictor
from scorehoi_node.core.metrics import CONTACT_THRESHOLD_M
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.refine import (ContactRule, DistanceContacts, RefineConfig, Refiner,
                                       predict_contacts, preset)

PREDICTORS = ("distance", "rounds", "learned")


@dataclass
class HeldOut:
    """Held-out ablation cases with what the contact evaluation needs besides.

    Attributes:
        cases: the ablation's cases (initial estimate, ground truth, observations).
        examples: the same samples as clean `ContactExamples` (labels, interactions).
        protocol_labels: (N, C) bool contact subset within 5 cm of the true object.
    """

    cases: list[AblationCase]
    examples: ContactExamples
    protocol_labels: torch.Tensor


def load_heldout(directory: str | Path, body: BodyModel, prior: Prior, library: ObjectLibrary,
                 n_cases: int, seed: int = 0) -> HeldOut:
    """The first `n_cases` samples of `directory` as the ablation builds them (`scorehoi
    ablate --data DIR/shards --cases n_cases --seed seed`)."""
    shard = concat_shards(list(iter_shards(shard_dir(directory))))
    n = min(n_cases, len(shard))
    data = PriorDataset.from_shards([shard], body, library, prior.codec,
                                    prior.index.landmark_index).subset(torch.arange(n))
    cases = build_cases(data, list(shard.object_id[:n]), np.asarray(shard.floor_plane[:n]),
                        np.asarray(shard.image_size[:n]), prior, body, library, seed=seed)
    examples = ContactExamples.from_shard(shard, body, read_interactions(
        directory, shard.sequence)).subset(torch.arange(n))
    protocol = []
    for case in cases:
        with torch.no_grad():
            recon = reconstruct(body, case.gt, prior.index)
        protocol.append(exact_distance(recon, library.by_id(case.template_id))[0]
                        <= CONTACT_THRESHOLD_M)
    return HeldOut(cases, examples, torch.stack(protocol))


def exact_distance(recon: Reconstruction, template) -> torch.Tensor:
    """(B, C) exact signed distance [m] of the contact subset to the placed template."""
    local = recon.to_object_frame(recon.vertices[:, recon.contact_vertex_ids])
    d = [template.signed_distance(p.detach().double().cpu().numpy()) for p in local]
    return torch.as_tensor(np.stack(d))


def predict_all(recon: Reconstruction, template, predictor: ContactPredictor,
                body: BodyModel) -> dict[str, torch.Tensor]:
    """Predictor name -> (B, C) bool contact mask of one reconstruction batch."""
    rounds = RefineConfig()
    return {"distance": exact_distance(recon, template) <= ContactConfig().threshold_m,
            "rounds": predict_contacts(recon, template, body.contact_part_ids,
                                       rounds.contact.part_radius_m, rounds.contact.band_m),
            "learned": predictor.predict_contacts(recon, template)}


def corrupted_states(held: HeldOut, level: float, prior: Prior, seed: int
                     ) -> list[CameraFrameHOI]:
    """Initial states of every case: the ablation's own (`case.initial`) at level 1.0, else the
    ground truth with `CorruptionMix` noise at scale `level`."""
    if level == 1.0:
        return [case.initial for case in held.cases]
    g = torch.Generator().manual_seed(seed)
    raw = corrupt_states(held.examples.raw, prior.codec.layout, CorruptionMix(), g,
                         scales=torch.full((len(held.cases),), level))
    return [prior.codec.unpack(raw[i:i + 1], case.gt.pelvis)
            for i, case in enumerate(held.cases)]


def evaluate_level(held: HeldOut, states: list[CameraFrameHOI], predictor: ContactPredictor,
                   body: BodyModel, prior: Prior, library: ObjectLibrary) -> dict:
    """Scores of every predictor on the reconstructions of `states` (module docstring)."""
    masks = {name: [] for name in PREDICTORS}
    for case, state in zip(held.cases, states):
        with torch.no_grad():
            recon = reconstruct(body, state, prior.index)
        for name, m in predict_all(recon, library.by_id(case.template_id), predictor,
                                   body).items():
            masks[name].append(m[0].cpu())
    out = {}
    for name, ms in masks.items():
        pred = torch.stack(ms)
        out[name] = {"gt_2cm": breakdown(pred, held.examples.labels, held.examples.interactions,
                                         body),
                     "protocol_5cm": breakdown(pred, held.protocol_labels,
                                               held.examples.interactions, body)}
    return out


def breakdown(pred: torch.Tensor, gt: torch.Tensor, interactions: Sequence[str],
              body: BodyModel) -> dict:
    """Pooled P/R/F1, mean per-case F1, and pooled P/R/F1 per body part and per interaction."""
    per_case = [prf(*mask_counts(p, t))["f1"] for p, t in zip(pred, gt) if t.any()]
    out = {**prf(*mask_counts(pred, gt)),
           "case_f1": float(np.mean(per_case)) if per_case else math.nan, "parts": {},
           "interactions": {}}
    parts = body.contact_part_ids.cpu()
    for i, part in enumerate(body.contact_part_names):
        sel = parts == i
        out["parts"][part] = {**prf(*mask_counts(pred[:, sel], gt[:, sel])),
                              "gt_vertices": int(gt[:, sel].sum())}
    for kind in sorted(set(interactions)):
        rows = torch.tensor([k == kind for k in interactions])
        out["interactions"][kind] = {**prf(*mask_counts(pred[rows], gt[rows])),
                                     "cases": int(rows.sum())}
    return out


# -- refinement with learned contacts --------------------------------------------------------------
def refine_cases(held: HeldOut, config: RefineConfig, prior: Prior, body: BodyModel,
                 library: ObjectLibrary, contacts: ContactRule) -> dict:
    """`ablation.run_mode` with the per-round contact masks scored too: mean protocol metrics,
    median ms per case, pooled P/R/F1 of the masks of the first and the last round."""
    refiner = Refiner(prior.sampler, body, prior.codec, prior.index, config, contacts)
    rows, ms, first, last = [], [], [], []
    for k, case in enumerate(held.cases):
        t0 = time.perf_counter()
        result = refiner.refine(case.initial, case.cond, case.obs)
        ms.append((time.perf_counter() - t0) * 1e3)
        rows.append(score(result.hoi, case, refiner, body, library, seed=k))
        first.append(result.contact_masks[0][0].cpu())
        last.append(result.contact_masks[-1][0].cpu())
    out = _mean_rows(rows)
    out["ms_per_frame"] = float(np.median(ms))
    labels = held.examples.labels
    out["mask_first_round"] = prf(*mask_counts(torch.stack(first), labels))
    out["mask_last_round"] = prf(*mask_counts(torch.stack(last), labels))
    out["per_interaction"] = per_interaction(rows, held.examples.interactions)
    return out


def _mean_rows(rows: list[dict]) -> dict:
    return {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}


def per_interaction(rows: list[dict], interactions: Sequence[str]) -> dict:
    """Interaction type -> mean protocol metrics of its cases (and their count)."""
    kinds = sorted(set(interactions))
    return {k: {**_mean_rows([r for r, i in zip(rows, interactions) if i == k]),
                "cases": sum(i == k for i in interactions)} for k in kinds}


def refinement_rows(held: HeldOut, modes: Sequence[str], predictor: ContactPredictor,
                    prior: Prior, body: BodyModel, library: ObjectLibrary) -> dict:
    """{"initial estimate": metrics, "<mode>, distance contacts": ..., "<mode>, learned
    contacts": ...} for each refinement preset in `modes`."""
    rows = {"initial estimate": _initial_row(held, prior, body, library)}
    for mode in modes:
        config = preset(mode)
        rows[f"{mode}, distance contacts"] = refine_cases(
            held, config, prior, body, library, DistanceContacts(body.contact_part_ids,
                                                                 config.contact))
        rows[f"{mode}, learned contacts"] = refine_cases(held, config, prior, body, library,
                                                         predictor)
    return rows


def _initial_row(held: HeldOut, prior: Prior, body: BodyModel, library: ObjectLibrary) -> dict:
    refiner = Refiner(prior.sampler, body, prior.codec, prior.index, preset("none"),
                      DistanceContacts(body.contact_part_ids, ContactConfig()))
    rows = [score(case.initial, case, refiner, body, library, seed=k)
            for k, case in enumerate(held.cases)]
    return {**_mean_rows(rows),
            "per_interaction": per_interaction(rows, held.examples.interactions)}


def time_predictor(held: HeldOut, predictor: ContactPredictor, body: BodyModel, prior: Prior,
                   library: ObjectLibrary, batch_sizes: Sequence[int] = (1, 8),
                   repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of `predictor.probabilities` (inputs + network) per call for B
    persons (copies of the first case), on this process's torch threads."""
    case = held.cases[0]
    with torch.no_grad():
        recon = reconstruct(body, case.gt, prior.index)
    template = library.by_id(case.template_id)
    out = {}
    for b in batch_sizes:
        batch = replace(recon, **{
            k: getattr(recon, k).expand(b, *getattr(recon, k).shape[1:]).contiguous()
            for k in ("vertices", "joints", "object_rotmat", "object_transl")})
        predictor.probabilities(batch, template)
        ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            predictor.probabilities(batch, template)
            ms.append((time.perf_counter() - t0) * 1e3)
        out[f"ms_batch_{b}"] = float(np.median(ms))
    out["threads"] = torch.get_num_threads()
    return out


# -- report ------------------------------------------------------------------------------------------
#: corruption levels of the classification table: label -> CorruptionMix scale (1.0: the
#: ablation's own initial estimates)
LEVELS = {"initial estimate (ablation noise)": 1.0, "half noise": 0.5, "true pose": 0.0}


def evaluate(held: HeldOut, predictor: ContactPredictor, prior: Prior, body: BodyModel,
             library: ObjectLibrary, refine_modes: Sequence[str] = (), seed: int = 0) -> dict:
    """Every level of `LEVELS` and, for `refine_modes`, the refinement rows."""
    out: dict = {"cases": len(held.cases), "interactions": {}, "levels": {}}
    for kind in held.examples.interactions:
        out["interactions"][kind] = out["interactions"].get(kind, 0) + 1
    for label, level in LEVELS.items():
        states = corrupted_states(held, level, prior, seed)
        out["levels"][label] = evaluate_level(held, states, predictor, body, prior, library)
    if refine_modes:
        out["refinement"] = refinement_rows(held, refine_modes, predictor, prior, body, library)
    return out


def markdown(result: dict) -> str:
    """Tables of `evaluate`'s result."""
    lines = [f"{result['cases']} held-out cases: " + ", ".join(
        f"{k} {v}" for k, v in sorted(result["interactions"].items())), ""]
    lines += ["| level | predictor | P (2 cm GT) | R | F1 | case F1 | F1 (5 cm GT) |",
              "|---|---|---|---|---|---|---|"]
    for label, level in result["levels"].items():
        for name, r in level.items():
            g, p = r["gt_2cm"], r["protocol_5cm"]
            lines.append(f"| {label} | {name} | {g['precision']:.3f} | {g['recall']:.3f} | "
                         f"{g['f1']:.3f} | {g['case_f1']:.3f} | {p['f1']:.3f} |")
    first = next(iter(result["levels"].values()))
    for key, title in (("interactions", "interaction"), ("parts", "body part")):
        names = list(first["learned"]["gt_2cm"][key])
        lines += ["", f"F1 per {title} (2 cm GT), initial-estimate level:", "",
                  f"| {title} | " + " | ".join(PREDICTORS) + " |",
                  "|---|" + "---|" * len(PREDICTORS)]
        for n in names:
            cells = [f"{first[p]['gt_2cm'][key][n]['f1']:.3f}" for p in PREDICTORS]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    if "timing" in result:
        t = result["timing"]
        lines += ["", "Learned predictor, median ms per call (inputs + network, "
                  f"{t['threads']} torch threads): " + ", ".join(
                      f"{k.split('_')[-1]} person(s) {v:.1f}" for k, v in t.items()
                      if k.startswith("ms_batch"))]
    if "refinement" in result:
        keys = ("cd_human_cm", "cd_object_cm", "contact_precision", "contact_recall",
                "contact_f1", "penetration_cm", "floor_cm")
        lines += ["", "| refinement | " + " | ".join(keys) + " | mask F1 round 1 | "
                  "mask F1 last round | ms |", "|---|" + "---|" * (len(keys) + 3)]
        for label, r in result["refinement"].items():
            masks = [f"{r[k]['f1']:.3f}" if k in r else "" for k in
                     ("mask_first_round", "mask_last_round")]
            ms = f"{r['ms_per_frame']:.0f}" if "ms_per_frame" in r else ""
            lines.append(f"| {label} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " | "
                         + " | ".join(masks) + f" | {ms} |")
        lines += _interaction_table(result["refinement"])
    return "\n".join(lines) + "\n"


def _interaction_table(rows: dict) -> list[str]:
    """Per interaction type: contact F1 / CD_object cm / penetration cm of each refinement row."""
    labels = list(rows)
    kinds = list(next(iter(rows.values()))["per_interaction"])
    lines = ["", "Per interaction (contact F1 / CD_object cm / penetration cm):", "",
             "| interaction | cases | " + " | ".join(labels) + " |",
             "|---|---|" + "---|" * len(labels)]
    for kind in kinds:
        cells = [rows[label]["per_interaction"][kind] for label in labels]
        lines.append(f"| {kind} | {cells[0]['cases']} | " + " | ".join(
            f"{c['contact_f1']:.3f} / {c['cd_object_cm']:.2f} / {c['penetration_cm']:.2f}"
            for c in cells) + " |")
    return lines


def _main(argv: Sequence[str] | None = None) -> None:
    import argparse

    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.diffusion.model import load_prior
    from scorehoi_node.core.objects import load_library

    parser = argparse.ArgumentParser(description="Learned vs geometric contacts, held out.")
    parser.add_argument("heldout", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the ablation cases")
    parser.add_argument("--refine", default="", help="comma-separated presets, e.g. fast,paper")
    parser.add_argument("--refine-cases", type=int, default=24)
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args(argv)
    body = make_body_model("anny")
    library = load_library()
    prior = load_prior(body)
    predictor = ContactPredictor.load(body, args.checkpoint)
    held = load_heldout(args.heldout, body, prior, library, args.cases, args.seed)
    modes = [m.strip() for m in args.refine.split(",") if m.strip()]
    result = evaluate(held, predictor, prior, body, library, seed=args.seed)
    result["timing"] = time_predictor(held, predictor, body, prior, library)
    if modes:
        few = HeldOut(held.cases[:args.refine_cases],
                      held.examples.subset(torch.arange(min(args.refine_cases, len(held.cases)))),
                      held.protocol_labels[:args.refine_cases])
        result["refinement"] = refinement_rows(few, modes, predictor, prior, body, library)
        result["refine_cases"] = len(few.cases)
    result["checkpoint"] = str(args.checkpoint or "shipped")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "contact_eval.json").write_text(json.dumps(result, indent=1))
    (args.out / "contact_eval.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    _main()
