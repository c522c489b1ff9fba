"""`scorehoi ablate`: refinement ablation with controlled initial estimates (see
`core/ablation.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import typer
from rich.console import Console

from scorehoi_node.core.ablation import (ABLATION_MODES, ablation_markdown, build_cases,
                                         parse_overrides, run_ablation)
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.data.shards import concat_shards, iter_shards
from scorehoi_node.core.diffusion.dataset import PriorDataset
from scorehoi_node.core.diffusion.model import load_prior
from scorehoi_node.core.objects import load_library


def run(data: Path, out: Path, cases: int, checkpoint: Path | None, seed: int, modes: str,
        overrides: list[str], threads: int, contact_predictor: str) -> None:
    """`scorehoi ablate` (options as in cli.py)."""
    try:
        ContactConfig(predictor=contact_predictor)  # ValueError listing the choices
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
                               progress=lambda label: console.print(f"{label} ..."),
                               contact_predictor=contact_predictor)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(
        {"overrides": changes, "contact_predictor": contact_predictor, "cases": n, "seed": seed,
         "results": results}, indent=2))
    table = ablation_markdown(results)
    (out / "ablation.md").write_text(table)
    console.print(table)
