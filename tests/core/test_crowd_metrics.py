"""People matching and crowd summaries on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scorehoi_node.core.crowd_metrics import (FramePeople, MatchConfig, PeopleMatch, box_height,
                                              box_iou, height_bin, height_bin_labels, match_frame,
                                              match_objects, match_people, object_assignment,
                                              person_box, summarise_people)
from scorehoi_node.core.types import CameraIntrinsics


def _strip(u0, u1, v0=0.0, v1=100.0):
    return [u0, v0, u1, v1]


def test_box_iou_of_known_boxes():
    a = np.array([_strip(0, 100)])
    b = np.array([_strip(0, 100), _strip(50, 150), _strip(200, 300), [10, 10, 10, 50]])
    assert np.allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0, 0.0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)


def test_hungarian_finds_the_assignment_greedy_misses():
    """Prediction 0 overlaps both people and slightly prefers A; prediction 1 only reaches the
    gate with A. Greedy (best IoU first) pairs 0-A and leaves B missed; the optimum pairs
    0-B and 1-A."""
    gt = np.array([_strip(0, 100), _strip(20, 120)])  # A, B
    pred = np.array([_strip(8, 108), _strip(-30, 70)])
    iou = box_iou(pred, gt)
    assert iou[0, 0] > iou[0, 1] > 0.5 and iou[1, 0] > 0.5 > iou[1, 1]
    f = match_frame(0, gt, pred)
    assert f.match.pairs.tolist() == [[1, 0], [0, 1]]
    assert np.allclose(f.match.costs, [1 - iou[1, 0], 1 - iou[0, 1]])
    assert f.match.missed.size == 0 and f.match.spurious.size == 0
    assert f.row() == {"gt": 2, "pred": 2, "matched": 2, "missed": 0, "spurious": 0}


def test_gate_leaves_far_predictions_spurious_and_people_missed():
    gt = np.array([_strip(0, 100), _strip(300, 340)])
    pred = np.array([_strip(5, 100), _strip(600, 640), _strip(310, 400)])  # IoU(2, B) = 30/100
    f = match_frame(3, gt, pred)
    assert f.match.pairs.tolist() == [[0, 0]]
    assert f.match.missed.tolist() == [1] and f.match.spurious.tolist() == [1, 2]
    loose = match_frame(3, gt, pred, MatchConfig(min_iou=0.25))
    assert loose.match.pairs.tolist() == [[0, 0], [2, 1]]


def test_empty_frames():
    none = np.zeros((0, 4))
    people = np.array([_strip(0, 100), _strip(200, 260)])
    assert match_frame(0, people, none).match.missed.tolist() == [0, 1]
    assert match_frame(0, none, people).match.spurious.tolist() == [0, 1]
    both = match_frame(0, none, none).match
    assert both.pairs.shape == (0, 2) and both.missed.size == both.spurious.size == 0


def test_pelvis_cost_gates_in_metres():
    gt = np.array([[0.0, 0.0, 3.0], [1.0, 0.0, 5.0]])
    pred = np.array([[1.0, 0.0, 5.6], [0.3, 0.0, 3.2]])  # 0.6 m from B, 0.36 m from A
    boxes = np.zeros((2, 4))
    f = match_frame(0, boxes, boxes, MatchConfig(cost="pelvis", max_pelvis_m=0.5),
                    gt_pelvis=gt, pred_pelvis=pred)
    assert f.match.pairs.tolist() == [[1, 0]] and f.match.costs[0] == pytest.approx(np.sqrt(0.13))
    assert f.match.missed.tolist() == [1] and f.match.spurious.tolist() == [0]
    with pytest.raises(ValueError, match="needs pred_pelvis and gt_pelvis"):
        match_frame(0, boxes, boxes, MatchConfig(cost="pelvis"))


def test_match_people_maximises_pairs_before_cost():
    """Blocked pairs never appear; with two allowed pairs possible, a cheaper single pair loses."""
    cost = np.array([[0.0, 0.4], [0.1, 9.0]])
    allowed = np.array([[True, True], [True, False]])
    m = match_people(cost, allowed)
    assert m.pairs.tolist() == [[1, 0], [0, 1]] and np.allclose(m.costs, [0.1, 0.4])


def test_bad_config_lists_the_choices():
    with pytest.raises(ValueError, match="is not one of box_iou, pelvis"):
        MatchConfig(cost="giou")
    with pytest.raises(ValueError, match="min_iou"):
        MatchConfig(min_iou=0.0)


def test_height_bins():
    assert height_bin_labels() == ("<100", "100-150", "150-250", ">250")
    assert [height_bin(h) for h in (60, 99.9, 100, 149, 150, 250, 400)] == [
        "<100", "<100", "100-150", "100-150", "150-250", ">250", ">250"]
    assert box_height(np.array([[0, 10, 5, 130], [1, 2, 3, 4]])).tolist() == [120, 2]


def test_person_box_projects_the_points():
    cam = CameraIntrinsics.from_fov(640, 480, 90.0)  # f = 320
    pts = np.array([[0.0, -0.9, 4.0], [0.2, 0.9, 4.0], [-0.1, 0.0, 2.0], [0.0, 0.0, -1.0]])
    box = person_box(pts, cam)
    assert np.allclose(box, [320 - 16, 240 - 72, 320 + 16, 240 + 72])
    assert np.isnan(person_box(pts[3:], cam)).all()


def _frame(index, gt_h, pred_h, pairs):
    """FramePeople with given heights and pairs (prediction, ground truth)."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    n_gt, n_pred = len(gt_h), len(pred_h)
    match = PeopleMatch(pairs, np.zeros(len(pairs)),
                        np.setdiff1d(np.arange(n_gt), pairs[:, 1]),
                        np.setdiff1d(np.arange(n_pred), pairs[:, 0]))
    return FramePeople(index, match, np.asarray(gt_h, float), np.asarray(pred_h, float))


def test_summary_by_height_and_by_number_of_people():
    frames = [
        _frame(0, [80, 300], [82, 290, 120], [[0, 0], [1, 1]]),   # 2 people, 1 spurious
        _frame(1, [120, 200, 90], [200], [[0, 1]]),               # 3 people, 2 missed
        _frame(2, [], [50], []),                                  # nobody, 1 spurious
        _frame(3, [260, 140], [255, 138], [[0, 0], [1, 1]]),      # 2 people, all found
    ]
    s = summarise_people(frames)
    assert s["frames"] == 4
    o = s["overall"]
    assert (o["gt"], o["found"], o["pred"], o["spurious"]) == (7, 5, 7, 2)
    assert o["found_rate"] == pytest.approx(5 / 7) and o["spurious_rate"] == pytest.approx(2 / 7)
    h = s["by_height_px"]
    assert (h["<100"]["gt"], h["<100"]["found"], h["<100"]["pred"], h["<100"]["spurious"]) == (2, 1, 2, 1)
    assert (h["100-150"]["gt"], h["100-150"]["found"], h["100-150"]["spurious"]) == (2, 1, 1)
    assert (h["150-250"]["gt"], h["150-250"]["found"]) == (1, 1)
    assert (h[">250"]["gt"], h[">250"]["found"], h[">250"]["pred"]) == (2, 2, 2)
    n = s["by_people"]
    assert list(n) == [0, 2, 3]
    assert (n[2]["gt"], n[2]["found"], n[2]["spurious"]) == (4, 4, 1)
    assert n[3]["found_rate"] == pytest.approx(1 / 3) and n[3]["spurious_rate"] == 0.0
    assert math.isnan(n[0]["found_rate"]) and n[0]["spurious_rate"] == 1.0


def test_objects_go_to_the_right_person():
    """Two people, each with an object; the prediction swaps them for one pair, gives an
    object to a person who has none, and forgets one."""
    gt_obj = np.array([[0, 0, 20, 20], [100, 0, 120, 20]])     # owned by people 0 and 1
    pred_obj = np.array([[2, 1, 22, 21], [101, 0, 121, 20], [300, 0, 310, 10]])
    objects = match_objects(gt_obj, pred_obj)
    assert objects.pairs.tolist() == [[0, 0], [1, 1]] and objects.spurious.tolist() == [2]
    far = match_objects(gt_obj, np.array([[12, 12, 32, 32]]))  # centre 17 px off, diag 28 px
    assert far.pairs.size == 0 and far.missed.tolist() == [0, 1]
    people = PeopleMatch(np.array([[0, 0], [1, 1], [2, 2], [3, 3]]), np.zeros(4),
                         np.zeros(0, np.int64), np.zeros(0, np.int64))
    gt_owner = np.array([0, 1])
    # right: pred person 0 holds gt object 0; wrong: pred person 1 holds the unmatched object;
    # extra: person 2 (no gt object) holds gt object 1's prediction; person 3: none
    counts = object_assignment(people, objects, gt_owner, pred_owner=np.array([0, 2, 1]))
    assert counts == {"right": 1, "wrong": 1, "missing": 0, "extra": 1, "none": 1}
    swapped = object_assignment(people, objects, gt_owner, pred_owner=np.array([1, 0]))
    assert swapped == {"right": 0, "wrong": 2, "missing": 0, "extra": 0, "none": 2}
    forgot = object_assignment(people, objects, gt_owner, pred_owner=np.array([0]))
    assert forgot == {"right": 1, "wrong": 0, "missing": 1, "extra": 0, "none": 2}
