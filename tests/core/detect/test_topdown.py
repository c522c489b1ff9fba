"""Top-down person detector: several people per frame on real photos and rendered frames,
small people, resolution changes, duplicates, determinism, recovery, and its geometry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.detect.crops import crop_image, crop_square, paste_mask
from scorehoi_node.core.detect.person_proposals import (DepthProposalConfig, depth_proposals,
                                                        tile_boxes)
from scorehoi_node.core.detect.topdown import TopDownConfig, TopDownPoseDetector
from scorehoi_node.core.detect.tracking import box_iou
from scorehoi_node.core.types import CameraIntrinsics, Frame
from tests.conftest import _ultralytics_asset

#: hand-drawn boxes (u0, v0, u1, v1) [px] of the people in the ultralytics sample photos
ZIDANE_PEOPLE = np.array([[100, 180, 780, 720],     # Zidane, leaning in from the left
                          [700, 40, 1280, 720]])    # Ancelotti, pointing, on the right
BUS_PEOPLE = np.array([[50, 400, 245, 905],         # man in the light coat
                       [220, 405, 345, 860],        # man in red
                       [665, 380, 810, 880],        # walker cut by the right edge
                       [0, 550, 65, 875]])          # sliver at the left edge


def _match(pred_boxes: np.ndarray, true_boxes: np.ndarray, min_iou: float = 0.5
           ) -> list[tuple[int, int]]:
    """One-to-one (pred, true) pairs with box IoU >= min_iou (Hungarian on 1 - IoU)."""
    if len(pred_boxes) == 0:
        return []
    iou = box_iou(pred_boxes, true_boxes)
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]


def _assert_keypoints_inside(person, box: np.ndarray, margin: float = 0.05) -> None:
    seen = person.keypoints_2d[person.keypoint_scores > 0.5]
    assert len(seen) >= 8, "a found person shows most of their keypoints"
    grow = margin * (box[3] - box[1])
    assert np.all(seen >= box[:2] - grow) and np.all(seen <= box[2:] + grow), \
        "every visible keypoint lies on the person it belongs to"


@pytest.fixture(scope="session")
def zidane_rgb() -> np.ndarray:
    """A real photo of two men (1280x720), shipped inside the ultralytics wheel."""
    return _ultralytics_asset("zidane.jpg")


@pytest.fixture()
def detector():
    det = TopDownPoseDetector()
    yield det
    det.close()


def test_finds_both_men_in_zidane(zidane_rgb, detector):
    out = detector(zidane_rgb)
    boxes = np.array([p.box for p in out.persons])
    pairs = _match(boxes, ZIDANE_PEOPLE)
    assert len(pairs) == 2 and len(out.persons) == 2, boxes.round().tolist()
    for i, j in pairs:
        _assert_keypoints_inside(out.persons[i], ZIDANE_PEOPLE[j])
        p = out.persons[i]
        assert p.keypoint_layout == "mediapipe33" and p.keypoints_3d.shape == (33, 3)
        assert p.mask.shape == zidane_rgb.shape[:2] and p.mask[int(p.box[1]):int(p.box[3]),
                                                               int(p.box[0]):int(p.box[2])].any()


def test_finds_three_of_four_people_in_bus_without_duplicates(bus_rgb, detector):
    out = detector(bus_rgb)
    boxes = np.array([p.box for p in out.persons])
    pairs = _match(boxes, BUS_PEOPLE)
    assert len(pairs) >= 3, boxes.round().tolist()
    assert len(pairs) == len(out.persons), "every detection is one real person, none twice"
    for i, j in pairs:
        _assert_keypoints_inside(out.persons[i], BUS_PEOPLE[j])


def test_repeated_frames_keep_one_detection_per_person(bus_rgb, detector):
    """Frame after frame the last frame's people are proposals again ("tracks"): they must
    merge with the other proposals of the same person, never add a second detection."""
    boxes = [np.array([p.box for p in detector(bus_rgb).persons]) for _ in range(3)]
    assert len(boxes[0]) >= 3 and [len(b) for b in boxes] == [len(boxes[0])] * 3
    for later in boxes[1:]:  # the same people (a person cut by the edge may change a little)
        assert len(_match(later, boxes[0], min_iou=0.7)) == len(boxes[0])


def test_same_input_same_output(zidane_rgb):
    outs = []
    for _ in range(2):
        det = TopDownPoseDetector()
        try:
            outs.append(det(zidane_rgb))
        finally:
            det.close()
    a, b = outs
    assert len(a.persons) == len(b.persons) == 2
    for p, q in zip(a.persons, b.persons):
        assert np.array_equal(p.keypoints_2d, q.keypoints_2d)
        assert np.array_equal(p.box, q.box) and p.score == q.score
        assert np.array_equal(p.mask, q.mask)


def test_resolution_changes_are_all_answered(person_640x480, detector):
    import cv2

    small = np.ascontiguousarray(cv2.resize(person_640x480, (320, 240),
                                            interpolation=cv2.INTER_AREA))
    for rgb in (person_640x480, small, person_640x480):
        out = detector(rgb)
        h, w = rgb.shape[:2]
        assert len(out.persons) >= 1, f"no person at {w}x{h}"
        p = out.persons[0]
        assert p.mask.shape == (h, w) and 0 <= p.box[0] < p.box[2] <= w
        assert 0.3 * h < p.box[3] - p.box[1] <= h, "the person fills the frame's height"
    assert detector.recoveries == 0


def test_depth_without_a_floor_falls_back_to_the_image_proposals(person_640x480, detector):
    """A depth image that shows no floor (here: a flat wall 3 m ahead) cannot say where people
    stand; the frame is searched like one without depth."""
    camera = CameraIntrinsics.from_fov(640, 480, 60.0)
    frame = Frame(rgb=person_640x480, camera=camera, depth=np.full((480, 640), 3.0, np.float32))
    out = detector(frame.rgb, frame)
    assert len(out.persons) >= 1
    assert {p.method for p in detector.proposals} == {"tiles"}


def test_an_error_on_one_frame_does_not_silence_the_next(person_640x480, detector):
    pose = detector._pose
    real = pose._pose.process
    calls = {"n": 0}

    def fail_once(image):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("Graph has errors")
        return real(image)

    pose._pose.process = fail_once
    detector(person_640x480)  # the failing crop is dropped, the frame still answers
    assert detector.recoveries == 1 and "Graph has errors" in detector.last_recovery
    out = detector(person_640x480)  # on the rebuilt graph
    assert len(out.persons) >= 1


def test_yolo_without_weights_is_a_one_line_note(monkeypatch, person_640x480, tmp_path):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    det = TopDownPoseDetector(TopDownConfig(proposals_rgb=("yolo", "tiles"),
                                            yolo_weights="yolo11n-seg.pt"))
    try:
        assert len(det.notes) == 1 and "\n" not in det.notes[0]
        assert det.notes[0].startswith("person proposals 'yolo' off: ultralytics weights")
        assert len(det(person_640x480).persons) >= 1
    finally:
        det.close()


# -- rendered frames with ground truth ------------------------------------------------------------
@pytest.fixture(scope="module")
def small_person():
    """A rendered 640x480 RGB-D frame of one person 5.5-6 m away with a wide lens (~100 px
    tall): (SynthFrame, ground-truth box of the projected body mesh)."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.camera import CameraSampler
    from scorehoi_node.core.synth.frames import SynthContext, synth_frames
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.render import Renderer

    body, library = make_body_model("anny"), load_library()
    sampler = CameraSampler(width=640, height=480, hfov_deg=(85.0, 90.0),
                            distance_m=(5.5, 6.0), min_person_px=60.0)
    renderer = Renderer(sampler.width, sampler.height)
    gen = SceneGenerator(body, library)
    try:
        sf = next(iter(synth_frames(1, 5, sequences=lambda rng, n: gen.sample_sequence(
            rng, n, interaction="hold_one_hand"), context=SynthContext.from_body(body, library),
            renderer=renderer, sampler=sampler, seq_len=1)))
    finally:
        renderer.close()
    uv = sf.camera.project(sf.human_vertices.astype(np.float64))
    return sf, np.r_[uv.min(0), uv.max(0)]


@pytest.mark.parametrize("with_depth", [True, False], ids=["rgbd", "rgb"])
def test_finds_a_small_rendered_person(small_person, detector, with_depth):
    sf, true_box = small_person
    assert 70 < true_box[3] - true_box[1] < 130, "the scene shows a ~100 px tall person"
    frame = Frame(rgb=sf.rgb, camera=sf.camera, depth=sf.depth if with_depth else None)
    out = detector(frame.rgb, frame)
    boxes = np.array([p.box for p in out.persons])
    assert len(out.persons) == 1 and len(_match(boxes, true_box[None])) == 1, \
        f"{boxes.round().tolist()} vs {true_box.round().tolist()}"
    _assert_keypoints_inside(out.persons[0], true_box)
    if with_depth:
        assert [p.method for p in detector.proposals] == ["depth"], \
            "one depth proposal: the person (the wall and the floor are no person)"


def test_the_legacy_detector_misses_that_small_person(small_person):
    """What the top-down detector is for: MediaPipe Pose on the whole image does not see it."""
    from scorehoi_node.core.detect.mediapipe_pose import MediaPipePoseDetector

    det = MediaPipePoseDetector(static_image_mode=True)
    try:
        assert det(small_person[0].rgb).persons == []
    finally:
        det.close()


# -- geometry -------------------------------------------------------------------------------------
def _pillar_scene(camera: CameraIntrinsics, pillars: list[tuple[float, float, float, float]],
                  wall_z: float) -> np.ndarray:
    """Depth image of a level camera 1.2 m above a floor, looking along +z at a wall at
    z = wall_z: upright cylinders (x, z of the axis, diameter, height) [m] on the floor (the
    front half; depth of a ray: the axis depth minus the half-chord, a good approximation at
    these distances)."""
    h, w = camera.height, camera.width
    v, u = np.mgrid[0:h, 0:w] + 0.5
    ray_x, ray_y = (u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy
    with np.errstate(divide="ignore"):
        depth = np.where(ray_y > 0, 1.2 / ray_y, np.inf)  # the floor, y = +1.2 m (down)
    depth = np.minimum(depth, wall_z)
    for x, z, diameter, height in pillars:
        r = diameter / 2
        dx = ray_x * z - x
        front = z - np.sqrt(np.clip(r * r - dx * dx, 0, None))
        py = ray_y * front
        on = (np.abs(dx) < r) & (py > 1.2 - height) & (py < 1.2) & (front < depth)
        depth[on] = front[on]
    depth[~np.isfinite(depth) | (depth > 20)] = np.nan
    return depth.astype(np.float32)


def test_depth_proposals_are_the_people_standing_on_the_floor_not_the_wall():
    camera = CameraIntrinsics.from_fov(640, 480, 70.0)
    # two person-sized pillars, a low one (a stool), a wall 2 m high behind them
    pillars = [(-0.8, 3.0, 0.5, 1.75), (0.9, 5.0, 0.45, 1.6), (0.0, 4.0, 0.6, 0.4)]
    depth = _pillar_scene(camera, pillars, wall_z=7.0)
    depth[(depth >= 7.0) & (camera.backproject(  # the wall ends 2 m above the floor
        np.stack(np.meshgrid(np.arange(640) + 0.5, np.arange(480) + 0.5), -1).reshape(-1, 2),
        np.full(640 * 480, 7.0))[:, 1].reshape(480, 640) < 1.2 - 2.0)] = np.nan
    proposals = depth_proposals(depth, camera, DepthProposalConfig(), padding=0.15)
    assert len(proposals) == 2, "the people only: not the stool, not the flat wall"
    for (x, z, width, height), prop in zip(pillars[:2], proposals):  # nearest first
        corners = np.array([[x - width / 2, 1.2 - height, z], [x + width / 2, 1.2, z]])
        (u0, v0), (u1, v1) = camera.project(corners)
        assert prop.box[0] <= u0 + 4 and prop.box[2] >= u1 - 4
        # (down to the floor below the cluster's middle: a little nearer than the axis)
        assert prop.box[1] <= v0 + 4 and v1 - 4 <= prop.box[3] <= v1 + 0.1 * (v1 - v0)
        assert prop.depth_band[0] < z < prop.depth_band[1]


def test_tiles_cover_the_image_and_reach_past_its_edges():
    tiles = tile_boxes(640, 480, (1.0, 0.67))
    assert np.allclose(tiles[0], [0, -80, 640, 560])  # the whole image, one square
    grid = np.array(tiles[1:])
    assert np.allclose(grid[:, 2] - grid[:, 0], 0.67 * 480)
    assert grid[:, 0].min() < 0 and grid[:, 2].max() > 640  # edge people lie inside a tile
    assert grid[:, 1].min() < 0 and grid[:, 3].max() > 480
    covered = np.zeros((480, 640), bool)
    for u0, v0, u1, v1 in grid.round().astype(int):
        covered[max(v0, 0):v1, max(u0, 0):u1] = True
    assert covered.all()


def test_crop_maps_pixels_to_the_crop_and_masks_back_exactly():
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[200:210, 300:310] = 255  # a 10 px white square
    square = crop_square(np.array([280.0, 180.0, 330.0, 230.0]), 0.0)  # 50 px -> 256 px
    assert square == (280, 180, 50)
    crop = crop_image(rgb, square, 256)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    s = 256 / 50
    assert abs(xs.min() - 20 * s) <= 2 and abs(xs.max() + 1 - 30 * s) <= 2
    assert abs(ys.min() - 20 * s) <= 2 and abs(ys.max() + 1 - 30 * s) <= 2
    back = paste_mask(crop[..., 0] / 255.0, square, (480, 640))
    assert back.sum() == 100 and back[200:210, 300:310].all()
    # past the edge the crop mirrors the image; the mask keeps only the inside
    edge = crop_square(np.array([600.0, 100.0, 680.0, 180.0]), 0.0)
    assert crop_image(rgb, edge, 256).shape == (256, 256, 3)
    assert paste_mask(np.ones((256, 256)), edge, (480, 640)).sum() == 40 * 80


def test_config_lists_the_proposal_methods():
    with pytest.raises(ValueError, match="person_proposals='depth,radar': give one or more of "
                                         "tracks, yolo, depth, segmentation, face, tiles"):
        PipelineConfig(person_proposals="depth,radar")
    with pytest.raises(ValueError, match="no 'depth' proposals"):
        PipelineConfig(person_proposals_rgb="tracks,depth")
    det = TopDownPoseDetector.from_config(PipelineConfig(person_proposals="depth",
                                                         person_max_crops=3))
    try:
        assert det.config.proposals == ("depth",) and det.config.max_crops == 3
    finally:
        det.close()
