"""Detection backends (ultralytics YOLO-seg/pose, RGB-D hand objects) and the box tracker.

No test downloads weights: ultralytics models are built from their yaml (random weights) and the
post-processing is checked on hand-made `Results` with known boxes, masks and classes.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from scorehoi_node.core.detect.rgbd_objects import RGBDObjectConfig, segment_hand_objects
from scorehoi_node.core.detect.tracking import BoxTracker, DetectionTracker, TrackerConfig, box_iou
from scorehoi_node.core.detect.ultralytics_seg import (DetectorUnavailable, UltralyticsSegDetector,
                                                       class_filter_ids, resolve_weights,
                                                       results_to_detections)
from scorehoi_node.core.keypoints import person_wrists
from scorehoi_node.core.objects.classes import COCO80
from scorehoi_node.core.types import (CameraIntrinsics, Detections, ObjectDetection,
                                      PersonDetection)

NAMES = dict(enumerate(COCO80))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


# -- ultralytics: loading -------------------------------------------------------------------------
def test_missing_weights_name_offline_fails_fast_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(DetectorUnavailable) as e:
        UltralyticsSegDetector("yolo11n-seg.pt", download_dir=tmp_path)
    assert time.perf_counter() - t0 < 5.0
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith("ultralytics weights 'yolo11n-seg.pt' not found locally and could "
                           "not be downloaded: ")
    assert text.endswith("pass a local weights path or use detector=mediapipe")
    assert not list(tmp_path.iterdir())  # no partial download left behind


def test_failed_download_is_one_attempt_and_one_line(monkeypatch, tmp_path):
    import ultralytics.utils
    import ultralytics.utils.downloads

    calls = []

    def fail(file, **kwargs):
        calls.append((file, kwargs))
        raise ConnectionError("❌  Download failure for https://github.com/x.\nHTTP 403")

    monkeypatch.setattr(ultralytics.utils, "is_online", lambda: True)
    monkeypatch.setattr(ultralytics.utils.downloads, "attempt_download_asset", fail)
    with pytest.raises(DetectorUnavailable) as e:
        resolve_weights("yolo11n-seg.pt", download_dir=tmp_path)
    assert str(e.value) == (
        "ultralytics weights 'yolo11n-seg.pt' not found locally and could not be downloaded: "
        "Download failure for https://github.com/x. HTTP 403; pass a local weights path or use "
        "detector=mediapipe")
    assert calls == [(tmp_path / "yolo11n-seg.pt", {"retry": 0, "progress": False})]


def test_untrained_models_get_coco_names():
    from scorehoi_node.core.detect.ultralytics_seg import model_class_names

    assert model_class_names({i: str(i) for i in range(80)}) == NAMES
    assert model_class_names({0: "0"}, "pose") == {0: "person"}
    assert model_class_names({0: "mug", 1: "1"}) == {0: "mug", 1: "1"}


def test_missing_weights_path_is_never_downloaded(tmp_path):
    with pytest.raises(DetectorUnavailable, match="does not exist"):
        resolve_weights(str(tmp_path / "nope" / "yolo11n-seg.pt"))
    with pytest.raises(DetectorUnavailable, match="not an ultralytics release asset"):
        resolve_weights("my-own-model.pt", download_dir=tmp_path)


@pytest.fixture(scope="module")
def random_seg_weights(tmp_path_factory):
    """A yolo11n-seg model with random (seeded) weights, saved as a local .pt file."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "random-seg.pt"
    YOLO("yolo11n-seg.yaml").save(path)
    return path


def test_local_weights_file_loads_and_runs_on_a_real_image(random_seg_weights, bus_rgb, tmp_path):
    det = UltralyticsSegDetector(str(random_seg_weights), min_score=0.0, max_det=4)
    assert det.task == "segment" and det.names[0] == "person"
    # a bare name found in the download folder is used without any download
    (tmp_path / "yolo11n-seg.pt").write_bytes(random_seg_weights.read_bytes())
    local = tmp_path / "yolo11n-seg.pt"
    assert resolve_weights("yolo11n-seg.pt", download_dir=tmp_path) == str(local)

    out = det(bus_rgb)
    h, w = bus_rgb.shape[:2]
    assert isinstance(out, Detections) and out.detector == "ultralytics"
    found = [*out.persons, *out.objects]
    assert 1 <= len(found) <= 4
    for d in found:
        assert d.box.shape == (4,) and d.box.dtype == np.float64
        assert 0 <= d.box[0] <= d.box[2] <= w and 0 <= d.box[1] <= d.box[3] <= h
        assert 0.0 <= d.score <= 1.0
        assert d.mask is not None and d.mask.shape == (h, w) and d.mask.dtype == bool
    for p in out.persons:
        assert p.keypoint_layout == "none" and p.keypoints_2d.shape == (0, 2)
        assert p.keypoint_scores.shape == (0,) and p.keypoints_3d is None
    for o in out.objects:
        assert o.class_name in COCO80 and o.class_name != "person"
    det.close()


def test_class_filter_accepts_names_and_ids_and_rejects_unknown():
    assert class_filter_ids(None, NAMES) is None
    assert class_filter_ids(["cup", 0, "person"], NAMES) == [0, 41]
    with pytest.raises(ValueError, match="'mug' is not a class"):
        class_filter_ids(["mug"], NAMES)


# -- ultralytics: post-processing on hand-made Results -------------------------------------------
def _results(boxes, masks=None, keypoints=None, shape=(100, 200)):
    import torch
    from ultralytics.engine.results import Results

    return Results(
        orig_img=np.zeros((*shape, 3), np.uint8), path="x.jpg", names=NAMES,
        boxes=torch.tensor(boxes, dtype=torch.float32),
        masks=None if masks is None else torch.as_tensor(masks, dtype=torch.float32),
        keypoints=None if keypoints is None else torch.as_tensor(keypoints, dtype=torch.float32))


def test_postprocessing_boxes_classes_scores_and_letterboxed_masks():
    # image 100x200 (H x W); network input 128x128: gain 0.64, content 64x128, top pad 32 rows
    net = np.zeros((3, 128, 128), np.float32)
    net[0, 32 + 16:32 + 32, 32:64] = 1  # person -> image rows 25:50, cols 50:100
    net[1, 32 + 32:32 + 64, 96:128] = 1  # cup    -> image rows 50:100, cols 150:200
    net[2, 32:96, 0:128] = 1  # chair with a low score: dropped
    boxes = [[50, 25, 100, 50, 0.9, 0], [150, 50, 210, 100, 0.6, 41], [0, 0, 200, 100, 0.1, 56]]
    out = results_to_detections(_results(boxes, net), min_score=0.25)
    assert [p.score for p in out.persons] == [pytest.approx(0.9)]
    assert [(o.class_name, round(o.score, 3)) for o in out.objects] == [("cup", 0.6)]
    np.testing.assert_allclose(out.persons[0].box, [50, 25, 100, 50])
    np.testing.assert_allclose(out.objects[0].box, [150, 50, 200, 100])  # clipped to the image
    want_person = np.zeros((100, 200), bool)
    want_person[25:50, 50:100] = True
    want_cup = np.zeros((100, 200), bool)
    want_cup[50:100, 150:200] = True
    assert out.persons[0].mask.shape == (100, 200)
    assert _iou(out.persons[0].mask, want_person) > 0.9
    assert _iou(out.objects[0].mask, want_cup) > 0.9
    assert out.persons[0].keypoint_layout == "none"

    # class filter (ids) and full-resolution (retina) masks are used as they are
    full = np.stack([want_person, want_cup, np.ones((100, 200), bool)]).astype(np.float32)
    only_cup = results_to_detections(_results(boxes, full), min_score=0.0, class_ids=[41])
    assert only_cup.persons == [] and [o.class_name for o in only_cup.objects] == ["cup"]
    assert np.array_equal(only_cup.objects[0].mask, want_cup)
    everything = results_to_detections(_results(boxes, full), min_score=0.0)
    assert [o.class_name for o in everything.objects] == ["cup", "chair"]


def test_postprocessing_pose_results_give_coco17_keypoints():
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, :, 0] = np.arange(17) + 10
    kps[0, :, 1] = 40
    kps[0, :, 2] = 0.8
    out = results_to_detections(_results([[5, 5, 60, 90, 0.7, 0]], keypoints=kps), min_score=0.5)
    (p,) = out.persons
    assert p.keypoint_layout == "coco17" and p.mask is None
    assert p.keypoints_2d.shape == (17, 2) and p.keypoint_scores.shape == (17,)
    np.testing.assert_allclose(p.keypoints_2d[:, 0], np.arange(17) + 10)
    np.testing.assert_allclose(p.keypoint_scores, 0.8, atol=1e-6)
    wrists, scores = person_wrists(p)
    np.testing.assert_allclose(wrists, [[19, 40], [20, 40]])  # COCO-17 wrists are 9 and 10


def test_empty_results_give_empty_detections():
    import torch
    from ultralytics.engine.results import Results

    r = Results(orig_img=np.zeros((10, 20, 3), np.uint8), path="x", names=NAMES,
                boxes=torch.zeros((0, 6)))
    out = results_to_detections(r)
    assert out.persons == [] and out.objects == []


# -- RGB-D hand objects ---------------------------------------------------------------------------
CAM = CameraIntrinsics.from_fov(320, 240, 60.0)


def _scene(held_x=(0.57, 0.82)):
    """Camera 1 m above the floor looking level; wall at 4 m; a flat person cut-out at 2.5 m
    with the right arm stretched out (wrist at x=0.55 m); a box held at the wrist (z=2.42 m)
    and a second box standing on the floor 1 m to the person's left (z=2.5 m)."""
    h, w = CAM.height, CAM.width
    u = (np.arange(w) + 0.5 - CAM.cx) / CAM.fx  # x/z per column
    v = (np.arange(h) + 0.5 - CAM.cy) / CAM.fy  # y/z per row
    U, V = np.meshgrid(u, v)
    inf = np.full((h, w), np.inf)

    def rect(z, x0, x1, y0, y1):
        x, y = U * z, V * z
        return np.where((x >= x0) & (x < x1) & (y >= y0) & (y < y1), z, inf)

    floor = np.where(V > 1e-6, 1.0 / np.maximum(V, 1e-6), inf)  # y = 1 m
    wall = np.full((h, w), 4.0)
    person = np.minimum(rect(2.5, -0.2, 0.2, -0.7, 1.0), rect(2.5, 0.2, 0.55, -0.2, -0.1))
    held = rect(2.42, held_x[0], held_x[1], -0.3, -0.05)
    far = rect(2.5, -1.25, -0.95, 0.7, 1.0)
    layers = np.stack([floor, wall, person, held, far])
    depth = layers.min(0).astype(np.float32)
    front = layers.argmin(0)
    wrist_uv = CAM.project(np.array([[0.55, -0.15, 2.5], [-0.2, 0.3, 2.5]]))
    return depth, front == 2, front == 3, front == 4, front == 0, wrist_uv


def test_rgbd_returns_the_box_in_the_hand_only():
    depth, person, held, far, floor, wrists = _scene()
    objs = segment_hand_objects(depth, CAM, person, wrists, np.array([0.9, 0.9]),
                                class_name="box")
    assert len(objs) == 1
    (obj,) = objs
    m = obj.detection.mask
    assert obj.detection.class_name == "box" and 0 < obj.detection.score <= 1
    assert _iou(m, held) >= 0.8
    assert not (m & person).any() and not (m & floor).any() and not (m & far).any()
    vs, us = np.nonzero(held)
    np.testing.assert_allclose(obj.detection.box, [us.min(), vs.min(), us.max() + 1, vs.max() + 1],
                               atol=4)
    assert obj.wrist_index == 0 and obj.hand_distance_m < 0.15
    assert obj.points.shape == (m.sum(), 3)
    np.testing.assert_allclose(obj.points[:, 2], 2.42, atol=1e-5)


def test_rgbd_object_away_from_the_hands_is_not_returned():
    depth, person, held, far, floor, wrists = _scene(held_x=(1.0, 1.25))
    assert held.sum() > 500
    assert segment_hand_objects(depth, CAM, person, wrists) == []
    # a wrist with a low score does not count; no usable wrist -> nothing
    depth, person, held, far, floor, wrists = _scene()
    assert segment_hand_objects(depth, CAM, person, wrists, np.array([0.1, 0.9])) == []


def test_rgbd_config_rejects_bad_values():
    with pytest.raises(ValueError, match="max_hand_distance_m"):
        RGBDObjectConfig(max_hand_distance_m=0.0)
    with pytest.raises(ValueError, match="min_depth_m"):
        RGBDObjectConfig(min_depth_m=5.0, max_depth_m=1.0)


# -- tracking -------------------------------------------------------------------------------------
def _box(cx, cy, w=40, h=80):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_box_iou():
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10],
                                                          [20, 20, 30, 30]]),
                               [[1.0, 1 / 3, 0.0]])


def test_ids_stable_on_a_moving_box_and_new_id_on_appearance():
    tr = BoxTracker()
    ids = [tr.update([_box(100 + 8 * t, 100)])[0] for t in range(20)]
    assert ids == [1] * 20
    both = tr.update([_box(300, 300), _box(100 + 8 * 20, 100)])
    assert both.tolist() == [2, 1]


def test_id_retired_after_max_age():
    tr = BoxTracker(TrackerConfig(max_age=3))
    assert tr.update([_box(100, 100)]).tolist() == [1]
    for _ in range(3):  # missing for max_age frames: still alive
        assert tr.update(np.zeros((0, 4))).tolist() == []
    assert tr.update([_box(100, 100)]).tolist() == [1]
    for _ in range(4):  # missing for more than max_age frames: retired
        tr.update(np.zeros((0, 4)))
    assert tr.track_ids.tolist() == []
    assert tr.update([_box(100, 100)]).tolist() == [2]  # ids are never reused


def test_crossing_tracks_keep_their_ids():
    tr = BoxTracker()
    seen = []
    for t in range(21):  # two boxes move towards each other, overlap at t=10, then part
        a, b = _box(100 + 10 * t, 100), _box(300 - 10 * t, 104)
        seen.append(tr.update([a, b] if t % 2 else [b, a]).tolist())
    first = seen[0]  # [id of b, id of a] at t=0
    for t, ids in enumerate(seen):
        assert ids == (first[::-1] if t % 2 else first), (t, ids)


def test_labels_keep_objects_of_other_classes_apart():
    tr = DetectionTracker()

    def dets(name):
        return Detections(persons=[PersonDetection(np.zeros((0, 2)), np.zeros(0), None, "none",
                                                   np.array(_box(50, 50)), 0.9)],
                          objects=[ObjectDetection(name, np.array(_box(200, 50, 20, 20)), 0.8)],
                          detector="t")

    first = tr(dets("cup"))
    assert first.persons.tolist() == [1] and first.objects.tolist() == [1]
    again = tr(dets("cup"))
    assert again.persons.tolist() == [1] and again.objects.tolist() == [1]
    assert tr(dets("bottle")).objects.tolist() == [2]  # same place, other class: new object


def test_body_surface_mask_separates_a_held_object_from_the_body():
    """Pixels on the fitted body surface are the person; an object in front of it is not."""
    from scorehoi_node.core.geometry import body_surface_mask

    cam = CameraIntrinsics.from_fov(160, 120, 60.0)
    # a dense 'torso' sheet of vertices at z = 2 m covering the image centre
    xs, ys = np.meshgrid(np.linspace(-0.3, 0.3, 120), np.linspace(-0.4, 0.4, 160))
    verts = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 2.0)], axis=1)
    depth = np.full((120, 160), 4.0, np.float32)  # background wall
    uv = cam.project(verts)
    u0, v0 = np.floor(uv.min(0)).astype(int) + 2
    u1, v1 = np.ceil(uv.max(0)).astype(int) - 2
    depth[v0:v1, u0:u1] = 2.02                      # body surface
    depth[60:70, 75:85] = 1.75                       # a box held 25 cm in front of it
    m = body_surface_mask(verts, cam, depth)
    assert m[v0 + 3:v1 - 3, u0 + 3:u0 + 10].all()    # body pixels
    assert not m[60:70, 75:85].any()                 # the held box
    assert not m[:5, :5].any()                       # the wall


# -- MediaPipe: never silenced by its input ------------------------------------------------------
@pytest.mark.parametrize("static_image_mode", [False, True])
def test_mediapipe_recovers_from_a_resolution_change(person_640x480, static_image_mode):
    """640x480 -> 320x240 -> 640x480: the legacy graph fails on a new input size and then on
    every later call ("Graph has errors") unless it is rebuilt; each frame finds the person
    where it is (shoulders and hips; the 320x240 frame at half the coordinates)."""
    import cv2

    from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector

    small = cv2.resize(person_640x480, (320, 240), interpolation=cv2.INTER_AREA)
    det = MediaPipePoseDetector(1, 0.5, static_image_mode=static_image_mode)
    try:
        first = det(person_640x480)
        assert det.recoveries == 0 and len(first.persons) == 1
        torso = [11, 12, 23, 24]
        want = first.persons[0].keypoints_2d[torso]
        for k, (img, scale) in enumerate(((small, 0.5), (person_640x480, 1.0),
                                          (person_640x480, 1.0))):
            (p,) = det(img).persons
            assert p.mask.shape == img.shape[:2]
            np.testing.assert_allclose(p.keypoints_2d[torso] / scale, want, atol=8.0)
            assert det.recoveries == min(k + 1, 2)  # a rebuild per size change, none otherwise
        assert det.last_recovery == "input size changed from 320x240 to 640x480"
    finally:
        det.close()


def test_mediapipe_rebuilds_its_graph_after_an_error_and_retries_the_frame(person_640x480):
    from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector

    det = MediaPipePoseDetector(1, 0.5, static_image_mode=True)
    try:
        broken = det._pose

        def fail(_):
            raise RuntimeError("Graph has errors:\nCalculator::Process() failed")

        broken.process = fail  # this graph fails every call, like a broken MediaPipe graph
        assert len(det(person_640x480).persons) == 1  # the frame retried on a fresh graph
        assert det.recoveries == 1 and det._pose is not broken
        assert det.last_recovery == "RuntimeError: Graph has errors: Calculator::Process() failed"
        assert len(det(person_640x480).persons) == 1 and det.recoveries == 1
    finally:
        det.close()
