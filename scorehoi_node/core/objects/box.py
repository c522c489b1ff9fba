"""An oriented box as an object template: what an object of no library template becomes.

The library covers the classes of its templates (`ObjectLibrary.for_coco_class`); a detection of
another class (a couch) or a shape the recogniser calls "other" is published as a box of its
measured extent with the detector's class, never as another class's template. The box is a full
`ObjectTemplate` (mesh, keypoints, analytic signed-distance grid), so contacts, penetration and
refinement treat it like any template. Canonical frame as every template: +Y up, origin at the
centre of the bottom face.
"""

from __future__ import annotations

import numpy as np

from scorehoi_node.core.objects.sampling import farthest_point_sampling, sample_surface
from scorehoi_node.core.objects.template import NUM_KEYPOINTS, ObjectTemplate

#: template id of every fitted box (the extent and class travel with the estimate)
BOX_TEMPLATE_ID = "oriented_box"
#: grid nodes along the longest side of the (padded) box
_GRID_NODES = 24
_FACES = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                   [2, 3, 7], [2, 7, 6], [1, 2, 6], [1, 6, 5], [0, 4, 7], [0, 7, 3]])


def box_sdf(points: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """(N,) exact signed distance [m] (negative inside) of (N, 3) canonical-frame points to a
    box of `extent` (3,) standing on y = 0, centred on the y axis."""
    half = 0.5 * np.asarray(extent, np.float64)
    q = np.abs(np.asarray(points, np.float64) - [0.0, half[1], 0.0]) - half
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(1), 0.0)


def box_template(extent: np.ndarray, class_name: str = "unknown",
                 min_side_m: float = 0.02) -> ObjectTemplate:
    """A box template of `extent` (x, y = height, z) [m] (sides below `min_side_m` are raised
    to it) for the detector class `class_name`; rests on the floor."""
    e = np.maximum(np.asarray(extent, np.float64).reshape(3), min_side_m)
    if not np.all(np.isfinite(e)):
        raise ValueError(f"box extent must be finite, got {extent}")
    hx, hz = e[0] / 2, e[2] / 2
    vertices = np.array([[-hx, 0, -hz], [hx, 0, -hz], [hx, 0, hz], [-hx, 0, hz],
                         [-hx, e[1], -hz], [hx, e[1], -hz], [hx, e[1], hz], [-hx, e[1], hz]])
    rng = np.random.default_rng(0)
    surface = sample_surface(vertices, _FACES, 2000, rng)
    keypoints = surface[farthest_point_sampling(surface, NUM_KEYPOINTS)]
    pad = 0.1 * e.max() + 0.02
    lo = np.array([-hx, 0.0, -hz]) - pad
    hi = np.array([hx, e[1], hz]) + pad
    cell = (hi - lo).max() / (_GRID_NODES - 1)
    counts = np.maximum(np.ceil((hi - lo) / cell).astype(int) + 1, 2)
    hi = lo + (counts - 1) * cell
    axes = [np.linspace(lo[k], hi[k], counts[k]) for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    sdf = box_sdf(grid, e).reshape(*counts)
    return ObjectTemplate(id=BOX_TEMPLATE_ID, coco_class=class_name, vertices=vertices,
                          faces=_FACES, keypoints=keypoints, sdf_grid=sdf,
                          sdf_bounds=np.stack([lo, hi]), rests_on_floor=True,
                          licence="Apache-2.0", source="oriented box fitted to the evidence")
