"""The contact stage: the learned predictor by default, batched over persons, and the distance
rule as the fallback when its weights cannot be loaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.estimate.contact_net import ContactPredictor
from scorehoi_node.core.estimate.contacts import estimate_contacts
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.refine import DistanceContacts
from scorehoi_node.core.stages.contacts import ContactStage
from scorehoi_node.core.types import HumanEstimate, ObjectEstimate


@pytest.fixture(scope="module")
def world():
    return make_body_model("anny"), load_library()


def _person(body, shift: float) -> HumanEstimate:
    """The rest-pose body 2 m in front of the camera, moved `shift` metres along x."""
    with torch.no_grad():
        out = body(**body.rest_inputs(1))
    move = np.array([shift, 0.0, 2.0])
    J = len(body.joint_names)
    return HumanEstimate(body_model=body.name, joint_names=tuple(body.joint_names),
                         parents=np.full(J, -1), joint_rotations=np.tile(np.eye(3), (J, 1, 1)),
                         joint_positions=out.joints[0].double().numpy() + move, shape=np.zeros(1),
                         confidence=1.0, vertices=out.vertices[0].double().numpy() + move)


def _held(body, library, human: HumanEstimate, template_id: str, part: str) -> ObjectEstimate:
    """An object of `template_id` whose centre sits 3 cm outside the body part `part`'s
    contact vertex farthest from the pelvis (a hand or a foot)."""
    template = library.by_id(template_id)
    ids = body.contact_vertex_ids.numpy()[np.array(body.contact_part_ids) ==
                                         body.contact_part_names.index(part)]
    pts = human.vertices[ids]
    tip = pts[np.argmax(np.linalg.norm(pts - human.joint_positions[0], axis=1))]
    out = tip - human.joint_positions[0]
    out /= np.linalg.norm(out)
    radius = float(np.abs(template.vertices).max())
    return ObjectEstimate(class_name=template.coco_class, template_id=template.id,
                          rotation=np.eye(3), translation=tip + out * (radius + 0.03),
                          confidence=1.0)


def test_a_frame_of_persons_is_one_network_call_per_template_and_equals_one_by_one(world):
    body, library = world
    stage = ContactStage(body, library, ContactConfig())
    assert isinstance(stage.predictor, ContactPredictor) and stage.source == "learned"
    assert stage.notes == []
    humans = [_person(body, x) for x in (-1.0, 0.0, 1.0, 2.0)]
    ids = library.ids
    objects = [_held(body, library, humans[0], ids[0], "left_hand"),
               _held(body, library, humans[1], ids[0], "right_hand"),
               _held(body, library, humans[2], ids[1], "right_hand"), None]
    calls = []
    hook = stage.predictor.net.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        together = stage.batch(list(zip(humans, objects)))
        calls_together = list(calls)
        alone = [stage(h, o) for h, o in zip(humans, objects)]
    finally:
        hook.remove()
    assert sorted(calls_together) == [1, 2]  # template 0: two persons at once; template 1: one
    assert together[3] == ([], 0.0)
    for (c1, p1), (c2, p2) in zip(together, alone):
        assert [c.human_vertex_index for c in c1] == [c.human_vertex_index for c in c2]
        np.testing.assert_allclose([c.probability for c in c1], [c.probability for c in c2],
                                   atol=1e-5)
        assert p1 == p2
    # the probabilities are the network's, not the distance sigmoid's
    learned = stage.predictor.vertex_probabilities(
        humans[1].vertices[None], humans[1].joint_positions[None], objects[1].rotation[None],
        objects[1].translation[None], library.by_id(ids[0]))[0]
    keep = np.flatnonzero(learned >= 0.5)
    assert len(keep) > 0
    assert [c.human_vertex_index for c in together[1][0]] == list(
        body.contact_vertex_ids.numpy()[keep])


def test_unreadable_weights_fall_back_to_the_distance_rule_with_one_error_line(world, tmp_path):
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
    human = _person(body, 0.0)
    obj = _held(body, library, human, library.ids[0], "right_hand")
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
