"""`scorehoi eval`: takes the folder `scorehoi synth` wrote, refines by default as the node
does, and a wrong topic name lists the bag's topics with their types."""

from __future__ import annotations

import json

import pytest
import typer

from scorehoi_node.commands.evaluate import pipeline_config
from scorehoi_node.core.config import PipelineConfig
from tests.test_startup import NOISE, scorehoi


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "run"
    scorehoi(out.parent / "logs", "synth", "--out", out, "--frames", 2, "--seq-len", 1,
             "--seed", 5)
    return out


def test_the_refinement_default_is_the_nodes(tmp_path):
    assert pipeline_config(None, {}) == PipelineConfig()
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    refine: none\n    max_persons: 2\n")
    assert pipeline_config(params, {}).refine == "none"
    assert pipeline_config(params, {"refine": "paper"}).refine == "paper"
    assert pipeline_config(params, {}).max_persons == 2
    with pytest.raises(typer.BadParameter, match="refine='slow' is not one of"):
        pipeline_config(None, {"refine": "slow"})


@pytest.mark.slow
def test_eval_takes_the_folder_synth_wrote(synth_out, tmp_path):
    res = scorehoi(tmp_path / "logs", "eval", synth_out, "--out", tmp_path / "ev",
                   "--no-report")
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["bag"] == str(synth_out / "bag")
    assert m["frames_in"] == m["frames_out"] == 2 and m["dropped"] == {}
    assert m["refine"] == PipelineConfig().refine == "fast"  # what the node runs
    assert m["frames_with_person"] == 2
    assert not NOISE.search(res.stdout + res.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("option, topic, problem", [
    ("--image-topic", "/front/image", "no sensor_msgs/msg/Image messages on /front/image"),
    ("--image-topic", "/camera/camera_info",
     "/camera/camera_info carries sensor_msgs/msg/CameraInfo, not sensor_msgs/msg/Image"),
    ("--info-topic", "/camera/info", "no sensor_msgs/msg/CameraInfo messages on /camera/info")])
def test_a_wrong_topic_lists_the_bags_topics_with_their_types(synth_out, tmp_path, option,
                                                              topic, problem):
    res = scorehoi(tmp_path, "eval", synth_out / "bag", "--out", tmp_path / "ev", option, topic,
                   check=False)
    text = res.stdout + res.stderr
    assert res.returncode == 2 and problem in text, text
    for name, msgtype in (("/camera/image_raw", "sensor_msgs/msg/Image"),
                          ("/camera/camera_info", "sensor_msgs/msg/CameraInfo"),
                          ("/camera/depth", "sensor_msgs/msg/Image"),
                          ("/scorehoi/ground_truth",
                           "scorehoi_msgs/msg/HumanObjectInteractionArray")):
        assert f"{name}  {msgtype}  (2 messages)" in text
    assert not (tmp_path / "ev").exists()
