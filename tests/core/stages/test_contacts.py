"""The contact stage: the learned predictor by default, batched over persons, and the distance
rule as the fallback when its weights cannot be loaded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.estimate.contact_net import ContactPredictor
from scorehoi_node.core.estimate.contacts import estimate_contacts
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.refine import DistanceContacts
from scorehoi_node.core.stages.contacts import ContactStage
from scorehoi_node.core.synth.frames import SynthContext, ground_truth_interaction
from scorehoi_node.core.types import HumanEstimate, ObjectEstimate


@pytest.fixture(scope="module")
def world():
    return make_body_model("anny"), load_library()


def _moved(human: HumanEstimate, obj: ObjectEstimate, shift: float, template=None):
    """The pair moved `shift` metres along the camera's x axis (the object as `template` when
    given, at the same pose)."""
    move = np.array([shift, 0.0, 0.0])
    if template is not None:
        obj = replace(obj, class_name=template.coco_class, template_id=template.id,
                      extent=template.extent.astype(np.float64))
    return (replace(human, joint_positions=human.joint_positions + move,
                    vertices=human.vertices + move),
            replace(obj, translation=obj.translation + move))


@pytest.fixture(scope="module")
def held(world, rendered):
    """The rendered frame's ground truth (a person holding an object with both hands)."""
    body, library = world
    inter = ground_truth_interaction(rendered[0], SynthContext.from_body(body, library))
    return inter.human, inter.obj


def test_a_frame_of_persons_is_one_network_call_per_template_and_equals_one_by_one(world, held):
    body, library = world
    stage = ContactStage(body, library, ContactConfig())
    assert isinstance(stage.predictor, ContactPredictor) and stage.source == "learned"
    assert stage.notes == []
    other = next(t for t in library.templates if t.id != held[1].template_id)
    pairs = [held, _moved(*held, 1.5), _moved(*held, -1.5, other), (held[0], None)]
    calls = []
    hook = stage.predictor.net.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        together = stage.batch(pairs)
        calls_together = list(calls)
        alone = [stage(h, o) for h, o in pairs]
    finally:
        hook.remove()
    assert sorted(calls_together) == [1, 2]  # the held template: two persons at once; other: one
    assert together[3] == ([], 0.0)
    for (c1, p1), (c2, p2) in zip(together, alone):
        assert [c.human_vertex_index for c in c1] == [c.human_vertex_index for c in c2]
        np.testing.assert_allclose([c.probability for c in c1], [c.probability for c in c2],
                                   atol=1e-5)
        assert p1 == p2
    # the contacts are the network's (p >= 0.5), on the hands of the person holding the object
    human, obj = held
    learned = stage.predictor.vertex_probabilities(
        human.vertices[None], human.joint_positions[None], obj.rotation[None],
        obj.translation[None], library.by_id(obj.template_id))[0]
    keep = np.flatnonzero(learned >= 0.5)
    ids = body.contact_vertex_ids.numpy()
    assert len(keep) > 0 and [c.human_vertex_index for c in together[0][0]] == list(ids[keep])
    assert {c.body_part for c in together[0][0]} <= {"left_hand", "right_hand", "left_arm",
                                                      "right_arm", "front"}


def test_unreadable_weights_fall_back_to_the_distance_rule_with_one_error_line(world, held,
                                                                               tmp_path):
    body, library = world
    bad = tmp_path / "contact_net.safetensors"
    bad.write_bytes(b"not weights" * 50)
    config = ContactConfig(checkpoint=str(bad))
    stage = ContactStage(body, library, config)
    (note,) = stage.notes
    assert note.startswith("error:") and str(bad) in note and "\n" not in note
    assert "distance rule" in note
    assert stage.predictor is None and stage.source == "distance"
    assert isinstance(stage.rule(), DistanceContacts)
    human, obj = held
    contacts, depth = stage(human, obj)
    want = estimate_contacts(human.vertices, body.contact_vertex_ids.numpy(),
                             body.contact_part_ids.numpy(), body.contact_part_names, obj,
                             library.by_id(obj.template_id), config)
    assert [c.human_vertex_index for c in contacts] == [c.human_vertex_index
                                                        for c in want.contacts]
    assert depth == want.penetration_depth
    # at run time a checkpoint that cannot be loaded is refused (the caller keeps its state)
    good = ContactStage(body, library, ContactConfig())
    with pytest.raises(Exception, match=str(bad)):
        good.predictor_for(config)
    assert good.predictor_for(ContactConfig(predictor="distance")) is None
    assert good.predictor_for(ContactConfig(threshold_m=0.04)) is good.predictor
