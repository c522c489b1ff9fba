"""Denoiser, schedule, state codec and sampler of the ScoreHOI prior (no trained weights needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scorehoi_node.core.diffusion.condition import ConditionSpec, condition_features
from scorehoi_node.core.diffusion.denoiser import CheckpointError, Denoiser, DenoiserConfig
from scorehoi_node.core.diffusion.schedule import (PartialChain,
                                                   make_scheduler)
from scorehoi_node.core.diffusion.state import CameraFrameHOI, StateCodec

TEMPLATES = ("mug", "ball", "box")


def small_model(state_dim: int = 12, seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)
    model = Denoiser(DenoiserConfig(state_dim=state_dim, template_ids=TEMPLATES, hidden=32,
                                    blocks=2, embed=16))
    with torch.no_grad():  # zero-initialised output layers: give them weights to see anything
        for p in model.parameters():
            if p.abs().sum() == 0 and p.ndim == 2:
                p.normal_(0, 0.1)
    return model.eval()


def test_schedule_is_cosine_eps_with_1000_steps():
    s = make_scheduler()
    assert s.config.num_train_timesteps == 1000
    assert s.config.beta_schedule == "squaredcos_cap_v2"
    assert s.config.prediction_type == "epsilon"
    # cosine schedule: alpha_bar(t) = cos^2(((t+1)/T + s)/(1+s) * pi/2) / cos^2(s/(1+s) * pi/2)
    ac = s.alphas_cumprod.double().numpy()
    f = lambda t: np.cos(((t / 1000) + 0.008) / 1.008 * np.pi / 2) ** 2
    for t in (10, 50, 200, 500):
        assert ac[t] == pytest.approx(f(t + 1) / f(0), rel=2e-3)


def test_partial_chain_timesteps():
    chain = PartialChain(tau=50, stride=5)
    assert chain.num_steps == 10
    assert [t for t, _ in chain.sampling_steps()] == [50, 45, 40, 35, 30, 25, 20, 15, 10, 5]
    assert all(t_next == t - 5 for t, t_next in chain.sampling_steps())
    assert chain.inversion_steps() == [(t_next - 5, t_next) for t_next in range(5, 55, 5)]
    for bad in ((50, 7), (3, 5), (0, 5), (1000, 5)):
        with pytest.raises(ValueError):
            PartialChain(*bad)


def test_ddim_inversion_and_sampling_are_inverse_with_the_exact_score():
    """For data ~ N(0, I) the exact noise prediction is eps(x_t) = sqrt(1 - a_t) x_t; deterministic
    DDIM inversion 0 -> tau followed by DDIM sampling tau -> 0 must return the start."""
    ac = make_scheduler().alphas_cumprod

    class Exact(torch.nn.Module):
        def forward(self, x, t, cond):
            return (1 - ac[int(t)]).sqrt() * x

    from scorehoi_node.core.diffusion.sampler import GuidedSampler

    sampler = GuidedSampler(Exact(), body=None, codec=None, index=None)
    x0 = torch.randn(4, 7, generator=torch.Generator().manual_seed(0))
    # the probability-flow ODE of N(0, I) data is the identity; each DDIM step between noise
    # levels s and t scales by c = sqrt(a_s a_t) + sqrt((1 - a_s)(1 - a_t)) = cos(theta_s -
    # theta_t) (sqrt(a) = cos theta), once going up and once coming down
    for chain in (PartialChain(50, 5), PartialChain(200, 50)):
        x_tau = sampler.invert(x0, None, chain)
        back, log = sampler.sample(x_tau, None, chain, pelvis=None)
        assert len(log) == chain.num_steps
        levels = [0, *(t_next for _, t_next in chain.inversion_steps())]
        factor = 1.0
        for s, t in zip(levels[:-1], levels[1:]):
            a_s, a_t = float(ac[s]), float(ac[t])
            factor *= (np.sqrt(a_s * a_t) + np.sqrt((1 - a_s) * (1 - a_t))) ** 2
        assert 0.9 < factor < 1.0
        torch.testing.assert_close(back, x0 * factor, atol=1e-4, rtol=1e-4)
        assert float((back - x0).norm() / x0.norm()) < (1e-3 if chain.stride == 5 else 0.05)


def test_condition_changes_the_output():
    spec = ConditionSpec(template_ids=TEMPLATES, state_dim=12)
    model = small_model()
    x = torch.randn(3, 12)
    c1 = torch.randn(3, spec.dim)
    c2 = torch.randn(3, spec.dim)
    with torch.no_grad():
        e1, e2 = model(x, torch.tensor(50), c1), model(x, torch.tensor(50), c2)
        e1b = model(x, torch.tensor(50), c1.clone())
        e_t = model(x, torch.tensor(400), c1)
    assert (e1 - e2).abs().max() > 1e-3  # the condition reaches the output
    torch.testing.assert_close(e1, e1b)   # deterministically
    assert (e1 - e_t).abs().max() > 1e-3  # and so does the timestep


def test_condition_features_layout_and_missing_parts():
    spec = ConditionSpec(template_ids=TEMPLATES, state_dim=5)
    K = torch.tensor([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    kp = torch.rand(2, 33, 2) * 200 + 100
    sc = torch.ones(2, 33)
    sc[1, :5] = 0
    kp[1, 5] = float("nan")
    box = torch.tensor([[150.0, 150, 200, 220], [float("nan")] * 4])
    init = torch.tensor([[0.1] * 5, [float("nan")] * 5])
    c = condition_features(spec, K, kp, sc, box, torch.tensor([1, -1]), init)
    assert c.shape == (2, spec.dim) and torch.isfinite(c).all()
    off = 33 * 3 + 3
    assert c[0, off + 4] == 1 and c[1, off + 4] == 0           # object flag
    assert c[0, off + 5 + 1] == 1 and c[1, off + 5:off + 8].sum() == 0   # one-hot
    assert c[0, -1] == 1 and c[1, -1] == 0                      # initial-state flag
    assert c[1, 33 * 2 + 5] == 0                                 # NaN keypoint -> invisible
    # keypoints are normalised to the person box: within [-0.5, 0.5]
    assert c[0, :66].abs().max() <= 0.5 + 1e-6


def test_checkpoint_round_trip_and_corrupt_files(tmp_path):
    model = small_model()
    model.state_mean.fill_(0.5)
    path = model.save(tmp_path / "d.safetensors", extra={"step": 3})
    loaded = Denoiser.load(path)
    assert loaded.config == model.config and loaded.extra == {"step": 3}
    x, c = torch.randn(2, 12), torch.randn(2, model.config.condition.dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, torch.tensor(10), c), model(x, torch.tensor(10), c))
    assert float(loaded.state_mean[0]) == 0.5

    with pytest.raises(CheckpointError, match="does not exist"):
        Denoiser.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x00\x01not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        Denoiser.load(bad)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        Denoiser.load(truncated)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(CheckpointError, match="not a ScoreHOI denoiser"):
        Denoiser.load(other)
    nan = tmp_path / "nan.safetensors"
    with torch.no_grad():
        model.inp.weight[0, 0] = float("nan")
    model.save(nan)
    with pytest.raises(CheckpointError, match="NaN"):
        Denoiser.load(nan)


@pytest.fixture(scope="module")
def body():
    from scorehoi_node.core.bodies import make_body_model

    return make_body_model("anny")


def random_hoi(body, batch: int, seed: int = 0) -> CameraFrameHOI:
    import roma

    g = torch.Generator().manual_seed(seed)
    P = body.num_pose_joints
    return CameraFrameHOI(
        root_rotmat=roma.rotvec_to_rotmat(torch.randn(batch, 3, generator=g)),
        body_pose_rotmat=roma.rotvec_to_rotmat(0.3 * torch.randn(batch, P, 3, generator=g)),
        shape=torch.rand(batch, body.num_shape, generator=g),
        pelvis=torch.tensor([[0.1, 0.2, 3.0]]).expand(batch, 3).clone(),
        object_rotmat=roma.rotvec_to_rotmat(torch.randn(batch, 3, generator=g)),
        object_transl=torch.tensor([[0.4, 0.0, 2.8]]) + 0.1 * torch.randn(batch, 3, generator=g))


def test_state_codec_round_trip(body):
    hoi = random_hoi(body, 3)
    codec = StateCodec(body.state_layout, torch.randn(body.state_layout.size) * 0.1,
                       torch.rand(body.state_layout.size) + 0.5)
    x = codec.encode(hoi)
    assert x.shape == (3, body.state_layout.size)
    back = codec.decode(x, hoi.pelvis)
    for name in ("root_rotmat", "body_pose_rotmat", "shape", "object_rotmat", "object_transl"):
        torch.testing.assert_close(getattr(back, name), getattr(hoi, name), atol=1e-5, rtol=1e-5)
    # the object block is relative to the pelvis frame: rotating the whole scene about the
    # pelvis changes only the root rotation block
    import roma

    Q = roma.rotvec_to_rotmat(torch.tensor([[0.0, 0.7, 0.0]])).expand(3, 3, 3)
    turned = CameraFrameHOI(root_rotmat=Q @ hoi.root_rotmat, body_pose_rotmat=hoi.body_pose_rotmat,
                            shape=hoi.shape, pelvis=hoi.pelvis, object_rotmat=Q @ hoi.object_rotmat,
                            object_transl=hoi.pelvis + ((hoi.object_transl - hoi.pelvis)[:, None]
                                                        @ Q.transpose(1, 2))[:, 0])
    lay = body.state_layout
    x2 = codec.pack(turned)
    raw = codec.pack(hoi)
    torch.testing.assert_close(x2[:, lay.root_rot_6d.stop:], raw[:, lay.root_rot_6d.stop:],
                               atol=1e-5, rtol=1e-5)


def test_reconstruction_places_body_and_object(body):
    from scorehoi_node.core.diffusion.model import body_index
    from scorehoi_node.core.diffusion.state import reconstruct

    hoi = random_hoi(body, 2)
    index = body_index(body)
    recon = reconstruct(body, hoi, index, full_mesh=True)
    torch.testing.assert_close(recon.joints[:, 0], hoi.pelvis)
    out = body(body_pose_rotmat=hoi.body_pose_rotmat, shape=hoi.shape,
               root_rotmat=hoi.root_rotmat, root_transl=torch.zeros(2, 3))
    torch.testing.assert_close(recon.vertices - recon.joints[:, :1],
                               out.vertices - out.joints[:, :1], atol=1e-5, rtol=1e-5)
    assert recon.landmarks().shape == (2, 33, 3)
    # the guidance steps skin only the rows the guidance reads: the same points, re-indexed
    sub = reconstruct(body, hoi, index)
    assert sub.vertices.shape[1] == index.guidance_vertex_ids.numel() < body.num_vertices / 3
    torch.testing.assert_close(sub.vertices, recon.vertices[:, index.guidance_vertex_ids],
                               atol=1e-5, rtol=1e-5)
    for name in ("contact_vertex_ids", "foot_vertex_ids", "surface_ids"):
        assert getattr(sub, name).shape == getattr(recon, name).shape
        torch.testing.assert_close(sub.vertices[:, getattr(sub, name)],
                                   recon.vertices[:, getattr(recon, name)], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sub.landmarks(), recon.landmarks(), atol=1e-5, rtol=1e-5)


def test_every_guidance_term_sees_the_same_on_the_skinned_subset(body):
    """The guidance steps skin only `BodyIndex.guidance_vertex_ids`: every registered term gives
    the loss and the gradient it gives on the whole mesh."""
    from scorehoi_node.core.diffusion.guidance import make_terms, total_loss
    from scorehoi_node.core.diffusion.guidance.base import Observation
    from scorehoi_node.core.diffusion.model import body_index
    from scorehoi_node.core.diffusion.state import reconstruct
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.registry import GUIDANCE_TERMS

    index = body_index(body)
    hoi = random_hoi(body, 2)
    template = load_library().by_id("box")
    g = torch.Generator().manual_seed(1)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    obs = Observation(camera_K=K, template=template,
                      contact_mask=torch.rand(2, index.contact_vertex_ids.numel(), generator=g) > 0.5,
                      floor_plane=torch.tensor([0.0, -1.0, 0.0, 1.2]),
                      keypoints_2d=torch.rand(33, 2, generator=g) * 400,
                      keypoint_scores=torch.rand(33, generator=g),
                      object_mask_distance=torch.rand(480, 640, generator=g) * 20,
                      object_points=hoi.object_transl[0] + 0.1 * torch.randn(50, 3, generator=g),
                      human_points=hoi.pelvis[0] + 0.3 * torch.randn(200, 3, generator=g))
    for name in GUIDANCE_TERMS.names():
        terms = make_terms({name: 1.0})
        results = []
        for full in (True, False):
            shape = hoi.shape.clone().requires_grad_(True)
            pose = hoi.body_pose_rotmat.clone().requires_grad_(True)
            transl = hoi.object_transl.clone().requires_grad_(True)
            h = type(hoi)(root_rotmat=hoi.root_rotmat, body_pose_rotmat=pose, shape=shape,
                          pelvis=hoi.pelvis, object_rotmat=hoi.object_rotmat,
                          object_transl=transl)
            loss, _ = total_loss(terms, reconstruct(body, h, index, full_mesh=full), obs)
            grads = torch.autograd.grad(loss.sum(), (pose, shape, transl), allow_unused=True)
            results.append((loss.detach(), grads))
        (full_loss, full_grads), (sub_loss, sub_grads) = results
        torch.testing.assert_close(sub_loss, full_loss, atol=1e-5, rtol=1e-4, msg=name)
        for a, b in zip(full_grads, sub_grads):
            assert (a is None) == (b is None), name
            if a is not None:
                torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-3, msg=name)
