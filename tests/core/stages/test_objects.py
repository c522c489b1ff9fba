"""Object stage: the keyframe clock, the seat of a sitting person, a class without a template
as a box, corrupt recogniser weights -> the rule path (one note, never a crash)."""

from __future__ import annotations

import numpy as np
import pytest

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.objects.box import BOX_TEMPLATE_ID
from scorehoi_node.core.stages.object_sources import ExternalSource
from scorehoi_node.core.stages.objects import ObjectStage, WarmStarts
from scorehoi_node.core.synth.frames import OBJECT_ID, PERSON_ID
from scorehoi_node.core.types import (Detections, FoundObject, Frame, ObjectDetection,
                                      ObjectEstimate, Person, PersonDetection)
from tests.core.rendered_hoi import rendered_frames


def _found(keyframe: bool, x: float = 0.0) -> FoundObject:
    est = ObjectEstimate("sports ball", "ball", np.eye(3), np.array([x, 0.0, 2.0]),
                         np.full(3, 0.2), 0.9)
    return FoundObject(est, None, None, person=0, keyframe=keyframe)


def test_warm_start_until_a_keyframe_is_due():
    warm = WarmStarts()
    assert warm.get(7, keyframe_interval=3) is None  # nothing known yet
    warm.remember(7, _found(keyframe=True, x=0.1))     # full search: age 0
    got = warm.get(7, 3)
    assert got is not None and got.template_id == "ball" and got.translation[0] == 0.1
    warm.remember(7, _found(keyframe=False, x=0.2))    # warm fit: age 1
    assert warm.get(7, 3).translation[0] == 0.2
    warm.remember(7, _found(keyframe=False))           # age 2: the next frame is a keyframe
    assert warm.get(7, 3) is None
    assert warm.get(7, 4) is not None                   # with a longer interval it is not
    warm.remember(7, None)                              # lost the object: forget it
    assert warm.get(7, 4) is None


def test_warm_starts_of_dead_tracks_are_forgotten():
    warm = WarmStarts()
    warm.remember(1, _found(True))
    warm.remember(2, _found(True))
    warm.keep({2})
    assert warm.get(1, 8) is None and warm.get(2, 8) is not None


def _frame_and_person(kind: str, depth: bool = True):
    """A rendered frame of `kind` and its person (ground-truth body, rendered mask, its joints
    projected as keypoints: the 2D evidence the assignment needs without depth)."""
    sf, human = rendered_frames()[kind]
    mask = sf.mask == PERSON_ID
    ys, xs = np.nonzero(mask)
    uvw = np.asarray(human.joint_positions, np.float64) @ sf.camera.K.T
    uv = uvw[:, :2] / uvw[:, 2:]
    det = PersonDetection(uv, np.ones(len(uv)), None, "none",
                          np.array([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]), 1.0,
                          mask)
    frame = Frame(rgb=sf.rgb, camera=sf.camera, depth=sf.depth if depth else None)
    return sf, frame, Person(track_id=1, detection=det, human=human)


def _overlap(found: FoundObject, sf) -> float:
    """Share of the found object's pixels on the true object."""
    return float((found.mask & (sf.mask == OBJECT_ID)).sum() / max(found.mask.sum(), 1))


@pytest.fixture(scope="module")
def stage():
    return ObjectStage(PipelineConfig(), load_library())


def test_the_seat_of_a_sitting_person_is_found_with_its_template(stage):
    sf, frame, person = _frame_and_person("sit")
    out = stage(frame, [person])
    seats = [c for c in out.candidates if c.person == 0 and c.anchor == "seat"]
    assert seats, [c.anchor for c in out.candidates]
    assert max(c.mask[sf.mask == OBJECT_ID].mean() for c in seats) > 0.3
    (found,) = out.found
    assert found.person == 0 and _overlap(found, sf) > 0.8
    assert found.estimate.template_id == sf.scene.object_id  # stool or chair


def test_an_external_class_without_a_template_is_a_box_of_its_class():
    """The carried box reported as a "couch": no template covers it, so a box of the couch
    class with the measured extent, never another class's template; with and without depth."""
    library = load_library()
    stage = ObjectStage(PipelineConfig(object_source="external"), library, ExternalSource())
    sf, frame, person = _frame_and_person("carry_box")
    gt = sf.mask == OBJECT_ID
    ys, xs = np.nonzero(gt)
    det = ObjectDetection("couch", np.array([xs.min(), ys.min(), xs.max() + 1.0,
                                             ys.max() + 1.0]), 0.9, gt)
    true = np.sort(library.by_id(sf.scene.object_id).extent)
    for with_depth in (True, False):
        frame = Frame(rgb=sf.rgb, camera=sf.camera, depth=sf.depth if with_depth else None)
        (found,) = stage(frame, [person], Detections([], [det], "test")).found
        est = found.estimate
        assert est.template_id == BOX_TEMPLATE_ID and est.class_name == "couch"
        # the largest side within 40 % of the true box's (only its front is seen)
        assert np.sort(est.extent)[-1] == pytest.approx(true[-1], rel=0.4), with_depth
        tmpl = library.template_for(est.template_id, est.extent, est.class_name)
        np.testing.assert_allclose(tmpl.extent, est.extent, atol=1e-3)


def test_corrupt_recogniser_weights_fall_back_to_the_rule_path(tmp_path, caplog):
    bad = tmp_path / "recogniser.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with caplog.at_level("WARNING"):
        stage = ObjectStage(PipelineConfig(object_recogniser=str(bad)), load_library())
    assert stage.search.recogniser is None
    (note,) = [n for n in stage.notes if "recogniser" in n]
    assert "\n" not in note and "rule path" in note and str(bad) in note
    assert note in caplog.text
    sf, frame, person = _frame_and_person("carry_box")
    (found,) = stage(frame, [person]).found
    assert _overlap(found, sf) > 0.8 and found.estimate.template_id in load_library().ids
