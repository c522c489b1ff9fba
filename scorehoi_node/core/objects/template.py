"""One object template: mesh, surface keypoints and signed-distance grid in a canonical frame.

Canonical frame (every template): metres, +Y up (as the body model's world up), origin at the
centre of the bottom face of the mesh's axis-aligned bounding box, so the upright object stands
on the plane y = 0. The front of the object faces +Z; a mug's handle points to +X.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import open3d as o3d
import torch

from scorehoi_node.core.objects.sampling import sample_surface
from scorehoi_node.core.objects.sdf import sdf_query

NUM_KEYPOINTS = 64


def _frozen(array: np.ndarray, dtype: type) -> np.ndarray:
    out = np.ascontiguousarray(array, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class ObjectTemplate:
    """A rigid object template (arrays are read-only; compared by identity).

    Attributes:
        id: unique template name, e.g. "mug".
        coco_class: the COCO-80 class name a detector gives for this object, e.g. "cup".
        vertices: (V, 3) float32 mesh vertices, canonical frame, metres.
        faces: (F, 3) int64 vertex indices; the mesh is watertight with outward normals.
        keypoints: (64, 3) float32 surface points from farthest point sampling, canonical frame.
        sdf_grid: (X, Y, Z) float32 signed distances in metres (negative inside) at the nodes
            of a regular grid spanning `sdf_bounds`.
        sdf_bounds: (2, 3) float32 grid box [lo, hi], canonical frame, metres.
        rests_on_floor: True for objects that stand on the floor (stool, table, box); False for
            handheld ones (mug, bottle, ball).
        licence: SPDX licence identifier of the mesh.
        source: where the mesh comes from (package + path + version, or how it was built).
    """

    id: str
    coco_class: str
    vertices: np.ndarray
    faces: np.ndarray
    keypoints: np.ndarray
    sdf_grid: np.ndarray
    sdf_bounds: np.ndarray
    rests_on_floor: bool
    licence: str
    source: str

    def __post_init__(self) -> None:
        for name, dtype, shape in (("vertices", np.float32, (None, 3)),
                                   ("faces", np.int64, (None, 3)),
                                   ("keypoints", np.float32, (NUM_KEYPOINTS, 3)),
                                   ("sdf_bounds", np.float32, (2, 3))):
            value = _frozen(getattr(self, name), dtype)
            if value.ndim != 2 or any(s is not None and s != v for s, v in zip(shape, value.shape)):
                raise ValueError(f"{self.id}: {name} must have shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)
        grid = _frozen(self.sdf_grid, np.float32)
        if grid.ndim != 3 or min(grid.shape) < 2:
            raise ValueError(f"{self.id}: sdf_grid must be (X, Y, Z) with X, Y, Z >= 2")
        if not np.all(self.sdf_bounds[1] > self.sdf_bounds[0]):
            raise ValueError(f"{self.id}: sdf_bounds must be [lo, hi] with hi > lo")
        object.__setattr__(self, "sdf_grid", grid)

    @property
    def extent(self) -> np.ndarray:
        """(3,) float32 size of the axis-aligned bounding box (x, y = height, z), metres."""
        return self.vertices.max(axis=0) - self.vertices.min(axis=0)

    @property
    def sdf_cell_size(self) -> np.ndarray:
        """(3,) float32 spacing of the SDF grid nodes per axis, metres."""
        return (self.sdf_bounds[1] - self.sdf_bounds[0]) / (np.array(self.sdf_grid.shape) - 1)

    def _sdf_tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The SDF grid and bounds as tensors on `device` (built once per device, kept here)."""
        kept = self.__dict__.setdefault("_sdf_on", {})
        if device not in kept:
            kept[device] = (torch.tensor(self.sdf_grid, device=device),
                            torch.tensor(self.sdf_bounds, device=device))
        return kept[device]

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (metres, negative inside) of (B, N, 3) canonical-frame points.

        Returns (B, N) on the points' device, differentiable w.r.t. `points`; see `sdf_query`
        for points off the grid.
        """
        grid, bounds = self._sdf_tensors(points.device)
        return sdf_query(points, grid, bounds)

    # -- exact mesh queries (open3d), built on first use and kept by the template ------------------
    @cached_property
    def raycasting_scene(self) -> o3d.t.geometry.RaycastingScene:
        """open3d `RaycastingScene` of the mesh in the canonical frame: exact closest points, signed
        distances (negative inside: the meshes are watertight with outward normals) and ray casts."""
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(self.vertices.astype(np.float32)),
                            o3d.core.Tensor(self.faces.astype(np.uint32)))
        return scene

    def signed_distance(self, local: np.ndarray) -> np.ndarray:
        """(N,) float64 exact signed distance [m] of (N, 3) canonical-frame points, negative inside."""
        query = o3d.core.Tensor(np.ascontiguousarray(local, dtype=np.float32))
        return self.raycasting_scene.compute_signed_distance(query).numpy().astype(np.float64)

    def closest_points(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest mesh points and their outward face normals of (N, 3) canonical-frame points:
        (N, 3) float64 surface points and (N, 3) float64 unit normals, canonical frame."""
        out = self.raycasting_scene.compute_closest_points(
            o3d.core.Tensor(np.ascontiguousarray(local, dtype=np.float32)))
        return (out["points"].numpy().astype(np.float64),
                out["primitive_normals"].numpy().astype(np.float64))

    def surface_samples(self, count: int) -> np.ndarray:
        """(count, 3) float64 area-uniform surface samples, canonical frame (seed 0; kept per count)."""
        kept = self.__dict__.setdefault("_surface_samples", {})
        if count not in kept:
            kept[count] = sample_surface(self.vertices, self.faces, count,
                                         np.random.default_rng(0))
        return kept[count]

    @classmethod
    def load(cls, path: str | Path) -> "ObjectTemplate":
        """Read a template from an `.npz` written by `scripts/build_object_assets.py`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(id=str(data["id"]), coco_class=str(data["coco_class"]),
                       vertices=data["vertices"], faces=data["faces"],
                       keypoints=data["keypoints"], sdf_grid=data["sdf_grid"],
                       sdf_bounds=data["sdf_bounds"], rests_on_floor=bool(data["rests_on_floor"]),
                       licence=str(data["licence"]), source=str(data["source"]))
