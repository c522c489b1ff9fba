"""People scoring of a replay: predictions built from a crowd frame's own ground truth are all
found with their objects; dropping a person, adding a far-off one and handing an object to the
wrong person show up as missed, spurious and wrong owners."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scorehoi_node.bags.meshes import result_from_msg
from scorehoi_node.bags.people_scoring import PeopleScorer, people_table, prediction_of_first
from scorehoi_node.bags.synth_bag import ground_truth_msg, header_for
from tests.core.synth.crowd_data import body_and_context, crowd_stream


@pytest.fixture(scope="module")
def crowd():
    body, context = body_and_context()
    _, frames = crowd_stream()
    frame = frames[0]
    msg = ground_truth_msg(frame, context, header_for(0))
    owners = [i for i, p in enumerate(frame.people) if p.scene.has_object]
    assert len(frame.people) >= 3 and owners, "the fixture needs a crowd with an object"
    return body, context.library, frame, msg, owners


def test_the_ground_truth_itself_is_all_found_with_the_right_objects(crowd):
    body, library, frame, msg, owners = crowd
    scorer = PeopleScorer(body, library)
    scorer.add(0, frame.camera, result_from_msg(msg, body, library), msg)
    s = scorer.summary()
    n = len(frame.people)
    assert s["overall"] == {"gt": n, "found": n, "pred": n, "spurious": 0, "found_rate": 1.0,
                            "spurious_rate": 0.0}
    assert s["by_people"][str(n)]["found"] == n
    assert sum(r["gt"] for r in s["by_height_px"].values()) == n
    assert s["objects"]["owner_right"] == len(owners) and s["objects"]["owner_wrong"] == 0
    assert s["objects"]["right_rate"] == 1.0 and s["objects"]["right"] == len(owners)
    assert s["pelvis_error_cm"] < 1e-3


def test_the_first_true_person_is_scored_against_their_own_match(crowd):
    """Per-frame CONTHO rows compare the first true person with the prediction matched to them,
    not with whichever person the detector listed first."""
    body, library, frame, msg, _ = crowd
    result = result_from_msg(msg, body, library)
    reordered = dataclasses.replace(result, interactions=result.interactions[::-1])
    matched = PeopleScorer(body, library).add(0, frame.camera, reordered, msg)
    assert prediction_of_first(matched) == len(frame.people) - 1
    assert prediction_of_first(None) == 0


def test_missed_spurious_and_wrong_owner(crowd):
    body, library, frame, msg, owners = crowd
    result = result_from_msg(msg, body, library)
    inters = list(result.interactions)
    o = owners[0]
    other = next(i for i in range(len(inters)) if i != o and inters[i].obj is None)
    # the owner's object handed to someone without one, the owner keeps nothing
    inters[other] = dataclasses.replace(inters[other], obj=inters[o].obj)
    inters[o] = dataclasses.replace(inters[o], obj=None)
    dropped = next(i for i in range(len(inters)) if i not in (o, other))
    shifted = inters[dropped]  # the dropped person, predicted 2.5 m higher: spurious
    h = shifted.human
    far = dataclasses.replace(h, vertices=h.vertices + [0.0, -2.5, 0.0],
                              joint_positions=h.joint_positions + [0.0, -2.5, 0.0])
    inters[dropped] = dataclasses.replace(shifted, human=far, obj=None)
    scorer = PeopleScorer(body, library)
    scorer.add(0, frame.camera, dataclasses.replace(result, interactions=inters), msg)
    s = scorer.summary()
    n = len(frame.people)
    assert s["overall"]["found"] == n - 1 and s["overall"]["spurious"] == 1
    kept_owners = [k for k in owners if k not in (o, dropped)]
    assert s["objects"]["owner_wrong"] == 1 and s["objects"]["owner_right"] == len(kept_owners)
    assert s["objects"]["missing"] >= 1 and s["objects"]["extra"] >= 1
    lines = "\n".join(people_table(json_ready(s)))
    assert f"| all | {n} | {n - 1} |" in lines


def json_ready(summary: dict) -> dict:
    """NaN -> None, as metrics.json holds it (the table reads either)."""
    if isinstance(summary, dict):
        return {k: json_ready(v) for k, v in summary.items()}
    return None if isinstance(summary, float) and not np.isfinite(summary) else summary
