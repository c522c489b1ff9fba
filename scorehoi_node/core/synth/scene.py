"""A synthetic human-object interaction scene with its ground truth (world frame).

World frame: metres, +Y up, floor at y = 0 (the body model's frame up to a rigid motion).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: interaction types the generator produces
INTERACTIONS = (
    "hold_one_hand",   # mug / bottle / ball in one hand, at waist to head height
    "hold_two_hands",  # ball / box held in front with both hands
    "carry_box",       # box carried at waist height, arms lowered
    "lift_box",        # box held low, torso bent forward
    "sit",             # sitting on a stool or chair, feet on the floor
    "kick_ball",       # one foot touching a ball on the floor
    "push_table",      # both hands on a table top, leaning
    "nearby",          # an object on the floor near the person, no contact
)
#: a person with no object at all (standing / moving as in the mocap); not among
#: `INTERACTIONS`, which the single-person engine draws from, so its streams stay as they were
NO_OBJECT = "none"
#: every interaction type a scene may have
ALL_INTERACTIONS = (*INTERACTIONS, NO_OBJECT)


@dataclass(frozen=True)
class HOIScene:
    """One person, their object (unless `interaction` is `NO_OBJECT`), their contacts;
    everything in the world frame.

    Without an object: `object_id` is "", `object_rotmat` the identity, `object_transl` zero,
    `object_vertices` (0, 3), no contact labels set and every contact distance +inf.

    Attributes:
        interaction: one of `ALL_INTERACTIONS`.
        body_model: body model name ("anny").
        body_pose_rotmat: (J-1, 3, 3) float32 local joint rotations (BodyModel convention).
        shape: (S,) float32 body shape vector.
        root_rotmat: (3, 3) float32 root rotation, world frame.
        root_transl: (3,) float32 root translation (BodyModel convention), world frame [m].
        human_vertices: (V, 3) float32 posed mesh vertices [m].
        human_joints: (J, 3) float32 joint positions [m].
        object_id: template id in the object library.
        object_rotmat: (3, 3) float32 rotation of the template's canonical frame.
        object_transl: (3,) float32 origin of the template's canonical frame [m].
        object_vertices: (Vo, 3) float32 posed template vertices [m].
        contact_labels: (C,) bool ground-truth contact of each vertex of the body model's
            contact subset (`BodyModel.contact_vertex_ids`): within `CONTACT_GT_M` of the object.
        contact_distances: (C,) float32 signed distance of each contact-subset vertex to the
            object surface [m] (negative inside).
        sequence: id of the sequence this frame belongs to.
        frame_index: index of the frame within its sequence.
    """

    interaction: str
    body_model: str
    body_pose_rotmat: np.ndarray
    shape: np.ndarray
    root_rotmat: np.ndarray
    root_transl: np.ndarray
    human_vertices: np.ndarray
    human_joints: np.ndarray
    object_id: str
    object_rotmat: np.ndarray
    object_transl: np.ndarray
    object_vertices: np.ndarray
    contact_labels: np.ndarray
    contact_distances: np.ndarray
    sequence: str = ""
    frame_index: int = 0

    @property
    def in_contact(self) -> bool:
        return bool(self.contact_labels.any())

    @property
    def has_object(self) -> bool:
        return bool(self.object_id)


def move_scene(scene: HOIScene, yaw: float, offset: np.ndarray) -> HOIScene:
    """The scene moved rigidly on the floor: turned by `yaw` [rad] about the world +Y axis
    through the origin, then shifted by `offset` (3,) [m] (its y must be 0: the floor stays at
    y = 0). Contacts and distances are invariant; computed in float64, stored as float32."""
    offset = np.asarray(offset, np.float64)
    if offset.shape != (3,) or offset[1] != 0.0:
        raise ValueError(f"offset must be a horizontal (3,) vector, got {offset}")
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    def move(points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float64) @ R.T + offset).astype(np.float32)

    joints = scene.human_joints.astype(np.float64)
    # BodyModel convention: root joint = rest_root + root_transl (rest_root is pose independent)
    rest_root = joints[0] - scene.root_transl.astype(np.float64)
    return replace(
        scene, root_rotmat=(R @ scene.root_rotmat).astype(np.float32),
        root_transl=(R @ joints[0] + offset - rest_root).astype(np.float32),
        human_vertices=move(scene.human_vertices), human_joints=move(joints),
        object_rotmat=(R @ scene.object_rotmat).astype(np.float32) if scene.has_object
        else scene.object_rotmat,
        object_transl=move(scene.object_transl) if scene.has_object else scene.object_transl,
        object_vertices=move(scene.object_vertices).reshape(-1, 3))


#: a contact-subset vertex is in ground-truth contact within this distance of the object [m]
CONTACT_GT_M = 0.02
