"""The package's layers: every import between areas of `scorehoi_node` goes down the table below
(function-level imports included). A new dependency between areas is a design decision: add it
here with the reason, or move the code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "scorehoi_node"

#: area -> the areas it may import (besides itself). Core areas are `core.<module or package>`.
ALLOWED: dict[str, set[str]] = {
    # foundations: plain data, names, math
    "core.types": set(),
    "core.registry": set(),
    "core.rotations": set(),
    "core.safe_pickle": set(),
    # the one writer / reader of shipped weights (safetensors + metadata): denoiser, contact
    # net, object recogniser
    "core.checkpoints": set(),
    "core.config": {"core.registry"},
    "core.keypoints": {"core.types"},
    "core.geometry": {"core.types"},
    # models and assets
    "core.bodies": {"core.rotations", "core.safe_pickle", "core.types"},
    "core.objects": {"core.types"},
    "core.metrics": {"core.types"},
    # people matching for crowds: the tracker's box IoU (detect/tracking.py, numpy only)
    "core.crowd_metrics": {"core.detect", "core.types"},
    "core.data": {"core.bodies", "core.objects", "core.rotations", "core.safe_pickle",
                  "core.types"},
    # algorithms: detection backends, initial estimates, the diffusion prior, refinement
    # the floor plane from depth (RANSAC, numpy only): used by person proposals, object
    # candidates and the refinement's observation
    "core.floor": {"core.types"},
    "core.detect": {"core.config", "core.floor", "core.geometry", "core.keypoints",
                    "core.objects", "core.types"},
    # estimates build on detections: object candidates split depth into clusters
    # (detect.rgbd_objects) before the recogniser identifies them
    "core.estimate": {"core.bodies", "core.checkpoints", "core.config", "core.detect",
                      "core.floor",
                      "core.geometry", "core.keypoints", "core.objects", "core.rotations",
                      "core.types"},
    "core.diffusion": {"core.bodies", "core.checkpoints", "core.config", "core.data",
                       "core.objects", "core.registry", "core.rotations", "core.types"},
    # every round re-predicts contacts: the learned predictor lives in core.estimate
    "core.refine": {"core.bodies", "core.checkpoints", "core.config", "core.diffusion",
                    "core.estimate", "core.objects", "core.types"},
    # the data engine makes ground truth from models and assets, never from estimates; the
    # recogniser's training inputs (synth.recogniser_data) go through the same candidate search
    # and evidence code as inference (estimate.object_candidates / object_evidence), so that it
    # trains on what it will see (crowd_metrics: the crowd tally bins people by the height the
    # metrics use)
    "core.synth": {"core.bodies", "core.crowd_metrics", "core.data", "core.estimate",
                   "core.geometry",
                   "core.keypoints", "core.metrics", "core.objects", "core.rotations",
                   "core.types"},
    # the pipeline's stages and their wiring
    "core.stages": {"core.bodies", "core.checkpoints", "core.config", "core.detect",
                    "core.diffusion",
                    "core.estimate", "core.floor", "core.geometry", "core.keypoints", "core.objects",
                    "core.refine", "core.registry", "core.rotations", "core.types"},
    "core.pipeline": {"core.bodies", "core.config", "core.objects", "core.stages", "core.types"},
    "core.ablation": {"core.bodies", "core.data", "core.diffusion", "core.metrics",
                      "core.objects", "core.refine", "core.registry", "core.types"},
    "core.viz": {"core.types"},
    # offline tools of the contact predictor: data from the engine, training, and evaluation
    # against the distance rules inside the refinement (the ablation's cases and scores)
    "core.contact_training": {"core.ablation", "core.bodies", "core.checkpoints", "core.config",
                              "core.data", "core.diffusion", "core.estimate", "core.metrics",
                              "core.objects", "core.refine", "core.synth", "core.types"},
}
#: outside the core: the ROS adapter over the core, bags over both, commands over everything
OUTER = {
    # process start-up (console quieting, the node's command line): a leaf every entry point calls
    "startup": set(),
    "ros": {"core", "startup"},
    "bags": {"core", "ros"},
}


def area(module: str) -> str:
    """scorehoi_node.core.estimate.objects -> core.estimate; scorehoi_node.ros.node -> ros."""
    parts = module.split(".")[1:]
    if not parts:
        return ""
    if parts[0] == "core":
        return "core." + parts[1] if len(parts) > 1 else "core"
    return parts[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, int]]:
    """(imported scorehoi_node module, line) of every import in `path`, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            target = names[0]
            if node.module == "scorehoi_node.core":  # `from scorehoi_node.core import metrics`
                target = names[1]
            out.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
    return [(m, line) for m, line in out if m.startswith("scorehoi_node.")]


def violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = area(module_name(path))
        for target, line in imports(path):
            dst = area(target)
            if dst == src or dst == "":
                continue
            if src.startswith("core."):
                ok = dst in ALLOWED.get(src, set())
            elif src in OUTER:
                ok = dst.split(".")[0] in OUTER[src]
            else:  # cli, commands, bench: the top, may use everything
                ok = True
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}:{line} {src} -> {dst} ({target})")
    return bad


def test_every_core_area_is_in_the_table():
    areas = {area(module_name(p)) for p in (PACKAGE / "core").rglob("*.py")} - {"core"}
    assert areas - set(ALLOWED) == set(), "new core area: add it to ALLOWED with its imports"


def test_imports_follow_the_layers():
    assert violations() == []


@pytest.mark.parametrize("src,dst", [
    ("core.estimate", "core.synth"),     # estimates never use the data engine's ground truth
    ("core.bodies", "core.data"),        # body models do not depend on dataset loaders
    ("core.diffusion", "core.estimate"),  # the prior does not depend on the initial estimate
    ("core.detect", "core.stages"),      # backends do not know the pipeline
    ("core.types", "core.config"),
])
def test_known_bad_directions_are_refused(src, dst):
    assert dst not in ALLOWED[src]
