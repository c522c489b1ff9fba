"""Body-model index tables a `Reconstruction` needs, cached per body model.

`foot_vertex_ids` (sole and toe vertices) and `landmark_index` (MediaPipe-33 landmarks as indices
into cat([joints, vertices])) cost ~0.3 s each on anny (a rest-pose forward and a skinning-weight
argmax), so they are computed once per `BodyModel` instance and kept in a weak-keyed cache.
"""

from __future__ import annotations

import weakref

import torch

from scorehoi_node.core.bodies.base import BodyModel, BodyOutput
from scorehoi_node.core.diffusion.guidance.base import Reconstruction

#: body model -> {"feet": (F,), "landmarks": (33,)} int64 index tables (CPU)
_CACHE: "weakref.WeakKeyDictionary[BodyModel, dict[str, torch.Tensor]]" = \
    weakref.WeakKeyDictionary()

#: sole/toe vertices lie at most this far above the lowest foot vertex of the rest mesh [m]
SOLE_TOLERANCE_M = 0.02


def _tables(body: BodyModel) -> dict[str, torch.Tensor]:
    return _CACHE.setdefault(body, {})


def foot_vertex_ids(body: BodyModel) -> torch.Tensor:
    """(F,) int64 sole and toe vertices of the anny body, on `body.device`.

    A vertex qualifies when its dominant skinning bone is `foot.*` or a `toe*` bone and, on the
    neutral rest mesh (body frame, +Y up), it lies within `SOLE_TOLERANCE_M` of the lowest vertex
    of its foot (left and right feet separately). Sorted, unique; fixed topology, so the ids hold
    for every shape and pose. Cached per body.
    """
    tables = _tables(body)
    if "feet" not in tables:
        if body.name != "anny":
            raise ValueError(f"foot_vertex_ids needs the anny body model, got {body.name!r}")
        from scorehoi_node.core.bodies.functional import dominant_bone

        model = body.model
        labels = list(model.bone_labels)
        bone = dominant_bone(model.vertex_bone_weights, model.vertex_bone_indices).cpu()
        with torch.no_grad():
            height = body(**body.rest_inputs(1)).vertices[0, :, 1].cpu()
        ids = []
        for side in ("L", "R"):
            bones = [i for i, name in enumerate(labels)
                     if name.endswith(f".{side}") and name.startswith(("foot", "toe"))]
            foot = torch.isin(bone, torch.tensor(bones, dtype=torch.int64))
            low = foot & (height <= height[foot].min() + SOLE_TOLERANCE_M)
            ids.append(torch.nonzero(low)[:, 0])
        tables["feet"] = torch.sort(torch.cat(ids)).values
    return tables["feet"].to(body.device)


def landmark_index(body: BodyModel) -> torch.Tensor:
    """(33,) int64 index into cat([joints (J), vertices (V)], dim=1) of each MediaPipe-33 landmark,
    on `body.device`: posed joints for `JOINT_LANDMARKS` (index j), the `landmark_vertex_ids`
    vertices for the other 21 (index J + v). Same anchors as `mediapipe_landmarks`. Cached per body.
    """
    tables = _tables(body)
    if "landmarks" not in tables:
        from scorehoi_node.core.estimate.body_fit import JOINT_LANDMARKS, landmark_vertex_ids

        vertex_ids = landmark_vertex_ids(body)
        num_joints = body.num_joints
        index = [body.joint_names.index(JOINT_LANDMARKS[i]) if i in JOINT_LANDMARKS
                 else num_joints + vertex_ids[i] for i in range(33)]
        tables["landmarks"] = torch.tensor(index, dtype=torch.int64)
    return tables["landmarks"].to(body.device)


def make_reconstruction(body: BodyModel, output: BodyOutput, object_rotmat: torch.Tensor,
                        object_transl: torch.Tensor) -> Reconstruction:
    """A `Reconstruction` from a posed body (camera frame) and an object pose.

    Args:
        body: the body model `output` came from (supplies the index tables).
        output: (B, V, 3) vertices and (B, J, 3) joints in the camera frame [m].
        object_rotmat: (B, 3, 3) template frame -> camera frame rotation.
        object_transl: (B, 3) template origin in the camera frame [m].
    """
    device = output.vertices.device
    return Reconstruction(
        vertices=output.vertices, joints=output.joints,
        object_rotmat=object_rotmat, object_transl=object_transl,
        contact_vertex_ids=body.contact_vertex_ids.to(device),
        foot_vertex_ids=foot_vertex_ids(body).to(device),
        landmark_index=landmark_index(body).to(device))
