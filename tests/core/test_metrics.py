"""CONTHO-protocol metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from scorehoi_node.core.metrics import (
    HOIMetrics,
    aggregate,
    apply_similarity,
    below_floor_cm,
    chamfer_cm,
    contact_from_meshes,
    contact_prf,
    evaluate_frame,
    penetration_depth_cm,
    procrustes_align,
    sample_surface,
)

# Unit square in the z=0 plane, two triangles.
SQUARE_V = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
SQUARE_F = np.array([[0, 1, 2], [0, 2, 3]])


def unit_box() -> trimesh.Trimesh:
    """Axis-aligned 1 m cube centred at the origin (faces at +-0.5 m)."""
    return trimesh.creation.box(extents=(1.0, 1.0, 1.0))


def random_similarity(rng: np.random.Generator) -> tuple[float, np.ndarray, np.ndarray]:
    return 1.3, Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3)


# --- Procrustes ---------------------------------------------------------------------------------

def test_procrustes_recovers_known_similarity():
    rng = np.random.default_rng(1)
    pred = rng.normal(size=(50, 3))
    s, R, t = random_similarity(rng)
    gt = apply_similarity(pred, s, R, t)
    s_fit, R_fit, t_fit = procrustes_align(pred, gt)
    assert s_fit == pytest.approx(1.3, abs=1e-9)
    np.testing.assert_allclose(R_fit, R, atol=1e-9)
    np.testing.assert_allclose(t_fit, t, atol=1e-9)
    assert chamfer_cm(apply_similarity(pred, s_fit, R_fit, t_fit), gt) < 1e-6


def test_procrustes_rotation_is_proper_for_mirrored_points():
    rng = np.random.default_rng(2)
    pred = rng.normal(size=(30, 3))
    mirrored = pred * np.array([-1.0, 1.0, 1.0])
    _, R, _ = procrustes_align(pred, mirrored)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


def test_procrustes_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        procrustes_align(np.zeros((4, 3)), np.zeros((5, 3)))


# --- sampling and Chamfer -----------------------------------------------------------------------

def test_sample_surface_lies_on_the_box_and_is_deterministic():
    box = unit_box()
    a = sample_surface(box.vertices, box.faces, 2000, np.random.default_rng(3))
    b = sample_surface(box.vertices, box.faces, 2000, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.abs(a).max(axis=1), 0.5, atol=1e-12)  # on some face


def test_sample_surface_is_area_weighted_and_uniform():
    # Triangle 0 has area 0.5, triangle 1 (scaled by 3 in x) has area 1.5: expected share 1/4.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0],
                  [0, 0, 1], [3, 0, 1], [0, 1, 1]], dtype=np.float64)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    p = sample_surface(v, f, 40000, np.random.default_rng(4))
    first = p[:, 2] == 0.0
    assert first.mean() == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(p[first, :2].mean(axis=0), [1 / 3, 1 / 3], atol=0.01)  # centroid
    assert (p[first, 0] + p[first, 1] <= 1.0 + 1e-12).all()


def test_chamfer_uses_mean_of_the_two_directional_means():
    a = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    b = np.array([[0.0, 0.0, 0.0]])
    # a->b: (0 + 1 m) / 2 = 0.5 m; b->a: 0 m; CD = 0.5 * (0.5 + 0) m = 25 cm.
    assert chamfer_cm(a, b) == pytest.approx(25.0)
    assert chamfer_cm(b, a) == pytest.approx(25.0)


def test_chamfer_of_identical_samples_is_zero():
    box = unit_box()
    a = sample_surface(box.vertices, box.faces, 6000, np.random.default_rng(5))
    b = sample_surface(box.vertices, box.faces, 6000, np.random.default_rng(5))
    assert chamfer_cm(a, b) < 1e-6


def test_chamfer_of_parallel_squares_3cm_apart():
    lifted = SQUARE_V + [0.0, 0.0, 0.03]
    a = sample_surface(SQUARE_V, SQUARE_F, 6000, np.random.default_rng(6))
    b = sample_surface(lifted, SQUARE_F, 6000, np.random.default_rng(6))  # same samples, lifted
    assert chamfer_cm(a, b) == pytest.approx(3.0, abs=0.01)
    # Independent dense samples: every nearest distance is >= 3 cm, the excess is the sampling
    # gap (about 0.35 cm spacing at 40k samples/m^2, so well under 0.1 cm on average).
    c = sample_surface(lifted, SQUARE_F, 40000, np.random.default_rng(7))
    d = sample_surface(SQUARE_V, SQUARE_F, 40000, np.random.default_rng(8))
    assert 3.0 <= chamfer_cm(c, d) < 3.1


# --- contact ------------------------------------------------------------------------------------

def test_contact_uses_distance_to_the_object_surface():
    box = unit_box()
    # 1, 4, 6 and 20 cm in front of the +x face, far (> 0.7 m) from every box vertex.
    human = np.array([[0.51, 0.0, 0.0], [0.54, 0.0, 0.0], [0.56, 0.0, 0.0], [0.70, 0.0, 0.0]])
    mask = contact_from_meshes(human, box.vertices, box.faces)
    np.testing.assert_array_equal(mask, [True, True, False, False])
    np.testing.assert_array_equal(
        contact_from_meshes(human, box.vertices, box.faces, threshold_m=0.1),
        [True, True, True, False])


def test_contact_prf_on_hand_made_masks():
    assert contact_prf(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)) == \
        pytest.approx((0.5, 0.5, 0.5))
    # 1 of 3 predicted is true; 1 of 2 true found: P=1/3, R=1/2, F1=2*(1/6)/(5/6)=0.4.
    assert contact_prf(np.array([1, 1, 1, 0], bool), np.array([1, 0, 0, 1], bool)) == \
        pytest.approx((1 / 3, 0.5, 0.4))
    assert contact_prf(np.array([0, 1], bool), np.array([1, 0], bool)) == (0.0, 0.0, 0.0)


def test_contact_prf_empty_set_conventions():
    none, some = np.zeros(4, bool), np.array([1, 0, 0, 0], bool)
    p, r, f = contact_prf(none, none)  # nothing predicted, nothing true
    assert p == 1.0 and math.isnan(r) and math.isnan(f)
    p, r, f = contact_prf(some, none)  # false alarm only
    assert p == 0.0 and math.isnan(r) and math.isnan(f)
    assert contact_prf(none, some) == (0.0, 0.0, 0.0)  # missed contact


# --- penetration and floor ----------------------------------------------------------------------

def test_penetration_depth_is_the_deepest_vertex_inside():
    box = unit_box()
    human = np.array([[0.48, 0.0, 0.0], [0.0, 0.493, 0.0], [0.0, 0.0, 0.8]])  # 2 cm, 7 mm, out
    assert penetration_depth_cm(human, box.vertices, box.faces) == pytest.approx(2.0, abs=1e-4)
    outside = np.array([[0.51, 0.0, 0.0], [0.0, 0.0, -0.9]])
    assert penetration_depth_cm(outside, box.vertices, box.faces) == 0.0


def test_below_floor():
    pts = np.array([[0.0, 0.2, 0.0], [0.1, -0.03, 0.5], [0.0, 0.0, 1.0]])
    assert below_floor_cm(pts, np.array([0.0, 1.0, 0.0]), 0.0) == pytest.approx(3.0)
    assert below_floor_cm(pts + [0, 0.05, 0], np.array([0.0, 1.0, 0.0]), 0.0) == 0.0
    # Floor at y = -0.1 (n.x + d = 0 with d = 0.1); lowest point at y = -0.13 -> 3 cm below.
    assert below_floor_cm(pts - [0, 0.1, 0], np.array([0.0, 1.0, 0.0]), 0.1) == pytest.approx(3.0)


# --- end to end ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scene() -> dict[str, np.ndarray]:
    """A 25 cm sphere 'human' at the origin and a box 2 cm from it, bottom at y = -0.15 m."""
    human = trimesh.creation.icosphere(subdivisions=3, radius=0.25)
    obj = trimesh.creation.box(extents=(0.4, 0.3, 0.3))
    obj.apply_translation([0.27 + 0.2, 0.0, 0.0])
    return {"hv": np.asarray(human.vertices), "hf": np.asarray(human.faces),
            "ov": np.asarray(obj.vertices), "of": np.asarray(obj.faces)}


def _evaluate(scene, pred_h, pred_o, **kw) -> HOIMetrics:
    return evaluate_frame(pred_h, scene["hf"], pred_o, scene["of"], scene["hv"], scene["ov"],
                          rng=np.random.default_rng(9), **kw)


def test_evaluate_frame_perfect_prediction(scene):
    floor = (np.array([0.0, 1.0, 0.0]), 0.12)  # floor at y = -0.12: the box is 3 cm below it
    m = _evaluate(scene, scene["hv"], scene["ov"], floor=floor)
    assert m.cd_human_cm < 1.0 and m.cd_object_cm < 1.0  # independent-sampling floor only
    assert (m.contact_precision, m.contact_recall, m.contact_f1) == (1.0, 1.0, 1.0)
    assert m.penetration_cm == 0.0
    assert m.floor_cm == pytest.approx(3.0)


def test_evaluate_frame_undoes_a_similarity_transform(scene):
    reference = _evaluate(scene, scene["hv"], scene["ov"])
    s, R, t = random_similarity(np.random.default_rng(10))
    m = _evaluate(scene, apply_similarity(scene["hv"], s, R, t),
                  apply_similarity(scene["ov"], s, R, t))
    # After alignment the prediction equals the ground truth, so with the same rng the samples
    # (area ratios are similarity-invariant) and hence the distances are the same.
    assert m.cd_human_cm == pytest.approx(reference.cd_human_cm, abs=1e-6)
    assert m.cd_object_cm == pytest.approx(reference.cd_object_cm, abs=1e-6)
    assert math.isnan(m.floor_cm)


def test_evaluate_frame_rigid_motion_keeps_contacts_and_floor(scene):
    R = Rotation.from_euler("y", 40, degrees=True).as_matrix()  # keeps heights above the floor
    t = np.array([0.3, 0.0, 1.5])
    m = _evaluate(scene, apply_similarity(scene["hv"], 1.0, R, t),
                  apply_similarity(scene["ov"], 1.0, R, t), floor=(np.array([0, 1.0, 0]), 0.12))
    assert (m.contact_precision, m.contact_recall) == (1.0, 1.0)
    assert m.floor_cm == pytest.approx(3.0)


def test_evaluate_frame_detects_a_shifted_object(scene):
    reference = _evaluate(scene, scene["hv"], scene["ov"])
    shifted = scene["ov"] - [0.10, 0.0, 0.0]  # 10 cm towards the human: 8 cm into the sphere
    m = _evaluate(scene, scene["hv"], shifted)
    # 642 human vs 8 object vertices: the alignment follows the human, the object stays off.
    # Its four long faces slide along themselves, so the Chamfer distance is below 10 cm.
    assert m.cd_human_cm < 1.0
    assert m.cd_object_cm > 2.0 and m.cd_object_cm > 5 * reference.cd_object_cm
    assert m.penetration_cm == pytest.approx(8.0, abs=0.01)  # sphere pole at x=0.25, face at 0.17
    assert m.contact_precision < 0.5 and m.contact_recall < 0.5  # contact region moved


def test_aggregate_means_ignore_nan():
    a = HOIMetrics(2.0, 4.0, 1.0, math.nan, math.nan, 0.0, math.nan)
    b = HOIMetrics(4.0, 8.0, 0.5, 0.5, 0.5, 1.0, math.nan)
    out = aggregate([a, b])
    assert out == pytest.approx({"cd_human_cm": 3.0, "cd_object_cm": 6.0,
                                 "contact_precision": 0.75, "contact_recall": 0.5,
                                 "contact_f1": 0.5, "penetration_cm": 0.5,
                                 "floor_cm": math.nan}, nan_ok=True)
