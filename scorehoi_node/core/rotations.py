"""Small rotation helpers on numpy arrays (torch code uses roma)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation taking direction `a` onto direction `b` (any lengths > 0);
    antiparallel directions turn by pi about an axis orthogonal to `a`."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.clip(a @ b, -1.0, 1.0))
    if s < 1e-9:
        if c > 0:
            return np.eye(3)
        ortho = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(ortho) < 1e-6:
            ortho = np.cross(a, [0.0, 1.0, 0.0])
        return Rotation.from_rotvec(np.pi * ortho / np.linalg.norm(ortho)).as_matrix()
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()
