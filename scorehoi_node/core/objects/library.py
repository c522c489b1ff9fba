"""The set of object templates shipped in `assets/`, loaded once per process.

Classes the shipped library covers (template id -> COCO class; `ObjectLibrary.for_coco_class`):

| template | COCO class   | typical interaction            |
|----------|--------------|--------------------------------|
| backpack | backpack     | carry, hold                    |
| ball     | sports ball  | hold, kick                     |
| bottle   | bottle       | hold in one hand               |
| box      | suitcase     | carry, lift, hold (a carton)   |
| chair    | chair        | sit                            |
| mug      | cup          | hold in one hand               |
| stool    | chair        | sit                            |
| table    | dining table | push, lean on                  |

Every other class (a detection of a couch, a backpack, ...) and every shape the recogniser calls
"none of the templates" becomes an oriented box of its measured extent with its class
(`objects/box.py`, template id `BOX_TEMPLATE_ID`); `ObjectLibrary.template_for` resolves both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from scorehoi_node.core.objects.box import BOX_TEMPLATE_ID, box_template
from scorehoi_node.core.objects.template import ObjectTemplate

ASSET_DIR = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class ObjectLibrary:
    """An immutable collection of templates with unique ids, in id order."""

    templates: tuple[ObjectTemplate, ...]

    def __post_init__(self) -> None:
        ids = [t.id for t in self.templates]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate template ids in {ids}")

    def __iter__(self) -> Iterator[ObjectTemplate]:
        return iter(self.templates)

    def __len__(self) -> int:
        return len(self.templates)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.templates)

    def by_id(self, template_id: str) -> ObjectTemplate:
        """The template named `template_id`; KeyError listing the known ids otherwise."""
        for template in self.templates:
            if template.id == template_id:
                return template
        raise KeyError(f"unknown object template {template_id!r}; known: {', '.join(self.ids)}")

    def template_for(self, template_id: str, extent=None, class_name: str = "unknown"
                     ) -> ObjectTemplate:
        """The template an estimate refers to: a library template by id, or for
        `BOX_TEMPLATE_ID` the box of `extent` (3,) [m] (an estimate's extent) of `class_name`."""
        if template_id == BOX_TEMPLATE_ID:
            if extent is None:
                raise ValueError(f"template {BOX_TEMPLATE_ID!r} needs the estimate's extent")
            return _box(tuple(round(float(e), 4) for e in np.asarray(extent).reshape(3)),
                        class_name)
        return self.by_id(template_id)

    def for_coco_class(self, name: str) -> list[ObjectTemplate]:
        """Templates a detection of COCO class `name` may be (empty when none)."""
        return [t for t in self.templates if t.coco_class == name]

    @classmethod
    def from_dir(cls, directory: str | Path) -> "ObjectLibrary":
        """Load every `*.npz` template in `directory`."""
        paths = sorted(Path(directory).glob("*.npz"))
        if not paths:
            raise FileNotFoundError(f"no object templates (*.npz) in {directory}")
        return cls(tuple(sorted((ObjectTemplate.load(p) for p in paths), key=lambda t: t.id)))


@lru_cache(maxsize=64)
def _box(extent: tuple[float, float, float], class_name: str) -> ObjectTemplate:
    """Box templates by extent (rounded to 0.1 mm) and class, kept for the frames that reuse
    them (contacts, refinement and messages of one object)."""
    return box_template(np.asarray(extent), class_name)


@lru_cache(maxsize=1)
def load_library() -> ObjectLibrary:
    """The templates shipped with the package (read once, then cached)."""
    return ObjectLibrary.from_dir(ASSET_DIR)
