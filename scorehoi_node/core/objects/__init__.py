"""Object template library: meshes, canonical frames, surface keypoints and SDF grids.

Every template lives in its own canonical frame: metres, +Y up, origin at the centre of the
bottom face of the axis-aligned bounding box, so the object stands upright on the plane y = 0
(the same convention for floor and handheld objects). Assets are precomputed by
`scripts/build_object_assets.py`; their licences are recorded in `assets/LICENSES.md`.
"""

from __future__ import annotations

from scorehoi_node.core.objects.library import ObjectLibrary, load_library
from scorehoi_node.core.objects.sampling import farthest_point_sampling, sample_surface
from scorehoi_node.core.objects.sdf import sdf_query
from scorehoi_node.core.objects.template import NUM_KEYPOINTS, ObjectTemplate

__all__ = [
    "NUM_KEYPOINTS",
    "ObjectLibrary",
    "ObjectTemplate",
    "farthest_point_sampling",
    "load_library",
    "sample_surface",
    "sdf_query",
]
