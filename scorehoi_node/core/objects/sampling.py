"""Surface sampling and farthest point sampling on triangle meshes (numpy, deterministic)."""

from __future__ import annotations

import numpy as np


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Area-uniform random points on a triangle mesh.

    Args:
        vertices: (V, 3) vertex positions.
        faces: (F, 3) integer vertex indices.
        count: number of points.
        rng: source of randomness (the result depends only on its state).

    Returns:
        (count, 3) float64 points on the surface, same frame and units as `vertices`.
    """
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if count < 0 or area.sum() <= 0:
        raise ValueError(f"need count >= 0 and a mesh with positive area, got count={count}")
    face = rng.choice(len(tri), size=count, p=area / area.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1.0  # reflect into the triangle: uniform barycentric coordinates
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    t = tri[face]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def farthest_point_sampling(points: np.ndarray, count: int, start: int = 0) -> np.ndarray:
    """Greedy farthest point sampling.

    Args:
        points: (N, 3) candidate points.
        count: number of points to keep, 1 <= count <= N.
        start: index of the first point (pick it from a seeded generator for a random start).

    Returns:
        (count,) int64 indices into `points`; each next point maximises the Euclidean distance
        to the ones already chosen.
    """
    points = np.asarray(points, dtype=np.float64)
    if not 1 <= count <= len(points):
        raise ValueError(f"count must be in [1, {len(points)}], got {count}")
    chosen = np.empty(count, dtype=np.int64)
    chosen[0] = start
    dist = np.linalg.norm(points - points[start], axis=1)
    for i in range(1, count):
        chosen[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return chosen
