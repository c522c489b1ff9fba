"""What a planner receiving `HumanObjectInteractionArray` messages can rebuild from them: the
posed human and object meshes (`interaction_meshes`) and a `FrameResult` (`result_from_msg`), so
that a recording of the node scores exactly like an in-process result."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.types import (Contact, Detections, FrameResult, HumanEstimate, Interaction,
                                      ObjectEstimate)
from scorehoi_node.ros import conversions as conv


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
