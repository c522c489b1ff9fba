"""The noise schedule: diffusers' DDIM scheduler and its inverse (T = 1000, cosine, eps).

ScoreHOI only ever visits the low-noise end of the chain: DDIM inversion of the initial estimate
from t = 0 up to tau, then (guided) DDIM back down. `partial_timesteps` sets both schedulers to
the visited timesteps {tau, tau - stride, ..., stride} without touching diffusers internals
beyond `num_inference_steps` (which fixes DDIM's step size T // num_inference_steps = stride).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler

NUM_TRAIN_TIMESTEPS = 1000
SCHEDULE_CONFIG = dict(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
                       prediction_type="epsilon", clip_sample=False, set_alpha_to_one=True)


def make_scheduler() -> DDIMScheduler:
    """The training / sampling scheduler (cosine betas of Nichol & Dhariwal, eps-prediction)."""
    return DDIMScheduler(**SCHEDULE_CONFIG)


def make_inverse_scheduler() -> DDIMInverseScheduler:
    return DDIMInverseScheduler(**SCHEDULE_CONFIG)


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

    def sampling_timesteps(self) -> list[int]:
        """Descending [tau, tau - stride, ..., stride]: each step goes t -> t - stride."""
        return list(range(self.tau, 0, -self.stride))

    def inversion_timesteps(self) -> list[int]:
        """Ascending [stride, ..., tau]: the inverse step to t evaluates the model at t - stride."""
        return list(range(self.stride, self.tau + 1, self.stride))

    def configure(self, scheduler: DDIMScheduler | DDIMInverseScheduler) -> None:
        """Make `scheduler.step` use steps of `stride` (and list this chain's timesteps)."""
        scheduler.num_inference_steps = NUM_TRAIN_TIMESTEPS // self.stride
        steps = (self.sampling_timesteps() if isinstance(scheduler, DDIMScheduler)
                 else self.inversion_timesteps())
        scheduler.timesteps = torch.tensor(steps, dtype=torch.long)
