"""DDIM inversion of an estimate (0 -> tau) and score-guided DDIM sampling back (tau -> 0).

Guidance (DESIGN section 2): at every sampling step the clean sample is predicted,
x̂0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t), the guidance loss L(x̂0) is evaluated on the
posed body and placed object, and the noise prediction becomes

    eps' = eps + rho * sqrt(1 - a_t) * N(grad_{x_t} L(x̂0))

(the gradient flows through the denoiser; N is the gradient normalisation below); the DDIM step
(`schedule.DDIMSchedule.step`, pure: both timesteps are arguments) then uses eps'.

Gradient normalisation (`norm`): the raw gradient ("none", as published) is dominated by a few
coordinates of the 135-dimensional state — the losses are in metres and the object translation
and root rotation move the contact points much more per normalised unit than a joint angle
does (median RMS per coordinate on 8 held-out cases, `fast`: object translation 4.6e-2, root
rotation 1.7e-2, shape 8.2e-3, object rotation 4.3e-3, body pose 1.6e-3) — so one rho either
barely moves the pose or throws the object around. "block" rescales the gradient of each state
block (root rotation, body pose, object rotation, object translation, shape:
`StateLayout.named_slices`) to unit RMS per sample, keeping its direction within the block:
every block then moves rho * (1 - a_t) / sqrt(a_t) RMS units of x̂0 per step, the same for all
blocks. Measured on the held-out ablation in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.diffusion.denoiser import Denoiser
from scorehoi_node.core.diffusion.guidance import total_loss
from scorehoi_node.core.diffusion.guidance.base import Observation
from scorehoi_node.core.diffusion.schedule import DDIMSchedule, PartialChain
from scorehoi_node.core.diffusion.state import BodyIndex, StateCodec, reconstruct


GUIDANCE_NORMS = ("none", "block")


def normalise_blocks(grad: torch.Tensor, slices: dict[str, slice], eps: float = 1e-12
                     ) -> torch.Tensor:
    """(B, D) gradient -> each block of `slices` scaled to unit RMS per row (zero stays zero)."""
    out = torch.zeros_like(grad)
    for sl in slices.values():
        g = grad[:, sl]
        out[:, sl] = g / (g.pow(2).mean(1, keepdim=True).sqrt() + eps)
    return out


@dataclass
class StepLog:
    """Per sampling step: timestep and the weighted guidance loss of each term (batch mean)."""

    t: int
    losses: dict[str, float]


class GuidedSampler:
    """Inversion + guided sampling with one denoiser, body model and codec.

    Holds no per-call state: the chain (tau, stride) is an argument of every call and the DDIM
    step is pure, so refiners with different chains may share one sampler across threads."""

    def __init__(self, model: Denoiser, body: BodyModel, codec: StateCodec, index: BodyIndex):
        self.model, self.body, self.codec, self.index = model, body, codec, index
        self.schedule = DDIMSchedule()

    @torch.no_grad()
    def invert(self, x0: torch.Tensor, cond: torch.Tensor, chain: PartialChain) -> torch.Tensor:
        """Deterministic DDIM inversion of clean states x0 (B, D) up to noise level chain.tau."""
        x = x0
        for t, t_next in chain.inversion_steps():
            eps = self.model(x, torch.tensor(t), cond)
            x = self.schedule.step(eps, t, t_next, x).prev_sample
        return x

    def guided_eps(self, x_t: torch.Tensor, t: int, cond: torch.Tensor, pelvis: torch.Tensor,
                   obs: Observation | None, terms: list, rho: float, norm: str = "block"
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        """eps' of one step and the guidance losses at x̂0 (empty without terms); `norm` is
        the gradient normalisation (module docstring)."""
        if not terms or rho == 0.0 or obs is None:
            with torch.no_grad():
                return self.model(x_t, torch.tensor(t), cond), {}
        x_t = x_t.detach().requires_grad_(True)
        with torch.enable_grad():
            eps = self.model(x_t, torch.tensor(t), cond)
            x0 = self.schedule.pred_x0(eps, t, x_t)
            recon = reconstruct(self.body, self.codec.decode(x0, pelvis), self.index)
            loss, parts = total_loss(terms, recon, obs)
            (grad,) = torch.autograd.grad(loss.sum(), x_t)
        grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        if norm == "block":
            grad = normalise_blocks(grad, self.codec.layout.named_slices())
        elif norm != "none":
            raise ValueError(f"guidance norm must be one of {GUIDANCE_NORMS}, got {norm!r}")
        a = self.schedule.alpha(t, x_t)
        eps = eps.detach() + rho * (1 - a).sqrt() * grad
        return eps, {k: float(v.mean()) for k, v in parts.items()}

    def sample(self, x_tau: torch.Tensor, cond: torch.Tensor, chain: PartialChain,
               pelvis: torch.Tensor, obs: Observation | None = None, terms: list | None = None,
               rho: float = 0.0, norm: str = "block") -> tuple[torch.Tensor, list[StepLog]]:
        """Guided DDIM from noise level chain.tau down to 0; returns clean x and the step log."""
        x, log = x_tau, []
        for t, t_next in chain.sampling_steps():
            eps, losses = self.guided_eps(x, t, cond, pelvis, obs, terms or [], rho, norm)
            with torch.no_grad():
                x = self.schedule.step(eps, t, t_next, x).prev_sample
            log.append(StepLog(t=t, losses=losses))
        return x.detach(), log
