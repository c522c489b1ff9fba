"""Lighter meshes for RViz markers: a decimated topology computed once per mesh, gathered per frame.

A body model's mesh has a fixed topology (anny: 13 718 vertices, 27 420 triangles), so the
decimation is computed once — quadric decimation of the rest mesh (open3d), each new vertex
snapped to the nearest vertex of the full mesh — and kept as a vertex index map: every frame
only gathers `vertices[vertex_index]`. The decimated mesh's corners are vertices of the posed
full mesh, so it lies on the body within the chord error of its triangles.

Meshes are recognised by their faces array (shape + content), so the cache holds one entry per
body model (and per object template), whatever arrays the frames carry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class DecimatedMesh:
    """A mesh with fewer triangles whose corners are vertices of the full mesh.

    Attributes:
        vertex_index: (V',) int64 indices into the full mesh's vertices.
        faces: (F', 3) int64 indices into `vertex_index` (F' <= the requested count).
    """

    vertex_index: np.ndarray
    faces: np.ndarray

    def triangle_corners(self, vertices: np.ndarray) -> np.ndarray:
        """(3F', 3) float64 corners of the decimated triangles of a posed full mesh
        `vertices` (V, 3): the TRIANGLE_LIST points."""
        return np.asarray(vertices, np.float64)[self.vertex_index][self.faces.reshape(-1)]


def decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int) -> DecimatedMesh:
    """Quadric decimation of (V, 3) `vertices` / (F, 3) `faces` to about `target_faces`
    triangles, corners snapped to the nearest original vertex (triangles that collapse are
    dropped). `target_faces` >= F keeps the mesh as it is."""
    faces = np.asarray(faces, np.int64)
    if target_faces <= 0:
        raise ValueError(f"target_faces={target_faces} must be > 0")
    if target_faces >= len(faces):
        used = np.unique(faces)
        remap = np.full(int(faces.max()) + 1, -1, np.int64)
        remap[used] = np.arange(len(used))
        return DecimatedMesh(used, remap[faces])
    import open3d as o3d  # heavy import kept lazy on purpose: only when a decimation is built

    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
                                     o3d.utility.Vector3iVector(faces.astype(np.int32)))
    small = mesh.simplify_quadric_decimation(int(target_faces))
    _, nearest = cKDTree(vertices).query(np.asarray(small.vertices))
    corners = nearest[np.asarray(small.triangles, np.int64)]
    keep = ((corners[:, 0] != corners[:, 1]) & (corners[:, 1] != corners[:, 2])
            & (corners[:, 0] != corners[:, 2]))
    corners = corners[keep]
    # a triangle that two snapped triangles share is kept once
    _, first = np.unique(np.sort(corners, axis=1), axis=0, return_index=True)
    corners = corners[np.sort(first)]
    used, local = np.unique(corners, return_inverse=True)
    return DecimatedMesh(used.astype(np.int64), local.reshape(-1, 3).astype(np.int64))


class DecimationCache:
    """Decimations by (faces, target): computed on first use, then looked up per frame (a
    key of the faces' shape and a strided sample, confirmed against the stored faces)."""

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[np.ndarray, DecimatedMesh]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(faces: np.ndarray, target: int) -> tuple:
        step = max(1, faces.size // 512)
        return faces.shape, faces.reshape(-1)[::step].tobytes(), int(target)

    def get(self, faces: np.ndarray, target: int, vertices) -> DecimatedMesh:
        """The decimation of the mesh with these `faces` to `target` triangles; on first use
        it is computed from `vertices()` (a callable giving the (V, 3) vertices to decimate,
        e.g. the rest mesh)."""
        faces = np.asarray(faces)
        key = self._key(faces, target)
        entry = self._entries.get(key)
        if entry is not None and np.array_equal(entry[0], faces):
            return entry[1]
        with self._lock:
            mesh = decimate(vertices(), faces, target)
            self._entries[key] = (np.array(faces, copy=True), mesh)
        return mesh


def rest_vertices(body) -> np.ndarray:
    """(V, 3) float64 vertices of a body model in its rest pose with the neutral shape."""
    return body(**body.rest_inputs(1)).vertices[0].detach().double().cpu().numpy()
