"""The noise schedule (diffusers' DDIM configuration: T = 1000, cosine, eps) and a pure DDIM step.

ScoreHOI only ever visits the low-noise end of the chain: DDIM inversion of the initial estimate
from t = 0 up to tau, then (guided) DDIM back down. Both directions are the same deterministic
DDIM update (Song et al. 2021, eq. 12 with eta = 0) between two timesteps,

    x̂0     = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
    x_next = sqrt(a_next) x̂0 + sqrt(1 - a_next) eps,

with a_t = alphas_cumprod[t] (and a = 1 for t < 0, diffusers' `set_alpha_to_one`). `DDIMSchedule`
holds the alphas of diffusers' `DDIMScheduler` built from `SCHEDULE_CONFIG` and nothing else:
`step` takes both timesteps as arguments and keeps no state, so any number of refiners with
different chains may share one schedule across threads (diffusers' schedulers keep
`num_inference_steps` and `timesteps` as mutable state). A test checks `step` against diffusers'
`DDIMScheduler.step` and `DDIMInverseScheduler.step`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

NUM_TRAIN_TIMESTEPS = 1000
SCHEDULE_CONFIG = dict(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
                       prediction_type="epsilon", clip_sample=False, set_alpha_to_one=True)


def make_scheduler() -> DDIMScheduler:
    """diffusers' scheduler of this schedule (training: `add_noise`; tests: the reference step)."""
    return DDIMScheduler(**SCHEDULE_CONFIG)


def make_inverse_scheduler() -> DDIMInverseScheduler:
    """diffusers' inverse scheduler of this schedule (tests: the reference inversion step)."""
    return DDIMInverseScheduler(**SCHEDULE_CONFIG)


@dataclass(frozen=True)
class SamplerStep:
    """Output of one DDIM step.

    Attributes:
        prev_sample: (B, D) the sample at the step's target timestep (lower noise when sampling,
            higher when inverting).
        pred_x0: (B, D) the clean sample predicted at the step's source timestep.
    """

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


class DDIMSchedule:
    """alphas_cumprod of the schedule and the pure DDIM update between any two timesteps."""

    def __init__(self) -> None:
        #: (T,) float32 cumulative product of (1 - beta_t) (diffusers' cosine betas)
        self.alphas_cumprod = make_scheduler().alphas_cumprod.to(torch.float32).clone()

    def alpha(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """a_t as a 0-d tensor of `like`'s dtype and device (1 for t < 0)."""
        a = self.alphas_cumprod[t] if t >= 0 else torch.tensor(1.0)
        return a.to(dtype=like.dtype, device=like.device)

    def pred_x0(self, eps: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        """x̂0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) (eq. 12's "predicted x0")."""
        a = self.alpha(t, x)
        return (x - (1 - a).sqrt() * eps) / a.sqrt()

    def step(self, eps: torch.Tensor, t: int, t_next: int, x: torch.Tensor) -> SamplerStep:
        """Deterministic DDIM move of `x` (B, D) at timestep `t` to timestep `t_next`, given the
        noise prediction `eps` at (x, t): t_next < t samples (denoises), t_next > t inverts."""
        x0 = self.pred_x0(eps, t, x)
        a_next = self.alpha(t_next, x)
        return SamplerStep(prev_sample=a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps,
                           pred_x0=x0)


@dataclass(frozen=True)
class PartialChain:
    """Timesteps of a partial DDIM chain: invert 0 -> tau, sample tau -> 0 in steps of `stride`."""

    tau: int
    stride: int

    def __post_init__(self) -> None:
        if self.stride < 1 or self.tau < self.stride or self.tau % self.stride:
            raise ValueError(f"tau must be a positive multiple of stride, got tau={self.tau} "
                             f"stride={self.stride}")
        if NUM_TRAIN_TIMESTEPS % self.stride or self.tau >= NUM_TRAIN_TIMESTEPS:
            raise ValueError(f"stride must divide {NUM_TRAIN_TIMESTEPS} and tau be below it")

    @property
    def num_steps(self) -> int:
        return self.tau // self.stride

    def sampling_steps(self) -> list[tuple[int, int]]:
        """(t, t_next) pairs from tau down: [(tau, tau - stride), ..., (stride, 0)]."""
        return [(t, t - self.stride) for t in range(self.tau, 0, -self.stride)]

    def inversion_steps(self) -> list[tuple[int, int]]:
        """(t, t_next) pairs from 0 up: [(0, stride), ..., (tau - stride, tau)]."""
        return [(t, t + self.stride) for t in range(0, self.tau, self.stride)]
