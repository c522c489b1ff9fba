import dataclasses

import pytest
import yaml

from scorehoi_node.core.config import (AssignmentConfig, ContactConfig, NodeConfig,
                                       PipelineConfig, flat_names)
from tests.conftest import ROOT


def test_defaults_are_valid_and_flat_roundtrip():
    cfg = NodeConfig()
    flat = cfg.to_flat_dict()
    assert flat["detector"] == "mediapipe" and flat["image_qos"] == "reliable"
    assert NodeConfig.from_flat_dict(flat) == cfg
    # nested config dataclasses flatten with their field name as prefix
    n_fields = (len(dataclasses.fields(PipelineConfig)) - 2 + len(dataclasses.fields(ContactConfig))
                + len(dataclasses.fields(AssignmentConfig)) + len(dataclasses.fields(NodeConfig))
                - 1)
    assert len(flat) == n_fields
    assert flat["contact_threshold_m"] == cfg.pipeline.contact.threshold_m == 0.03
    assert flat["contact_guidance_hinge_m"] == 0.02 and "contact" not in flat
    changed = NodeConfig.from_flat_dict({"contact_band_m": 0.05, "refine_rounds": 3})
    assert changed.pipeline.contact.band_m == 0.05 and changed.pipeline.refine_rounds == 3
    assert changed.pipeline.contact.threshold_m == 0.03
    assert flat["assign_touch_m"] == 0.25 and "assign" not in flat
    moved = NodeConfig.from_flat_dict({"assign_image_gate": 0.3})
    assert moved.pipeline.assign == AssignmentConfig(image_gate=0.3)


def test_flat_names_of_nested_fields():
    names = flat_names(PipelineConfig(), ("contact", "refine"))
    assert names == {"refine", "contact_predictor", "contact_checkpoint", "contact_threshold_m",
                     "contact_scale_m", "contact_guidance_hinge_m", "contact_part_radius_m",
                     "contact_band_m"}


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
    ("object_source", "lidar", "object_source='lidar' is not one of rgbd, ultralytics"),
    ("contact_threshold_m", 0.5, r"contact_threshold_m=0.5 must be within"),
    ("assign_touch_m", 0.0, r"assign_touch_m=0.0 must be within"),
    ("contact_predictor", "oracle", "contact_predictor='oracle' is not one of learned, distance"),
    ("refine_rounds", -1, "refine_rounds"),
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
