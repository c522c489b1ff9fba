"""Refine stage: ScoreHOI refinement of one person-object pair (`core/refine.py`: DDIM inversion
of the initial estimate, guided sampling, contact-driven rounds) with the trained prior."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.diffusion.model import Prior, body_index, load_prior
from scorehoi_node.core.diffusion.state import StateCodec
from scorehoi_node.core.estimate.contact_net import ContactPredictor
from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.refine import (Refiner, contact_rule, estimates_from_hoi,
                                       hoi_from_estimates, pipeline_refine_config)
from scorehoi_node.core.stages.observation import condition_of, frame_floor, observation_of
from scorehoi_node.core.types import FoundObject, Frame, HumanEstimate, ObjectEstimate, Person

_STATE_FIELDS = ("root_rotmat", "body_pose_rotmat", "shape", "object_rotmat", "object_transl")


class RefineStage:
    """Refines person-object pairs with the mode and schedule of the configuration.

    The prior is loaded once (on the first mode that needs it) and shared by every refiner this
    stage builds (`refiner`), e.g. the frame path's and the background keyframe path's: the
    sampler keeps no per-call state. `refiner` is None for `refine: none`.

    Device: the prior, a copy of the body model, the states, the observation and the condition
    live on `device` (the same code on the CPU and on CUDA); the refined estimates come back as
    numpy arrays.

    Contacts: every round re-predicts the contact set with `contact_predictor` (the learned one,
    on `device`, shared with the contact stage) or, when None, the distance rule.

    Raises:
        CheckpointError: (one line) the prior's checkpoint is missing, corrupt or mismatched.
    """

    def __init__(self, config: PipelineConfig, body: BodyModel, library: ObjectLibrary,
                 device: torch.device = torch.device("cpu"),
                 contact_predictor: ContactPredictor | None = None) -> None:
        self.device = torch.device(device)
        self.contact_predictor = contact_predictor
        self.body = body if body.device == self.device else copy.deepcopy(body).to(self.device)
        self.library = library
        self.checkpoint = config.denoiser_checkpoint or None
        self.prior: Prior | None = None
        self.failures = 0  # refinements that produced non-finite states (initial estimate kept)
        self.mode = config.refine
        self.refiner = self.build_refiner(config)

    def build_refiner(self, config: PipelineConfig, mode: str | None = None) -> Refiner | None:
        """A refiner for `mode` (default `config.refine`) with `config`'s schedule overrides and
        contact distances; None for "none"."""
        mode = mode or config.refine
        if mode == "none":
            return None
        cfg = pipeline_refine_config(mode, config.refine_rounds, config.refine_tau,
                                     config.refine_stride, config.contact)
        contacts = contact_rule(cfg.contact, self.body, self.contact_predictor)
        if cfg.mode == "optimize":
            try:  # the baseline optimises in the prior's normalised space when one exists
                prior = self._prior()
                codec, index = prior.codec, prior.index
            except Exception:
                codec, index = StateCodec(self.body.state_layout), body_index(self.body)
            return Refiner(None, self.body, codec, index, cfg, contacts)
        prior = self._prior()
        return Refiner(prior.sampler, self.body, prior.codec, prior.index, cfg, contacts)

    def update(self, config: PipelineConfig,
               contact_predictor: ContactPredictor | None = None) -> None:
        """Take new refinement settings (mode, schedule, contacts with `contact_predictor`); on
        an error the current refiner stays and the error propagates."""
        previous, self.contact_predictor = self.contact_predictor, contact_predictor
        try:
            self.refiner = self.build_refiner(config)
        except Exception:
            self.contact_predictor = previous
            raise
        self.mode = config.refine

    def _prior(self) -> Prior:
        if self.prior is None:
            self.prior = load_prior(self.body, self.checkpoint, device=self.device)
        return self.prior

    @staticmethod
    def floor(frame: Frame, persons: Sequence[Person], found: Sequence[FoundObject]
              ) -> np.ndarray | None:
        """The frame's floor plane for its pairs' observations (once per frame)."""
        return frame_floor(frame, [p.detection for p in persons], found)

    def __call__(self, frame: Frame, person: Person, found: FoundObject,
                 floor_plane: np.ndarray | None, refiner: Refiner | None = None
                 ) -> tuple[HumanEstimate, ObjectEstimate] | None:
        """The refined (human, object) of one pair with `refiner` (default: this stage's), or
        None when it produced a non-finite state (counted in `failures`). `floor_plane`: the
        frame's (`floor`), or None."""
        refiner = refiner or self.refiner
        human, obj = person.human, found.estimate
        template = self.library.template_for(obj.template_id, obj.extent, obj.class_name)
        hoi = hoi_from_estimates(human, obj).to(self.device)
        obs = observation_of(frame, person.detection, found, template,
                             floor_plane).to(self.device)
        cond = None
        if self.prior is not None:
            cond = condition_of(self.prior.spec, self.prior.codec, frame, person.detection, found,
                                template, hoi)
        out = refiner.refine(hoi, cond, obs).hoi
        if not all(bool(torch.isfinite(getattr(out, k)).all()) for k in _STATE_FIELDS):
            self.failures += 1
            return None
        with torch.no_grad():
            recon = refiner.reconstruct(out, full_mesh=True)
        return estimates_from_hoi(out, recon, human, obj)
