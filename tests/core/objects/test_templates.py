"""Object template library: shipped assets, canonical frames, keypoints, SDF grid and licences."""

from __future__ import annotations

import re

import numpy as np
import open3d as o3d
import pytest
import torch
import trimesh
from scipy.spatial.distance import pdist

from scorehoi_node.core.objects import (NUM_KEYPOINTS, ObjectLibrary, farthest_point_sampling,
                                        load_library, sample_surface, sdf_query)
from scorehoi_node.core.objects.library import ASSET_DIR

COCO80 = set(
    "person|bicycle|car|motorcycle|airplane|bus|train|truck|boat|traffic light|fire hydrant|"
    "stop sign|parking meter|bench|bird|cat|dog|horse|sheep|cow|elephant|bear|zebra|giraffe|"
    "backpack|umbrella|handbag|tie|suitcase|frisbee|skis|snowboard|sports ball|kite|"
    "baseball bat|baseball glove|skateboard|surfboard|tennis racket|bottle|wine glass|cup|fork|"
    "knife|spoon|bowl|banana|apple|sandwich|orange|broccoli|carrot|hot dog|pizza|donut|cake|"
    "chair|couch|potted plant|bed|dining table|toilet|tv|laptop|mouse|remote|keyboard|"
    "cell phone|microwave|oven|toaster|sink|refrigerator|book|clock|vase|scissors|teddy bear|"
    "hair drier|toothbrush".split("|"))
# real-world sizes, metres: (min, max) height (y) and (min, max) largest horizontal size
EXPECTED = {
    "mug": ((0.07, 0.15), (0.06, 0.15)),
    "bottle": ((0.18, 0.35), (0.05, 0.12)),
    "ball": ((0.18, 0.25), (0.18, 0.25)),
    "box": ((0.15, 0.8), (0.2, 0.8)),
    "stool": ((0.35, 0.8), (0.25, 0.6)),
    "chair": ((0.75, 1.1), (0.35, 0.7)),
    "table": ((0.6, 0.9), (0.5, 2.0)),
    "backpack": ((0.3, 0.6), (0.2, 0.45)),
}
LIBRARY = load_library()
TEMPLATES = list(LIBRARY)
IDS = [t.id for t in TEMPLATES]


def _scene(template) -> o3d.t.geometry.RaycastingScene:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(template.vertices),
                        o3d.core.Tensor(template.faces.astype(np.uint32)))
    return scene


def _exact_sdf(template, points: np.ndarray) -> np.ndarray:
    """Reference signed distance (metres, negative inside) from open3d raycasting."""
    query = o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float32))
    return _scene(template).compute_signed_distance(query, nsamples=3).numpy()


def _grid_sdf(template, points: np.ndarray) -> np.ndarray:
    return template.sdf(torch.from_numpy(points)[None].double())[0].numpy()


def _in_box(template, count: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = template.sdf_bounds.astype(np.float64)
    return rng.uniform(lo, hi, size=(count, 3))


def test_library_lists_the_everyday_objects():
    assert len(LIBRARY) >= 6 and len(set(IDS)) == len(IDS)
    assert set(EXPECTED) <= set(IDS)
    assert all(t.coco_class in COCO80 for t in LIBRARY)
    assert load_library() is LIBRARY  # cached
    assert LIBRARY.by_id("mug").coco_class == "cup"
    assert {t.id for t in LIBRARY.for_coco_class("chair")} == {"stool", "chair"}
    assert LIBRARY.for_coco_class("person") == []
    with pytest.raises(KeyError, match="known: "):
        LIBRARY.by_id("teapot")
    with pytest.raises(ValueError, match="duplicate"):
        ObjectLibrary((LIBRARY.by_id("mug"), LIBRARY.by_id("mug")))
    floor = {t.id for t in LIBRARY if t.rests_on_floor}
    assert {"stool", "chair", "table", "box"} <= floor and not {"mug", "bottle", "ball"} & floor


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_mesh_is_a_small_closed_solid_in_the_canonical_frame(template):
    assert template.vertices.dtype == np.float32 and template.faces.dtype == np.int64
    assert not template.vertices.flags.writeable
    mesh = trimesh.Trimesh(template.vertices, template.faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert len(template.faces) <= 3000
    lo, hi = template.vertices.min(axis=0), template.vertices.max(axis=0)
    assert lo[1] == pytest.approx(0.0, abs=1e-6)  # stands on y = 0
    np.testing.assert_allclose((lo + hi)[[0, 2]], 0.0, atol=1e-6)  # centred in x and z


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_extent_is_real_world_size(template):
    (h_min, h_max), (w_min, w_max) = EXPECTED[template.id]
    extent = template.extent
    assert extent.shape == (3,)
    assert h_min <= extent[1] <= h_max
    assert w_min <= max(extent[0], extent[2]) <= w_max


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_keypoints_lie_on_the_surface_and_are_spread(template):
    assert template.keypoints.shape == (NUM_KEYPOINTS, 3)
    assert np.abs(_exact_sdf(template, template.keypoints)).max() < 0.003
    assert pdist(template.keypoints).min() > 0.05 * np.linalg.norm(template.extent)


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_sdf_grid_matches_exact_signed_distance(template):
    rng = np.random.default_rng(0)
    points = _in_box(template, 3000, rng)
    # trilinear interpolation of a 1-Lipschitz function errs by at most one cell diagonal
    tolerance = float(np.linalg.norm(template.sdf_cell_size))
    error = np.abs(_grid_sdf(template, points) - _exact_sdf(template, points))
    assert error.max() < tolerance
    assert np.median(error) < 0.1 * tolerance


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_sdf_is_positive_far_away_and_grows_with_distance(template):
    rng = np.random.default_rng(1)
    direction = rng.normal(size=(50, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    far = direction * rng.uniform(1.0, 5.0, size=(50, 1))
    exact = _exact_sdf(template, far)
    got = _grid_sdf(template, far)
    # off the grid: clamped value + distance to the grid box, an upper bound of the distance
    assert np.all(got >= exact - 0.002) and np.all(got <= 1.25 * exact)


@pytest.mark.parametrize("template_id", ["ball", "box", "bottle"])
def test_sdf_is_negative_at_the_centroid_of_convex_objects(template_id):
    template = LIBRARY.by_id(template_id)
    centroid = trimesh.Trimesh(template.vertices, template.faces, process=False).center_mass
    assert _grid_sdf(template, centroid[None]) < -0.02


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_sdf_gradient_is_finite_and_a_step_along_minus_grad_goes_deeper(template):
    rng = np.random.default_rng(2)
    candidates = _in_box(template, 4000, rng)
    inside = candidates[_grid_sdf(template, candidates) < 0][:100]
    outside = candidates[:100]
    assert len(inside) >= 20
    for points in (inside, outside):
        p = torch.from_numpy(points)[None].requires_grad_(True)
        value = template.sdf(p)
        (grad,) = torch.autograd.grad(value.sum(), p)
        assert torch.isfinite(grad).all()
        norm = grad.norm(dim=-1)
        assert (norm > 0.1).float().mean() > 0.95
        step = p.detach() - 1e-5 * grad / norm.clamp_min(1e-12)[..., None]
        assert (template.sdf(step) < value.detach()).float().mean() > 0.95


def test_sdf_gradient_of_the_ball_points_out_of_its_surface():
    ball = LIBRARY.by_id("ball")
    centre = np.array([0.0, 0.11, 0.0])
    rng = np.random.default_rng(3)
    direction = rng.normal(size=(64, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    # just inside, just outside (on the grid), far away (off the grid: an upper bound)
    for depth, low, high, min_cosine in ((-0.005, -0.008, -0.002, 0.95),
                                         (0.005, 0.002, 0.008, 0.95), (0.5, 0.499, 0.6, 0.85)):
        p = torch.from_numpy(centre + (0.11 + depth) * direction)[None].requires_grad_(True)
        value = ball.sdf(p)
        assert low < value.min() and value.max() < high
        (grad,) = torch.autograd.grad(value.sum(), p)
        cosine = torch.nn.functional.cosine_similarity(grad[0], torch.from_numpy(direction), dim=-1)
        assert cosine.min() > min_cosine


def test_sdf_query_shapes_dtype_and_errors():
    ball = LIBRARY.by_id("ball")
    points = torch.zeros(2, 5, 3)
    assert ball.sdf(points).shape == (2, 5) and ball.sdf(points).dtype == torch.float32
    assert ball.sdf(points.double()).dtype == torch.float64
    grid = torch.tensor(ball.sdf_grid)
    bounds = torch.tensor(ball.sdf_bounds)
    torch.testing.assert_close(sdf_query(points, grid, bounds), ball.sdf(points))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        ball.sdf(torch.zeros(5, 3))


def test_sampling_is_deterministic_and_farthest_points_are_spread():
    cube = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    a = sample_surface(cube.vertices, cube.faces, 2000, np.random.default_rng(7))
    b = sample_surface(cube.vertices, cube.faces, 2000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert np.allclose(np.abs(a).max(axis=1), 0.5)  # every point is on a face of the cube
    chosen = farthest_point_sampling(a, 8, start=0)
    assert len(set(chosen.tolist())) == 8
    assert pdist(a[chosen]).min() > 0.5
    with pytest.raises(ValueError):
        farthest_point_sampling(a, 0)


def test_licence_table_lists_every_asset_file():
    text = (ASSET_DIR / "LICENSES.md").read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| file ")]
    table = {cells[0].strip(): [c.strip() for c in cells] for cells in rows}
    shipped = {p.name for p in ASSET_DIR.iterdir()} - {"LICENSES.md"}
    assert set(table) == shipped
    assert all(len(cells) == 5 and all(cells) for cells in table.values())
    for template in LIBRARY:
        cells = table[f"{template.id}.npz"]
        assert cells[2] == template.licence
        assert re.fullmatch(r"Apache-2\.0|MIT|BSD-[23]-Clause|Zlib|CC0-1\.0|CC-BY-4\.0",
                            template.licence)


def test_mug_is_open_with_a_graspable_handle_towards_plus_x():
    mug = LIBRARY.by_id("mug")
    axis = mug.vertices[:, 0].min() + 0.041  # the body (radius 4.1 cm) sits at -X of the bbox
    cavity, handle, finger_gap = ([axis, 0.06, 0.0], [axis + 0.072, 0.051, 0.0],
                                  [axis + 0.055, 0.051, 0.0])
    exact = _exact_sdf(mug, np.array([cavity, handle, finger_gap]))
    assert exact[0] > 0.02 and exact[1] < 0 and exact[2] > 0.005
