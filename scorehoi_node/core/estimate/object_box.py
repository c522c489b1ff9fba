"""An oriented, upright box fitted to an object of no template ("other", or a detector class the
library does not cover).

With points: in the candidate's evidence frame (floor normal up), the footprint is the minimum
area rectangle of the points' (x, z) (2nd-98th percentile trimmed), the height spans the points
(down to the floor when they reach within `floor_contact_m` of it). Only the front of an object is
seen: a footprint side along the view shorter than half the other sides is extended away from
the camera to that. Without depth: the mask's box at the person's depth gives width and height
(depth = the smaller of the two), placed like an RGB-only template (`objects.place_rgb`).
"""

from __future__ import annotations

import cv2
import numpy as np

from scorehoi_node.core.estimate.object_evidence import EvidenceFrame, pose_from_frame
from scorehoi_node.core.estimate.objects import ObjectFitConfig, place_rgb
from scorehoi_node.core.objects.box import BOX_TEMPLATE_ID, box_template
from scorehoi_node.core.objects.template import ObjectTemplate
from scorehoi_node.core.types import CameraIntrinsics, ObjectEstimate


def box_from_points(points: np.ndarray, frame: EvidenceFrame, floor_contact_m: float = 0.1
                    ) -> tuple[float, np.ndarray, np.ndarray]:
    """(yaw [rad], origin (3,) in the frame, extent (3,) [m]) of the box around (N, 3)
    camera-frame points (see the module docstring)."""
    local = frame.to_local(points)
    lo, hi = np.percentile(local, [2.0, 98.0], axis=0)
    keep = np.all((local >= lo) & (local <= hi), axis=1)
    flat = local[keep][:, [0, 2]].astype(np.float32)
    (cx, cz), (a, b), angle = cv2.minAreaRect(flat if len(flat) >= 3 else
                                              local[:, [0, 2]].astype(np.float32))
    u = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])  # side a, (x, z)
    v = np.array([-u[1], u[0]])  # side b
    bottom = 0.0 if lo[1] <= floor_contact_m else float(lo[1])
    height = max(float(hi[1]) - bottom, 0.02)
    centre = np.array([cx, cz], np.float64)
    sides = [float(a), float(b)]
    for k, axis in enumerate((u, v)):
        want = 0.5 * min(sides[1 - k], height)
        if sides[k] < want and abs(axis[1]) >= abs(axis[0]):  # thin along the view: extend
            away = -np.sign(axis[1]) * axis  # +z of the frame points to the camera
            centre += 0.5 * (want - sides[k]) * away
            sides[k] = want
    yaw = float(np.arctan2(-u[1], u[0]))
    return yaw, np.array([centre[0], bottom, centre[1]]), np.array([sides[0], height, sides[1]])


def fit_box(frame: EvidenceFrame, camera: CameraIntrinsics, class_name: str, *,
            points: np.ndarray | None = None, mask: np.ndarray | None = None,
            person_depth_m: float = 3.0, floor_plane: np.ndarray | None = None,
            hands: np.ndarray | None = None, confidence: float = 1.0,
            config: ObjectFitConfig = ObjectFitConfig()
            ) -> tuple[ObjectEstimate, ObjectTemplate]:
    """The box estimate (template id `BOX_TEMPLATE_ID`, class `class_name`, extent) and its
    template, from points (depth) or else a mask (RGB only; `person_depth_m` sets the scale).

    Raises:
        ValueError: neither points nor a non-empty mask.
    """
    if points is not None and len(points) >= 3:
        yaw, origin, extent = box_from_points(points, frame)
        R, t = pose_from_frame(frame, yaw, origin)
        template = box_template(extent, class_name)
        score = confidence
    elif mask is not None and np.asarray(mask).any():
        vs, us = np.nonzero(mask)
        scale = person_depth_m / camera.fx
        w, h = (us.max() + 1 - us.min()) * scale, (vs.max() + 1 - vs.min()) * scale
        template = box_template(np.array([w, h, min(w, h)]), class_name)
        R, t, iou = place_rgb(camera, template, mask, floor_plane, hands, 0.0, config)
        score = confidence * iou
    else:
        raise ValueError("fit_box needs points or a non-empty mask")
    est = ObjectEstimate(class_name=class_name, template_id=BOX_TEMPLATE_ID, rotation=R,
                         translation=t, extent=template.extent.astype(np.float64),
                         confidence=float(score))
    return est, template
