"""Offline evaluation: replay a bag through the pipeline in-process and score it against the
ground truth it carries (`scorehoi eval BAG --out DIR`).

Every input image is accounted for: `frames_in` images, `frames_out` results, and each frame
that produced no result is counted under `dropped` with its reason. Metrics follow
`scorehoi_node.core.metrics` (CONTHO protocol); frames where a quantity is undefined (no
person found, no object estimated, a prediction without a mesh) contribute NaN to that metric
and are counted, never silently skipped.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from scorehoi_node.bags.io import read_messages
from scorehoi_node.core import metrics
from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.types import (Contact, Detections, Frame, FrameResult, HumanEstimate,
                                      Interaction, ObjectEstimate)
from scorehoi_node.ros import conversions as conv


@dataclass(frozen=True)
class Topics:
    """Topic names of a bag (options of `scorehoi eval`)."""

    image: str = "/camera/image_raw"
    camera_info: str = "/camera/camera_info"
    depth: str = "/camera/depth"
    ground_truth: str = "/scorehoi/ground_truth"


@dataclass
class BagFrame:
    """The messages of one image stamp."""

    stamp_ns: int
    image: object = None
    camera_info: object = None
    depth: object = None
    ground_truth: object = None


def bag_frames(bag: str | Path, topics: Topics = Topics()) -> Iterator[BagFrame]:
    """Group a bag's messages by header stamp; yields one `BagFrame` per image, in bag order.

    The camera_info in force is the latest one received up to the image (cameras publish it
    with every image; a bag that has it only once still works). Depth and ground truth are
    matched by exact stamp."""
    by_stamp: dict[int, BagFrame] = {}
    order: list[int] = []
    latest_info = None
    names = {topics.image: "image", topics.camera_info: "camera_info", topics.depth: "depth",
             topics.ground_truth: "ground_truth"}
    for topic, _, _, msg in read_messages(bag, topics=list(names)):
        stamp = conv.stamp_to_ns(msg.header.stamp)
        key = names[topic]
        if key == "camera_info":
            latest_info = msg
        entry = by_stamp.get(stamp)
        if entry is None:
            entry = by_stamp[stamp] = BagFrame(stamp)
        setattr(entry, key, msg)
        if key == "image":
            if entry.camera_info is None:
                entry.camera_info = latest_info
            order.append(stamp)
    for stamp in order:
        yield by_stamp[stamp]


def interaction_meshes(inter, body: BodyModel, library: ObjectLibrary
                       ) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """A HumanObjectInteraction message -> (human vertices (V,3), object vertices (Vo,3) or
    None, template id or None), camera frame, posed from the message's joint rotations, shape,
    root pose and object pose (what a planner receiving the message can rebuild)."""
    q = np.array([[r.x, r.y, r.z, r.w] for r in inter.joint_rotations], dtype=np.float64)
    R = torch.from_numpy(Rotation.from_quat(q).as_matrix().astype(np.float32))
    shape = torch.tensor([list(inter.shape)], dtype=torch.float32)
    p = inter.root_pose.position
    pelvis = np.array([p.x, p.y, p.z])
    inp = body.rest_inputs(1)
    with torch.no_grad():
        rest_root = body(inp["body_pose_rotmat"], shape, inp["root_rotmat"],
                         inp["root_transl"]).joints[0, 0].double().numpy()
        out = body(R[None, 1:], shape, R[None, 0],
                   torch.from_numpy((pelvis - rest_root).astype(np.float32))[None])
    human_v = out.vertices[0].double().numpy()
    if not inter.has_object:
        return human_v, None, None
    tmpl = library.by_id(inter.object_template)
    p, o = inter.object_pose.position, inter.object_pose.orientation
    Ro = Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix()
    obj_v = tmpl.vertices.astype(np.float64) @ Ro.T + np.array([p.x, p.y, p.z])
    return human_v, obj_v, tmpl.id


def ground_truth_meshes(gt_msg, body: BodyModel, library: ObjectLibrary
                        ) -> tuple[np.ndarray, np.ndarray, str] | None:
    """First interaction of a ground-truth message -> (human vertices (V,3), object vertices
    (Vo,3), template id), camera frame; None when it has no object or another body model."""
    if not gt_msg.interactions:
        return None
    gt = gt_msg.interactions[0]
    if gt.body_model != body.name or not gt.has_object:
        return None
    return interaction_meshes(gt, body, library)


def result_from_msg(msg, body: BodyModel, library: ObjectLibrary) -> FrameResult:
    """A recorded HumanObjectInteractionArray -> FrameResult (meshes rebuilt with `body`; the
    node's processing time as its only stage, `node`), so a recording scores exactly like
    an in-process result."""
    interactions = []
    for m in msg.interactions:
        q = np.array([[r.x, r.y, r.z, r.w] for r in m.joint_rotations], dtype=np.float64)
        joints = np.array([[p.x, p.y, p.z] for p in m.joint_positions], dtype=np.float64)
        vertices = faces = None
        if m.body_model == body.name:
            vertices, _, _ = interaction_meshes(m, body, library)
            faces = body.faces.numpy()
            parents = np.asarray(body.parents)
        else:
            parents = np.full(len(joints), -1)
        human = HumanEstimate(m.body_model, tuple(m.joint_names), parents,
                              Rotation.from_quat(q).as_matrix(), joints,
                              np.asarray(m.shape, dtype=np.float64), float(m.human_confidence),
                              vertices, faces)
        obj = None
        if m.has_object:
            o, p, e = m.object_pose.orientation, m.object_pose.position, m.object_extent
            obj = ObjectEstimate(m.object_class, m.object_template,
                                 Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix(),
                                 np.array([p.x, p.y, p.z]), np.array([e.x, e.y, e.z]),
                                 float(m.object_confidence))
        contacts = [Contact(_xyz(c.human_point), _xyz(c.object_point), _xyz(c.normal),
                            c.body_part, int(c.human_vertex_index), float(c.distance),
                            float(c.probability)) for c in m.contacts]
        interactions.append(Interaction(int(m.track_id), human, obj, contacts,
                                        float(m.penetration_depth), m.refinement))
    node_ms = 1e3 * max((m.processing_time for m in msg.interactions), default=float("nan"))
    return FrameResult(conv.stamp_to_ns(msg.header.stamp), msg.header.frame_id, interactions,
                       Detections([], [], "node"), {"node": node_ms} if interactions else {})


def _xyz(p) -> np.ndarray:
    return np.array([p.x, p.y, p.z], dtype=np.float64)


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


class Examples:
    """Keeps a few frames (image, result, ground truth) for the report's pictures: every
    `stride`-th frame with a person, at most `limit`."""

    def __init__(self, stride: int, limit: int = 4, wanted: tuple[int, ...] = ()) -> None:
        self.stride, self.limit, self.wanted = max(1, stride), limit, set(wanted)
        self.items: list[tuple[int, Frame, FrameResult, object]] = []

    def offer(self, index: int, frame: Frame, result: FrameResult, gt_msg) -> None:
        if self.wanted:  # the frames the user asked for
            if index in self.wanted and result.interactions:
                self.items.append((index, frame, result, gt_msg))
        elif (len(self.items) < self.limit and result.interactions
                and (not self.items or index - self.items[-1][0] >= self.stride)):
            self.items.append((index, frame, result, gt_msg))


def frame_from_bag(bf: BagFrame) -> Frame:
    """BagFrame -> Frame; ConversionError / ValueError (with `.reason` where known) on bad
    input."""
    return Frame(rgb=conv.image_to_rgb(bf.image),
                 camera=conv.camera_info_to_intrinsics(bf.camera_info),
                 stamp_ns=bf.stamp_ns, frame_id=bf.image.header.frame_id,
                 depth=conv.depth_to_metres(bf.depth) if bf.depth is not None else None)


def evaluate_bag(bag: str | Path, out: str | Path, pipeline: Pipeline, body: BodyModel,
                 library: ObjectLibrary, topics: Topics = Topics(), progress=None,
                 on_result=None, n_frames: int | None = None, report: bool = True,
                 report_frames: tuple[int, ...] = ()) -> dict:
    """Run `pipeline` on every image of `bag` (in-process), write `out/metrics.json`,
    `out/frames.csv` and the report (`out/report.md` + plots).

    `progress()` is called after each frame, `on_result(index, frame, result)` with each
    result (overlays). Returns the metrics dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dropped: Counter[str] = Counter()
    rows: list[FrameScore] = []
    examples = Examples(stride=(n_frames or 4) // 4, wanted=report_frames)
    frames_in = 0
    t_total = 0.0
    for index, bf in enumerate(bag_frames(bag, topics)):
        frames_in += 1
        if bf.camera_info is None:
            dropped["no_camera_info"] += 1
            continue
        try:
            frame = frame_from_bag(bf)
        except ValueError as e:
            dropped[f"bad_input: {getattr(e, 'reason', type(e).__name__)}"] += 1
            continue
        t0 = time.perf_counter()
        result = pipeline.step(frame)
        t_total += time.perf_counter() - t0
        rows.append(score_frame(index, result, bf.ground_truth, body, library))
        examples.offer(index, frame, result, bf.ground_truth)
        if on_result is not None:
            on_result(index, frame, result)
        if progress is not None:
            progress()
    summary = summarise(rows, frames_in, dropped, t_total, pipeline.config.refine,
                        pipeline.config.detector, bag=str(bag), via_node=False)
    write_outputs(out, summary, rows, examples.items if report else None, body, library)
    return summary


def write_outputs(out: Path, summary: dict, rows: list[FrameScore], examples, body: BodyModel,
                  library: ObjectLibrary, extra_columns: dict[str, dict[int, float]] | None = None,
                  markers=None, latency_ms: dict[int, float] | None = None) -> None:
    """metrics.json, frames.csv and (unless `examples` is None) the report."""
    (out / "metrics.json").write_text(json.dumps(_json_safe(summary), indent=2))
    _write_csv(out / "frames.csv", rows, extra_columns or {})
    if examples is not None:
        from scorehoi_node.bags.report import write_report

        write_report(out, summary, rows, examples, body, library, latency_ms, markers)


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
    return _json_safe(summary)


def _json_safe(value):
    """NaN/inf -> None (JSON null: an undefined metric), recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_csv(path: Path, rows: list[FrameScore], extra: dict[str, dict[int, float]]) -> None:
    stages = sorted({k for r in rows for k in r.stage_ms})
    cols = ["index", "stamp_ns", "persons", "has_object", "pelvis_error_cm", "cd_human_cm",
            "cd_object_cm", "contact_precision", "contact_recall", "contact_f1",
            "penetration_cm", "floor_cm"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + [f"{s}_ms" for s in stages] + list(extra))
        for r in rows:
            w.writerow([getattr(r, c) for c in cols] + [r.stage_ms.get(s, "") for s in stages]
                       + [col.get(r.index, "") for col in extra.values()])
