"""The offline detector and the pipeline on a real photo (shipped inside the ultralytics wheel)."""

import numpy as np
import pytest

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect.mediapipe_pose import MEDIAPIPE33, MediaPipePoseDetector
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.types import CameraIntrinsics, Frame


@pytest.fixture(scope="module")
def pipeline():
    cfg = PipelineConfig()
    p = Pipeline(cfg, detector=MediaPipePoseDetector(1, 0.5, static_image_mode=True))
    yield p
    p.close()


def test_detects_the_person_in_a_real_photo(pipeline, person_640x480):
    det = pipeline.detector(person_640x480)
    assert det.detector == "mediapipe" and len(det.persons) == 1
    p = det.persons[0]
    assert p.keypoints_2d.shape == (33, 2) == (len(MEDIAPIPE33), 2)
    assert p.keypoints_3d.shape == (33, 3) and p.mask.shape == (480, 640)
    # the left man of bus.jpg occupies x 50..245, y 400..900 in the original (crop 330.., x0.8)
    u0, v0, u1, v1 = p.box
    assert 20 < u0 < 90 and 120 < u1 < 230, p.box  # keypoint box (inside the silhouette)
    assert 40 < v0 < 110 and 400 < v1 < 480, p.box
    assert p.mask[int((v0 + v1) / 2), int((u0 + u1) / 2)]


def test_pipeline_reconstruction_reprojects_onto_the_keypoints(pipeline, person_640x480):
    cam = CameraIntrinsics.from_fov(640, 480, 60.0)
    res = pipeline.step(Frame(rgb=person_640x480, camera=cam, stamp_ns=42, frame_id="cam"))
    assert res.stamp_ns == 42 and res.frame_id == "cam"
    assert len(res.interactions) == 1
    h = res.interactions[0].human
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
    assert set(res.stage_ms) == {"detect", "estimate"}


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
