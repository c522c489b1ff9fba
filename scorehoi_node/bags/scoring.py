"""Scoring one frame against its ground truth (CONTHO protocol, `scorehoi_node.core.metrics`)
and summarising a run into `metrics.json` (DESIGN §5).

Frames where a quantity is undefined (no person found, no object estimated, a prediction
without a mesh) contribute NaN to that metric and are counted, never silently skipped.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from scorehoi_node.bags.meshes import ground_truth_meshes
from scorehoi_node.core import metrics
from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.types import FrameResult, Interaction


def floor_from_ground_truth(human_v: np.ndarray, root_rotation: np.ndarray) -> np.ndarray:
    """(4,) floor plane (n, d) under the GT person: normal = the person's up axis (the synthetic
    scenes keep the root upright), through their lowest vertex."""
    n = root_rotation[:, 1] / np.linalg.norm(root_rotation[:, 1])
    return np.r_[n, -float((human_v @ n).min())]


@dataclass
class FrameScore:
    """Per-frame row of the CSV."""

    index: int
    stamp_ns: int
    persons: int
    has_object: bool
    pelvis_error_cm: float = math.nan
    cd_human_cm: float = math.nan
    cd_object_cm: float = math.nan
    contact_precision: float = math.nan
    contact_recall: float = math.nan
    contact_f1: float = math.nan
    penetration_cm: float = math.nan
    floor_cm: float = math.nan
    stage_ms: dict[str, float] = field(default_factory=dict)


def score_frame(index: int, result: FrameResult, gt_msg, body: BodyModel,
                library: ObjectLibrary) -> FrameScore:
    """Compare the pipeline's first interaction with the first ground-truth interaction."""
    row = FrameScore(index, result.stamp_ns, len(result.interactions),
                     bool(result.interactions and result.interactions[0].obj is not None),
                     stage_ms=dict(result.stage_ms))
    if gt_msg is None or not gt_msg.interactions or not result.interactions:
        return row
    pred: Interaction = result.interactions[0]
    gt = gt_msg.interactions[0]
    p = gt.root_pose.position
    row.pelvis_error_cm = 100 * float(np.linalg.norm(pred.human.root_position - [p.x, p.y, p.z]))
    meshes = ground_truth_meshes(gt_msg, body, library)
    if meshes is None or pred.human.vertices is None:
        return row
    gt_human, gt_obj, gt_tmpl = meshes
    q = gt.root_pose.orientation
    floor = floor_from_ground_truth(gt_human, Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix())
    faces = np.asarray(pred.human.faces)
    if pred.obj is None:
        # human only: Procrustes on the human, object metrics undefined
        sim = metrics.procrustes_align(pred.human.vertices, gt_human)
        rng = np.random.default_rng(index)
        row.cd_human_cm = _aligned_chamfer_cm(pred.human.vertices, gt_human, faces, faces, sim,
                                              rng)
        tmpl = library.by_id(gt_tmpl)
        gt_contact = metrics.contact_from_meshes(gt_human, gt_obj, tmpl.faces)
        row.contact_precision, row.contact_recall, row.contact_f1 = metrics.contact_prf(
            np.zeros_like(gt_contact), gt_contact)
        return row
    ptmpl = library.by_id(pred.obj.template_id)
    pred_obj = ptmpl.vertices.astype(np.float64) @ pred.obj.rotation.T + pred.obj.translation
    if ptmpl.id == gt_tmpl:
        m = metrics.evaluate_frame(pred.human.vertices, faces, pred_obj, ptmpl.faces, gt_human,
                                   gt_obj, floor=(floor[:3], floor[3]),
                                   rng=np.random.default_rng(index))
        for k in ("cd_human_cm", "cd_object_cm", "contact_precision", "contact_recall",
                  "contact_f1", "penetration_cm", "floor_cm"):
            setattr(row, k, getattr(m, k))
    else:  # another template: no vertex correspondence for the object; align on the human
        sim = metrics.procrustes_align(pred.human.vertices, gt_human)
        rng = np.random.default_rng(index)
        gtmpl = library.by_id(gt_tmpl)
        row.cd_human_cm = _aligned_chamfer_cm(pred.human.vertices, gt_human, faces, faces, sim,
                                              rng)
        row.cd_object_cm = _aligned_chamfer_cm(pred_obj, gt_obj, ptmpl.faces, gtmpl.faces, sim,
                                               rng)
        pc = metrics.contact_from_meshes(pred.human.vertices, pred_obj, ptmpl.faces)
        gc = metrics.contact_from_meshes(gt_human, gt_obj, gtmpl.faces)
        row.contact_precision, row.contact_recall, row.contact_f1 = metrics.contact_prf(pc, gc)
        row.penetration_cm = metrics.penetration_depth_cm(pred.human.vertices, pred_obj,
                                                          ptmpl.faces)
        row.floor_cm = metrics.below_floor_cm(pred_obj, floor[:3], floor[3])
    return row


def _aligned_chamfer_cm(pred_v: np.ndarray, gt_v: np.ndarray, pred_faces: np.ndarray,
                        gt_faces: np.ndarray, similarity: tuple, rng: np.random.Generator
                        ) -> float:
    """Chamfer [cm] between surface samples of the prediction moved by `similarity`
    (s, R, t) and of the ground truth (prediction sampled first, then ground truth)."""
    s, R, t = similarity
    a = metrics.sample_surface(metrics.apply_similarity(pred_v, s, R, t), pred_faces,
                               metrics.N_SURFACE_SAMPLES, rng)
    b = metrics.sample_surface(gt_v, gt_faces, metrics.N_SURFACE_SAMPLES, rng)
    return metrics.chamfer_cm(a, b)


def _nanmean(values) -> float:
    v = np.asarray([x for x in values], dtype=np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def summarise(rows: list[FrameScore], frames_in: int, dropped: Counter, seconds: float,
              refine: str, detector: str, **extra) -> dict:
    """DESIGN §5 metrics.json: every input frame is either in `frames_out` or in `dropped`
    under its reason; metrics are means over the frames where they are defined
    (`frames_scored` says how many)."""
    keys = ("cd_human_cm", "cd_object_cm", "contact_precision", "contact_recall", "contact_f1",
            "penetration_cm", "floor_cm", "pelvis_error_cm")
    stages = sorted({k for r in rows for k in r.stage_ms})
    summary = {
        "frames_in": frames_in,
        "frames_out": len(rows),
        "dropped": dict(dropped),
        **{k: _nanmean(getattr(r, k) for r in rows) for k in keys},
        "frames_with_person": sum(r.persons > 0 for r in rows),
        "frames_with_object": sum(r.has_object for r in rows),
        "frames_scored": {k: int(sum(np.isfinite(getattr(r, k)) for r in rows)) for k in keys},
        "fps": len(rows) / seconds if seconds > 0 else math.nan,
        "stage_ms": {s: _nanmean(r.stage_ms.get(s, math.nan) for r in rows) for s in stages},
        "refine": refine,
        "detector": detector,
        **extra,
    }
    return json_safe(summary)


def json_safe(value):
    """NaN/inf -> None (JSON null: an undefined metric), recursively."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
