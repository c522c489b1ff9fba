import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scorehoi_node.core.estimate import skeleton


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    """Random joint positions produced by FK from random local rotations (a valid skeleton)."""
    local = Rotation.from_rotvec(rng.normal(scale=0.6, size=(16, 3))).as_matrix()
    lengths = np.r_[0, 0.25, 0.25, 0.2, 0.18, 0.3, 0.26, 0.18, 0.3, 0.26,
                    0.1, 0.42, 0.4, 0.1, 0.42, 0.4]
    pos, _ = skeleton.forward_kinematics(local, lengths, rng.normal(size=3))
    return pos


def test_tables_are_consistent():
    n = len(skeleton.JOINT_NAMES)
    assert skeleton.PARENTS.shape == (n,) and skeleton.PRIMARY_CHILD.shape == (n,)
    assert all(skeleton.PARENTS[j] < j for j in range(1, n)), "parents precede children"
    for j, c in enumerate(skeleton.PRIMARY_CHILD):
        assert c < 0 or skeleton.PARENTS[c] == j


@pytest.mark.parametrize("seed", range(5))
def test_fit_then_fk_reproduces_primary_chains(seed):
    rng = np.random.default_rng(seed)
    joints = _random_pose(rng)
    joints[1] = 0.5 * (joints[0] + joints[2])  # spine halfway pelvis-neck, as built from keypoints
    local, lengths = skeleton.fit_rotations(joints)
    assert np.allclose(np.einsum("nij,nkj->nik", local, local), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(local), 1.0)
    pos, glob = skeleton.forward_kinematics(local, lengths, joints[0])
    # every primary bone points exactly where observed
    for j, c in enumerate(skeleton.PRIMARY_CHILD):
        if c >= 0:
            d_fit, d_obs = pos[c] - pos[j], joints[c] - joints[j]
            assert np.allclose(d_fit / np.linalg.norm(d_fit), d_obs / np.linalg.norm(d_obs),
                               atol=1e-9)
    # the trunk (a chain of primary bones from the root) is reproduced exactly
    assert np.abs(pos[:4] - joints[:4]).max() < 1e-9
    # bone lengths are preserved for every bone
    for j in range(1, 16):
        assert np.isclose(np.linalg.norm(pos[j] - pos[skeleton.PARENTS[j]]), lengths[j])


def test_rest_pose_has_identity_rotations():
    lengths = np.r_[0, 0.25, 0.25, 0.2, 0.18, 0.3, 0.26, 0.18, 0.3, 0.26,
                    0.1, 0.42, 0.4, 0.1, 0.42, 0.4]
    pos, _ = skeleton.forward_kinematics(np.tile(np.eye(3), (16, 1, 1)), lengths, np.zeros(3))
    local, fitted = skeleton.fit_rotations(pos)
    assert np.allclose(local, np.eye(3), atol=1e-9)
    assert np.allclose(fitted, lengths)
    # body frame: left hip on +x, head up (+y)
    assert pos[skeleton.JOINT_NAMES.index("left_hip"), 0] > 0
    assert pos[skeleton.JOINT_NAMES.index("head"), 1] > 0
