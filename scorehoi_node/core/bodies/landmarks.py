"""Where a keypoint detector's landmarks sit on the body model, and the sole vertices.

Every MediaPipe-33 landmark is an *anchor* on the anny body: a posed joint (hips, knees, ankles,
shoulders, elbows, wrists: `JOINT_LANDMARKS`) or a mesh vertex (face, fingers, heels, toes:
`landmark_vertex_ids`) that moves rigidly with one posed joint (`LANDMARK_JOINTS`). The body fit
aims bones at them, the reprojection guidance projects them, the data engine renders them.

The vertex tables cost ~0.3 s each on anny (a rest-pose forward and a skinning-weight argmax), so
they are built once per `BodyModel` instance and kept by the body (`BodyModel.derived`).
"""

from __future__ import annotations

import numpy as np
import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.bodies.functional import dominant_bone

#: MediaPipe landmarks that are posed anny joints: landmark index -> joint name
JOINT_LANDMARKS: dict[int, str] = {
    11: "upperarm01.L", 12: "upperarm01.R", 13: "lowerarm01.L", 14: "lowerarm01.R",
    15: "wrist.L", 16: "wrist.R", 23: "upperleg01.L", 24: "upperleg01.R",
    25: "lowerleg01.L", 26: "lowerleg01.R", 27: "foot.L", 28: "foot.R",
}
#: posed joint every MediaPipe landmark moves rigidly with (33 entries, MediaPipe order)
LANDMARK_JOINTS: tuple[str, ...] = (
    *(["head"] * 11),
    "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
    *(["wrist.L", "wrist.R"] * 3),
    "upperleg01.L", "upperleg01.R", "lowerleg01.L", "lowerleg01.R", "foot.L", "foot.R",
    *(["foot.L", "foot.R"] * 2),
)


def landmark_vertex_ids(body: BodyModel) -> dict[int, int]:
    """MediaPipe landmark index -> anny vertex index, for the 21 landmarks that are not joints.

    Chosen once on the neutral rest mesh by geometric rules inside the skinning region of the
    bone each landmark follows (nose tip, eyes, ears, mouth corners, finger knuckles, heels,
    toe tips). Vertex ids are shape-independent (fixed topology).
    """
    if body.name != "anny":
        raise ValueError(f"the body fit needs the anny body model, got {body.name!r}")
    return body.derived("landmark_vertex_ids", lambda: _landmark_vertex_ids(body))


def _landmark_vertex_ids(body: BodyModel) -> dict[int, int]:
    model = body.model
    labels = list(model.bone_labels)
    bone = dominant_bone(model.vertex_bone_weights, model.vertex_bone_indices).cpu().numpy()
    inp = body.rest_inputs(1)
    with torch.no_grad():
        out = body(**inp)
    v = out.vertices[0].double().cpu().numpy()

    def region(*names: str) -> np.ndarray:
        ids = [labels.index(n) for n in names if n in labels]
        return np.flatnonzero(np.isin(bone, ids))

    out_ids: dict[int, int] = {}
    head = region("head", "eye.L", "eye.R", "neck03")
    nose = head[np.argmax(v[head, 2] - 5.0 * np.abs(v[head, 0]))]
    out_ids[0] = int(nose)
    for side, sign, (inner, centre, outer), ear, mouth in (
            ("L", 1.0, (1, 2, 3), 7, 9), ("R", -1.0, (4, 5, 6), 8, 10)):
        eye = region(f"eye.{side}")
        c = v[eye].mean(0)
        front = eye[v[eye, 2] > c[2]]
        out_ids[centre] = int(front[np.argmax(v[front, 2])])
        out_ids[inner] = int(front[np.argmin(sign * v[front, 0])])
        out_ids[outer] = int(front[np.argmax(sign * v[front, 0])])
        band = head[np.abs(v[head, 1] - c[1] + 0.02) < 0.015]
        out_ids[ear] = int(band[np.argmax(sign * v[band, 0])])
        mouth_band = head[(v[head, 1] < v[nose, 1] - 0.025) & (v[head, 1] > v[nose, 1] - 0.05)
                          & (np.abs(sign * v[head, 0] - 0.022) < 0.008)]
        out_ids[mouth] = int(mouth_band[np.argmax(v[mouth_band, 2])])
    for side, k in (("L", 0), ("R", 1)):
        for lm, finger in ((17, 5), (19, 2), (21, 1)):  # pinky, index, thumb: proximal knuckle
            ids = region(f"finger{finger}-1.{side}")
            centre = v[ids].mean(0)
            out_ids[lm + k] = int(ids[np.argmin(np.linalg.norm(v[ids] - centre, axis=1))])
        foot = region(f"foot.{side}", *[f"toe{t}-{p}.{side}" for t in range(1, 6) for p in (1, 2, 3)])
        low = foot[v[foot, 1] < v[foot, 1].min() + 0.02]
        out_ids[29 + k] = int(low[np.argmin(v[low, 2])])
        toes = region(f"toe2-3.{side}", f"toe2-2.{side}")
        out_ids[31 + k] = int(toes[np.argmax(v[toes, 2])])
    return dict(sorted(out_ids.items()))


def mediapipe_landmarks(joints: np.ndarray, vertices: np.ndarray, joint_names: tuple[str, ...],
                        vertex_ids: dict[int, int]) -> np.ndarray:
    """(J, 3) joints + (V, 3) vertices of a posed anny body -> (33, 3) MediaPipe-33 landmarks
    (same frame and units): joints for `JOINT_LANDMARKS`, `vertex_ids` vertices for the rest."""
    out = np.zeros((33, 3))
    for i in range(33):
        out[i] = joints[joint_names.index(JOINT_LANDMARKS[i])] if i in JOINT_LANDMARKS \
            else vertices[vertex_ids[i]]
    return out


#: sole/toe vertices lie at most this far above the lowest foot vertex of the rest mesh [m]
SOLE_TOLERANCE_M = 0.02


def foot_vertex_ids(body: BodyModel) -> torch.Tensor:
    """(F,) int64 sole and toe vertices of the anny body, on `body.device`.

    A vertex qualifies when its dominant skinning bone is `foot.*` or a `toe*` bone and, on the
    neutral rest mesh (body frame, +Y up), it lies within `SOLE_TOLERANCE_M` of the lowest vertex
    of its foot (left and right feet separately). Sorted, unique; fixed topology, so the ids hold
    for every shape and pose. Built once per body.
    """
    if body.name != "anny":
        raise ValueError(f"foot_vertex_ids needs the anny body model, got {body.name!r}")
    return body.derived("foot_vertex_ids", lambda: _foot_vertex_ids(body)).to(body.device)


def _foot_vertex_ids(body: BodyModel) -> torch.Tensor:
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
    return torch.sort(torch.cat(ids)).values


def landmark_index(body: BodyModel) -> torch.Tensor:
    """(33,) int64 index into cat([joints (J), vertices (V)], dim=1) of each MediaPipe-33 landmark,
    on `body.device`: posed joints for `JOINT_LANDMARKS` (index j), the `landmark_vertex_ids`
    vertices for the other 21 (index J + v). Same anchors as `mediapipe_landmarks`."""
    def build() -> torch.Tensor:
        vertex_ids = landmark_vertex_ids(body)
        index = [body.joint_names.index(JOINT_LANDMARKS[i]) if i in JOINT_LANDMARKS
                 else body.num_joints + vertex_ids[i] for i in range(33)]
        return torch.tensor(index, dtype=torch.int64)

    return body.derived("landmark_index", build).to(body.device)
