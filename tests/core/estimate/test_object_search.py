"""The object stage end to end on rendered frames of each interaction type (ground-truth body,
the rendered person mask as the detector's): an object found where the interaction has one,
the right template, its place; the RGB-only path with a detector mask."""

from __future__ import annotations

import numpy as np
import pytest

from scorehoi_node.core import metrics
from scorehoi_node.core.estimate.object_recogniser import load_recogniser
from scorehoi_node.core.estimate.object_search import ObjectSearch, ObjectSearchConfig
from scorehoi_node.core.objects import load_library, sample_surface
from scorehoi_node.core.synth.frames import OBJECT_ID, PERSON_ID
from scorehoi_node.core.types import ObjectDetection
from tests.core.rendered_hoi import KINDS, rendered_frames


class _Person:
    """The detector's view of the rendered person: its mask, no keypoints."""

    keypoint_layout = "none"

    def __init__(self, mask):
        self.mask = mask


@pytest.fixture(scope="module")
def search():
    library = load_library()
    return ObjectSearch(library, load_recogniser(library))


def _chamfer_cm(hyp, frame, library) -> float:
    rng = np.random.default_rng(0)
    est, tmpl = hyp.estimate, hyp.template
    a = sample_surface(tmpl.vertices, tmpl.faces, 2000, rng) @ est.rotation.T + est.translation
    true = library.by_id(frame.scene.object_id)
    b = (sample_surface(true.vertices, true.faces, 2000, rng) @ frame.object_rotmat.T.astype(float)
         + frame.object_transl)
    return metrics.chamfer_cm(a, b)


@pytest.fixture(scope="module")
def results(search):
    out = {}
    for kind in KINDS:
        frame, human = rendered_frames()[kind]
        res = search(frame.camera, [human], [_Person(frame.mask == PERSON_ID)],
                     depth=frame.depth)
        out[kind] = (frame, res)
    return out


def test_every_interaction_gets_its_object_with_the_right_template(search, results):
    """Six interaction types (hands, seat, feet, floor): the object is found (the chosen
    candidate mostly on the true object) in at least 5 of 6, with the right template in at
    least 4 of 6 (the shipped recogniser's held-out template accuracy is ~0.72), and a right
    template lies within 12 cm (Chamfer) of the true object."""
    library = search.library
    found = right = 0
    for kind, (frame, res) in results.items():
        gt = frame.mask == OBJECT_ID
        mine = [o for o in res.objects if o.person == 0]
        assert len(mine) <= 1, kind
        if not mine:
            continue
        hyp = mine[0]
        assert 0.0 < hyp.estimate.confidence <= 1.0
        np.testing.assert_allclose(hyp.estimate.rotation @ hyp.estimate.rotation.T, np.eye(3),
                                   atol=1e-9)
        if (hyp.candidate.mask & gt).sum() < 0.5 * hyp.candidate.mask.sum():
            continue
        found += 1
        if hyp.estimate.template_id == frame.scene.object_id:
            right += 1
            assert _chamfer_cm(hyp, frame, library) < 12.0, kind
    assert found >= len(KINDS) - 1 and right >= len(KINDS) - 2, (found, right)
    assert len(res.recognitions) == len(res.found.candidates)
    assert set(res.timings_ms) == {"candidates", "recognise", "pose"}


def test_rgb_only_with_a_detector_mask(search):
    """Without depth, a detector mask with its class: a template of that class (or a box),
    placed within 20 % of the true distance (a held box, a stool sat on; an object on the floor
    behind the person is not placed this well yet, see the README)."""
    library = search.library
    for kind in ("carry_box", "sit"):
        frame, human = rendered_frames()[kind]
        gt = frame.mask == OBJECT_ID
        vs, us = np.nonzero(gt)
        true = library.by_id(frame.scene.object_id)
        det = ObjectDetection(true.coco_class, np.array([us.min(), vs.min(), us.max() + 1.0,
                                                         vs.max() + 1.0]), 0.9, gt)
        res = search(frame.camera, [human], [_Person(frame.mask == PERSON_ID)],
                     detections=[det])
        (hyp,) = res.objects
        assert hyp.candidate.source == "mask" and hyp.object_points is None
        # the detector's class restricts the answer to its templates (or a box)
        assert hyp.estimate.template_id in {t.id for t in library.for_coco_class(
            true.coco_class)} | {"oriented_box"}
        centre = hyp.estimate.translation + hyp.estimate.rotation @ (
            0.5 * np.array([0.0, hyp.template.extent[1], 0.0]))
        true_centre = frame.object_transl + frame.object_rotmat.astype(float) @ (
            0.5 * np.array([0.0, true.extent[1], 0.0]))
        assert np.linalg.norm(centre - true_centre) < 0.2 * np.linalg.norm(true_centre), kind


def test_config_checks():
    with pytest.raises(ValueError, match="min_object_probability"):
        ObjectSearchConfig(min_object_probability=1.5)
