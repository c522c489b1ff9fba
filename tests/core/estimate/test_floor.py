"""Floor plane from depth: the rendered synthetic floor, a floor under a larger table top, and
inputs without a floor."""

from __future__ import annotations

import numpy as np
import pytest

from scorehoi_node.core.estimate.floor import estimate_floor
from scorehoi_node.core.synth.camera import CameraPose, look_at
from scorehoi_node.core.types import CameraIntrinsics


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a[:3] @ b[:3], -1.0, 1.0))))


def _assert_plane_near(plane, gt, deg: float, metres: float) -> None:
    assert plane is not None
    assert plane.shape == (4,) and plane.dtype == np.float64
    assert abs(np.linalg.norm(plane[:3]) - 1) < 1e-9
    assert _angle_deg(plane, gt) < deg and abs(plane[3] - gt[3]) < metres, (plane, gt)


@pytest.fixture(scope="module")
def rendered():
    """Two 200x150 rendered frames of generated scenes (person, object, floor, wall)."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.camera import CameraSampler
    from scorehoi_node.core.synth.frames import SynthContext, synth_frames
    from scorehoi_node.core.synth.generator import SceneGenerator
    from scorehoi_node.core.synth.render import Renderer

    body, library = make_body_model("anny"), load_library()
    sampler = CameraSampler(width=200, height=150, min_person_px=60.0)
    renderer = Renderer(sampler.width, sampler.height)
    try:
        return list(synth_frames(2, 3, sequences=SceneGenerator(body, library).sample_sequence,
                                 context=SynthContext.from_body(body, library),
                                 renderer=renderer, sampler=sampler, seq_len=1))
    finally:
        renderer.close()


#: per-frame bound on rendered frames: the worst of 16 measured frames (8 at 200x150, 8 at
#: 640x480, seed 3) was 0.093 deg / 2.85 mm (median 0.02 deg / 0.8 mm); 1.5x that
RENDERED_DEG, RENDERED_M = 0.15, 0.004


def test_rendered_floor_matches_the_ground_truth(rendered):
    for frame in rendered:
        gt = frame.floor_plane.astype(np.float64)
        plane = estimate_floor(frame.depth, frame.camera, exclude=frame.mask > 0)
        _assert_plane_near(plane, gt, RENDERED_DEG, RENDERED_M)
        # the person and object above the floor do not pull it up when not excluded
        _assert_plane_near(estimate_floor(frame.depth, frame.camera), gt, RENDERED_DEG,
                           RENDERED_M)


def _ray_cast(camera: CameraIntrinsics, pose: CameraPose, table: tuple[float, ...] | None,
              wall_z: float | None = None) -> np.ndarray:
    """(H, W) z-depth [m] of the world floor y = 0, a table top at height `table[0]` over
    x in [table[1], table[2]], z in [table[3], table[4]] and a wall z = `wall_z` (NaN = sky)."""
    h, w = camera.height, camera.width
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1)
    d = rays @ pose.R  # world directions, camera-z component 1: hit distance t = z-depth
    eye = pose.position
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d[..., 1] < 0, -eye[1] / d[..., 1], np.inf)
        if wall_z is not None:
            tw = np.where(d[..., 2] > 0, (wall_z - eye[2]) / d[..., 2], np.inf)
            t = np.minimum(t, tw)
        if table is not None:
            y, x0, x1, z0, z1 = table
            tt = np.where(d[..., 1] < 0, (y - eye[1]) / d[..., 1], np.inf)
            p = eye + tt[..., None] * d
            on = (p[..., 0] >= x0) & (p[..., 0] <= x1) & (p[..., 2] >= z0) & (p[..., 2] <= z1)
            t = np.where(on, np.minimum(t, tt), t)
    return np.where(np.isfinite(t), t, np.nan).astype(np.float32)


def test_picks_the_floor_under_a_larger_table_top():
    camera = CameraIntrinsics.from_fov(320, 240, 70.0)
    pose = look_at(np.array([0.0, 1.3, 0.0]), np.array([0.2, 0.4, 3.0]))
    table = (0.75, -2.0, 2.0, 0.9, 3.5)  # a 4 m x 2.6 m top, 0.75 m high
    depth = _ray_cast(camera, pose, table, wall_z=4.0)
    rng = np.random.default_rng(1)
    depth += rng.normal(scale=0.004, size=depth.shape).astype(np.float32) * depth  # 4 mm per m of depth
    gt = pose.floor_plane()
    # the table top covers more pixels than the floor: most inliers alone would pick it
    heights = camera.backproject(
        np.stack(np.meshgrid(np.arange(320) + 0.5, np.arange(240) + 0.5), -1).reshape(-1, 2),
        np.nan_to_num(depth.reshape(-1), nan=0.0)) @ gt[:3] + gt[3]
    on_table = np.abs(heights - 0.75) < 0.02
    on_floor = np.abs(heights) < 0.02
    assert on_table.sum() > on_floor.sum() > 0.1 * on_table.sum()
    plane = estimate_floor(depth, camera)
    _assert_plane_near(plane, gt, 1.0, 0.01)
    assert np.array_equal(plane, estimate_floor(depth, camera))  # fixed seed
    # without the "nothing below the floor" rule the table top would win
    _assert_plane_near(estimate_floor(depth, camera, max_below_frac=1.0),
                       np.r_[gt[:3], gt[3] - 0.75], 1.0, 0.01)
    # ignoring the floor pixels leaves the table top as the lowest plane
    top = estimate_floor(depth, camera, exclude=(np.abs(heights) < 0.1).reshape(depth.shape))
    _assert_plane_near(top, np.r_[gt[:3], gt[3] - 0.75], 1.0, 0.01)


def test_up_hint_finds_the_floor_of_a_pitched_camera():
    camera = CameraIntrinsics.from_fov(320, 240, 60.0)
    pose = look_at(np.array([0.0, 1.5, 0.0]), np.array([0.0, 0.0, 1.0]))  # ~56 deg down
    depth = _ray_cast(camera, pose, None)
    assert estimate_floor(depth, camera) is None  # too far from the default "up"
    up = pose.R @ np.array([0.0, 1.0, 0.0])  # e.g. from an IMU
    _assert_plane_near(estimate_floor(depth, camera, up_hint=up), pose.floor_plane(), 0.5, 0.005)


def test_no_floor_gives_none():
    camera = CameraIntrinsics.from_fov(160, 120, 60.0)
    wall = np.full((120, 160), 3.0, np.float32)  # a fronto-parallel wall only
    assert estimate_floor(wall, camera) is None
    assert estimate_floor(np.full((120, 160), np.nan, np.float32), camera) is None
    assert estimate_floor(np.zeros((120, 160), np.float32), camera) is None
    # a floor, but too few valid points
    pose = look_at(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.5, 3.0]))
    floor = _ray_cast(camera, pose, None)
    keep = np.zeros(floor.shape, bool)
    keep[-10:, :40] = True  # 400 pixels
    assert estimate_floor(np.where(keep, floor, np.nan), camera) is None
    _assert_plane_near(estimate_floor(floor, camera), pose.floor_plane(), 0.01, 0.0005)
    with pytest.raises(ValueError):
        estimate_floor(floor[:, :100], camera)
