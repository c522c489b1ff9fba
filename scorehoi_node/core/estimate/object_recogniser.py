"""Learned object recogniser and pose initialiser on a candidate's evidence.

Two small networks, one per kind of evidence (`object_evidence`):

- points (depth): a PointNet (shared per-point MLP, max + mean pooling) whose pooled feature is
  joined with the context; heads: class logits over the library's templates + "other" (an
  object of no template's shape or size) + "clutter" (body parts, scenery, noise), yaw bins +
  residuals per template (yaw about the floor normal in the evidence frame), the template
  origin's translation in the evidence frame per template, and a per-point object / not-object
  segmentation (body pixels that leak into a cluster are dropped before ICP);
- mask (RGB only): a small CNN on the mask crop, joined with the mask context; heads: class
  logits and yaw bins + residuals.

Yaw targets respect each template's symmetry about its vertical axis (`yaw_symmetry`: order k
means a turn by 2 pi / k maps the template onto itself; 0 = any turn): the loss takes the
nearest equivalent yaw.

Weights ship as safetensors (`DEFAULT_WEIGHTS`); `load_recogniser` raises
`RecogniserWeightsError` (one line) for a missing, corrupt or mismatched file. Training:
`estimate.train_recogniser`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scorehoi_node.core.estimate.object_evidence import (CONTEXT_DIM, MASK_CONTEXT_DIM, MASK_SIZE,
                                                         POINT_FEATURES, Evidence)
from scorehoi_node.core.objects import ObjectLibrary, ObjectTemplate
from scorehoi_node.core.checkpoints import load_state, read_weights, save_weights

#: class names after the templates: an object of another shape, and not an object at all
OTHER, CLUTTER = "other", "clutter"
#: the weights shipped with the package
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "object_recogniser.safetensors"
WEIGHTS_FORMAT = "scorehoi.object_recogniser"
WEIGHTS_VERSION = 1


class RecogniserWeightsError(ValueError):
    """A recogniser weights file that cannot be used (missing, corrupt, another library)."""


def yaw_symmetry(template: ObjectTemplate, tolerance_m: float = 0.006,
                 samples: int = 2000) -> int:
    """Symmetry order of a template about its vertical (+Y) axis through its box centre: the
    largest k in (8, 6, 4, 3, 2) such that turning surface samples by 2 pi / k leaves them on
    the surface (mean unsigned distance to the mesh below `tolerance_m`); 0 when every tested
    turn does (a ball, a bottle); 1 for none."""
    pts = template.surface_samples(samples)
    centre = 0.5 * (pts.min(0) + pts.max(0))
    local = pts - centre

    def ok(angle: float) -> bool:
        c, s = np.cos(angle), np.sin(angle)
        R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        d = np.abs(template.signed_distance(local @ R.T + centre))
        return float(d.mean()) < tolerance_m

    if all(ok(a) for a in (2 * np.pi / 8, 2 * np.pi / 7, 2 * np.pi / 5, 1.0)):
        return 0
    for k in (8, 6, 4, 3, 2):
        if ok(2 * np.pi / k):
            return k
    return 1


@dataclass(frozen=True)
class RecogniserConfig:
    """Architecture and what it was trained for (saved with the weights).

    Attributes:
        template_ids: library template ids in class order (then "other", "clutter").
        symmetry: yaw symmetry order per template (`yaw_symmetry`).
        yaw_bins: bins over 360 degrees of yaw.
        num_points: points the point network sees per candidate (the first of the evidence's
            random sample; training draws them at random from it).
        point_widths: per-point MLP widths.
        hidden: width of the joint MLP.
        mask_channels: CNN channels (three stride-2 convolutions).
    """

    template_ids: tuple[str, ...]
    symmetry: tuple[int, ...]
    yaw_bins: int = 12
    num_points: int = 128
    point_widths: tuple[int, ...] = (64, 96, 128)
    hidden: int = 256
    mask_channels: tuple[int, ...] = (16, 32, 64)

    def __post_init__(self) -> None:
        if len(self.template_ids) != len(self.symmetry) or not self.template_ids:
            raise ValueError("need one symmetry order per template id (and at least one)")
        if self.yaw_bins < 2 or len(self.point_widths) < 2 or len(self.mask_channels) != 3:
            raise ValueError("yaw_bins >= 2, >= 2 point widths and 3 mask channels required")

    @property
    def classes(self) -> tuple[str, ...]:
        return (*self.template_ids, OTHER, CLUTTER)


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class _Heads(nn.Module):
    """class logits (B, K), yaw logits and residuals (B, T, bins), translation (B, T, 3)."""

    def __init__(self, hidden: int, config: RecogniserConfig, translation: bool) -> None:
        super().__init__()
        t, k = len(config.template_ids), len(config.classes)
        self.t, self.bins = t, config.yaw_bins
        self.cls = nn.Linear(hidden, k)
        self.yaw = nn.Linear(hidden, 2 * t * config.yaw_bins)
        self.trans = nn.Linear(hidden, 3 * t) if translation else None

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        yaw = self.yaw(h).view(-1, self.t, 2, self.bins)
        out = {"logits": self.cls(h), "yaw_logits": yaw[:, :, 0], "yaw_residual": yaw[:, :, 1]}
        if self.trans is not None:
            out["translation"] = self.trans(h).view(-1, self.t, 3)
        return out


class RecogniserNet(nn.Module):
    """Both networks (see the module docstring). Inputs follow `object_evidence`."""

    def __init__(self, config: RecogniserConfig) -> None:
        super().__init__()
        self.config = config
        w = list(config.point_widths)
        self.point_mlp = _mlp([POINT_FEATURES, *w])
        self.point_joint = _mlp([2 * w[-1] + CONTEXT_DIM, config.hidden, config.hidden])
        self.point_heads = _Heads(config.hidden, config, translation=True)
        # segmentation: Linear([point feature, global feature]) as a per-point plus a
        # per-sample term (the same map, without concatenating the global one to every point)
        self.seg_point = nn.Linear(w[-1], 32)
        self.seg_global = nn.Linear(config.hidden, 32, bias=False)
        self.seg_out = nn.Linear(32, 1)
        c = config.mask_channels
        self.mask_cnn = nn.Sequential(
            nn.Conv2d(1, c[0], 3, 2, 1), nn.ReLU(), nn.Conv2d(c[0], c[1], 3, 2, 1), nn.ReLU(),
            nn.Conv2d(c[1], c[2], 3, 2, 1), nn.ReLU(), nn.Flatten())
        flat = c[2] * ((MASK_SIZE + 7) // 8) ** 2
        self.mask_joint = _mlp([flat + MASK_CONTEXT_DIM, config.hidden, config.hidden])
        self.mask_heads = _Heads(config.hidden, config, translation=False)

    def forward_points(self, points: torch.Tensor, context: torch.Tensor
                       ) -> dict[str, torch.Tensor]:
        """points (B, N, 4), context (B, CONTEXT_DIM) -> heads + "segmentation" (B, N) logits."""
        f = self.point_mlp(points)
        pooled = torch.cat([f.max(1).values, f.mean(1), context], dim=1)
        h = self.point_joint(pooled)
        out = self.point_heads(h)
        seg = torch.relu(self.seg_point(f) + self.seg_global(h)[:, None])
        out["segmentation"] = self.seg_out(seg)[..., 0]
        return out

    def forward_mask(self, mask: torch.Tensor, context: torch.Tensor) -> dict[str, torch.Tensor]:
        """mask (B, S, S), context (B, MASK_CONTEXT_DIM) -> class and yaw heads."""
        h = self.mask_joint(torch.cat([self.mask_cnn(mask[:, None]), context], dim=1))
        return self.mask_heads(h)

    # -- weights --------------------------------------------------------------------------------
    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """safetensors (float32) with the config and `extra` (the training report) as
        metadata."""
        return save_weights(path, self, WEIGHTS_FORMAT, WEIGHTS_VERSION, self.config, extra,
                            dtype=torch.float32)


def _read_weights(path: Path) -> tuple[RecogniserConfig, dict, dict]:
    meta, tensors = read_weights(path, RecogniserWeightsError, "object recogniser file")
    if meta.get("format") != WEIGHTS_FORMAT or meta.get("version") != str(WEIGHTS_VERSION):
        raise RecogniserWeightsError(f"{path} is not a version {WEIGHTS_VERSION} object "
                                     f"recogniser file (format {meta.get('format')!r})")
    try:
        raw = json.loads(meta["config"])
        config = RecogniserConfig(**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in raw.items()})
    except (KeyError, TypeError, ValueError) as e:
        raise RecogniserWeightsError(f"{path}: unreadable recogniser config ({e})") from None
    return config, tensors, json.loads(meta.get("extra", "{}"))


def load_recogniser(library: ObjectLibrary, path: str | Path | None = None,
                    device: str | torch.device = "cpu") -> "ObjectRecogniser":
    """The recogniser of `path` (default: the shipped weights) for `library`.

    Raises:
        RecogniserWeightsError: missing, unreadable, NaN weights, or trained for other templates.
    """
    path = Path(path) if path else DEFAULT_WEIGHTS
    config, tensors, extra = _read_weights(path)
    if tuple(config.template_ids) != library.ids:
        raise RecogniserWeightsError(f"{path} was trained for templates {config.template_ids}, "
                                     f"the library has {library.ids}")
    net = RecogniserNet(config)
    load_state(net, tensors, path, RecogniserWeightsError)
    return ObjectRecogniser(net.to(device).eval(), library, extra)


@dataclass(frozen=True)
class Recognition:
    """What the recogniser says about one candidate.

    Attributes:
        classes: class names (templates, then "other", "clutter").
        probabilities: (K,) float64 over `classes` (after the detector-class restriction).
        label: the most probable class.
        yaws: ((yaw [rad], probability), ...) best first: upright starts of the label's
            template about the floor normal in the evidence frame (empty unless a template).
        translation_local: (3,) float64 template origin in the evidence frame [m] (NaN without
            depth).
        point_index: (P,) int64 rows of the candidate's points the network saw (None without
            depth).
        point_is_object: (P,) bool: each of those segmented as the object (at least
            `min_object_points` of them, else all True).
    """

    classes: tuple[str, ...]
    probabilities: np.ndarray
    label: str
    yaws: tuple[tuple[float, float], ...]
    translation_local: np.ndarray
    point_index: np.ndarray | None = None
    point_is_object: np.ndarray | None = None

    @property
    def template_id(self) -> str | None:
        return None if self.label in (OTHER, CLUTTER) else self.label

    @property
    def object_probability(self) -> float:
        """1 - P(clutter): the candidate is an object (a template or another shape)."""
        return float(1.0 - self.probabilities[self.classes.index(CLUTTER)])


def allowed_classes(classes: tuple[str, ...], library: ObjectLibrary,
                    class_name: str | None) -> np.ndarray:
    """(K,) bool classes a candidate may be: all without a detector class; with one, its
    templates and "other" (a detected object is not clutter); only "other" when the class has no
    template (issue: a couch is never another class's template)."""
    if class_name in (None, "", "unknown"):
        return np.ones(len(classes), bool)
    ids = {t.id for t in library.for_coco_class(class_name)}
    return np.array([c in ids or c == OTHER for c in classes])


def decode_yaws(logits: np.ndarray, residual: np.ndarray, symmetry: int,
                count: int = 2) -> tuple[tuple[float, float], ...]:
    """Best `count` yaws (rad, probability) from one template's (bins,) logits and residuals
    (residual in half bin widths); symmetric templates fold probabilities onto one period."""
    bins = len(logits)
    width = 2 * np.pi / bins
    p = np.exp(logits - logits.max())
    p /= p.sum()
    yaw = (np.arange(bins) + 0.5) * width - np.pi + np.clip(residual, -1.0, 1.0) * width / 2
    if symmetry == 0:
        return ((float(yaw[int(np.argmax(p))]), 1.0),)
    order = np.argsort(-p)
    out: list[tuple[float, float]] = []
    period = 2 * np.pi / max(symmetry, 1)
    for i in order:
        if any(abs((yaw[i] - y + period / 2) % period - period / 2) < width for y, _ in out):
            continue
        out.append((float(yaw[i]), float(p[i])))
        if len(out) == count:
            break
    return tuple(out)


class ObjectRecogniser:
    """The networks, the library they were trained for, and the training report (`extra`)."""

    def __init__(self, net: RecogniserNet, library: ObjectLibrary, extra: dict | None = None):
        self.net, self.library, self.extra = net, library, extra or {}
        self.classes = net.config.classes

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def __call__(self, evidence: list[Evidence], class_names: list[str | None] | None = None,
                 *, seg_threshold: float = 0.5, min_object_points: int = 20
                 ) -> list[Recognition]:
        """Recognise a batch of candidates' evidence (points when they have them, else masks)."""
        if class_names is None:
            class_names = [None] * len(evidence)
        out: list[Recognition | None] = [None] * len(evidence)
        for kind in ("points", "mask"):
            idx = [i for i, e in enumerate(evidence)
                   if (e.points is not None) == (kind == "points")]
            if not idx:
                continue
            res = self._forward(kind, [evidence[i] for i in idx])
            for j, i in enumerate(idx):
                out[i] = self._decode(res, j, class_names[i], seg_threshold, min_object_points)
        return out  # type: ignore[return-value]

    def _forward(self, kind: str, batch: list[Evidence]) -> dict[str, np.ndarray]:
        f = dict(device=self.device, dtype=torch.float32)
        n = self.net.config.num_points
        if kind == "points":
            res = self.net.forward_points(
                torch.as_tensor(np.stack([e.points[:n] for e in batch]), **f),
                torch.as_tensor(np.stack([e.context for e in batch]), **f))
        else:
            res = self.net.forward_mask(torch.as_tensor(np.stack([e.mask for e in batch]), **f),
                                        torch.as_tensor(np.stack([e.mask_context for e in batch]),
                                                        **f))
        out = {k: v.double().cpu().numpy() for k, v in res.items()}
        out["point_index"] = [None if e.point_index is None else e.point_index[:n]
                              for e in batch]
        return out

    def _decode(self, res: dict, j: int, class_name: str | None, seg_threshold: float,
                min_object_points: int) -> Recognition:
        logits = res["logits"][j]
        allowed = allowed_classes(self.classes, self.library, class_name)
        p = np.exp(logits - logits.max()) * allowed
        p /= p.sum()
        label = self.classes[int(np.argmax(p))]
        yaws: tuple[tuple[float, float], ...] = ()
        trans = np.full(3, np.nan)
        if label not in (OTHER, CLUTTER):
            t = self.classes.index(label)
            yaws = decode_yaws(res["yaw_logits"][j, t], res["yaw_residual"][j, t],
                               self.net.config.symmetry[t])
            if "translation" in res:
                trans = res["translation"][j, t]
        index, seg = res["point_index"][j], None
        if "segmentation" in res and index is not None:
            seg = res["segmentation"][j] > np.log(seg_threshold / (1.0 - seg_threshold))
            if seg.sum() < min(min_object_points, len(seg)):
                seg = np.ones(len(seg), bool)
        return Recognition(self.classes, p, label, yaws, trans, index, seg)
