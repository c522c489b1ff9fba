"""Lifecycle transitions of the node, in-process."""

import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from scorehoi_node.ros.node import ScoreHOINode
from tests.ros.rostest_utils import make_context

pytestmark = pytest.mark.ros


@pytest.fixture()
def ctx():
    c = make_context()
    yield c
    rclpy.shutdown(context=c)


def test_configure_activate_deactivate_cleanup(ctx):
    node = ScoreHOINode(context=ctx)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is not None and "interactions" in node._pubs
        assert node.count_publishers("/scorehoi/interactions") == 1
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert len(node._subs) == 3 and node._worker.is_alive()
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node._subs == {} and node._worker is None
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is None and node._pubs == {}
        # and again: a cleaned-up node configures from scratch
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    finally:
        node.trigger_shutdown()
        node.destroy_node()


@pytest.mark.parametrize("name,value", [("detector", "bogus"), ("max_persons", "four"),
                                        ("min_person_score", 3.0)])
def test_bad_parameters_fail_configure_without_killing_the_node(ctx, name, value):
    node = ScoreHOINode(context=ctx, parameter_overrides=[Parameter(name, value=value)])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.pipeline is None
        node.set_parameters([Parameter(name, value=ScoreHOINode.default(name))])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    finally:
        node.destroy_node()


def test_parameters_have_ranges_and_thresholds_change_at_run_time(ctx):
    node = ScoreHOINode(context=ctx)
    try:
        (d,) = node.describe_parameters(["contact_threshold_m"])
        assert d.floating_point_range[0].from_value == pytest.approx(0.001)
        assert d.floating_point_range[0].to_value == pytest.approx(0.2)
        assert "run time" in d.additional_constraints and d.description
        (d,) = node.describe_parameters(["max_persons"])
        assert (d.integer_range[0].from_value, d.integer_range[0].to_value) == (1, 64)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        # out of range: refused by the descriptor, nothing changes
        (r,) = node.set_parameters([Parameter("contact_threshold_m", value=0.5)])
        assert not r.successful
        assert node.pipeline.contacts.config.threshold_m == pytest.approx(
            node.config.pipeline.contact.threshold_m)
        # thresholds apply to the running pipeline
        (r,) = node.set_parameters([Parameter("contact_threshold_m", value=0.03)])
        assert r.successful, r.reason
        assert node.pipeline.contacts.config.threshold_m == pytest.approx(0.03)
        assert node.config.pipeline.contact.threshold_m == pytest.approx(0.03)
        (r,) = node.set_parameters([Parameter("min_person_score", value=0.8)])
        assert r.successful and node.pipeline.persons.min_score == pytest.approx(0.8)
        # the refinement schedule: the preset's by default, rounds/steps overridable at run time
        assert node.pipeline.refinement.refiner.config.rounds == 2  # "fast"
        for name, value in (("refine_rounds", 1), ("refine_stride", 25)):
            (r,) = node.set_parameters([Parameter(name, value=value)])
            assert r.successful, r.reason
        cfg = node.pipeline.refinement.refiner.config
        assert (cfg.mode, cfg.rounds, cfg.tau, cfg.stride) == ("fast", 1, 100, 25)
        (r,) = node.set_parameters([Parameter("refine_stride", value=7)])  # 100 % 7 != 0
        assert not r.successful and node.pipeline.refinement.refiner.config.stride == 25
        (r,) = node.set_parameters([Parameter("refine", value="none")])
        assert r.successful and node.pipeline.refinement.refiner is None
        (r,) = node.set_parameters([Parameter("refine", value="bogus")])
        assert not r.successful and "refine" in r.reason and node.pipeline.config.refine == "none"
        (r,) = node.set_parameters([Parameter("publish_markers", value=False)])
        assert r.successful and node.config.publish_markers is False
        # model choices are read on configure: refused with the way to change them
        (r,) = node.set_parameters([Parameter("detector", value="mediapipe")])
        assert not r.successful and "configure" in r.reason
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        (r,) = node.set_parameters([Parameter("image_qos", value="best_effort")])
        assert r.successful
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.config.image_qos == "best_effort"
        assert node.config.pipeline.contact.threshold_m == pytest.approx(0.03)
    finally:
        node.trigger_shutdown()
        node.destroy_node()


def test_keyframe_refinement_thread_follows_the_lifecycle(ctx):
    node = ScoreHOINode(context=ctx, parameter_overrides=[Parameter("keyframe_refine",
                                                                    value="paper")])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        worker = node.pipeline.keyframe_worker
        assert "keyframes" in node._pubs and worker.alive
        assert node.count_publishers("/scorehoi/interactions_keyframe") == 1
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert not worker.alive
    finally:
        node.trigger_shutdown()
        node.destroy_node()
