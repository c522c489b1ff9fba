"""Contacts stage: the contacts and penetration depth of the frame's person-object pairs, and the
contact rule of the refinement rounds.

`ContactConfig.predictor` "learned" (default): the contact network gives each contact-subset
vertex's probability (`estimate/contact_net.py`), one call per object template for all persons
of the frame; "distance": sigmoid((threshold - d) / scale) of each vertex's signed distance to
the placed template. Either way `Contact`s are the vertices with p >= 0.5 and the penetration
depth is the deepest body vertex inside the object (`estimate/contacts.py`).
"""

from __future__ import annotations

import numpy as np
import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.checkpoints import CheckpointError
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.estimate.contact_net import ContactPredictor, learned_contact_estimates
from scorehoi_node.core.estimate.contacts import estimate_contacts
from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.refine import ContactRule, contact_rule, load_contact_predictor
from scorehoi_node.core.types import Contact, HumanEstimate, ObjectEstimate

#: (contacts, penetration depth [m]) of one person
PairContacts = tuple[list[Contact], float]


class ContactStage:
    """Contacts of person-object pairs with the configured predictor.

    The learned predictor lives on `device`; weights that cannot be loaded at construction give
    one line in `notes` and the distance rule (the pipeline keeps running); `update` to another
    predictor or checkpoint raises instead (nothing changes).
    """

    def __init__(self, body: BodyModel, library: ObjectLibrary, config: ContactConfig,
                 device: torch.device | str = "cpu") -> None:
        self.body, self.library, self.device = body, library, torch.device(device)
        self.vertex_ids = body.contact_vertex_ids.cpu().numpy()
        self.part_ids = body.contact_part_ids.cpu().numpy()
        self.part_names = body.contact_part_names
        self.notes: list[str] = []
        try:
            self.predictor = load_contact_predictor(config, body, self.device)
        except CheckpointError as e:
            self.notes.append(f"error: contact_predictor=learned unavailable ({e}); "
                              "using the distance rule")
            self.predictor = None
        self.config = config

    def predictor_for(self, config: ContactConfig) -> ContactPredictor | None:
        """The predictor `config` asks for: the current one when the predictor and checkpoint
        settings are unchanged, else loaded (CheckpointError: it cannot be)."""
        if (config.predictor, config.checkpoint) == (self.config.predictor,
                                                      self.config.checkpoint):
            return self.predictor
        return load_contact_predictor(config, self.body, self.device)

    def update(self, config: ContactConfig, predictor: ContactPredictor | None) -> None:
        """Take new settings with their predictor (`predictor_for(config)`)."""
        self.config, self.predictor = config, predictor

    @property
    def source(self) -> str:
        """The contact source in use: "learned" or "distance" (also after a fallback)."""
        return "learned" if self.predictor is not None else "distance"

    def rule(self, config: ContactConfig | None = None) -> ContactRule:
        """The refinement rounds' contact rule: the predictor, else the distance rule with
        `config`'s (default: the current) distances."""
        return contact_rule(config or self.config, self.body, self.predictor)

    def __call__(self, human: HumanEstimate, obj: ObjectEstimate | None) -> PairContacts:
        """(contacts, penetration depth [m]) of one pair; nothing without an object or a mesh."""
        return self.batch([(human, obj)])[0]

    def batch(self, pairs: list[tuple[HumanEstimate, ObjectEstimate | None]]
              ) -> list[PairContacts]:
        """`__call__` for every pair; the learned predictor runs once per object template."""
        out: list[PairContacts] = [([], 0.0)] * len(pairs)
        groups: dict[tuple, list[int]] = {}
        for i, (human, obj) in enumerate(pairs):
            if obj is not None and human.vertices is not None:
                key = (obj.template_id, obj.class_name,
                       tuple(np.round(np.asarray(obj.extent, float), 4)))  # boxes: per extent
                groups.setdefault(key, []).append(i)
        for (template_id, class_name, extent), rows in groups.items():
            template = self.library.template_for(template_id, extent, class_name)
            humans = [pairs[i][0] for i in rows]
            objects = [pairs[i][1] for i in rows]
            if self.predictor is not None and self.predictor.knows(template):
                estimates = learned_contact_estimates(self.predictor, self.body, humans, objects,
                                                      template, self.config)
            else:
                estimates = [estimate_contacts(h.vertices, self.vertex_ids, self.part_ids,
                                               self.part_names, o, template, self.config)
                             for h, o in zip(humans, objects)]
            for i, est in zip(rows, estimates):
                out[i] = (est.contacts, est.penetration_depth)
        return out
