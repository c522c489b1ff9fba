"""The pure DDIM step equals diffusers' stateful schedulers, and sharing it across threads is safe."""

from __future__ import annotations

import threading

import torch

from scorehoi_node.core.diffusion.sampler import GuidedSampler
from scorehoi_node.core.diffusion.schedule import (DDIMSchedule, PartialChain,
                                                   make_inverse_scheduler, make_scheduler)


def _noise(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_step_equals_diffusers_ddim_sampling_step():
    schedule, ref = DDIMSchedule(), make_scheduler()
    for tau, stride in ((50, 5), (100, 50), (200, 50)):
        chain = PartialChain(tau, stride)
        ref.set_timesteps(1000 // stride)  # diffusers' step size T / num_inference_steps = stride
        for t, t_next in chain.sampling_steps():
            x, eps = _noise(3, 9, seed=t), _noise(3, 9, seed=t + 1)
            want = ref.step(eps, t, x)
            got = schedule.step(eps, t, t_next, x)
            torch.testing.assert_close(got.prev_sample, want.prev_sample, atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(got.pred_x0, want.pred_original_sample, atol=1e-6,
                                       rtol=1e-6)


def test_step_equals_diffusers_ddim_inversion_step():
    schedule, ref = DDIMSchedule(), make_inverse_scheduler()
    for tau, stride in ((50, 5), (100, 50)):
        ref.set_timesteps(1000 // stride)
        for t, t_next in PartialChain(tau, stride).inversion_steps():
            x, eps = _noise(2, 5, seed=t), _noise(2, 5, seed=t + 7)
            # diffusers' inverse step is called with the target timestep and uses t_next - stride
            want = ref.step(eps, t_next, x).prev_sample
            torch.testing.assert_close(schedule.step(eps, t, t_next, x).prev_sample, want,
                                       atol=1e-6, rtol=1e-6)


class _Exact(torch.nn.Module):
    """The exact noise prediction for N(0, I) data: eps(x_t) = sqrt(1 - a_t) x_t."""

    def __init__(self) -> None:
        super().__init__()
        self.ac = make_scheduler().alphas_cumprod

    def forward(self, x, t, cond):
        return (1 - self.ac[int(t)]).sqrt() * x * (1.0 + 0.01 * torch.sin(x))


def _run(sampler: GuidedSampler, chain: PartialChain, x0: torch.Tensor) -> torch.Tensor:
    return sampler.sample(sampler.invert(x0, None, chain), None, chain, pelvis=None)[0]


def test_two_chains_in_two_threads_equal_each_run_alone():
    """Two refiners with different schedules share one sampler (as the frame refiner and the
    keyframe refiner do); run concurrently, each result is bit-identical to running alone."""
    sampler = GuidedSampler(_Exact(), body=None, codec=None, index=None)
    chains = {"paper": PartialChain(50, 5), "fast": PartialChain(100, 50)}
    x0 = _noise(4, 11, seed=0)
    alone = {name: _run(sampler, chain, x0) for name, chain in chains.items()}
    assert not torch.equal(alone["paper"], alone["fast"])
    results: dict[str, list[torch.Tensor]] = {name: [] for name in chains}
    start = threading.Barrier(len(chains))

    def worker(name: str) -> None:
        start.wait()
        for _ in range(30):
            results[name].append(_run(sampler, chains[name], x0))

    threads = [threading.Thread(target=worker, args=(name,)) for name in chains]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for name in chains:
        assert len(results[name]) == 30
        assert all(torch.equal(r, alone[name]) for r in results[name]), name
