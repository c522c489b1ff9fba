"""Registries: every member of every registry builds and honours its protocol (contract tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.diffusion.guidance import make_reconstruction
from scorehoi_node.core.diffusion.guidance.base import Observation
from scorehoi_node.core.registry import (GUIDANCE_TERMS, OBJECT_SOURCES, PERSON_DETECTORS,
                                         Registry)
from scorehoi_node.core.stages.humans import HumanStage
from scorehoi_node.core.stages.tracking import TrackingStage
from scorehoi_node.core.types import (CameraIntrinsics, Detections, Frame, ObjectCandidate,
                                      ObjectDetection,
                                      PersonDetection)


def test_registry_names_resolve_and_unknown_names_list_the_choices():
    reg = Registry("widget", {"a": "scorehoi_node.core.types:Frame",
                              "b": "scorehoi_node.core.types:CameraIntrinsics.from_fov"})
    assert reg.names() == ("a", "b") and "a" in reg and "c" not in reg
    assert reg.get("a") is Frame and reg.get("b") == CameraIntrinsics.from_fov
    with pytest.raises(ValueError, match="widget='c' is not one of a, b"):
        reg.get("c")
    with pytest.raises(ValueError, match="module:attribute"):
        Registry("widget", {"a": "scorehoi_node.core.types.Frame"})


# -- person detectors --------------------------------------------------------------------------
@pytest.mark.parametrize("name", PERSON_DETECTORS.names())
def test_person_detector_contract(name, person_640x480):
    detector = PERSON_DETECTORS.get(name).from_config(PipelineConfig(detector=name))
    try:
        assert detector.name == name
        out = detector(person_640x480)
        assert isinstance(out, Detections) and out.detector == name
        assert len(out.persons) >= 1, "the real photo shows a person"
        h, w = person_640x480.shape[:2]
        for p in out.persons:
            assert isinstance(p, PersonDetection)
            k = len(p.keypoints_2d)
            assert p.keypoints_2d.shape == (k, 2) and p.keypoint_scores.shape == (k,)
            assert 0.0 <= p.score <= 1.0 and p.box.shape == (4,)
            assert 0 <= p.box[0] < p.box[2] <= w and 0 <= p.box[1] < p.box[3] <= h
            assert p.mask is None or p.mask.shape == (h, w)
        # the node reads these for /diagnostics: an input of another size rebuilds, counted
        assert detector.recoveries == 0 and isinstance(detector.last_recovery, str)
        detector(np.ascontiguousarray(person_640x480[::2, ::2]))
        assert detector.recoveries == 1 and "320x240" in detector.last_recovery
    finally:
        detector.close()


# -- object sources ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frame_and_persons(rendered):
    """The rendered RGB-D frame, its person through the real detector and body fit, and the
    ground-truth object as an external detection."""
    sf, library = rendered
    frame = Frame(rgb=sf.rgb, camera=sf.camera, depth=sf.depth)
    config = PipelineConfig()
    detector = PERSON_DETECTORS.get("mediapipe").from_config(config)
    try:
        tracked = TrackingStage(config)(detector(frame.rgb))
    finally:
        detector.close()
    persons = HumanStage(config, make_body_model("anny"))(frame, tracked)
    assert len(persons) == 1
    mask = sf.mask == 2
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    tmpl = library.by_id(sf.scene.object_id)
    external = Detections([], [ObjectDetection(tmpl.coco_class, box, 0.9, None)], "test")
    return frame, persons, external


@pytest.mark.parametrize("name", OBJECT_SOURCES.names())
def test_object_source_contract(name, frame_and_persons):
    frame, persons, external = frame_and_persons
    source = OBJECT_SOURCES.get(name).from_config(PipelineConfig(object_source=name))
    assert all("\n" not in note for note in source.notes)
    candidates = source(frame, persons, external)
    assert isinstance(candidates, list)
    h, w = frame.rgb.shape[:2]
    for c in candidates:
        assert isinstance(c, ObjectCandidate) and c.source == source.name
        assert c.box.shape == (4,) and 0.0 <= c.score <= 1.0
        assert c.mask is None or (c.mask.shape == (h, w) and c.mask.dtype == bool)
        assert c.points is None or (c.points.ndim == 2 and c.points.shape[1] == 3)
        assert c.person is None or 0 <= c.person < len(persons)
    if name == "none":
        assert candidates == []
    else:  # this frame has a held object: every real source finds one (ultralytics: no
        # weights here, so its rgbd fallback does, and says so in its notes)
        assert candidates, name
    if name == "ultralytics":
        assert source.name == "rgbd" and "unavailable" in source.notes[0]
    if name == "external":
        assert candidates[0].class_name == external.objects[0].class_name


# -- guidance terms ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", GUIDANCE_TERMS.names())
def test_guidance_term_contract(name, rendered):
    """Every term: its registry name, a default weight, a (B,) finite non-negative loss with a
    finite gradient on a real reconstruction and a full observation, zero gradient never NaN."""
    sf, library = rendered
    cls = GUIDANCE_TERMS.get(name)
    assert cls.name == name and float(cls.default_weight) >= 0.0
    body = make_body_model("anny")
    template = library.by_id(sf.scene.object_id)
    transl = torch.tensor(np.stack([sf.object_transl, sf.object_transl + [0.05, 0, 0]]),
                          dtype=torch.float32, requires_grad=True)
    rot = torch.tensor(np.stack([sf.object_rotmat] * 2), dtype=torch.float32)
    def two(a):
        t = torch.as_tensor(np.asarray(a), dtype=torch.float32)[None]
        return t.expand(2, *t.shape[1:])

    root = two(sf.root_transl).clone().requires_grad_(True)
    out = body(body_pose_rotmat=two(sf.scene.body_pose_rotmat), shape=two(sf.scene.shape),
               root_rotmat=two(sf.root_rotmat), root_transl=root)
    recon = make_reconstruction(body, out, rot, transl)
    uv = sf.camera.project(sf.human_joints)
    kp = torch.zeros(33, 2)
    kp[:len(uv[:33])] = torch.as_tensor(uv[:33], dtype=torch.float32)
    contact_mask = torch.ones(2, body.contact_vertex_ids.numel(), dtype=torch.bool)
    obs = Observation(camera_K=torch.as_tensor(sf.camera.K, dtype=torch.float32),
                      template=template, contact_mask=contact_mask,
                      floor_plane=torch.as_tensor(sf.floor_plane, dtype=torch.float32),
                      keypoints_2d=kp, keypoint_scores=torch.full((33,), 0.5),
                      object_mask_distance=torch.ones(sf.camera.height, sf.camera.width),
                      object_points=torch.as_tensor(sf.object_transl, dtype=torch.float32)[None],
                      human_points=torch.as_tensor(sf.human_joints, dtype=torch.float32))
    loss = cls()(recon, obs)
    assert loss.shape == (2,) and torch.isfinite(loss).all() and (loss >= 0).all()
    grads = torch.autograd.grad(loss.sum(), (transl, root), allow_unused=True)
    assert any(g is not None for g in grads), "the loss must depend on the reconstruction"
    assert all(torch.isfinite(g).all() for g in grads if g is not None)
