import dataclasses

import pytest
import yaml

from scorehoi_node.core.config import NodeConfig, PipelineConfig
from tests.conftest import ROOT


def test_defaults_are_valid_and_flat_roundtrip():
    cfg = NodeConfig()
    flat = cfg.to_flat_dict()
    assert flat["detector"] == "mediapipe" and flat["image_qos"] == "reliable"
    assert NodeConfig.from_flat_dict(flat) == cfg
    n_fields = len(dataclasses.fields(PipelineConfig)) + len(dataclasses.fields(NodeConfig)) - 1
    assert len(flat) == n_fields


@pytest.mark.parametrize("name,value,match", [
    ("detector", "yolo9000", "detector='yolo9000' is not one of"),
    ("image_qos", "sometimes", "image_qos"),
    ("min_person_score", 1.5, r"within \[0.0, 1.0\]"),
    ("max_persons", 0, "max_persons"),
    ("mediapipe_model_complexity", 2, "mediapipe_model_complexity"),
    ("device", "tpu", "device"),
    ("refine", "maybe", "refine"),
    ("tf_prefix", "a/b", "tf_prefix"),
    ("max_persons", "4", "must be of type int"),
    ("publish_tf", 1, "must be of type bool"),
    ("detecter", "mediapipe", "unknown parameter"),
])
def test_bad_values_raise_clear_errors(name, value, match):
    with pytest.raises(ValueError, match=match):
        NodeConfig.from_flat_dict({name: value})


def test_int_is_accepted_for_float_fields():
    assert NodeConfig.from_flat_dict({"warn_throttle_s": 2}).warn_throttle_s == 2.0


def test_params_file_matches_the_defaults():
    """config/scorehoi.yaml names every parameter once, with the dataclass default."""
    doc = yaml.safe_load((ROOT / "config" / "scorehoi.yaml").read_text())
    params = doc["/**"]["ros__parameters"]
    assert params == NodeConfig().to_flat_dict()
