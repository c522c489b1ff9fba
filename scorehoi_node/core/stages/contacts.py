"""Contacts stage: the contacts and penetration depth of one person-object pair."""

from __future__ import annotations

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.estimate.contacts import estimate_contacts
from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.types import Contact, HumanEstimate, ObjectEstimate


class ContactStage:
    """Signed distances of the body's contact subset to the placed template: contact probability
    sigmoid((threshold - d) / scale) per vertex, `Contact`s where it is >= 0.5, and the deepest
    body vertex inside the object (`estimate/contacts.py`)."""

    def __init__(self, body: BodyModel, library: ObjectLibrary, config: ContactConfig) -> None:
        self.library = library
        self.config = config
        self.vertex_ids = body.contact_vertex_ids.cpu().numpy()
        self.part_ids = body.contact_part_ids.cpu().numpy()
        self.part_names = body.contact_part_names

    def __call__(self, human: HumanEstimate, obj: ObjectEstimate | None
                 ) -> tuple[list[Contact], float]:
        """(contacts, penetration depth [m]); nothing without an object or a body mesh."""
        if obj is None or human.vertices is None:
            return [], 0.0
        est = estimate_contacts(human.vertices, self.vertex_ids, self.part_ids, self.part_names,
                                obj, self.library.by_id(obj.template_id), self.config)
        return est.contacts, est.penetration_depth
