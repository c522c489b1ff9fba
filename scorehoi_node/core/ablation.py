"""Refinement ablation on held-out synthetic scenes with controlled initial estimates.

The end-to-end evaluation (`scorehoi eval BAG --refine MODE`) mixes perception and refinement:
a wrong object template or a missed object leaves nothing to refine. This benchmark isolates the
refinement: for every held-out HOIShard sample it builds the initial estimate by corrupting the
ground truth with the perturbation model of `dataset.Corruption` (the measured error sizes of the
initial estimate), synthesises the observations the guidance uses (noisy 2D landmarks, the
object's silhouette as the convex hull of its projected vertices, depth points on the camera-facing
halves of body and object with 5 mm noise, the true floor), then runs each refinement mode and
scores it with the CONTHO-protocol metrics (`core.metrics.evaluate_frame`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from scorehoi_node.core import metrics
from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.diffusion.dataset import Corruption, PriorDataset
from scorehoi_node.core.diffusion.guidance.base import Observation
from scorehoi_node.core.diffusion.guidance.mask import mask_distance
from scorehoi_node.core.diffusion.model import Prior, body_index
from scorehoi_node.core.diffusion.state import CameraFrameHOI, StateCodec, reconstruct
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.refine import RefineConfig, Refiner, preset
from scorehoi_node.core.registry import GUIDANCE_TERMS

METRIC_KEYS = ("cd_human_cm", "cd_object_cm", "contact_precision", "contact_recall",
               "contact_f1", "penetration_cm", "floor_cm")


@dataclass
class AblationCase:
    """One held-out sample: ground truth, initial estimate, observations, condition."""

    gt: CameraFrameHOI
    initial: CameraFrameHOI
    obs: Observation
    cond: torch.Tensor
    template_id: str
    floor: np.ndarray


def build_cases(data: PriorDataset, shard_ids: list[str], shard_floor: np.ndarray,
                image_size: np.ndarray, prior: Prior, body: BodyModel, library: ObjectLibrary,
                corruption: Corruption = Corruption(), seed: int = 0) -> list[AblationCase]:
    """Cases for every sample of `data` (object ids, floors and image sizes per sample)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    codec = prior.codec
    cases = []
    no_drop = replace(corruption, drop_all=0.0, drop_initial=0.0, drop_object=0.0,
                      drop_template=0.0, keypoint_dropout=0.05)
    for i in range(len(data)):
        idx = torch.tensor([i])
        raw = data.raw[idx]
        init_raw = data.perturb_state(raw, codec, corruption, g)
        cond = data.conditions(idx, codec, no_drop, g, initial_raw=init_raw)
        pelvis = data.pelvis[idx]
        gt = codec.unpack(raw, pelvis)
        init = codec.unpack(init_raw, pelvis)
        tmpl = library.by_id(shard_ids[i])
        K = data.camera_K[i]
        w, h = (int(v) for v in image_size[i])
        # observations of the true scene
        kp = data.keypoints_2d[i].clone()
        span = float((kp.amax(0) - kp.amin(0)).max().clamp_min(10.0))
        kp = kp + torch.randn(kp.shape, generator=g) * corruption.keypoint_noise * span
        scores = data.visible[i].float()
        ov = tmpl.vertices.astype(np.float64) @ gt.object_rotmat[0].double().numpy().T \
            + gt.object_transl[0].double().numpy()
        Kn = K.double().numpy()
        uv = ov[:, :2] / np.clip(ov[:, 2:], 1e-3, None) * [Kn[0, 0], Kn[1, 1]] + Kn[:2, 2]
        mask = np.zeros((h, w), np.uint8)
        hull = cv2.convexHull(np.round(uv).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
        with torch.no_grad():
            recon = reconstruct(body, gt, prior.index, full_mesh=True)
        hv = recon.vertices[0].double().numpy()

        def front(points: np.ndarray, n: int) -> np.ndarray:
            centre = points.mean(0)
            sel = points[points[:, 2] < centre[2]]
            sel = sel[rng.choice(len(sel), min(n, len(sel)), replace=False)]
            return sel + rng.normal(0, 0.005, sel.shape)

        obj_pts = front(metrics.sample_surface(ov, tmpl.faces, 2000, rng), 300)
        hum_pts = front(hv[rng.choice(len(hv), 4000, replace=False)], 400)
        scale_px = float(np.hypot(*(kp.amax(0) - kp.amin(0)).numpy()))
        floor = shard_floor[i].astype(np.float64)
        obs = Observation(
            camera_K=K.float(), template=tmpl, floor_plane=torch.as_tensor(floor).float(),
            keypoints_2d=kp.float(), keypoint_scores=scores,
            object_mask_distance=torch.as_tensor(mask_distance(mask.astype(bool))),
            object_points=torch.as_tensor(obj_pts).float(),
            human_points=torch.as_tensor(hum_pts).float(), scale_px=scale_px)
        cases.append(AblationCase(gt=gt, initial=init, obs=obs, cond=cond, template_id=tmpl.id,
                                  floor=floor))
    return cases


def score(hoi: CameraFrameHOI, case: AblationCase, refiner: Refiner, body: BodyModel,
          library: ObjectLibrary, seed: int) -> dict[str, float]:
    """CONTHO metrics of one refined (or initial) state against the case's ground truth."""
    tmpl = library.by_id(case.template_id)
    faces = body.faces.cpu().numpy()
    with torch.no_grad():
        pred = refiner.reconstruct(hoi, full_mesh=True)
        gt = refiner.reconstruct(case.gt, full_mesh=True)

    def obj(r) -> np.ndarray:
        return tmpl.vertices.astype(np.float64) @ r.object_rotmat[0].double().numpy().T \
            + r.object_transl[0].double().numpy()

    m = metrics.evaluate_frame(pred.vertices[0].double().numpy(), faces, obj(pred), tmpl.faces,
                               gt.vertices[0].double().numpy(), obj(gt),
                               floor=(case.floor[:3], case.floor[3]),
                               n_samples=2000, rng=np.random.default_rng(seed))
    return {k: float(getattr(m, k)) for k in METRIC_KEYS}


def run_mode(cases: list[AblationCase], config: RefineConfig, prior: Prior | None,
             body: BodyModel, library: ObjectLibrary) -> dict:
    """Refine every case with `config`; mean metrics and milliseconds per case."""
    codec = prior.codec if prior is not None else StateCodec(body.state_layout)
    index = prior.index if prior is not None else body_index(body)
    sampler = prior.sampler if prior is not None else None
    refiner = Refiner(sampler, body, codec, index, config)
    rows, ms = [], []
    for k, case in enumerate(cases):
        t0 = time.perf_counter()
        out = refiner.refine(case.initial, case.cond, case.obs).hoi
        ms.append((time.perf_counter() - t0) * 1e3)
        rows.append(score(out, case, refiner, body, library, seed=k))
    summary = {key: float(np.nanmean([r[key] for r in rows])) for key in METRIC_KEYS}
    summary["ms_per_frame"] = float(np.median(ms))
    summary["cases"] = len(cases)
    return summary


# -- the ablation table (`scorehoi ablate`) -------------------------------------------------------
#: (row label, mode) in table order; "optimize" gets the wall time per round that "fast" took
ABLATION_ROWS = (("initial estimate", "none"), ("optimization only (equal time)", "optimize"),
                 ("unguided diffusion", "unguided"), ("guided (1 round)", "guided"),
                 ("guided + iterative (paper)", "paper"), ("fast", "fast"),
                 ("paper, raw gradient (rho 30, penetration weight 1)", "paper_raw"),
                 ("fast, raw gradient (rho 30, penetration weight 1)", "fast_raw"))
ABLATION_MODES = tuple(mode for _, mode in ABLATION_ROWS)
#: the guidance before block normalisation (the published raw gradient, with the scale and
#: penetration weight it needed here)
RAW_GRADIENT = {"guidance_norm": "none", "rho": 30.0, "weights": {"penetration": 1.0}}
GUIDED_MODES = ("guided", "paper", "fast")


def parse_overrides(items: list[str]) -> dict:
    """["rho=2", "weights.penetration=1", "contact.part_radius_m=0.08", "guidance_norm=none"]
    -> `RefineConfig` overrides (values typed like the field's default; `weights.<term>` sets
    one guidance weight, `contact.<field>` one contact setting, e.g. contact.predictor=distance)."""
    defaults = RefineConfig()
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        group, _, name = key.rpartition(".")
        if group == "weights":
            GUIDANCE_TERMS.check(name)
            out.setdefault("weights", {})[name] = float(value)
            continue
        if group == "contact" and hasattr(defaults.contact, name):
            kind = type(getattr(defaults.contact, name))
            out.setdefault("contact", {})[name] = kind(value)
            continue
        if group or key in ("mode", "weights", "contact") or not hasattr(defaults, key):
            raise ValueError(f"cannot override {key!r}; fields: rounds, tau, stride, rho, "
                             "guidance_norm, contact.<field>, weights.<term>")
        kind = type(getattr(defaults, key))
        try:
            out[key] = kind(value)
        except ValueError as e:
            raise ValueError(f"override {item!r}: {e}") from e
    return out


def _with(config: RefineConfig, overrides: dict) -> RefineConfig:
    overrides = dict(overrides)
    if "weights" in overrides:
        overrides["weights"] = {**config.weights, **overrides["weights"]}
    if "contact" in overrides:
        overrides["contact"] = replace(config.contact, **overrides["contact"])
    return replace(config, **overrides)


def ablation_configs(overrides: dict | None = None, contact_predictor: str | None = None
                     ) -> dict[str, RefineConfig]:
    """Mode -> configuration of every row but "optimize"; `overrides` (`parse_overrides`)
    apply to the guided rows (guided, paper, fast), not to the raw-gradient references;
    `contact_predictor` ("learned" / "distance"; None: the default) to every row."""
    configs = {"none": preset("none"), "unguided": preset("unguided"),
               "guided": replace(preset("fast"), rounds=1), "paper": preset("paper"),
               "fast": preset("fast")}
    for mode in GUIDED_MODES:
        configs[mode] = _with(configs[mode], overrides or {})
    for mode in ("paper", "fast"):
        configs[f"{mode}_raw"] = _with(preset(mode), RAW_GRADIENT)
    return {mode: _with_predictor(c, contact_predictor) for mode, c in configs.items()}


def _with_predictor(config: RefineConfig, contact_predictor: str | None) -> RefineConfig:
    if contact_predictor is None:
        return config
    return replace(config, contact=replace(config.contact, predictor=contact_predictor))


def run_ablation(cases: list[AblationCase], prior: Prior, body: BodyModel,
                 library: ObjectLibrary, modes: tuple[str, ...] = ABLATION_MODES,
                 overrides: dict | None = None, progress=None,
                 contact_predictor: str | None = None) -> dict[str, dict]:
    """Mean metrics and ms per case of each of `modes` (in table order); "optimize" needs
    "fast" (its time budget per round is what "fast" took). `contact_predictor`: the contact
    rule of every row's rounds (None: `ContactConfig`'s default, the learned predictor)."""
    unknown = set(modes) - set(ABLATION_MODES)
    if unknown:
        raise ValueError(f"unknown ablation modes {sorted(unknown)}; modes: {ABLATION_MODES}")
    if "optimize" in modes and "fast" not in modes:
        raise ValueError("the 'optimize' row needs the 'fast' row (equal time)")
    configs = ablation_configs(overrides, contact_predictor)
    results: dict[str, dict] = {}
    for label, mode in ABLATION_ROWS:
        if mode in modes and mode != "optimize":
            if progress is not None:
                progress(label)
            results[mode] = run_mode(cases, configs[mode], prior, body, library)
    if "optimize" in modes:
        budget = results["fast"]["ms_per_frame"] / configs["fast"].rounds
        if progress is not None:
            progress(f"optimization only, {budget:.0f} ms per round")
        optimize = _with_predictor(preset("optimize", optimize_budget_ms=budget),
                                   contact_predictor)
        results["optimize"] = run_mode(cases, optimize, prior, body, library)
    return {mode: results[mode] for mode in ABLATION_MODES if mode in results}


def ablation_markdown(results: dict[str, dict]) -> str:
    """The results as a Markdown table, rows in `ABLATION_ROWS` order."""
    header = ["method", *METRIC_KEYS, "ms_per_frame"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, mode in ABLATION_ROWS:
        if mode not in results:
            continue
        r = results[mode]
        cells = [f"{r[k]:.3f}" if "contact" in k else f"{r[k]:.2f}" for k in METRIC_KEYS]
        lines.append("| " + " | ".join([label, *cells, f"{r['ms_per_frame']:.0f}"]) + " |")
    return "\n".join(lines) + "\n"
