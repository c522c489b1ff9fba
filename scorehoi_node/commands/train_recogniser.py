"""`scorehoi train-recogniser`: generate recogniser evidence from the data engine for a training
seed and a held-out seed (or reuse it), train the object recogniser, evaluate it on the held-out
evidence and write OUT/object_recogniser.safetensors (the report in its metadata), train.json and
loss.png (`core/estimate/train_recogniser.py`)."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.estimate.object_recogniser import RecogniserNet
from scorehoi_node.core.estimate.train_recogniser import (RecogniserTrainConfig, evaluate,
                                                          load_evidence, plot_history, train)
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.frames import SynthContext
from scorehoi_node.core.synth.generator import SceneGenerator
from scorehoi_node.core.synth.recogniser_data import (EvidenceDataConfig, evidence_samples,
                                                      stack_samples)


def generate_evidence(out_dir: str | Path, n_scenes: int, seed: int, *, shard_scenes: int = 10,
                      progress: bool = True, config=None, worker: int = 0,
                      workers: int = 1) -> list[Path]:
    """Write the evidence of `n_scenes` scenes of `seed` to `out_dir/evidence-<i>.npz`
    (`shard_scenes` scenes per file; existing files are kept, so an interrupted run resumes;
    `worker` of `workers` processes writes only shards i % workers == worker)."""
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
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(generate_evidence, out_dir, n_scenes, seed, worker=w,
                            workers=workers, progress=progress and w == 0)
                for w in range(workers)]
        for job in jobs:
            job.result()


def run(out: Path, data: Path | None, train_scenes: int, heldout_scenes: int, train_seed: int,
        heldout_seed: int, steps: int, batch_size: int, seed: int, workers: int,
        threads: int) -> None:
    """`scorehoi train-recogniser` (options as in cli.py)."""
    if threads:
        torch.set_num_threads(threads)
    config = RecogniserTrainConfig(steps=steps, batch_size=batch_size, seed=seed)
    report = train_and_report(out, train_scenes=train_scenes, heldout_scenes=heldout_scenes,
                              train_seed=train_seed, heldout_seed=heldout_seed, data_dir=data,
                              config=config, workers=workers)
    held = report["heldout"]
    print(json.dumps({k: {m: held[k][m] for m in ("accuracy", "chance", "template_accuracy")}
                      for k in held}, indent=1))


def train_and_report(out: str | Path, *, train_scenes: int, heldout_scenes: int,
                     train_seed: int, heldout_seed: int, data_dir: str | Path | None = None,
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
        plot_history(history, out / "loss.png")
    return report
