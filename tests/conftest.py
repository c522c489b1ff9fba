"""Shared fixtures. ROS tests use the real middleware in separate processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Running pytest straight from the venv (without make) still finds the interfaces it built.
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
#: device of the device-aware pipeline tests: "cpu" here and in CI; scripts/gpu_check.sh runs
#: them with SCOREHOI_TEST_DEVICE=cuda on a machine with a GPU
TEST_DEVICE = os.environ.get("SCOREHOI_TEST_DEVICE", "cpu")


def _ultralytics_asset(name: str) -> np.ndarray:
    import cv2
    import ultralytics

    path = Path(ultralytics.__file__).parent / "assets" / name
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"missing {path}"
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope="session")
def bus_rgb() -> np.ndarray:
    """A real street photo with four people (810x1080), shipped inside the ultralytics wheel."""
    return _ultralytics_asset("bus.jpg")


@pytest.fixture(scope="session")
def person_640x480(bus_rgb) -> np.ndarray:
    """640x480 RGB crop of `bus.jpg` around the left-most person (full body visible)."""
    import cv2

    crop = bus_rgb[330:930, 0:800]  # 800x600, 4:3
    return np.ascontiguousarray(cv2.resize(crop, (640, 480), interpolation=cv2.INTER_AREA))
