"""People-level scoring of a replay (`scorehoi eval`): every predicted person matched one to one
with every ground-truth person of the frame (`core/crowd_metrics.py`: Hungarian on 1 - IoU of
the amodal boxes of the projected body meshes, gated at IoU 0.5), then missed and spurious
people, the found rate by person height in pixels and by people per frame, and whether each
matched person holds their own object.

Written under `metrics.json` "people" (`PeopleScorer.summary`):

    overall         {gt, found, pred, spurious, found_rate, spurious_rate}
    by_height_px    the same per height bin (< 100, 100-150, 150-250, > 250 px)
    height_60_150   the same for people 60-150 px tall (issue 14's small-people target)
    by_people       the same per number of ground-truth people in the frame
    objects         per matched person (`crowd_metrics.object_assignment`): right / wrong /
                    missing / extra / none; and per found object (a predicted object matched
                    to a true one whose owner was found): `owner_right` (given to the
                    prediction matched to its true owner), `owner_wrong` (to someone else),
                    `right_rate` = owner_right / (owner_right + owner_wrong)
    pelvis_error_cm mean 3D pelvis error of the matched people
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from scorehoi_node.bags.meshes import interaction_meshes
from scorehoi_node.core import crowd_metrics as cm
from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.types import CameraIntrinsics, FrameResult

#: the issue's bin of small people [px]: 60-150
SMALL_PEOPLE_PX = (60.0, 150.0)


@dataclass(frozen=True)
class FramePeopleTruth:
    """Ground-truth people of one frame, in image terms.

    Attributes:
        boxes: (G, 4) amodal person boxes [px] (projected body meshes).
        pelvis: (G, 3) pelvis positions, camera frame [m].
        object_boxes: (O, 4) boxes of the true objects [px].
        object_owner: (O,) index of the person owning each object.
    """

    boxes: np.ndarray
    pelvis: np.ndarray
    object_boxes: np.ndarray
    object_owner: np.ndarray


def _object_box(template_vertices: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
                camera: CameraIntrinsics) -> np.ndarray:
    return cm.person_box(template_vertices.astype(np.float64) @ rotation.T + translation, camera)


def truth_people(gt_msg, camera: CameraIntrinsics, body: BodyModel,
                 library: ObjectLibrary) -> FramePeopleTruth:
    """Boxes, pelvis and objects of every interaction of a ground-truth message."""
    boxes, pelvis, obj_boxes, owners = [], [], [], []
    for g, inter in enumerate(gt_msg.interactions):
        human_v, obj_v, _ = interaction_meshes(inter, body, library)
        boxes.append(cm.person_box(human_v, camera))
        p = inter.root_pose.position
        pelvis.append([p.x, p.y, p.z])
        if obj_v is not None:
            obj_boxes.append(cm.person_box(obj_v, camera))
            owners.append(g)
    return FramePeopleTruth(np.asarray(boxes, np.float64).reshape(-1, 4),
                            np.asarray(pelvis, np.float64).reshape(-1, 3),
                            np.asarray(obj_boxes, np.float64).reshape(-1, 4),
                            np.asarray(owners, np.int64))


def predicted_people(result: FrameResult, camera: CameraIntrinsics, library: ObjectLibrary
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(P, 4) person boxes (mesh, else joints), (P, 3) pelvis, (O, 4) object boxes and (O,)
    owner of each object, of a pipeline result."""
    boxes, pelvis, obj_boxes, owners = [], [], [], []
    for i, inter in enumerate(result.interactions):
        h = inter.human
        boxes.append(cm.person_box(h.vertices if h.vertices is not None else h.joint_positions,
                                   camera))
        pelvis.append(h.root_position)
        if inter.obj is not None:
            tmpl = library.by_id(inter.obj.template_id)
            obj_boxes.append(_object_box(tmpl.vertices, inter.obj.rotation,
                                         inter.obj.translation, camera))
            owners.append(i)
    return (np.asarray(boxes, np.float64).reshape(-1, 4),
            np.asarray(pelvis, np.float64).reshape(-1, 3),
            np.asarray(obj_boxes, np.float64).reshape(-1, 4), np.asarray(owners, np.int64))


def owner_outcomes(people: cm.PeopleMatch, objects: cm.PeopleMatch, gt_owner: np.ndarray,
                   pred_owner: np.ndarray) -> dict[str, int]:
    """Per matched object pair (prediction o, truth t) whose true owner was found: "owner_right"
    when o's person is the prediction matched to t's owner, else "owner_wrong"."""
    match_of_truth = dict(zip(people.pairs[:, 1].tolist(), people.pairs[:, 0].tolist()))
    counts = {"owner_right": 0, "owner_wrong": 0}
    for o, t in objects.pairs.tolist():
        wanted = match_of_truth.get(int(gt_owner[t]))
        if wanted is not None:
            counts["owner_right" if int(pred_owner[o]) == wanted else "owner_wrong"] += 1
    return counts


@dataclass
class PeopleScorer:
    """Accumulates the people matching of a replay, frame by frame (`add`), into the
    "people" section of metrics.json (`summary`)."""

    body: BodyModel
    library: ObjectLibrary
    config: cm.MatchConfig = field(default_factory=cm.MatchConfig)
    frames: list[cm.FramePeople] = field(default_factory=list)
    objects: Counter = field(default_factory=Counter)
    pelvis_errors_m: list[float] = field(default_factory=list)

    def add(self, index: int, camera: CameraIntrinsics, result: FrameResult, gt_msg
            ) -> cm.FramePeople | None:
        """Match one frame (None, and nothing counted, when it carries no ground truth)."""
        if gt_msg is None:
            return None
        truth = truth_people(gt_msg, camera, self.body, self.library)
        boxes, pelvis, obj_boxes, owners = predicted_people(result, camera, self.library)
        frame = cm.match_frame(index, truth.boxes, boxes, self.config, truth.pelvis, pelvis)
        self.frames.append(frame)
        p, g = frame.match.pairs[:, 0], frame.match.pairs[:, 1]
        self.pelvis_errors_m += np.linalg.norm(pelvis[p] - truth.pelvis[g], axis=1).tolist()
        objects = cm.match_objects(truth.object_boxes, obj_boxes)
        self.objects.update(cm.object_assignment(frame.match, objects, truth.object_owner,
                                                 owners))
        self.objects.update(owner_outcomes(frame.match, objects, truth.object_owner, owners))
        return frame

    def summary(self) -> dict:
        """The "people" section of metrics.json (see the module docstring)."""
        out = cm.summarise_people(self.frames)
        small = cm.summarise_people(self.frames, SMALL_PEOPLE_PX)
        out["height_60_150"] = small["by_height_px"][cm.height_bin_labels(SMALL_PEOPLE_PX)[1]]
        counts = {k: int(self.objects.get(k, 0))
                  for k in (*cm.OBJECT_OUTCOMES, "owner_right", "owner_wrong")}
        judged = counts["owner_right"] + counts["owner_wrong"]
        out["objects"] = {**counts, "right_rate": counts["owner_right"] / judged if judged
                          else float("nan")}
        out["pelvis_error_cm"] = (100 * float(np.mean(self.pelvis_errors_m))
                                  if self.pelvis_errors_m else float("nan"))
        out["by_people"] = {str(k): v for k, v in out["by_people"].items()}
        return out


def prediction_of_first(frame: cm.FramePeople | None) -> int:
    """Index of the prediction matched to the first ground-truth person (whose CONTHO metrics
    the per-frame rows report), else 0 (the first prediction, as for one person)."""
    if frame is None:
        return 0
    hit = frame.match.pairs[frame.match.pairs[:, 1] == 0]
    return int(hit[0, 0]) if len(hit) else 0


def people_table(people: dict) -> list[str]:
    """Markdown lines of the report's people section."""
    def row(label: str, r: dict) -> str:
        return (f"| {label} | {r['gt']} | {r['found']} | {_pct(r['found_rate'])} | {r['pred']} "
                f"| {r['spurious']} | {_pct(r['spurious_rate'])} |")

    lines = ["## People (one-to-one matching, amodal box IoU >= 0.5)", "",
             "| people | true | found | found rate | predicted | spurious | spurious rate |",
             "|---|---|---|---|---|---|---|", row("all", people["overall"])]
    lines += [row(f"{b} px tall", r) for b, r in people["by_height_px"].items()]
    lines.append(row("60-150 px tall", people["height_60_150"]))
    lines += [row(f"frames with {n}", r) for n, r in people["by_people"].items()]
    o = people["objects"]
    lines += ["", "Objects of matched people: "
              + ", ".join(f"{k} {o[k]}" for k in cm.OBJECT_OUTCOMES)
              + f". Found objects of found people given to their owner: {o['owner_right']} of "
              f"{o['owner_right'] + o['owner_wrong']} ({_pct(o['right_rate'])})."
              f" Pelvis error of matched people: {_num(people['pelvis_error_cm'])} cm.", ""]
    return lines


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f} %"


def _num(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.1f}"
