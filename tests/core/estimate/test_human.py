import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scorehoi_node.core.estimate import skeleton
from scorehoi_node.core.estimate.human import HumanFitError, estimate_human
from scorehoi_node.core.types import CameraIntrinsics, PersonDetection

# A standing adult in a body frame (x left, y up, z forward), metres, hip-centred, MediaPipe-33.
_BODY = {
    0: (0, 0.62, 0.08), 7: (0.07, 0.64, 0.0), 8: (-0.07, 0.64, 0.0),
    11: (0.19, 0.45, 0.0), 12: (-0.19, 0.45, 0.0), 13: (0.24, 0.18, 0.03),
    14: (-0.24, 0.18, 0.03), 15: (0.22, -0.05, 0.12), 16: (-0.26, -0.06, 0.05),
    23: (0.1, 0.0, 0.0), 24: (-0.1, 0.0, 0.0), 25: (0.11, -0.43, 0.04),
    26: (-0.12, -0.42, 0.06), 27: (0.11, -0.84, -0.02), 28: (-0.13, -0.83, 0.0),
}


def _mediapipe_body() -> np.ndarray:
    pts = np.zeros((33, 3))
    for i in range(33):  # face/hand/foot landmarks: near their parent points
        pts[i] = _BODY.get(i, _BODY[0] if i < 11 else _BODY[15 + (i % 2)] if i < 23
                           else _BODY[27 + (i % 2)])
        if i not in _BODY:
            pts[i] = pts[i] + 0.03 * np.sin([i, 2 * i, 3 * i])
    return pts


def _scene(seed: int, camera: CameraIntrinsics):
    rng = np.random.default_rng(seed)
    body = _mediapipe_body()
    # body frame -> camera frame (y down, z forward): person faces the camera, random yaw
    flip = np.diag([-1.0, -1.0, 1.0]) @ Rotation.from_euler("y", 180, degrees=True).as_matrix()
    R = Rotation.from_euler("y", rng.uniform(-60, 60), degrees=True).as_matrix() @ flip
    t = np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.0, 0.4), rng.uniform(2.0, 4.0)])
    cam_pts = body @ R.T + t
    uv = camera.project(cam_pts)
    # the detector's metric landmarks come in its own frame: apply an unrelated rigid motion
    Rw = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
    world = body @ Rw.T
    return cam_pts, uv, world


CAM = CameraIntrinsics.from_fov(640, 480, 70.0)


@pytest.mark.parametrize("seed", range(4))
def test_pnp_places_metric_keypoints_exactly(seed):
    cam_pts, uv, world = _scene(seed, CAM)
    det = PersonDetection(keypoints_2d=uv, keypoint_scores=np.ones(33), keypoints_3d=world,
                          keypoint_layout="mediapipe33", box=np.r_[uv.min(0), uv.max(0)], score=0.9)
    est = estimate_human(det, CAM)
    want = skeleton.joints_from_mediapipe(cam_pts)
    assert np.abs(est.joint_positions - want).max() < 1e-4
    assert est.body_model == "skeleton" and est.joint_rotations.shape == (16, 3, 3)
    # root frame: 'up' points against the camera's y axis (people stand upright)
    assert est.root_rotation[1, 1] < -0.9


def test_depth_corrects_a_wrong_size_prior():
    cam_pts, uv, world = _scene(7, CAM)
    det = PersonDetection(keypoints_2d=uv, keypoint_scores=np.ones(33),
                          keypoints_3d=world * 0.8,  # detector thinks the person is 20 % smaller
                          keypoint_layout="mediapipe33", box=np.r_[uv.min(0), uv.max(0)], score=0.9)
    want = skeleton.joints_from_mediapipe(cam_pts)
    no_depth = estimate_human(det, CAM)
    assert np.linalg.norm(no_depth.root_position - want[0]) > 0.3  # 20 % of ~3 m
    offset = 0.1
    depth = np.full((480, 640), np.nan, np.float32)
    for i in (11, 12, 23, 24):  # torso surface: `offset` in front of the keypoints
        u, v = np.round(uv[i]).astype(int)
        depth[v - 4:v + 5, u - 4:u + 5] = cam_pts[i, 2] - offset
    with_depth = estimate_human(det, CAM, depth=depth, body_offset_m=offset)
    assert np.linalg.norm(with_depth.root_position - want[0]) < 0.02
    assert np.abs(with_depth.joint_positions - want).max() < 0.03


def test_too_few_visible_keypoints_is_a_fit_error():
    cam_pts, uv, world = _scene(1, CAM)
    scores = np.zeros(33)
    scores[:4] = 1.0
    det = PersonDetection(keypoints_2d=uv, keypoint_scores=scores, keypoints_3d=world,
                          keypoint_layout="mediapipe33", box=np.zeros(4), score=0.9)
    with pytest.raises(HumanFitError, match="visible keypoints"):
        estimate_human(det, CAM)
