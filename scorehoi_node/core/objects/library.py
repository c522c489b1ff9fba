"""The set of object templates shipped in `assets/`, loaded once per process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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


@lru_cache(maxsize=1)
def load_library() -> ObjectLibrary:
    """The templates shipped with the package (read once, then cached)."""
    return ObjectLibrary.from_dir(ASSET_DIR)
