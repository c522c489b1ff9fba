"""Components chosen by name: person detectors, object sources, guidance terms.

Each registry maps a name to the dotted path of the class (or factory) that implements it, so
this module imports nothing and configuration can validate names without loading torch,
mediapipe or ultralytics; `Registry.get` imports the member on first use. Adding a component is
one file (the class, following the registry's protocol) plus one line here; the contract tests
(`tests/core/test_registry.py`) build and check every member.

    person detector  `core/stages/persons.py` `PersonDetector`: rgb image -> `Detections`;
                     built by `cls.from_config(config: PipelineConfig)`
    object source    `core/stages/object_sources.py` `ObjectSource`: frame + persons ->
                     `ObjectCandidate`s; built by `cls.from_config(config, library)`
    guidance term    `core/diffusion/guidance/base.py` `GuidanceTerm`: reconstruction +
                     observation -> (B,) loss; built by `cls(**options)`, class attributes
                     `name` and `default_weight`
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


class Registry:
    """An immutable name -> "package.module:Attribute" table of one kind of component.

    Args:
        kind: what the members are, for messages ("person detector").
        members: name -> dotted path `module:attribute` (attribute may be dotted, e.g. a
            classmethod `Class.factory`).
    """

    def __init__(self, kind: str, members: Mapping[str, str]) -> None:
        for name, path in members.items():
            if ":" not in path:
                raise ValueError(f"{kind} {name!r}: path {path!r} must be 'module:attribute'")
        self.kind = kind
        self._members = dict(members)

    def names(self) -> tuple[str, ...]:
        """Member names, in registration order."""
        return tuple(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def check(self, name: str, what: str | None = None) -> None:
        """ValueError naming `what` (default: the kind) and the choices unless `name` is a member."""
        if name not in self._members:
            raise ValueError(f"{what or self.kind}={name!r} is not one of "
                             f"{', '.join(self._members)}")

    def get(self, name: str) -> Any:
        """The member's class or factory (imported on first use; ValueError for unknown names)."""
        self.check(name)
        module, _, attribute = self._members[name].partition(":")
        obj: Any = importlib.import_module(module)
        for part in attribute.split("."):
            obj = getattr(obj, part)
        return obj


PERSON_DETECTORS = Registry("person detector", {
    "mediapipe": "scorehoi_node.core.detect.mediapipe_pose:MediaPipePoseDetector",
})

OBJECT_SOURCES = Registry("object source", {
    "rgbd": "scorehoi_node.core.stages.object_sources:RGBDSource",
    "ultralytics": "scorehoi_node.core.stages.object_sources:UltralyticsSource",
    "external": "scorehoi_node.core.stages.object_sources:ExternalSource",
    "none": "scorehoi_node.core.stages.object_sources:NoSource",
})

GUIDANCE_TERMS = Registry("guidance term", {
    "contact": "scorehoi_node.core.diffusion.guidance.contact:ContactGuidance",
    "penetration": "scorehoi_node.core.diffusion.guidance.penetration:PenetrationGuidance",
    "object_floor": "scorehoi_node.core.diffusion.guidance.object_floor:ObjectFloorGuidance",
    "human_floor": "scorehoi_node.core.diffusion.guidance.human_floor:HumanFloorGuidance",
    "reprojection": "scorehoi_node.core.diffusion.guidance.reprojection:ReprojectionGuidance",
    "mask": "scorehoi_node.core.diffusion.guidance.mask:MaskGuidance",
    "depth": "scorehoi_node.core.diffusion.guidance.depth:DepthGuidance",
})
