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
        assert node.count_subscribers("/scorehoi/interactions") >= 0
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
