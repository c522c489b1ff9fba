"""Clearance between the people of a crowd: how far apart two people (each with their object,
if any) are, from exact point-to-mesh distances.

Method (world frame, metres): each person is a set of closed meshes (the body; the object
template placed) and a set of dense surface points (the body's vertices; the object's vertices
after subdividing its triangles to edges <= `OBJECT_SPACING_M`). The clearance of two people is
the smallest signed distance of either one's points to the other's meshes (open3d: exact
point-to-triangle distance, sign from ray-parity occupancy, negative inside). Both meshes
are watertight, so a point inside is found by its occupancy; and because every surface point
lies within `coverage` of one of the points (the body mesh: <= 2.8 cm, measured over the
anny rest mesh; objects: <= 1.2 cm after subdivision), two surfaces that intersect leave a
point within `coverage` of the other surface. So `clearance >= gap` with `gap` above the
coverage proves that the meshes neither intersect nor contain each other; the crowd generator
demands `gap` >= `MIN_GAP_M`.

Broad phase: the footprint circle of a person (horizontal circle around all their points); two
people whose circles are farther apart than the gap are clear without any exact query, and
exact queries only look at points inside the other person's bounding box grown by the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import trimesh

from scorehoi_node.core.objects import ObjectLibrary
from scorehoi_node.core.synth.scene import HOIScene

#: object triangles are subdivided to edges at most this long [m] for the point set
OBJECT_SPACING_M = 0.02
#: smallest gap the clearance test may be asked to prove (body point coverage 2.8 cm at rest,
#: a margin for posed meshes) [m]
MIN_GAP_M = 0.04


@dataclass(frozen=True)
class Footprint:
    """Horizontal circle around a person and their object (world x/z, metres).

    Attributes:
        centre: (2,) float64 (x, z) centre.
        radius: radius [m].
    """

    centre: np.ndarray
    radius: float

    def apart(self, other: "Footprint") -> float:
        """Gap between the two circles [m] (negative when they overlap)."""
        return float(np.linalg.norm(self.centre - other.centre)) - self.radius - other.radius


class ClearanceChecker:
    """Exact clearance between people of crowd scenes (one body model, one object library).

    Args:
        faces: (F, 3) int body mesh triangles.
        library: object templates the scenes refer to.
    """

    def __init__(self, faces: np.ndarray, library: ObjectLibrary) -> None:
        self.faces = np.ascontiguousarray(faces, np.uint32)
        self.library = library
        self._object_points: dict[str, np.ndarray] = {}  # template id -> (N, 3) canonical frame

    # -- per person ---------------------------------------------------------------------------
    def object_points(self, template_id: str) -> np.ndarray:
        """(N, 3) float64 dense surface points of a template (canonical frame): its vertices
        after subdividing every triangle to edges <= `OBJECT_SPACING_M`."""
        pts = self._object_points.get(template_id)
        if pts is None:
            tmpl = self.library.by_id(template_id)
            pts, _ = trimesh.remesh.subdivide_to_size(tmpl.vertices.astype(np.float64),
                                                      tmpl.faces, max_edge=OBJECT_SPACING_M,
                                                      max_iter=20)
            self._object_points[template_id] = pts
        return pts

    def points(self, scene: HOIScene) -> np.ndarray:
        """(N, 3) float64 world points covering the person's body and object surfaces."""
        body = scene.human_vertices.astype(np.float64)
        if not scene.has_object:
            return body
        local = self.object_points(scene.object_id)
        world = local @ scene.object_rotmat.astype(np.float64).T + scene.object_transl
        return np.concatenate([body, world])

    def footprint(self, scene: HOIScene) -> Footprint:
        xz = self.points(scene)[:, [0, 2]]
        centre = 0.5 * (xz.min(0) + xz.max(0))
        return Footprint(centre, float(np.linalg.norm(xz - centre, axis=1).max()))

    # -- pairs --------------------------------------------------------------------------------
    def clearance(self, a: HOIScene, b: HOIScene, gap: float) -> float:
        """Smallest signed distance [m] between two people (bodies and objects), exact where it
        is below `gap`; any value >= `gap` means "at least `gap` apart" (not exact)."""
        if self.footprint(a).apart(self.footprint(b)) >= gap:
            return float(gap)
        return min(self._one_way(a, b, gap), self._one_way(b, a, gap))

    def _one_way(self, a: HOIScene, b: HOIScene, gap: float) -> float:
        """Smallest signed distance of `a`'s points to `b`'s meshes (>= gap: clear)."""
        pts = self.points(a)
        best = float(gap)
        for vertices, faces, to_local in self._meshes(b):
            local = to_local(pts)
            lo, hi = vertices.min(0) - gap, vertices.max(0) + gap
            near = local[np.all((local > lo) & (local < hi), axis=1)]
            if len(near):
                best = min(best, float(_signed_distance(vertices, faces, near).min()))
        return best

    def _meshes(self, scene: HOIScene):
        """(vertices, faces, world -> mesh frame) of the body (world frame) and the object
        (its template's canonical frame)."""
        yield (scene.human_vertices.astype(np.float64), self.faces, lambda p: p)
        if scene.has_object:
            tmpl = self.library.by_id(scene.object_id)
            R = scene.object_rotmat.astype(np.float64)
            t = scene.object_transl.astype(np.float64)
            yield (tmpl.vertices.astype(np.float64), np.asarray(tmpl.faces, np.uint32),
                   lambda p: (p - t) @ R)


def _signed_distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N,) exact distance of `points` to a closed mesh, negative inside (occupancy by ray
    parity), float64 [m]."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)),
                        o3d.core.Tensor(np.asarray(faces, np.uint32)))
    query = o3d.core.Tensor(points.astype(np.float32))
    dist = scene.compute_distance(query).numpy().astype(np.float64)
    inside = scene.compute_occupancy(query).numpy() > 0.5
    return np.where(inside, -dist, dist)
