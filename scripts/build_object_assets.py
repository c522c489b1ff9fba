#!/usr/bin/env python3
"""Build the object template assets in `scorehoi_node/core/objects/assets/`.

Every mesh is built procedurally here (our own work, Apache-2.0, like the rest of the project)
at real-world scale, then stored with its precomputed 64 farthest-point surface keypoints and a
signed-distance grid, one `<id>.npz` per object, and `LICENSES.md` is rewritten to match.

Canonical frame: metres, +Y up, origin at the centre of the bounding box's bottom face, front
towards +Z (see `scorehoi_node/core/objects/template.py`).

Build-time needs (not run-time): trimesh, open3d (signed distances) and manifold3d (robust CSG
unions; `pip install manifold3d`). The output is deterministic.

    python scripts/build_object_assets.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open3d as o3d
import trimesh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scorehoi_node.core.objects import (NUM_KEYPOINTS, farthest_point_sampling,  # noqa: E402
                                        sample_surface)

try:
    import manifold3d
except ImportError as exc:  # pragma: no cover - build-time only
    raise SystemExit("build_object_assets.py needs manifold3d: pip install manifold3d") from exc

DENSE_SAMPLES = 20_000  # surface points that farthest point sampling picks the keypoints from
GRID_NODES = 48         # SDF grid nodes along the longest axis of the padded box
MAX_FACES = 3000
Z_UP_TO_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # z -> y, y -> -z


# --------------------------------------------------------------------------- primitives

def union(*meshes: trimesh.Trimesh) -> trimesh.Trimesh:
    """Exact CSG union of closed meshes (manifold3d)."""
    parts = [manifold3d.Manifold(manifold3d.Mesh(
        vert_properties=np.ascontiguousarray(m.vertices, dtype=np.float32),
        tri_verts=np.ascontiguousarray(m.faces, dtype=np.uint32))) for m in meshes]
    out = manifold3d.Manifold.batch_boolean(parts, manifold3d.OpType.Add).to_mesh()
    return trimesh.Trimesh(out.vert_properties[:, :3], out.tri_verts)


def revolve_y(profile: list[tuple[float, float]], sections: int) -> trimesh.Trimesh:
    """Solid of revolution about +Y of a closed (radius, height) profile, metres."""
    return trimesh.creation.revolve(np.asarray(profile, float), sections=sections).apply_transform(
        Z_UP_TO_Y_UP)


def box(size: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=size).apply_translation(centre)


def tube(path: np.ndarray, binormal: np.ndarray, half_width: float, half_height: float,
         sections: int = 12) -> trimesh.Trimesh:
    """Closed tube of elliptic cross-section swept along a planar (K, 3) path.

    `binormal` is the unit normal of the path's plane; the cross-section has half-axis
    `half_width` in the plane and `half_height` along `binormal`. Both ends are capped.
    """
    k = len(path)
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    b = np.broadcast_to(binormal, tangent.shape)
    n = np.cross(b, tangent)
    theta = np.linspace(0.0, 2 * np.pi, sections, endpoint=False)
    ring = (half_width * np.cos(theta)[None, :, None] * n[:, None]
            + half_height * np.sin(theta)[None, :, None] * b[:, None])
    vertices = np.vstack([(path[:, None] + ring).reshape(-1, 3), path[0], path[-1]])
    j, jn = np.arange(sections), (np.arange(sections) + 1) % sections
    rows = [r * sections for r in range(k - 1)]
    faces = [np.c_[r + j, r + sections + j, r + jn] for r in rows]
    faces += [np.c_[r + jn, r + sections + j, r + sections + jn] for r in rows]
    start, end = k * sections, k * sections + 1
    faces += [np.c_[np.full(sections, start), j, jn],
              np.c_[np.full(sections, end), (k - 1) * sections + jn, (k - 1) * sections + j]]
    mesh = trimesh.Trimesh(vertices, np.vstack(faces))
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def superellipsoid(half: tuple[float, float, float], power: float) -> trimesh.Trimesh:
    """Rounded box |x/a|^p + |y/b|^p + |z/c|^p = 1 (a star-shaped warp of an icosphere)."""
    sphere = trimesh.creation.icosphere(subdivisions=3)
    d = sphere.vertices
    scale = np.sum(np.abs(d / np.asarray(half)) ** power, axis=1) ** (-1.0 / power)
    return trimesh.Trimesh(d * scale[:, None], sphere.faces)


# --------------------------------------------------------------------------- the objects

def mug() -> trimesh.Trimesh:
    """Ceramic mug: 8.2 cm diameter, 9.5 cm tall, 4.5 mm wall, C-shaped handle towards +X."""
    r_out, r_in, height, base = 0.041, 0.0365, 0.095, 0.007
    body = revolve_y([(0, 0), (r_out - 0.003, 0), (r_out, 0.003), (r_out, height),
                      (r_in, height), (r_in, base), (0, base)], sections=48)
    y_top, y_bottom, reach = 0.078, 0.024, 0.012
    x_wall = r_out - 0.002  # handle ends sit inside the wall, not in the cavity
    radius = 0.5 * (y_top - y_bottom)
    angle = np.linspace(np.pi / 2, -np.pi / 2, 17)
    arc = np.c_[r_out + reach + 0.7 * radius * np.cos(angle), 0.5 * (y_top + y_bottom)
                + radius * np.sin(angle), np.zeros_like(angle)]
    lead = np.linspace(x_wall, r_out + reach, 5)[:-1]
    path = np.vstack([np.c_[lead, np.full(4, y_top), np.zeros(4)], arc,
                      np.c_[lead[::-1], np.full(4, y_bottom), np.zeros(4)]])
    return union(body, tube(path, np.array([0.0, 0.0, 1.0]), 0.0045, 0.007))


def bottle() -> trimesh.Trimesh:
    """0.5 l water bottle (closed solid): 6.6 cm diameter, 22.5 cm tall with its cap."""
    r_body, r_neck = 0.033, 0.0125
    t = np.linspace(0.0, 1.0, 8)
    shoulder = [(r_neck + (r_body - r_neck) * 0.5 * (1 + np.cos(np.pi * s)), 0.15 + 0.04 * s)
                for s in t]
    profile = ([(0, 0), (r_body - 0.004, 0), (r_body, 0.004)] + shoulder
               + [(r_neck, 0.203), (0.015, 0.203), (0.015, 0.225), (0, 0.225)])
    return revolve_y(profile, sections=32)


def ball() -> trimesh.Trimesh:
    """Size-5 football: 22 cm diameter."""
    return trimesh.creation.icosphere(subdivisions=3, radius=0.11)


def box_() -> trimesh.Trimesh:
    """Closed cardboard moving box: 40 cm wide, 30 cm tall, 30 cm deep."""
    return trimesh.creation.box(extents=(0.40, 0.30, 0.30))


def stool() -> trimesh.Trimesh:
    """Four-legged round stool: 32 cm seat, 46 cm tall, slightly splayed 3.2 cm legs."""
    seat = revolve_y([(0, 0.43), (0.155, 0.43), (0.16, 0.435), (0.16, 0.455), (0.155, 0.46),
                      (0, 0.46)], sections=32)
    legs = [trimesh.creation.cylinder(radius=0.016, sections=12, segment=[
        [0.14 * np.cos(a), 0.0, 0.14 * np.sin(a)], [0.11 * np.cos(a), 0.44, 0.11 * np.sin(a)]])
        for a in np.pi / 4 + np.arange(4) * np.pi / 2]
    rungs = [trimesh.creation.cylinder(radius=0.009, sections=10, segment=[
        [0.13 * np.cos(a), 0.16, 0.13 * np.sin(a)], [0.13 * np.cos(a + np.pi / 2), 0.16,
                                                    0.13 * np.sin(a + np.pi / 2)]])
        for a in np.pi / 4 + np.arange(4) * np.pi / 2]
    return union(seat, *legs, *rungs)


def chair() -> trimesh.Trimesh:
    """Wooden dining chair: 42 x 42 cm seat at 45 cm, backrest to 88 cm at the rear (-Z)."""
    w, leg, height = 0.42, 0.035, 0.88
    c = 0.5 * (w - leg) - 0.005  # legs stand 5 mm inside the seat edge
    parts = [box((w, 0.03, w), (0, 0.435, 0))]
    parts += [box((leg, 0.44, leg), (sx * c, 0.22, c)) for sx in (-1, 1)]
    parts += [box((leg, height, leg), (sx * c, height / 2, -c)) for sx in (-1, 1)]
    parts += [box((2 * c, 0.14, 0.02), (0, 0.79, -c)), box((2 * c, 0.04, 0.02), (0, 0.6, -c))]
    return union(*parts)


def table() -> trimesh.Trimesh:
    """Small dining table: 80 x 60 cm top, 74 cm tall, 5 cm legs with aprons."""
    w, d, h, leg, top = 0.80, 0.60, 0.74, 0.05, 0.03
    parts = [box((w, top, d), (0, h - top / 2, 0))]
    cx, cz = w / 2 - 0.03 - leg / 2, d / 2 - 0.03 - leg / 2
    parts += [box((leg, h - top + 0.005, leg), (sx * cx, (h - top + 0.005) / 2, sz * cz))
              for sx in (-1, 1) for sz in (-1, 1)]
    parts += [box((2 * cx, 0.08, 0.02), (0, h - top - 0.04, sz * cz)) for sz in (-1, 1)]
    parts += [box((0.02, 0.08, 2 * cz), (sx * cx, h - top - 0.04, 0)) for sx in (-1, 1)]
    return union(*parts)


def backpack() -> trimesh.Trimesh:
    """Daypack: rounded body 30 x 42 x 16 cm with a carry loop on top (47 cm tall in all)."""
    body = superellipsoid((0.15, 0.21, 0.08), power=4.0).apply_translation((0, 0.21, 0))
    angle = np.linspace(np.pi, 0.0, 15)
    path = np.c_[0.045 * np.cos(angle), 0.405 + 0.05 * np.sin(angle), np.zeros_like(angle)]
    path[[0, -1], 1] = 0.395  # ends sink into the body
    return union(body, tube(path, np.array([0.0, 0.0, 1.0]), 0.007, 0.012))


@dataclass(frozen=True)
class Spec:
    id: str
    coco_class: str
    rests_on_floor: bool
    build: Callable[[], trimesh.Trimesh]
    note: str = ""


SPECS = (
    Spec("mug", "cup", False, mug),
    Spec("bottle", "bottle", False, bottle),
    Spec("ball", "sports ball", False, ball),
    Spec("box", "suitcase", True, box_,
         "COCO-80 has no box class; closed boxes are most often detected as suitcase"),
    Spec("stool", "chair", True, stool, "COCO-80 has no stool class; stools are labelled chair"),
    Spec("chair", "chair", True, chair),
    Spec("table", "dining table", True, table),
    Spec("backpack", "backpack", True, backpack),
)
LICENCE = "Apache-2.0"


# --------------------------------------------------------------------------- derived data

def canonical(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Clean a closed mesh and move the origin to its bounding-box bottom centre."""
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    lo, hi = mesh.bounds
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -lo[1], -(lo[2] + hi[2]) / 2])
    if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0):
        raise RuntimeError("mesh is not a closed, consistently oriented solid")
    if len(mesh.faces) > MAX_FACES:
        raise RuntimeError(f"{len(mesh.faces)} faces > {MAX_FACES}")
    return mesh


def signed_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Exact signed distance (metres, negative inside) of (N, 3) points to a closed mesh."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                        o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    query = o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float32))
    return scene.compute_signed_distance(query, nsamples=3).numpy()


def sdf_grid(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Signed distances on a regular grid with cubic cells around the mesh.

    The box is the bounding box padded by max(2 cm, 10 % of the largest size) per side, with
    GRID_NODES nodes along its longest axis. Returns (X, Y, Z) float32 distances and (2, 3)
    bounds [lo, hi].
    """
    lo, hi = mesh.bounds
    pad = max(0.02, 0.1 * float(np.max(hi - lo)))
    lo, hi = lo - pad, hi + pad
    cell = float(np.max(hi - lo)) / (GRID_NODES - 1)
    nodes = np.ceil((hi - lo) / cell).astype(int) + 1
    centre = 0.5 * (lo + hi)
    lo, hi = centre - 0.5 * (nodes - 1) * cell, centre + 0.5 * (nodes - 1) * cell
    axes = [np.linspace(lo[i], hi[i], nodes[i]) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return (signed_distance(mesh, points).reshape(nodes).astype(np.float32),
            np.stack([lo, hi]).astype(np.float32))


def keypoints(mesh: trimesh.Trimesh, seed: int) -> np.ndarray:
    """64 farthest-point samples of a dense seeded surface sample, (64, 3) float32."""
    rng = np.random.default_rng(seed)
    dense = sample_surface(mesh.vertices, mesh.faces, DENSE_SAMPLES, rng)
    start = int(rng.integers(len(dense)))
    return dense[farthest_point_sampling(dense, NUM_KEYPOINTS, start)].astype(np.float32)


def write_licences(out: Path, rows: list[tuple[str, Spec]]) -> None:
    lines = [
        "# Object template assets: licences",
        "",
        "Written by `scripts/build_object_assets.py` together with the assets. Every mesh here is",
        "built procedurally by that script (our own work) and is licensed like the project,",
        "Apache-2.0; no third-party mesh is shipped. Each `.npz` holds the mesh (metres, +Y up,",
        "origin at the bounding-box bottom centre), 64 farthest-point surface keypoints and a",
        "signed-distance grid (metres, negative inside) computed with open3d.",
        "",
        "| file | source (package, path, version) | licence | attribution | modifications |",
        "|---|---|---|---|---|",
    ]
    for name, spec in rows:
        note = f"; {spec.note}" if spec.note else ""
        lines.append(f"| {name} | procedural: scorehoi_node `scripts/build_object_assets.py` "
                     f"`{spec.build.__name__}()`, scorehoi_node 0.1.0 | {LICENCE} | "
                     f"ScoreHOI node maintainers (own work) | none (original); COCO class "
                     f"`{spec.coco_class}`{note} |")
    (out / "LICENSES.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=ROOT / "scorehoi_node" / "core" / "objects" / "assets")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in SPECS:
        mesh = canonical(spec.build())
        grid, bounds = sdf_grid(mesh)
        name = f"{spec.id}.npz"
        np.savez_compressed(
            args.out / name, id=spec.id, coco_class=spec.coco_class,
            rests_on_floor=spec.rests_on_floor, licence=LICENCE,
            source=f"procedural: scripts/build_object_assets.py {spec.build.__name__}()",
            vertices=mesh.vertices.astype(np.float32), faces=mesh.faces.astype(np.int32),
            keypoints=keypoints(mesh, zlib.crc32(spec.id.encode())), sdf_grid=grid,
            sdf_bounds=bounds)
        rows.append((name, spec))
        print(f"{name}: {len(mesh.faces)} faces, extent {np.round(mesh.extents, 3)} m, "
              f"grid {grid.shape}, {(args.out / name).stat().st_size / 1024:.0f} KiB")
    write_licences(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
