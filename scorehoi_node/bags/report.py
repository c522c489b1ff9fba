"""The evaluation report: `DIR/report.md` with plots next to `metrics.json`.

- `metrics_distributions.png`: per-frame histograms of every metric,
- `metrics_per_frame.png`: the metrics and the processing time along the sequence,
- `overlay_NNNN.png`: the reconstructed human mesh (blue), object mesh (orange) and contact
  points (red) projected onto the input image,
- `view3d_NNNN.png`: ground truth vs prediction in 3D (camera frame, from above and beside),
- `markers.png` (replays through the node): the recorded RViz markers drawn offscreen — what
  `rviz/scorehoi.rviz` shows.

`write_outputs` writes them with `metrics.json` and `frames.csv`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # before pyplot: offscreen rendering, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from scorehoi_node.bags.meshes import interaction_meshes  # noqa: E402
from scorehoi_node.bags.scoring import FrameScore, json_safe  # noqa: E402
from scorehoi_node.core.bodies.base import BodyModel  # noqa: E402
from scorehoi_node.core.objects.library import ObjectLibrary  # noqa: E402
from scorehoi_node.core.types import Frame, FrameResult  # noqa: E402
from scorehoi_node.core.viz import draw_result  # noqa: E402

METRICS = (("cd_human_cm", "CD human [cm]"), ("cd_object_cm", "CD object [cm]"),
           ("contact_f1", "contact F1"), ("penetration_cm", "penetration [cm]"),
           ("floor_cm", "below floor [cm]"), ("pelvis_error_cm", "pelvis error [cm]"))
HUMAN_RGB = (51, 153, 255)
OBJECT_RGB = (255, 153, 25)
CONTACT_RGB = (255, 25, 25)


def plot_distributions(rows, path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (key, label) in zip(axes.flat, METRICS):
        v = np.array([getattr(r, key) for r in rows], dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=min(20, max(5, v.size // 2)), color="tab:blue", alpha=0.8)
            ax.axvline(v.mean(), color="k", ls="--", lw=1, label=f"mean {v.mean():.2f}")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "undefined on every frame", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
        ax.set_title(f"{label} (n={v.size})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_per_frame(rows, path: Path, latency_ms: dict[int, float] | None = None) -> None:
    idx = np.array([r.index for r in rows])
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    for key, label in METRICS[:2] + METRICS[3:5]:
        axes[0].plot(idx, [getattr(r, key) for r in rows], ".-", label=label)
    axes[0].set_ylabel("cm")
    axes[0].legend(fontsize=8, ncol=4)
    axes[1].plot(idx, [r.contact_f1 for r in rows], ".-", color="tab:red", label="contact F1")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(fontsize=8)
    stages = sorted({k for r in rows for k in r.stage_ms})
    bottom = np.zeros(len(rows))
    for s in stages:
        v = np.nan_to_num(np.array([r.stage_ms.get(s, 0.0) for r in rows], dtype=np.float64))
        axes[2].bar(idx, v, bottom=bottom, label=f"{s} ms", width=0.8)
        bottom += v
    if latency_ms:
        axes[2].plot(idx, [latency_ms.get(int(i), math.nan) for i in idx], "k.-",
                     label="frame→message latency ms")
    axes[2].set_ylabel("ms")
    axes[2].set_xlabel("input frame")
    axes[2].legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fill_mesh(img: np.ndarray, frame: Frame, vertices: np.ndarray, faces: np.ndarray,
               color: tuple[int, int, int], alpha: float) -> None:
    """Alpha-blend the projected triangles of a mesh in front of the camera onto `img`."""
    front = vertices[:, 2] > 1e-3
    keep = front[faces].all(axis=1)
    if not keep.any():
        return
    uv = frame.camera.project(vertices)
    tris = np.round(uv[faces[keep]]).astype(np.int32)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, list(tris), 255)
    sel = mask > 0
    img[sel] = ((1 - alpha) * img[sel] + alpha * np.array(color)).astype(np.uint8)


def overlay(frame: Frame, result: FrameResult, library) -> np.ndarray:
    """RGB image with every interaction's human mesh, object mesh, skeleton and contacts."""
    img = frame.rgb.copy()
    for inter in result.interactions:
        h = inter.human
        if h.vertices is not None and h.faces is not None:
            _fill_mesh(img, frame, h.vertices, np.asarray(h.faces), HUMAN_RGB, 0.45)
        if inter.obj is not None and library is not None:
            t = library.by_id(inter.obj.template_id)
            v = t.vertices.astype(np.float64) @ inter.obj.rotation.T + inter.obj.translation
            _fill_mesh(img, frame, v, t.faces, OBJECT_RGB, 0.55)
    return draw_result(Frame(img, frame.camera, frame.stamp_ns, frame.frame_id), result)


def _scatter(ax, pts: np.ndarray, color, label: str, n: int = 1500, size: float = 1.0) -> None:
    if pts is None or not len(pts):
        return
    sel = pts[np.linspace(0, len(pts) - 1, min(n, len(pts))).astype(int)]
    # camera optical frame (x right, y down, z forward) shown with up = -y
    ax.scatter(sel[:, 0], sel[:, 2], -sel[:, 1], s=size, color=color, label=label,
               depthshade=False)


def view_3d(index: int, result: FrameResult, gt_msg, body, library, path: Path) -> None:
    """Ground truth (grey / green) against the prediction (blue / orange), two viewpoints."""
    gt_h = gt_o = None
    if gt_msg is not None and gt_msg.interactions and gt_msg.interactions[0].body_model == body.name:
        gt_h, gt_o, _ = interaction_meshes(gt_msg.interactions[0], body, library)
    inter = result.interactions[0]
    pred_o = None
    if inter.obj is not None:
        t = library.by_id(inter.obj.template_id)
        pred_o = t.vertices.astype(np.float64) @ inter.obj.rotation.T + inter.obj.translation
    fig = plt.figure(figsize=(11, 5))
    for k, (elev, azim) in enumerate(((15, -90), (15, 0))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        _scatter(ax, gt_h, "0.55", "human (ground truth)")
        _scatter(ax, gt_o, "tab:green", "object (ground truth)", size=2)
        _scatter(ax, inter.human.vertices, "tab:blue", "human (prediction)")
        _scatter(ax, pred_o, "tab:orange", "object (prediction)", size=2)
        if inter.contacts:
            _scatter(ax, np.array([c.human_point for c in inter.contacts]), "red", "contacts",
                     size=12)
        _equal_axes(ax)
        ax.view_init(elev=elev, azim=azim)
        ax.set_xlabel("x [m]")
        ax.set_ylabel("z (depth) [m]")
        ax.set_zlabel("up [m]")
        if k == 0:
            ax.legend(fontsize=7, loc="upper left", markerscale=4)
    fig.suptitle(f"frame {index}: ground truth vs prediction (camera frame)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _equal_axes(ax) -> None:
    lims = np.array([ax.get_xlim3d(), ax.get_ylim3d(), ax.get_zlim3d()])
    centre, half = lims.mean(axis=1), (lims[:, 1] - lims[:, 0]).max() / 2
    ax.set_xlim3d(centre[0] - half, centre[0] + half)
    ax.set_ylim3d(centre[1] - half, centre[1] + half)
    ax.set_zlim3d(centre[2] - half, centre[2] + half)


def draw_markers(marker_array, path: Path, title: str = "") -> dict[str, int]:
    """Draw a visualization_msgs/MarkerArray offscreen the way RViz shows it (TRIANGLE_LIST
    meshes with their colours and poses, SPHERE_LIST points, LINE_LIST segments). Returns
    {namespace: primitives drawn}."""
    fig = plt.figure(figsize=(7, 7))
    ax = fig.add_subplot(projection="3d")
    drawn: dict[str, int] = {}
    seen: list[np.ndarray] = []
    for m in marker_array.markers:
        if m.action != Marker.ADD:
            continue
        q = m.pose.orientation
        R = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix() if (q.x, q.y, q.z, q.w) != (
            0, 0, 0, 0) else np.eye(3)
        t = np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])
        pts = np.array([[p.x, p.y, p.z] for p in m.points]).reshape(-1, 3) @ R.T + t
        pts = pts[:, [0, 2, 1]] * np.array([1, 1, -1])  # optical frame -> x, depth, up
        rgba = (m.color.r, m.color.g, m.color.b, m.color.a)
        if len(pts):
            seen.append(pts)
        if m.type == Marker.TRIANGLE_LIST:
            tris = pts.reshape(-1, 3, 3)
            light = np.abs(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]))
            shade = 0.45 + 0.55 * (light[:, 1] / (np.linalg.norm(light, axis=1) + 1e-12))
            colors = np.clip(np.array(rgba)[None] * np.c_[shade, shade, shade, np.ones_like(shade)],
                             0, 1)
            ax.add_collection3d(Poly3DCollection(tris, facecolors=colors, linewidths=0))
            drawn[m.ns] = drawn.get(m.ns, 0) + len(tris)
        elif m.type == Marker.SPHERE_LIST:
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], color=rgba, s=25, depthshade=False)
            drawn[m.ns] = drawn.get(m.ns, 0) + len(pts)
        elif m.type == Marker.LINE_LIST:
            for a, b in pts.reshape(-1, 2, 3):
                ax.plot(*np.c_[a, b], color=rgba, lw=1.5)
            drawn[m.ns] = drawn.get(m.ns, 0) + len(pts) // 2
    if seen:
        allpts = np.concatenate(seen)
        ax.auto_scale_xyz(allpts[:, 0], allpts[:, 1], allpts[:, 2])
        _equal_axes(ax)
    ax.view_init(elev=20, azim=-70)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("depth [m]")
    ax.set_zlabel("up [m]")
    ax.set_title(title or "RViz markers (offscreen)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return drawn


def write_report(out: Path, summary: dict, rows, examples, body, library,
                 latency_ms: dict[int, float] | None = None, markers=None) -> Path:
    """Plots + `out/report.md`. `examples`: [(index, Frame, FrameResult, ground-truth msg)];
    `markers`: a recorded MarkerArray to draw (replays through the node)."""
    out = Path(out)
    plot_distributions(rows, out / "metrics_distributions.png")
    plot_per_frame(rows, out / "metrics_per_frame.png", latency_ms)
    pictures = []
    for index, frame, result, gt in examples:
        name = f"overlay_{index:04d}.png"
        cv2.imwrite(str(out / name), cv2.cvtColor(overlay(frame, result, library),
                                                  cv2.COLOR_RGB2BGR))
        view = f"view3d_{index:04d}.png"
        view_3d(index, result, gt, body, library, out / view)
        pictures.append((index, name, view))
    if markers is not None:
        draw_markers(markers, out / "markers.png", "recorded /scorehoi/markers (offscreen)")
    lines = [f"# Evaluation report — refine `{summary.get('refine')}`", ""]
    if summary.get("bag"):
        lines += [f"Bag: `{summary['bag']}`" + (" (replayed through the node)"
                                                if summary.get("via_node") else ""), ""]
    dropped = summary.get("dropped") or {}
    lines += ["## Frames", "",
              f"- in: {summary['frames_in']}, out: {summary['frames_out']}, dropped: "
              + (", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none"),
              f"- with a person: {summary.get('frames_with_person')}, with an object: "
              f"{summary.get('frames_with_object')}",
              f"- throughput: {_fmt(summary.get('fps'))} frames/s", ""]
    lines += ["## Metrics (mean over the frames where defined)", "",
              "| metric | mean | frames |", "|---|---|---|"]
    scored = summary.get("frames_scored", {})
    for key, label in METRICS + (("contact_precision", "contact precision"),
                                 ("contact_recall", "contact recall")):
        lines.append(f"| {label} | {_fmt(summary.get(key))} | {scored.get(key, '')} |")
    stages = summary.get("stage_ms") or {}
    if stages:
        lines += ["", "| stage | mean ms |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in stages.items()]
    if summary.get("latency_ms"):
        lat = summary["latency_ms"]
        lines += ["", "Frame→message latency across processes (ms): "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in lat.items())]
    lines += ["", "## Distributions", "", "![distributions](metrics_distributions.png)", "",
              "## Along the sequence", "", "![per frame](metrics_per_frame.png)", ""]
    if pictures:
        lines += ["## Examples", "",
                  "Human mesh (blue), object mesh (orange), skeleton and contacts (red) over the "
                  "input image; ground truth vs prediction in 3D.", ""]
        for index, name, view in pictures:
            lines += [f"### Frame {index}", "", f"![overlay {index}]({name})", "",
                      f"![3D {index}]({view})", ""]
    if markers is not None:
        lines += ["## RViz markers", "", "![markers](markers.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


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


def write_outputs(out: Path, summary: dict, rows: list[FrameScore], examples, body: BodyModel,
                  library: ObjectLibrary, extra_columns: dict[str, dict[int, float]] | None = None,
                  markers=None, latency_ms: dict[int, float] | None = None) -> None:
    """metrics.json, frames.csv and (unless `examples` is None) the report."""
    (out / "metrics.json").write_text(json.dumps(json_safe(summary), indent=2))
    _write_csv(out / "frames.csv", rows, extra_columns or {})
    if examples is not None:
        write_report(out, summary, rows, examples, body, library, latency_ms, markers)


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
