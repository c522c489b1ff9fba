"""Object rates and interaction types of the evaluation (bags/scoring.py) on hand-made rows."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from scorehoi_node.bags.scoring import FrameScore, interaction_kind, object_rates, per_interaction


def _gt(template: str, *parts: str, has_object: bool = True):
    return SimpleNamespace(has_object=has_object, object_template=template,
                           contacts=[SimpleNamespace(body_part=p) for p in parts])


@pytest.mark.parametrize("gt, kind", [
    (_gt("mug", "right_hand"), "hands"),
    (_gt("box", "left_hand", "right_hand", "front"), "hands"),
    (_gt("table", "left_hand", "right_hand"), "push"),
    (_gt("stool", "hips", "left_leg", "right_leg"), "sit"),
    (_gt("ball", "right_foot"), "feet"),
    (_gt("chair"), "nearby"),
    (_gt("", has_object=False), ""),
])
def test_interaction_kind_from_the_ground_truth_contacts(gt, kind):
    assert interaction_kind(gt) == kind


def test_found_and_template_rates_count_only_frames_whose_ground_truth_has_an_object():
    def row(i, gt, pred, kind, cd=math.nan):
        return FrameScore(i, i, 1, bool(pred), gt_template=gt, pred_template=pred,
                          interaction=kind, cd_object_cm=cd)

    rows = [row(0, "mug", "mug", "hands", 4.0), row(1, "mug", "bottle", "hands", 20.0),
            row(2, "stool", "", "sit"), row(3, "stool", "stool", "sit", 6.0),
            row(4, "", "", "")]  # no object in the ground truth: not counted
    rates = object_rates(rows)
    assert rates["frames_with_gt_object"] == 4 and rates["objects_found"] == 3
    assert rates["object_found_rate"] == pytest.approx(3 / 4)
    assert rates["template_correct_rate"] == pytest.approx(2 / 3)
    kinds = per_interaction(rows)
    assert set(kinds) == {"hands", "sit"}
    assert kinds["hands"]["template_correct_rate"] == pytest.approx(0.5)
    assert kinds["hands"]["cd_object_cm"] == pytest.approx(12.0)
    assert kinds["sit"]["object_found_rate"] == pytest.approx(0.5)
    assert math.isnan(object_rates([])["object_found_rate"])
