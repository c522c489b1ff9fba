"""The offline detector and the pipeline on a real photo (shipped inside the ultralytics wheel)."""

import numpy as np
import pytest

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector
from scorehoi_node.core.keypoints import MEDIAPIPE33
from scorehoi_node.core.stages.object_sources import RGBDSource
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.types import CameraIntrinsics, Frame


@pytest.fixture(scope="module")
def pipeline():
    cfg = PipelineConfig()
    p = Pipeline(cfg, detector=MediaPipePoseDetector(1, 0.5, static_image_mode=True))
    yield p
    p.close()


def test_detects_the_person_in_a_real_photo(pipeline, person_640x480):
    det = pipeline.persons.detector(person_640x480)
    assert det.detector == "mediapipe" and len(det.persons) == 1
    p = det.persons[0]
    assert p.keypoints_2d.shape == (33, 2) == (len(MEDIAPIPE33), 2)
    assert p.keypoints_3d.shape == (33, 3) and p.mask.shape == (480, 640)
    # the left man of bus.jpg occupies x 50..245, y 400..900 in the original (crop 330.., x0.8)
    u0, v0, u1, v1 = p.box
    assert 20 < u0 < 90 and 120 < u1 < 230, p.box  # keypoint box (inside the silhouette)
    assert 40 < v0 < 110 and 400 < v1 < 480, p.box
    assert p.mask[int((v0 + v1) / 2), int((u0 + u1) / 2)]


def test_skeleton_reconstruction_reprojects_onto_the_keypoints(person_640x480):
    cam = CameraIntrinsics.from_fov(640, 480, 60.0)
    p = Pipeline(PipelineConfig(body_model="skeleton", object_source="none"),
                 detector=MediaPipePoseDetector(1, 0.5, static_image_mode=True))
    try:
        res = p.step(Frame(rgb=person_640x480, camera=cam, stamp_ns=42, frame_id="cam"))
    finally:
        p.close()
    assert res.stamp_ns == 42 and res.frame_id == "cam"
    assert len(res.interactions) == 1
    h = res.interactions[0].human
    assert h.body_model == "skeleton" and h.vertices is None
    assert 1.0 < h.root_position[2] < 8.0
    from scorehoi_node.core.estimate.skeleton import joints_from_mediapipe

    person = res.detections.persons[0]
    want_uv = joints_from_mediapipe(person.keypoints_2d)
    err = np.linalg.norm(cam.project(h.joint_positions) - want_uv, axis=1)
    assert np.median(err) < 8.0, err  # pixels, on a ~380 px tall person
    # a plausible adult: pelvis-to-head 0.5..0.9 m, thigh 0.3..0.6 m
    trunk = np.linalg.norm(h.joint_positions[3] - h.joint_positions[0])
    thigh = np.linalg.norm(h.joint_positions[11] - h.joint_positions[10])
    assert 0.45 < trunk < 0.9 and 0.3 < thigh < 0.6


def test_body_model_reconstruction_covers_the_person(pipeline, person_640x480):
    """Default pipeline (anny fit): the mesh projects onto MediaPipe's person mask and its
    limb joints onto the matching landmarks."""
    cam = CameraIntrinsics.from_fov(640, 480, 60.0)
    res = pipeline.step(Frame(rgb=person_640x480, camera=cam, stamp_ns=7, frame_id="cam"))
    (inter,) = res.interactions
    h = inter.human
    assert h.body_model == "anny" and h.vertices.shape == (13718, 3) and inter.obj is None
    person = res.detections.persons[0]
    uv = np.round(cam.project(h.vertices)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < 640) & (uv[:, 1] >= 0) & (uv[:, 1] < 480)
    assert inside.mean() > 0.95
    assert person.mask[uv[inside, 1], uv[inside, 0]].mean() > 0.7
    pairs = {"upperarm01.L": 11, "upperarm01.R": 12, "lowerarm01.L": 13, "lowerarm01.R": 14,
             "lowerleg01.L": 25, "lowerleg01.R": 26, "foot.L": 27, "foot.R": 28}
    idx = [h.joint_names.index(j) for j in pairs]
    err = np.linalg.norm(cam.project(h.joint_positions[idx]) - person.keypoints_2d[list(pairs.values())],
                         axis=1)
    assert np.median(err) < 20.0, err  # px; anny joints sit inside the body, landmarks near it
    assert set(res.stage_ms) == {"detect", "human", "object", "contacts", "refine"}


def test_empty_image_gives_no_interactions(pipeline):
    cam = CameraIntrinsics.from_fov(320, 240, 60.0)
    res = pipeline.step(Frame(rgb=np.full((240, 320, 3), 127, np.uint8), camera=cam))
    assert res.interactions == [] and res.detections.persons == []


def test_track_ids_are_stable_across_frames(person_640x480):
    cam = CameraIntrinsics.from_fov(640, 480, 60.0)
    p = Pipeline(PipelineConfig(), detector=MediaPipePoseDetector(1, 0.5, static_image_mode=True))
    try:
        ids = [p.step(Frame(rgb=person_640x480, camera=cam, stamp_ns=i)).interactions[0].track_id
               for i in range(3)]
        blank = p.step(Frame(rgb=np.zeros((480, 640, 3), np.uint8), camera=cam, stamp_ns=3))
        again = p.step(Frame(rgb=person_640x480, camera=cam, stamp_ns=4)).interactions[0].track_id
    finally:
        p.close()
    assert ids == [1, 1, 1] and blank.interactions == [] and again == 1


def test_ultralytics_objects_fall_back_to_rgbd_with_one_note(monkeypatch):
    """No weights can be downloaded here: the pipeline says so once and uses depth objects."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    p = Pipeline(PipelineConfig(object_source="ultralytics", ultralytics_weights="yolo11n-seg.pt"),
                 detector=MediaPipePoseDetector(1, 0.5, static_image_mode=True))
    try:
        assert isinstance(p.objects.source, RGBDSource) and len(p.notes) == 1
        assert "ultralytics unavailable" in p.notes[0] and "using rgbd" in p.notes[0]
        assert "\n" not in p.notes[0]
    finally:
        p.close()
