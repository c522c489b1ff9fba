"""Initial human-object contacts from a placed body mesh and a placed object template.

Every vertex of the body model's contact subset gets its exact signed distance to the placed
template mesh (open3d `RaycastingScene`, cached per template; negative inside) and a contact
probability ``sigmoid((threshold_m - d) / scale_m)``, so p >= 0.5 exactly when d <= threshold_m.
Those with p >= 0.5 become `Contact`s (nearest surface point and its outward face normal).
The penetration depth is the deepest ANY body vertex lies inside the object (vertices outside
the template's bounding box are skipped: they cannot be inside).

`estimate_contacts(..., probabilities=p)` takes the probabilities from elsewhere instead (the
learned predictor: `contact_net.learned_contact_estimates`); contacts and penetration are built
the same way.

Exact mesh distances rather than the template's SDF grid: the grid's trilinear interpolation
is off by up to about half a cell near edges (cells are 3-22 mm), which matters at a 2-3 cm
threshold, and the exact query is as fast for the ~400 subset vertices (see the tests).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.objects import ObjectTemplate
from scorehoi_node.core.types import Contact, ObjectEstimate


class ContactEstimate(NamedTuple):
    """Result of `estimate_contacts` (a tuple: contacts, probabilities, penetration_depth).

    Attributes:
        contacts: one `Contact` per subset vertex with probability >= 0.5 (camera frame, m).
        probabilities: (C,) float64 contact probability of every contact-subset vertex.
        penetration_depth: deepest body vertex inside the object [m], 0 when none.
    """

    contacts: list[Contact]
    probabilities: np.ndarray
    penetration_depth: float


def signed_distance(template: ObjectTemplate, rotation: np.ndarray, translation: np.ndarray,
                    points: np.ndarray) -> np.ndarray:
    """(N,) float64 exact signed distance [m] (negative inside) of camera-frame points to the
    template placed by `rotation` (3, 3) and `translation` (3,)."""
    local = (np.asarray(points, np.float64) - translation) @ rotation
    if len(local) == 0:
        return np.zeros(0)
    return template.signed_distance(local)


def penetration_depth(template: ObjectTemplate, rotation: np.ndarray, translation: np.ndarray,
                      points: np.ndarray) -> float:
    """Deepest of (N, 3) camera-frame points inside the placed template [m], 0 when none."""
    local = (np.asarray(points, np.float64) - translation) @ rotation
    lo, hi = template.vertices.min(0), template.vertices.max(0)
    inside_box = np.all((local > lo) & (local < hi), axis=1)
    if not inside_box.any():
        return 0.0
    d = signed_distance(template, np.eye(3), np.zeros(3), local[inside_box])
    return float(max(0.0, -d.min()))


def estimate_contacts(human_vertices: np.ndarray, contact_vertex_ids: np.ndarray,
                      contact_part_ids: np.ndarray, part_names: tuple[str, ...] | list[str],
                      obj: ObjectEstimate, template: ObjectTemplate,
                      config: ContactConfig = ContactConfig(),
                      probabilities: np.ndarray | None = None) -> ContactEstimate:
    """Contacts between a body mesh and a placed object (see the module docstring).

    Args:
        human_vertices: (V, 3) body mesh [m], camera frame.
        contact_vertex_ids: (C,) int indices into `human_vertices` of the contact subset.
        contact_part_ids: (C,) int index into `part_names` of each subset vertex.
        part_names: body-part names (`BodyModel.contact_part_names`).
        obj: the object's pose (camera frame); `obj.template_id` must be `template.id`.
        template: the object's template.
        config: contact distances (`threshold_m` and the sigmoid width `scale_m` are used).
        probabilities: (C,) contact probabilities of the subset from elsewhere (the learned
            predictor, `contact_net.ContactPredictor.vertex_probabilities`) used instead of the
            distance sigmoid; None: from the distances.

    Returns:
        `ContactEstimate(contacts, probabilities (C,), penetration_depth [m])`.

    Raises:
        ValueError: mismatched shapes (probabilities included), indices out of range,
            non-finite vertices or pose, or an estimate of another template.
    """
    verts = np.asarray(human_vertices, np.float64)
    ids = np.asarray(contact_vertex_ids, np.int64).reshape(-1)
    part_ids = np.asarray(contact_part_ids, np.int64).reshape(-1)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"human_vertices must have shape (V, 3), got {verts.shape}")
    if ids.shape != part_ids.shape:
        raise ValueError(f"contact_vertex_ids {ids.shape} and contact_part_ids "
                         f"{part_ids.shape} differ in length")
    if len(ids) and (ids.min() < 0 or ids.max() >= len(verts)):
        raise ValueError(f"contact_vertex_ids must index {len(verts)} vertices")
    if len(part_ids) and (part_ids.min() < 0 or part_ids.max() >= len(part_names)):
        raise ValueError(f"contact_part_ids must index {len(part_names)} part names")
    if obj.template_id != template.id:
        raise ValueError(f"estimate is of template {obj.template_id!r}, got {template.id!r}")
    R = np.asarray(obj.rotation, np.float64)
    t = np.asarray(obj.translation, np.float64)
    if not (np.all(np.isfinite(verts)) and np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
        raise ValueError("human_vertices and the object pose must be finite")

    subset = verts[ids]
    local = (subset - t) @ R
    d = signed_distance(template, np.eye(3), np.zeros(3), local)
    if probabilities is None:
        prob = 1.0 / (1.0 + np.exp(-(config.threshold_m - d) / config.scale_m))
    else:
        prob = np.asarray(probabilities, np.float64).reshape(-1)
        if prob.shape != ids.shape:
            raise ValueError(f"probabilities {prob.shape} and contact_vertex_ids {ids.shape} "
                             "differ in length")
    keep = np.flatnonzero(prob >= 0.5)
    contacts: list[Contact] = []
    if len(keep):
        surf, normal = template.closest_points(local[keep])
        surf_cam, normal_cam = surf @ R.T + t, normal @ R.T
        contacts = [
            Contact(human_point=subset[k], object_point=surf_cam[i], normal=normal_cam[i],
                    body_part=str(part_names[int(part_ids[k])]),
                    human_vertex_index=int(ids[k]), distance=float(d[k]),
                    probability=float(prob[k]))
            for i, k in enumerate(keep)]
    return ContactEstimate(contacts=contacts, probabilities=prob,
                           penetration_depth=penetration_depth(template, R, t, verts))
