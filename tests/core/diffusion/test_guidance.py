"""Guidance terms on the real anny body and real object templates (camera frame, metres).

Scene: the neutral rest anny body turned to face the camera (body +Y up -> camera -Y, body +Z
forward -> camera -Z), 3 m in front of it, soles on the floor plane. Objects are upright
(template +Y -> camera -Y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from scorehoi_node.core.bodies import BodyModel, make_body_model
from scorehoi_node.core.bodies.landmarks import (foot_vertex_ids, landmark_index,
                                                 landmark_vertex_ids, mediapipe_landmarks)
from scorehoi_node.core.diffusion.guidance import (
    Observation,
    Reconstruction,
    default_weights,
    make_reconstruction,
    make_terms,
    mask_distance,
    project,
    sample_map,
    total_loss,
    vertex_subset,
)
from scorehoi_node.core.diffusion.guidance.contact import ContactGuidance
from scorehoi_node.core.diffusion.guidance.depth import DepthGuidance
from scorehoi_node.core.diffusion.guidance.human_floor import HumanFloorGuidance
from scorehoi_node.core.diffusion.guidance.mask import MaskGuidance
from scorehoi_node.core.diffusion.guidance.object_floor import ObjectFloorGuidance
from scorehoi_node.core.diffusion.guidance.penetration import PenetrationGuidance
from scorehoi_node.core.diffusion.guidance.reprojection import ReprojectionGuidance
from scorehoi_node.core.objects import ObjectTemplate, load_library
from scorehoi_node.core.registry import GUIDANCE_TERMS

BODY_TO_CAM = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # also the upright object rotation
BODY_OFFSET = torch.tensor([0.0, 0.0, 3.0])
K = torch.tensor([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
IMAGE_HW = (480, 640)


@dataclass(frozen=True)
class Scene:
    body: BodyModel
    vertices: torch.Tensor  # (1, V, 3) camera frame
    joints: torch.Tensor  # (1, J, 3)
    floor: torch.Tensor  # (4,) n = camera up (0, -1, 0)
    box: ObjectTemplate
    ball: ObjectTemplate

    @property
    def right_hand(self) -> torch.Tensor:
        """(3,) centroid of the right-hand contact vertices."""
        return self.vertices[0, self.body.contact_parts()["right_hand"]].mean(0)


@pytest.fixture(scope="module")
def scene() -> Scene:
    body = make_body_model("anny")
    with torch.no_grad():
        out = body(**body.rest_inputs(1))
    vertices = out.vertices @ BODY_TO_CAM.T + BODY_OFFSET
    joints = out.joints @ BODY_TO_CAM.T + BODY_OFFSET
    floor_y = float(vertices[0, :, 1].max())
    library = load_library()
    return Scene(body=body, vertices=vertices, joints=joints,
                 floor=torch.tensor([0.0, -1.0, 0.0, floor_y]),
                 box=library.by_id("box"), ball=library.by_id("ball"))


def _recon(scene: Scene, transl: torch.Tensor, vertices: torch.Tensor | None = None,
           joints: torch.Tensor | None = None, rotmat: torch.Tensor | None = None
           ) -> Reconstruction:
    """Reconstruction with B = len(transl) copies of the rest body (unless given)."""
    batch = transl.shape[0]
    vertices = scene.vertices.expand(batch, -1, -1) if vertices is None else vertices
    joints = scene.joints.expand(batch, -1, -1) if joints is None else joints
    rotmat = BODY_TO_CAM.expand(batch, 3, 3) if rotmat is None else rotmat
    return Reconstruction(vertices=vertices, joints=joints, object_rotmat=rotmat,
                          object_transl=transl, contact_vertex_ids=scene.body.contact_vertex_ids,
                          foot_vertex_ids=foot_vertex_ids(scene.body),
                          landmark_index=landmark_index(scene.body),
                          surface_ids=vertex_subset(vertices.shape[1], 2000))


def _centred(template: ObjectTemplate, centre: torch.Tensor) -> torch.Tensor:
    """(3,) object translation that puts the upright template's bbox centre at `centre`."""
    mid = torch.tensor((template.vertices.min(0) + template.vertices.max(0)) / 2)
    return centre - BODY_TO_CAM @ mid


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


def _descend(loss_of, param: torch.Tensor, lr: float, steps: int = 5) -> tuple[float, float]:
    """(initial, final) loss after `steps` plain gradient steps on `param` (in place)."""
    first = float(loss_of(param).sum().detach())
    for _ in range(steps):
        loss = loss_of(param).sum()
        (grad,) = torch.autograd.grad(loss, param)
        with torch.no_grad():
            param -= lr * grad
    return first, float(loss_of(param).sum().detach())


def _assert_gradient(loss: torch.Tensor, *inputs: torch.Tensor) -> None:
    grads = torch.autograd.grad(loss.sum(), inputs, allow_unused=True)
    for grad in grads:
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def _zeros(loss: torch.Tensor, batch: int) -> None:
    assert loss.shape == (batch,)
    assert torch.equal(loss.detach(), torch.zeros(batch))


# -- shared helpers --------------------------------------------------------------------------------
def test_project_pinhole_and_depth_clamp():
    points = torch.tensor([[[0.0, 0.0, 2.0], [1.0, -0.5, 2.0], [1.0, 0.0, -1.0]]])
    pixels = project(points, K)
    assert torch.allclose(pixels[0, 0], torch.tensor([320.0, 240.0]))
    assert torch.allclose(pixels[0, 1], torch.tensor([570.0, 115.0]))
    assert torch.allclose(pixels[0, 2], torch.tensor([320.0 + 500.0 / 0.01, 240.0]))


def test_vertex_subset_is_strided_and_includes_extra():
    ids = vertex_subset(10_000, 1000, extra=torch.tensor([3, 5, 9990]))
    assert ids.dtype == torch.int64 and torch.equal(ids, torch.unique(ids))
    assert set(range(0, 10_000, 10)) <= set(ids.tolist()) and {3, 5} <= set(ids.tolist())
    assert ids.numel() == 1002


def test_landmark_index_matches_mediapipe_landmarks(scene):

    index = landmark_index(scene.body)
    assert index.shape == (33,) and index.dtype == torch.int64
    assert torch.equal(landmark_index(scene.body), index)  # cached
    recon = _recon(scene, torch.zeros(1, 3))
    expected = mediapipe_landmarks(scene.joints[0].numpy(), scene.vertices[0].numpy(),
                                   scene.body.joint_names, landmark_vertex_ids(scene.body))
    np.testing.assert_allclose(recon.landmarks()[0].numpy(), expected, atol=1e-6)


def test_foot_vertex_ids_are_soles_of_both_feet(scene):
    ids = foot_vertex_ids(scene.body)
    assert ids.dtype == torch.int64 and ids.numel() > 100
    assert torch.equal(foot_vertex_ids(scene.body), ids)
    feet = scene.vertices[0, ids]
    height = float(scene.floor[3]) - feet[:, 1]  # above the floor [m]
    assert height.min() >= -1e-6 and height.max() <= 0.02 + 1e-6
    assert (feet[:, 0] > 0.05).any() and (feet[:, 0] < -0.05).any()  # left and right foot
    # the soles are the lowest part of the body
    assert float(scene.floor[3]) - scene.vertices[0, :, 1].max() == pytest.approx(0.0, abs=1e-6)


def test_make_reconstruction_uses_the_body_tables(scene):
    from scorehoi_node.core.bodies import BodyOutput

    recon = make_reconstruction(scene.body, BodyOutput(scene.vertices, scene.joints),
                                BODY_TO_CAM[None], torch.zeros(1, 3))
    assert torch.equal(recon.foot_vertex_ids, foot_vertex_ids(scene.body))
    assert torch.equal(recon.contact_vertex_ids, scene.body.contact_vertex_ids)
    assert recon.landmarks().shape == (1, 33, 3)


# -- contact ---------------------------------------------------------------------------------------
def _hand_mask(scene: Scene, batch: int) -> torch.Tensor:
    ids = scene.body.contact_vertex_ids
    hand = torch.isin(ids, scene.body.contact_parts()["right_hand"])
    return hand.expand(batch, -1).clone()


def test_contact_far_object_is_pulled_to_the_hand(scene):
    term = ContactGuidance()
    obs = Observation(camera_K=K, template=scene.ball, contact_mask=_hand_mask(scene, 1))
    transl = _leaf(_centred(scene.ball, scene.right_hand + torch.tensor([0.0, 0.0, -0.3]))[None])
    vertices = _leaf(scene.vertices)
    loss = term(_recon(scene, transl, vertices=vertices), obs)
    assert loss.shape == (1,) and 0.1 < float(loss.detach()) < 0.3
    _assert_gradient(loss, transl, vertices)
    first, last = _descend(lambda t: term(_recon(scene, t), obs), transl, lr=0.02)
    assert last < first - 0.05  # ~2 cm per step


def test_contact_per_item_and_satisfied(scene):
    term = ContactGuidance()
    # item 0: box 40 cm in front of the hand; item 1: the hand inside the box (sdf < 0)
    transl = torch.stack([_centred(scene.box, scene.right_hand + torch.tensor([0.0, 0.0, -0.4])),
                          _centred(scene.box, scene.right_hand)])
    obs = Observation(camera_K=K, template=scene.box, contact_mask=_hand_mask(scene, 2))
    loss = term(_recon(scene, transl), obs)
    assert loss[0] > 0.1 and loss[1] == 0.0
    # nothing selected in item 0 -> 0 there, item 1 unchanged
    mask = _hand_mask(scene, 2)
    mask[0] = False
    obs = Observation(camera_K=K, template=scene.box, contact_mask=mask)
    loss = term(_recon(scene, transl), obs)
    assert loss.tolist() == [0.0, 0.0]


def test_contact_missing_inputs(scene):
    recon = _recon(scene, torch.zeros(2, 3))
    _zeros(ContactGuidance()(recon, Observation(camera_K=K, contact_mask=_hand_mask(scene, 2))), 2)
    _zeros(ContactGuidance()(recon, Observation(camera_K=K, template=scene.box)), 2)


# -- penetration -----------------------------------------------------------------------------------
def _box_in_chest(scene: Scene) -> torch.Tensor:
    """(3,) box translation: box in front of the chest, its back face ~5 cm inside the torso."""
    chest_front = 2.864  # camera z of the chest surface
    return _centred(scene.box, torch.tensor([0.0, -0.3, chest_front - 0.15 + 0.05]))


def test_penetration_has_gradient_and_descends(scene):
    term = PenetrationGuidance()
    obs = Observation(camera_K=K, template=scene.box)
    transl = _leaf(_box_in_chest(scene)[None])
    vertices = _leaf(scene.vertices)
    loss = term(_recon(scene, transl, vertices=vertices), obs)
    assert 0.001 < float(loss.detach()) < 0.05
    _assert_gradient(loss, transl, vertices)
    first, last = _descend(lambda t: term(_recon(scene, t), obs), transl, lr=0.5)
    assert last < first
    # moving the body (vertices) out of the object works as well
    vertices = _leaf(scene.vertices)
    t0 = _box_in_chest(scene)[None]
    first, last = _descend(lambda v: term(_recon(scene, t0, vertices=v), obs), vertices, lr=5.0)
    assert last < first


def test_penetration_per_item_and_satisfied(scene):
    term = PenetrationGuidance()
    obs = Observation(camera_K=K, template=scene.box)
    # item 1: the box 2 cm in front of the chest, not touching
    clear = _box_in_chest(scene) + torch.tensor([0.0, 0.0, -0.07])
    loss = term(_recon(scene, torch.stack([_box_in_chest(scene), clear])), obs)
    assert loss[0] > 0.001 and loss[1] == 0.0
    # far away: nothing near, zero
    assert float(term(_recon(scene, torch.tensor([[0.0, 0.0, 10.0]])), obs)) == 0.0


def test_penetration_missing_template(scene):
    _zeros(PenetrationGuidance()(_recon(scene, torch.zeros(2, 3)), Observation(camera_K=K)), 2)


# -- object floor ----------------------------------------------------------------------------------
def test_object_floor_sunk_object_is_lifted(scene):
    term = ObjectFloorGuidance()
    obs = Observation(camera_K=K, template=scene.box, floor_plane=scene.floor)
    floor_y = float(scene.floor[3])
    # item 0 sunk by 10 cm, item 1 standing on the floor
    transl = _leaf(torch.tensor([[0.5, floor_y + 0.1, 3.5], [0.5, floor_y - 0.001, 3.5]]))
    rotmat = _leaf(BODY_TO_CAM.expand(2, 3, 3))
    loss = term(_recon(scene, transl, rotmat=rotmat), obs)
    assert 0.0 < float(loss[0].detach()) < 0.1 and loss[1] == 0.0
    _assert_gradient(loss, transl, rotmat)
    (grad,) = torch.autograd.grad(term(_recon(scene, transl), obs).sum(), transl)
    assert grad[0, 1] > 0 and grad[0, [0, 2]].abs().max() < 1e-6  # lift = decrease camera y
    first, last = _descend(lambda t: term(_recon(scene, t), obs), transl, lr=0.05)
    assert last < first


def test_object_floor_missing_inputs(scene):
    recon = _recon(scene, torch.zeros(2, 3))
    _zeros(ObjectFloorGuidance()(recon, Observation(camera_K=K, template=scene.box)), 2)
    _zeros(ObjectFloorGuidance()(recon, Observation(camera_K=K, floor_plane=scene.floor)), 2)


# -- human floor -----------------------------------------------------------------------------------
def _shifted(scene: Scene, shift: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) rest vertices moved by (B, 3) `shift`."""
    return scene.vertices + shift[:, None]


def test_human_floor_body_below_floor(scene):
    term = HumanFloorGuidance()
    obs = Observation(camera_K=K, floor_plane=scene.floor)
    shift = _leaf(torch.tensor([[0.0, 0.1, 0.0], [0.0, 0.0, 0.0]]))  # item 0 sunk 10 cm
    loss = term(_recon(scene, torch.zeros(2, 3), vertices=_shifted(scene, shift)), obs)
    assert 0.0 < float(loss[0].detach()) < 0.1
    assert float(loss[1].detach()) == pytest.approx(0.0, abs=1e-6)
    _assert_gradient(loss, shift)
    first, last = _descend(
        lambda s: term(_recon(scene, torch.zeros(2, 3), vertices=_shifted(scene, s)), obs),
        shift, lr=0.1)
    assert last < first


def test_human_floor_floating_feet(scene):
    obs = Observation(camera_K=K, floor_plane=scene.floor)
    shift = _leaf(torch.tensor([[0.0, -0.2, 0.0]]))  # 20 cm above the floor
    term = HumanFloorGuidance()
    loss = term(_recon(scene, torch.zeros(1, 3), vertices=_shifted(scene, shift)), obs)
    assert float(loss.detach()) == pytest.approx(0.18, abs=1e-5)
    _assert_gradient(loss, shift)
    first, last = _descend(
        lambda s: term(_recon(scene, torch.zeros(1, 3), vertices=_shifted(scene, s)), obs),
        shift, lr=0.05)
    assert last < first
    # within the tolerance, or with the feet term off: no cost
    assert float(term(_recon(scene, torch.zeros(1, 3),
                             vertices=_shifted(scene, torch.tensor([[0.0, -0.015, 0.0]]))),
                      obs)) == 0.0
    off = HumanFloorGuidance(feet_on_floor=False)
    floating = _recon(scene, torch.zeros(1, 3), vertices=_shifted(scene, shift))
    assert float(off(floating, obs).detach()) == 0.0


def test_human_floor_missing_floor(scene):
    _zeros(HumanFloorGuidance()(_recon(scene, torch.zeros(2, 3)), Observation(camera_K=K)), 2)


# -- reprojection ----------------------------------------------------------------------------------
def test_reprojection_pulls_landmarks_onto_keypoints(scene):
    term = ReprojectionGuidance()
    rest = _recon(scene, torch.zeros(1, 3))
    keypoints = project(rest.landmarks(), K)[0]
    shift = _leaf(torch.tensor([[0.05, 0.0, 0.0], [0.0, 0.0, 0.0]]))  # item 0: 5 cm = ~8 px off

    def loss_of(s: torch.Tensor, obs: Observation) -> torch.Tensor:
        return term(_recon(scene, torch.zeros(2, 3), vertices=_shifted(scene, s),
                           joints=scene.joints + s[:, None]), obs)

    obs = Observation(camera_K=K, keypoints_2d=keypoints, keypoint_scores=torch.ones(33))
    loss = loss_of(shift, obs)
    assert float(loss[0].detach()) > 1e-4 and float(loss[1].detach()) < 1e-10
    _assert_gradient(loss, shift)
    first, last = _descend(lambda s: loss_of(s, obs), shift, lr=0.5)
    assert last < first
    # zero scores ignore everything; no keypoints -> zeros
    silent = Observation(camera_K=K, keypoints_2d=keypoints, keypoint_scores=torch.zeros(33))
    _zeros(loss_of(shift, silent), 2)
    _zeros(loss_of(shift, Observation(camera_K=K)), 2)


def test_reprojection_scores_weight_and_robustness(scene):
    term = ReprojectionGuidance(sigma=0.1)
    rest = _recon(scene, torch.zeros(1, 3))
    keypoints = project(rest.landmarks(), K)[0].clone()
    keypoints[0] += torch.tensor([300.0, 0.0])  # a gross outlier on the nose (1 scale_px)
    scores = torch.ones(33)
    loss = term(rest, Observation(camera_K=K, keypoints_2d=keypoints, keypoint_scores=scores))
    # Geman-McClure: e^2 = 1, sigma^2 = 0.01 -> 0.01 * 1 / 1.01, averaged over 33 landmarks
    assert float(loss.detach()) == pytest.approx(0.01 / 1.01 / 33, rel=1e-4)
    scores[0] = 0.0
    loss = term(rest, Observation(camera_K=K, keypoints_2d=keypoints, keypoint_scores=scores))
    assert float(loss.detach()) < 1e-10


# -- mask ------------------------------------------------------------------------------------------
def test_mask_distance():
    mask = np.zeros((5, 7), dtype=bool)
    mask[1:3, 1:3] = True
    dist = mask_distance(mask)
    assert dist.dtype == np.float32 and dist.shape == (5, 7)
    assert np.all(dist[mask] == 0.0)
    assert dist[1, 6] == 4.0 and dist[4, 4] == pytest.approx(np.hypot(2, 2))
    empty = mask_distance(np.zeros((3, 4), dtype=bool))
    assert np.all(empty == 5.0)


def test_sample_map_pixel_centres_bilinear_and_outside():
    image = torch.arange(12.0).reshape(3, 4)  # value = 4 * row + column
    pixels = torch.tensor([[[0.5, 0.5], [2.5, 1.5], [1.0, 0.5], [1.5, 1.0], [-2.5, 0.5],
                            [3.5, 5.5]]], requires_grad=True)
    values = sample_map(image, pixels)
    expected = torch.tensor([[0.0, 6.0, 0.5, 3.0, 0.0 + 3.0, 11.0 + 3.0]])
    assert torch.allclose(values, expected, atol=1e-5)
    (grad,) = torch.autograd.grad(values.sum(), pixels)
    assert torch.isfinite(grad).all() and grad[0, 4, 0] < 0 and grad[0, 5, 1] > 0


def test_mask_pulls_object_into_the_mask(scene):
    term = MaskGuidance()
    # the observed object: the box to the person's left side (image right)
    true_transl = _centred(scene.box, torch.tensor([0.6, 0.4, 2.5]))
    pixels = project(_recon(scene, true_transl[None]).object_points(
        torch.tensor(scene.box.keypoints)), K)[0].round().long()
    mask = np.zeros(IMAGE_HW, dtype=bool)
    for u, v in pixels.tolist():
        mask[max(v - 3, 0):v + 4, max(u - 3, 0):u + 4] = True
    distance = torch.tensor(mask_distance(mask))
    obs = Observation(camera_K=K, template=scene.box, object_mask_distance=distance)
    # item 0: 30 cm off to the side, item 1: at the observed pose
    transl = _leaf(torch.stack([true_transl + torch.tensor([-0.3, 0.0, 0.0]), true_transl]))
    loss = term(_recon(scene, transl), obs)
    assert float(loss[0].detach()) > 0.05 and float(loss[1].detach()) == 0.0
    _assert_gradient(loss, transl)
    first, last = _descend(lambda t: term(_recon(scene, t), obs), transl, lr=0.05)
    assert last < first
    # keypoints projecting outside the image keep a pull towards it
    outside = _leaf(true_transl[None] + torch.tensor([[3.0, 0.0, 0.0]]))
    loss = term(_recon(scene, outside), obs)
    assert float(loss.detach()) > 1.5  # ~600 px right of the mask, beyond the image's edge
    _assert_gradient(loss, outside)
    (grad,) = torch.autograd.grad(term(_recon(scene, outside), obs).sum(), outside)
    assert grad[0, 0] > 0  # descent moves the object back to the left (-x)


def test_mask_missing_inputs(scene):
    recon = _recon(scene, torch.zeros(2, 3))
    distance = torch.zeros(IMAGE_HW)
    _zeros(MaskGuidance()(recon, Observation(camera_K=K, object_mask_distance=distance)), 2)
    _zeros(MaskGuidance()(recon, Observation(camera_K=K, template=scene.box)), 2)


# -- depth -----------------------------------------------------------------------------------------
def test_depth_object_points_on_the_surface(scene):
    term = DepthGuidance()
    true_transl = _centred(scene.ball, scene.right_hand + torch.tensor([0.0, 0.0, -0.2]))
    observed = _recon(scene, true_transl[None]).object_points(
        torch.tensor(scene.ball.keypoints))[0]
    obs = Observation(camera_K=K, template=scene.ball, object_points=observed)
    transl = _leaf(torch.stack([true_transl + torch.tensor([0.0, 0.05, 0.03]), true_transl]))
    rotmat = _leaf(BODY_TO_CAM.expand(2, 3, 3))
    loss = term(_recon(scene, transl, rotmat=rotmat), obs)
    assert float(loss[0].detach()) > 0.01
    assert float(loss[1].detach()) < 1e-3  # the SDF grid's interpolation error only
    _assert_gradient(loss, transl, rotmat)
    first, last = _descend(lambda t: term(_recon(scene, t), obs), transl, lr=0.01)
    assert last < first
    # points far from the object cost the cap and do not pull
    far = Observation(camera_K=K, template=scene.ball, object_points=observed + 5.0)
    far_transl = _leaf(true_transl[None])
    far_loss = term(_recon(scene, far_transl), far)
    assert float(far_loss.detach()) == pytest.approx(0.1)
    (grad,) = torch.autograd.grad(far_loss.sum(), far_transl)
    assert grad.abs().max() == 0.0


def test_depth_human_points_chamfer(scene):
    term = DepthGuidance()
    ids = vertex_subset(scene.vertices.shape[1], 2000)
    observed = scene.vertices[0, ids[::3]]  # on the body surface, exactly on subset vertices
    obs = Observation(camera_K=K, human_points=observed)
    shift = _leaf(torch.tensor([[0.0, 0.0, 0.04], [0.0, 0.0, 0.0]]))
    loss = term(_recon(scene, torch.zeros(2, 3), vertices=_shifted(scene, shift)), obs)
    assert float(loss[0].detach()) > 0.01 and float(loss[1].detach()) < 1e-6
    _assert_gradient(loss, shift)
    first, last = _descend(
        lambda s: term(_recon(scene, torch.zeros(2, 3), vertices=_shifted(scene, s)), obs),
        shift, lr=0.01)
    assert last < first


def test_depth_missing_inputs(scene):
    recon = _recon(scene, torch.zeros(2, 3))
    _zeros(DepthGuidance()(recon, Observation(camera_K=K)), 2)
    points = torch.zeros(10, 3)
    _zeros(DepthGuidance()(recon, Observation(camera_K=K, object_points=points)), 2)  # no template
    _zeros(DepthGuidance()(recon, Observation(camera_K=K, template=scene.box,
                                              object_points=torch.zeros(0, 3),
                                              human_points=torch.zeros(0, 3))), 2)


# -- registry and total ----------------------------------------------------------------------------
def test_terms_registry_and_make_terms():
    assert set(GUIDANCE_TERMS.names()) == {"contact", "penetration", "object_floor",
                                           "human_floor", "reprojection", "mask", "depth"}
    assert all(GUIDANCE_TERMS.get(name).name == name for name in GUIDANCE_TERMS.names())
    assert default_weights() == {"contact": 0.5, "penetration": 3.0, "object_floor": 0.5,
                                 "human_floor": 0.5, "reprojection": 0.05, "mask": 0.05,
                                 "depth": 0.5}
    terms = make_terms({"contact": 2.0, "mask": 0.0, "depth": 1.0},
                       options={"contact": {"threshold_m": 0.05}})
    assert [(w, t.name) for w, t in terms] == [(2.0, "contact"), (1.0, "depth")]
    assert terms[0][1].threshold_m == 0.05
    with pytest.raises(ValueError, match="gravity.*not one of contact"):
        make_terms({"gravity": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        make_terms({"contact": -1.0})


def test_total_loss_is_the_weighted_sum(scene):
    obs = Observation(camera_K=K, template=scene.box, floor_plane=scene.floor,
                      contact_mask=_hand_mask(scene, 2))
    transl = _leaf(torch.stack([_box_in_chest(scene), _centred(scene.box, scene.right_hand)]))
    recon = _recon(scene, transl)
    terms = make_terms({"contact": 3.0, "penetration": 2.0, "human_floor": 1.0, "mask": 1.0})
    total, parts = total_loss(terms, recon, obs)
    assert set(parts) == {"contact", "penetration", "human_floor", "mask"}
    assert all(not p.requires_grad and p.shape == (2,) for p in parts.values())
    assert torch.allclose(total, 3.0 * parts["contact"] + 2.0 * parts["penetration"]
                          + parts["human_floor"] + parts["mask"])
    assert (parts["penetration"] > 0).all() and parts["mask"].eq(0).all()
    _assert_gradient(total, transl)
    empty, none = total_loss([], recon, obs)
    _zeros(empty, 2)
    assert none == {}
