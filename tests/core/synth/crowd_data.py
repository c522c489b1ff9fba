"""Shared crowd test data (drawn once per test process) and exact geometry written here with
numpy only, independent of the open3d queries the generator uses."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.crowd import CrowdConfig, CrowdGenerator
from scorehoi_node.core.synth.crowd_frames import crowd_frames
from scorehoi_node.core.synth.frames import SynthContext
from scorehoi_node.core.synth.generator import SceneGenerator
from scorehoi_node.core.synth.render import Renderer

#: crowds of 3-4 people, small images; interactions whose scenes the generator draws quickly
CONFIG = CrowdConfig(min_people=3, max_people=4, seq_len=2, width=320, height=240,
                     no_object_fraction=0.4, interactions=("hold_one_hand", "nearby", "kick_ball"))
SEED = 21


@lru_cache(maxsize=1)
def body_and_context():
    body = make_body_model("anny")
    return body, SynthContext.from_body(body, load_library())


def make_generator(config: CrowdConfig = CONFIG) -> CrowdGenerator:
    body, context = body_and_context()
    return CrowdGenerator(SceneGenerator(body, context.library), config)


@lru_cache(maxsize=4)
def crowd_stream(n: int = 4, seed: int = SEED, config: CrowdConfig = CONFIG):
    """(generator, frames) of `crowd_frames(n, seed)` with `config`."""
    _, context = body_and_context()
    generator = make_generator(config)
    renderer = Renderer(config.width, config.height)
    try:
        frames = list(crowd_frames(n, seed, generator=generator, context=context,
                                   renderer=renderer))
    finally:
        renderer.close()
    return generator, frames


# -- exact geometry (numpy) ---------------------------------------------------------------------
def closest_points_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray,
                                c: np.ndarray) -> np.ndarray:
    """Closest point of triangle (a_i, b_i, c_i) to p_i, all (N, 3) (Ericson, Real-Time
    Collision Detection, 5.1.5: Voronoi regions of vertices, edges and the face)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = va + vb + vc
    safe = lambda x: np.where(np.abs(x) > 1e-18, x, 1e-18)  # noqa: E731
    v = vb / safe(denom)
    w = vc / safe(denom)
    out = a + ab * v[:, None] + ac * w[:, None]  # inside the face
    cases = [  # later cases take precedence (regions are disjoint, order of Ericson's tests)
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
         b + ((d4 - d3) / safe((d4 - d3) + (d5 - d6)))[:, None] * (c - b)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + (d2 / safe(d2 - d6))[:, None] * ac),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + (d1 / safe(d1 - d3))[:, None] * ab),
        ((d6 >= 0) & (d5 <= d6), c),
        ((d3 >= 0) & (d4 <= d3), b),
        ((d1 <= 0) & (d2 <= 0), a),
    ]
    for mask, value in cases:
        out = np.where(mask[:, None], value, out)
    return out


def winding_numbers(points: np.ndarray, triangles: np.ndarray, chunk: int = 8) -> np.ndarray:
    """(N,) generalised winding number of each point w.r.t. a closed mesh (T, 3, 3) (van
    Oosterom & Strackee solid angles): ~1 inside, ~0 outside."""
    out = np.zeros(len(points))
    for s in range(0, len(points), chunk):
        v = triangles[None] - points[s:s + chunk, None, None, :]  # (n, T, 3, 3)
        a, b, c = v[:, :, 0], v[:, :, 1], v[:, :, 2]
        la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
        det = (a * np.cross(b, c)).sum(2)
        den = (la * lb * lc + (a * b).sum(2) * lc + (a * c).sum(2) * lb + (b * c).sum(2) * la)
        out[s:s + chunk] = (2 * np.arctan2(det, den)).sum(1) / (4 * np.pi)
    return out


def _point_triangle_distances(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(N, T) exact distances of every point to every triangle (T, 3, 3)."""
    out = np.empty((len(points), len(tri)))
    step = max(1, 400_000 // max(len(tri), 1))
    for s in range(0, len(points), step):
        p = np.repeat(points[s:s + step], len(tri), axis=0)
        t = np.tile(tri, (len(points[s:s + step]), 1, 1))
        d = np.linalg.norm(closest_points_on_triangles(p, t[:, 0], t[:, 1], t[:, 2]) - p, axis=1)
        out[s:s + step] = d.reshape(-1, len(tri))
    return out


def mesh_distance(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray,
                  cutoff: float, k: int = 24) -> np.ndarray:
    """(N,) exact unsigned distance of points to a triangle mesh where it is below `cutoff`
    (`cutoff` elsewhere). Small meshes: every triangle; large ones: the k triangles with the
    nearest centroids, exact when the nearest distance found is at most the k-th centroid
    distance less the largest centroid-to-vertex radius (else all triangles within reach)."""
    tri = vertices[faces]
    out = np.full(len(points), float(cutoff))
    lo, hi = vertices.min(0) - cutoff, vertices.max(0) + cutoff
    near = np.flatnonzero(np.all((points > lo) & (points < hi), axis=1))
    if not len(near):
        return out
    if len(tri) <= 4000:
        out[near] = np.minimum(_point_triangle_distances(points[near], tri).min(1), cutoff)
        return out
    centroid = tri.mean(1)
    reach = float(np.linalg.norm(tri - centroid[:, None], axis=2).max())
    tree = cKDTree(centroid)
    dc, idx = tree.query(points[near], k=k)
    p = np.repeat(points[near], k, axis=0)
    t = tri[idx.ravel()]
    d = np.linalg.norm(closest_points_on_triangles(p, t[:, 0], t[:, 1], t[:, 2]) - p, axis=1)
    best = d.reshape(-1, k).min(1)
    unsure = np.flatnonzero((best > dc[:, -1] - reach) & (best < cutoff))
    for i, cand in zip(unsure, tree.query_ball_point(points[near[unsure]], best[unsure] + reach)):
        best[i] = min(best[i], _point_triangle_distances(points[near[i]][None], tri[cand]).min())
    out[near] = np.minimum(best, cutoff)
    return out


def surface_grid(vertices: np.ndarray, faces: np.ndarray, spacing: float) -> np.ndarray:
    """Points on every triangle on a barycentric grid with about `spacing` between them."""
    pts = [vertices]
    for tri in vertices[faces]:
        n = int(np.ceil(np.linalg.norm(tri - np.roll(tri, 1, 0), axis=1).max() / spacing))
        if n < 2:
            continue
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        u, v = i[keep] / n, j[keep] / n
        pts.append(tri[0] + u[:, None] * (tri[1] - tri[0]) + v[:, None] * (tri[2] - tri[0]))
    return np.concatenate(pts)
