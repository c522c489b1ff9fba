"""Contact-driven iterative refinement (ScoreHOI section 3.3) and its optimisation-only baseline.

One round: predict the contact set from the current reconstruction -> DDIM-invert the state to
noise level tau -> guided DDIM back to 0. The contact set is recomputed from the new
reconstruction at the start of every round (the released code never refreshed it).

Contact prediction (`ContactConfig.predictor`): "learned" (default) runs the contact network
(`estimate/contact_net.py` `ContactPredictor`) on the round's reconstruction; "distance" is the
rule `predict_contacts`: for every labelled body part of the contact subset, its vertices' signed
distances to the object; a part whose closest vertex lies within `ContactConfig.part_radius_m` is
in contact, and its vertices within `ContactConfig.band_m` of that closest distance are the
contact vertices. The contact term pulls them to within `ContactConfig.guidance_hinge_m` of the
surface.

Modes (`REFINE_PRESETS`): "paper" is the published schedule (N = 10 rounds, tau = 50, steps of
5), "fast" the real-time one, "unguided" the prior alone (rho = 0), "optimize" Adam on the same
losses without the prior (the ablation baseline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.config import REFINE_MODES, ContactConfig
from scorehoi_node.core.diffusion.guidance import default_weights, make_terms, total_loss
from scorehoi_node.core.diffusion.guidance.base import Observation, Reconstruction
from scorehoi_node.core.diffusion.sampler import GUIDANCE_NORMS
from scorehoi_node.core.diffusion.schedule import PartialChain
from scorehoi_node.core.diffusion.state import (BodyIndex, CameraFrameHOI, StateCodec,
                                                reconstruct)
from scorehoi_node.core.estimate.contact_net import ContactPredictor
from scorehoi_node.core.objects.template import ObjectTemplate


@dataclass(frozen=True)
class RefineConfig:
    """How to refine.

    Attributes:
        mode: "none", "paper", "fast", "unguided" or "optimize".
        rounds: N rounds of invert -> sample -> re-estimate contacts.
        tau: inversion depth (timesteps of 1000).
        stride: DDIM step size; tau / stride steps per direction and round.
        rho: guidance scale.
        guidance_norm: "block" (each state block's gradient scaled to unit RMS) or "none" (the
            raw gradient, as published); see `core/diffusion/sampler.py`.
        weights: guidance term name -> weight (0 disables a term); default: every registered
            term's `default_weight`.
        contact: contact distances (prediction radius and band, guidance hinge; module
            docstring).
        optimize_steps, optimize_lr: the "optimize" baseline (Adam on the normalised state).
        optimize_budget_ms: when > 0, the baseline takes Adam steps until this wall time per
            round is spent (at least one), instead of `optimize_steps` (equal-time ablation).
    """

    mode: str = "fast"
    rounds: int = 2
    tau: int = 100
    stride: int = 50
    rho: float = 3.0
    guidance_norm: str = "block"
    weights: dict = field(default_factory=default_weights)
    contact: ContactConfig = field(default_factory=ContactConfig)
    optimize_steps: int = 10
    optimize_lr: float = 0.05
    optimize_budget_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in REFINE_MODES:
            raise ValueError(f"refine mode must be one of {REFINE_MODES}, got {self.mode!r}")
        if self.guidance_norm not in GUIDANCE_NORMS:
            raise ValueError(f"guidance_norm must be one of {GUIDANCE_NORMS}, "
                             f"got {self.guidance_norm!r}")
        if self.rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {self.rounds}")
        make_terms(self.weights)  # validates the names and weights against the registry
        if self.mode not in ("none", "optimize"):
            PartialChain(tau=self.tau, stride=self.stride)  # ValueError for an impossible chain

    @property
    def chain(self) -> PartialChain:
        return PartialChain(tau=self.tau, stride=self.stride)


REFINE_PRESETS: dict[str, RefineConfig] = {}


def _presets() -> None:
    REFINE_PRESETS["none"] = RefineConfig(mode="none", rounds=0)
    REFINE_PRESETS["paper"] = RefineConfig(mode="paper", rounds=10, tau=50, stride=5, rho=3.0)
    REFINE_PRESETS["fast"] = RefineConfig(mode="fast", rounds=2, tau=100, stride=50, rho=3.0)
    REFINE_PRESETS["unguided"] = replace(REFINE_PRESETS["fast"], mode="unguided", rho=0.0)
    REFINE_PRESETS["optimize"] = RefineConfig(mode="optimize", rounds=2, optimize_steps=4)


_presets()


def preset(mode: str, **overrides) -> RefineConfig:
    """The preset of `mode` with `overrides` (RefineConfig fields) replaced."""
    if mode not in REFINE_PRESETS:
        raise ValueError(f"refine mode must be one of {tuple(REFINE_PRESETS)}, got {mode!r}")
    return replace(REFINE_PRESETS[mode], **overrides)


def pipeline_refine_config(mode: str, rounds: int = 0, tau: int = 0, stride: int = 0,
                           contact: ContactConfig | None = None) -> RefineConfig:
    """The preset of `mode` with the pipeline's settings: `rounds`, `tau`, `stride` replace the
    preset's where > 0 (0 = the preset's); `contact` replaces its contact distances."""
    base = preset(mode)
    changes = {k: v for k, v in (("rounds", rounds), ("tau", tau), ("stride", stride)) if v > 0}
    if contact is not None:
        changes["contact"] = contact
    return replace(base, **changes)


def predict_contacts(recon: Reconstruction, template: ObjectTemplate,
                     part_ids: torch.Tensor, radius_m: float, band_m: float) -> torch.Tensor:
    """(B, C) bool contact mask of the contact subset (module docstring)."""
    with torch.no_grad():
        pts = recon.vertices[:, recon.contact_vertex_ids]
        d = template.sdf(recon.to_object_frame(pts).float())  # (B, C)
        parts = part_ids.to(d.device)
        num_parts = int(parts.max()) + 1 if len(parts) else 0
        big = torch.full_like(d, float("inf"))
        mask = torch.zeros_like(d, dtype=torch.bool)
        for p in range(num_parts):
            sel = parts == p
            dmin = torch.where(sel[None], d, big).amin(1)  # (B,)
            on = (dmin < radius_m)[:, None] & sel[None] & (d < dmin[:, None] + band_m)
            mask |= on
        return mask


class ContactRule(Protocol):
    """What a refinement round asks for: the (B, C) bool contact set of the contact subset of
    a reconstruction batch placed with `template` (device of the reconstruction)."""

    def predict_contacts(self, recon: Reconstruction, template: ObjectTemplate) -> torch.Tensor:
        ...


class DistanceContacts:
    """The distance rule as a `ContactRule` (`predict_contacts`, module docstring)."""

    def __init__(self, part_ids: torch.Tensor, contact: ContactConfig) -> None:
        self.part_ids = part_ids
        self.radius_m, self.band_m = contact.part_radius_m, contact.band_m

    def predict_contacts(self, recon: Reconstruction, template: ObjectTemplate) -> torch.Tensor:
        return predict_contacts(recon, template, self.part_ids, self.radius_m, self.band_m)


def load_contact_predictor(contact: ContactConfig, body: BodyModel,
                           device: torch.device | str | None = None) -> ContactPredictor | None:
    """The learned predictor `contact` asks for (its checkpoint, default the shipped one) on
    `device` (default: the body model's), or None for the distance rule.

    Raises:
        CheckpointError: (one line) the weights are missing, corrupt or of another body model.
    """
    if contact.predictor != "learned":
        return None
    return ContactPredictor.load(body, contact.checkpoint or None,
                                 device=body.device if device is None else device)


class LearnedContacts:
    """The learned predictor as a `ContactRule`, with the distance rule for objects it was not
    trained on (oriented boxes of classes without a template)."""

    def __init__(self, predictor: ContactPredictor, distance: DistanceContacts) -> None:
        self.predictor, self.distance = predictor, distance

    def predict_contacts(self, recon: Reconstruction, template: ObjectTemplate) -> torch.Tensor:
        rule = self.predictor if self.predictor.knows(template) else self.distance
        return rule.predict_contacts(recon, template)


def contact_rule(contact: ContactConfig, body: BodyModel,
                 predictor: ContactPredictor | None = None) -> ContactRule:
    """`predictor` when given (the distance rule for templates it does not know), else the
    distance rule with `contact`'s distances."""
    distance = DistanceContacts(body.contact_part_ids, contact)
    return distance if predictor is None else LearnedContacts(predictor, distance)


@dataclass
class RefineResult:
    """Refined states and what happened.

    Attributes:
        hoi: refined camera-frame states (detached).
        contact_masks: (B, C) bool contact set used in each round (round order).
        losses: per round, the guidance losses (term -> batch mean) of the last step.
        ms: wall time [ms].
    """

    hoi: CameraFrameHOI
    contact_masks: list[torch.Tensor]
    losses: list[dict[str, float]]
    ms: float


class Refiner:
    """ScoreHOI refinement of a batch of interactions that share one object template.

    Args:
        sampler: a `GuidedSampler` (denoiser, body model, codec, index sets); may be None for
            the "optimize" and "none" modes.
        body: the body model.
        codec, index: state codec and body index sets.
        config: mode and schedule.
        contacts: the contact rule of the rounds; default: `config.contact`'s (the learned
            predictor loaded from its checkpoint, or the distance rule).

    Raises:
        CheckpointError: the default learned predictor's weights cannot be loaded.
    """

    def __init__(self, sampler, body: BodyModel, codec: StateCodec, index: BodyIndex,
                 config: RefineConfig, contacts: ContactRule | None = None):
        if config.mode not in ("none", "optimize") and sampler is None:
            raise ValueError(f"refine mode {config.mode!r} needs a trained denoiser")
        self.sampler, self.body, self.codec, self.index = sampler, body, codec, index
        self.config = config
        self.terms = make_terms(config.weights,
                                {"contact": {"threshold_m": config.contact.guidance_hinge_m}})
        if contacts is None and config.mode != "none":
            contacts = contact_rule(config.contact, body,
                                    load_contact_predictor(config.contact, body))
        self.contacts = contacts

    def reconstruct(self, hoi: CameraFrameHOI, full_mesh: bool = False) -> Reconstruction:
        """The reconstruction of `hoi`: the vertices the guidance reads, or the whole mesh."""
        return reconstruct(self.body, hoi, self.index, full_mesh)

    def refine(self, hoi: CameraFrameHOI, cond: torch.Tensor | None, obs: Observation
               ) -> RefineResult:
        """Refine B states (`cond`: (B, C) conditions; `obs.template` must be set)."""
        cfg = self.config
        t0 = time.perf_counter()
        masks, losses = [], []
        if cfg.mode == "none" or cfg.rounds == 0:
            return RefineResult(hoi, masks, losses, 0.0)
        if obs.template is None:
            raise ValueError("refinement needs the object's template (obs.template)")
        pelvis = hoi.pelvis
        x = self.codec.encode(hoi).detach()
        for _ in range(cfg.rounds):
            with torch.no_grad():
                recon = self.reconstruct(self.codec.decode(x, pelvis))
            mask = self.contacts.predict_contacts(recon, obs.template)
            masks.append(mask)
            round_obs = replace(obs, contact_mask=mask)
            if cfg.mode == "optimize":
                x, log = self._optimize(x, pelvis, round_obs)
            else:
                rho = 0.0 if cfg.mode == "unguided" else cfg.rho
                x_tau = self.sampler.invert(x, cond, cfg.chain)
                x, steps = self.sampler.sample(x_tau, cond, cfg.chain, pelvis, round_obs,
                                               self.terms, rho, cfg.guidance_norm)
                log = steps[-1].losses if steps else {}
            losses.append(log)
        out = self.codec.decode(x, pelvis)
        out = CameraFrameHOI(**{k: getattr(out, k).detach() for k in
                                ("root_rotmat", "body_pose_rotmat", "shape", "pelvis",
                                 "object_rotmat", "object_transl")})
        return RefineResult(out, masks, losses, (time.perf_counter() - t0) * 1e3)

    def _optimize(self, x: torch.Tensor, pelvis: torch.Tensor, obs: Observation
                  ) -> tuple[torch.Tensor, dict[str, float]]:
        """Optimisation-only baseline: Adam on the normalised state, same losses, no prior."""
        x = x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.config.optimize_lr)
        parts: dict = {}
        budget = self.config.optimize_budget_ms / 1e3
        t0, step, last = time.perf_counter(), 0, 0.0
        while (step < self.config.optimize_steps if budget <= 0
               else step == 0 or time.perf_counter() - t0 + last <= budget):
            step += 1
            t_step = time.perf_counter()
            with torch.enable_grad():
                recon = self.reconstruct(self.codec.decode(x, pelvis))
                loss, parts = total_loss(self.terms, recon, obs)
                opt.zero_grad()
                loss.sum().backward()
            x.grad = torch.nan_to_num(x.grad)
            opt.step()
            last = time.perf_counter() - t_step
        return x.detach(), {k: float(v.mean()) for k, v in parts.items()}


# -- pipeline glue: estimates <-> states ----------------------------------------------------------
def hoi_from_estimates(human, obj) -> CameraFrameHOI:
    """A `HumanEstimate` (body-model fit) and an `ObjectEstimate` -> a B = 1 state."""
    R = np.asarray(human.joint_rotations, np.float32)
    f = dict(dtype=torch.float32)
    return CameraFrameHOI(
        root_rotmat=torch.as_tensor(R[None, 0], **f),
        body_pose_rotmat=torch.as_tensor(R[None, 1:], **f),
        shape=torch.as_tensor(np.asarray(human.shape, np.float32)[None], **f),
        pelvis=torch.as_tensor(np.asarray(human.joint_positions[0], np.float32)[None], **f),
        object_rotmat=torch.as_tensor(np.asarray(obj.rotation, np.float32)[None], **f),
        object_transl=torch.as_tensor(np.asarray(obj.translation, np.float32)[None], **f))


def estimates_from_hoi(hoi: CameraFrameHOI, recon: Reconstruction, human, obj, i: int = 0):
    """Item `i` of refined states (+ its reconstruction) -> (HumanEstimate, ObjectEstimate),
    keeping the names, parents, faces, confidences and template of the inputs."""
    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().double().numpy()

    rot = torch.cat([hoi.root_rotmat[i:i + 1], hoi.body_pose_rotmat[i]], dim=0)
    new_human = replace(human, joint_rotations=numpy(rot), joint_positions=numpy(recon.joints[i]),
                        shape=numpy(hoi.shape[i]), vertices=numpy(recon.vertices[i]))
    new_obj = replace(obj, rotation=numpy(hoi.object_rotmat[i]),
                      translation=numpy(hoi.object_transl[i]))
    return new_human, new_obj
