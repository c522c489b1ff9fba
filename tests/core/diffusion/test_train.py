"""Training the prior: the learning-rate schedule works for any step count, and `scorehoi train`
runs end to end on generated data and writes a checkpoint the node can load."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.data.shards import concat_shards, iter_shards
from scorehoi_node.core.diffusion.dataset import PriorDataset
from scorehoi_node.core.diffusion.denoiser import Denoiser
from scorehoi_node.core.diffusion.guidance.recon import landmark_index
from scorehoi_node.core.diffusion.model import load_prior
from scorehoi_node.core.diffusion.state import StateCodec
from scorehoi_node.core.diffusion.train import MIN_SAMPLES_FOR_VAL, lr_schedule
from scorehoi_node.core.objects import load_library

MAX_LR = 1e-3


def _rates(steps: int) -> list[float]:
    """The learning rate of each of `steps` optimiser steps."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=MAX_LR)
    sched = lr_schedule(opt, MAX_LR, steps)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_one_cycle_with_a_zero_step_warm_up_is_what_crashed():
    # 20 steps at pct_start 0.05: the warm-up ends at step 0.05 * 20 - 1 = 0
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=MAX_LR)
    with pytest.raises(ZeroDivisionError):
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=20, pct_start=0.05)


@pytest.mark.parametrize("steps", [1, 2])
def test_one_or_two_steps_train_at_the_full_rate(steps):
    assert _rates(steps) == [MAX_LR] * steps


@pytest.mark.parametrize("steps", [3, 10, 20, 39, 40, 400])
def test_short_and_long_schedules_warm_up_then_decay(steps):
    rates = _rates(steps)
    peak = rates.index(max(rates))
    assert max(rates) == pytest.approx(MAX_LR, rel=1e-9)
    assert 1 <= peak <= max(1, round(0.05 * steps))  # warm-up: 5 % of the steps, >= 1 step
    assert rates[0] == pytest.approx(MAX_LR / 25)  # OneCycleLR's initial rate
    assert all(a <= b for a, b in zip(rates[:peak], rates[1:peak + 1]))
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:]))
    assert rates[-1] < rates[0]


def test_from_40_steps_the_schedule_is_one_cycle_at_5_percent():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=MAX_LR)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=400,
                                              pct_start=0.05)
    expected = []
    for _ in range(400):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert _rates(400) == expected


def _scorehoi(*args) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "scorehoi_node.cli", *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_scorehoi_train_end_to_end_writes_a_loadable_checkpoint(tmp_path):
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    _scorehoi("synth", "--no-render", "--out", data, "--frames", 16, "--seq-len", 1,
              "--seed", 5)
    res = _scorehoi("train", "--data", data / "shards", "--out", ckpt, "--steps", 20,
                    "--batch-size", 8)
    # 16 samples: too few for a held-out split, and the user is told so
    assert 16 < MIN_SAMPLES_FOR_VAL
    assert "no held-out split: 16 samples" in " ".join(res.stdout.split())
    report = json.loads((ckpt / "train.json").read_text())
    assert (report["steps"], report["train_samples"], report["val_samples"]) == (20, 16, 0)
    assert report["held_out"].startswith("none: 16 samples")
    assert not any(k.startswith("val_mse") for k in report)
    assert math.isfinite(report["final_loss"]) and report["final_loss"] > 0
    assert (ckpt / "loss.png").stat().st_size > 1000

    # the node's loader takes it for the body model it was trained for
    body, library = make_body_model("anny"), load_library()
    prior = load_prior(body, ckpt / "denoiser.safetensors")
    model = Denoiser.load(ckpt / "denoiser.safetensors")
    assert model.extra["steps"] == 20 and model.extra["val_samples"] == 0
    assert model.config.body_model == "anny" and model.config.state_dim == body.state_layout.size
    # it carries the standardisation of the 16 generated samples it was trained on
    shards = list(iter_shards(data / "shards"))
    assert len(concat_shards(shards)) == 16
    raw = PriorDataset.from_shards(shards, body, library, StateCodec(body.state_layout),
                                   landmark_index(body)).raw
    expected = StateCodec(body.state_layout, raw.mean(0), raw.std(0))  # std floored as trained
    torch.testing.assert_close(prior.codec.mean, expected.mean)
    torch.testing.assert_close(prior.codec.std, expected.std)
    # and predicts noise of the state's shape, finite, for a batch of noisy states
    x = torch.randn(4, body.state_layout.size)
    cond = torch.zeros(4, model.config.condition.dim)
    eps = prior.model(x, torch.tensor([10, 100, 500, 999]), cond)
    assert eps.shape == x.shape and torch.isfinite(eps).all()
