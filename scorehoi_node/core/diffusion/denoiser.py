"""eps_theta(x_t, t, c): a residual MLP over the HOI state with FiLM conditioning.

Every residual block is modulated by (scale, shift) computed from the sum of a timestep
embedding and a condition embedding, so the condition reaches every layer (the released
ScoreHOI code attends over a single token, which makes its condition a no-op; see the tests
that show ours changes the output and lowers the denoising error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

# CheckpointError is re-exported: callers of the denoiser import it from here
from scorehoi_node.core.checkpoints import CheckpointError, Checkpointed  # noqa: F401
from scorehoi_node.core.diffusion.condition import ConditionSpec

CHECKPOINT_FORMAT = "scorehoi.denoiser"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class DenoiserConfig:
    """Architecture. `template_ids` and `body_model` pin what the checkpoint was trained for."""

    state_dim: int
    template_ids: tuple[str, ...]
    body_model: str = "anny"
    hidden: int = 384
    blocks: int = 6
    embed: int = 256

    @property
    def condition(self) -> ConditionSpec:
        return ConditionSpec(template_ids=self.template_ids, state_dim=self.state_dim)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) timesteps -> (B, dim) sinusoidal embedding (Transformer / DDPM style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class FiLMBlock(nn.Module):
    """x + W2 silu(W1 silu(norm(x) * (1 + scale) + shift)), (scale, shift) = A(embedding)."""

    def __init__(self, hidden: int, embed: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.film = nn.Linear(embed, 2 * hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).chunk(2, dim=1)
        y = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(nn.functional.silu(self.fc1(nn.functional.silu(y))))


class Denoiser(Checkpointed, nn.Module):
    """Predicts the noise eps in x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps.

    Buffers `state_mean` / `state_std` hold the raw-state statistics of the training set (the
    `StateCodec` normalisation), so a checkpoint carries everything needed to use it.
    """

    checkpoint_format, checkpoint_version = CHECKPOINT_FORMAT, CHECKPOINT_VERSION
    checkpoint_name, config_class = "denoiser", DenoiserConfig

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        d, h, e = config.state_dim, config.hidden, config.embed
        self.time_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.cond_mlp = nn.Sequential(nn.Linear(config.condition.dim, e), nn.SiLU(),
                                      nn.Linear(e, e))
        self.inp = nn.Linear(d, h)
        self.blocks = nn.ModuleList(FiLMBlock(h, e) for _ in range(config.blocks))
        self.out_norm = nn.LayerNorm(h)
        self.out = nn.Linear(h, d)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("state_mean", torch.zeros(d))
        self.register_buffer("state_std", torch.ones(d))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(B, D) noisy normalised states, (B,) or scalar timesteps, (B, C) conditions -> (B, D)."""
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        emb = self.time_mlp(timestep_embedding(t, self.config.embed)) + self.cond_mlp(cond)
        emb = nn.functional.silu(emb)
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(self.out_norm(h))

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
