"""Everything the refinement needs, built once per process: `load_prior(body, checkpoint)`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.diffusion.condition import ConditionSpec
from scorehoi_node.core.diffusion.denoiser import CheckpointError, Denoiser
from scorehoi_node.core.bodies.landmarks import foot_vertex_ids, landmark_index
from scorehoi_node.core.diffusion.sampler import GuidedSampler
from scorehoi_node.core.diffusion.state import BodyIndex, StateCodec

#: the checkpoint shipped with the package (trained by `scorehoi train`, see the README)
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "denoiser.safetensors"


def body_index(body: BodyModel) -> BodyIndex:
    return BodyIndex.of(body, contact_vertex_ids=body.contact_vertex_ids,
                        foot_vertex_ids=foot_vertex_ids(body), landmark_index=landmark_index(body))


@dataclass
class Prior:
    """A trained denoiser with its codec and sampler, ready for `Refiner`."""

    model: Denoiser
    codec: StateCodec
    sampler: GuidedSampler
    index: BodyIndex

    @property
    def spec(self) -> ConditionSpec:
        return self.model.config.condition


def load_prior(body: BodyModel, checkpoint: str | Path | None = None,
               device: str | torch.device = "cpu") -> Prior:
    """Load a denoiser checkpoint (default: the shipped one) for `body`.

    Raises `CheckpointError` (one line: path and reason) for a missing, corrupt or mismatched
    checkpoint."""
    path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    model = Denoiser.load(path, device=device).requires_grad_(False)  # inference only
    layout = body.state_layout
    if model.config.body_model != body.name or model.config.state_dim != layout.size:
        raise CheckpointError(f"{path} was trained for body model {model.config.body_model!r} "
                              f"(state size {model.config.state_dim}), not {body.name!r} "
                              f"({layout.size})")
    codec = StateCodec(layout, model.state_mean, model.state_std)
    index = body_index(body)
    return Prior(model=model, codec=codec, sampler=GuidedSampler(model, body, codec, index),
                 index=index)
