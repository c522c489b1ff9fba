"""Shared by the data-engine tests: the anny body model and its synth context (built once per
module that uses them)."""

from __future__ import annotations

import pytest

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.frames import SynthContext


@pytest.fixture(scope="module")
def body():
    return make_body_model("anny")


@pytest.fixture(scope="module")
def context(body):
    return SynthContext.from_body(body, load_library())
