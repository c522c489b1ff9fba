"""What the refinement sees of one person-object pair: the guidance terms' `Observation`
(keypoints, object mask distance, depth points on the object and the person, the floor from
depth) and the prior's condition vector (keypoints, boxes, template, initial state)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from scorehoi_node.core.diffusion.condition import ConditionSpec, condition_features
from scorehoi_node.core.diffusion.guidance.base import Observation
from scorehoi_node.core.diffusion.guidance.mask import mask_distance
from scorehoi_node.core.diffusion.state import CameraFrameHOI, StateCodec
from scorehoi_node.core.estimate.floor import estimate_floor
from scorehoi_node.core.geometry import backproject_image
from scorehoi_node.core.objects.template import ObjectTemplate
from scorehoi_node.core.types import FoundObject, Frame, PersonDetection


def mediapipe_keypoints(person: PersonDetection) -> tuple[torch.Tensor, torch.Tensor]:
    """(33, 2) float32 MediaPipe-33 keypoints [px] and (33,) scores of a person; NaN keypoints
    and zero scores for another layout (no keypoint evidence for the MediaPipe-33 terms)."""
    kp = torch.as_tensor(np.asarray(person.keypoints_2d, np.float32))
    sc = torch.as_tensor(np.asarray(person.keypoint_scores, np.float32))
    if kp.shape != (33, 2):
        return torch.full((33, 2), float("nan")), torch.zeros(33)
    return kp, sc


def _subsample(points: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    points = points[np.isfinite(points).all(1)]
    if len(points) > max_points:
        points = points[rng.choice(len(points), max_points, replace=False)]
    return points


def frame_floor(frame: Frame, persons: Sequence[PersonDetection],
                objects: Sequence[FoundObject]) -> np.ndarray | None:
    """(4,) float64 floor plane (n, d) of `frame` from its depth image, every person's and
    object's mask left out; None without depth or without a plane. One RANSAC per frame
    (~40 ms at 640x480 on one core), shared by every pair refined in it."""
    if frame.depth is None:
        return None
    exclude = np.zeros(frame.depth.shape, bool)
    for mask in [p.mask for p in persons] + [f.mask for f in objects]:
        if mask is not None:
            exclude |= mask
    return estimate_floor(frame.depth, frame.camera, exclude=exclude)


def observation_of(frame: Frame, person: PersonDetection, found: FoundObject,
                   template: ObjectTemplate, floor_plane: np.ndarray | None,
                   max_points: int = 400) -> Observation:
    """The guidance terms' view of one person-object pair in `frame` (see `Observation`):
    at most `max_points` depth points on the object and on the person (seed 0); the frame's
    floor plane (`frame_floor`) or None."""
    f = dict(dtype=torch.float32)
    kp, sc = mediapipe_keypoints(person)
    finite = torch.isfinite(kp).all(1)
    kp, sc = torch.where(finite[:, None], kp, 0.0), torch.where(finite, sc, 0.0)
    box = np.asarray(person.box, np.float64)
    scale = float(np.hypot(box[2] - box[0], box[3] - box[1])) or 300.0
    mask_dt = None
    if found.mask is not None and found.mask.any():
        mask_dt = torch.as_tensor(mask_distance(found.mask), **f)
    rng = np.random.default_rng(0)
    obj_pts = human_pts = None
    floor = None if floor_plane is None else torch.as_tensor(floor_plane, **f)
    if found.points is not None and len(found.points):
        p = _subsample(np.asarray(found.points), max_points, rng)
        obj_pts = torch.as_tensor(p, **f) if len(p) else None
    if frame.depth is not None:
        if person.mask is not None:
            sel = person.mask & ~(found.mask if found.mask is not None else False)
            pts = backproject_image(frame.depth, frame.camera)[sel]
            pts = _subsample(pts[np.isfinite(pts).all(1) & (pts[:, 2] > 0)], max_points, rng)
            human_pts = torch.as_tensor(pts, **f) if len(pts) else None
    return Observation(camera_K=torch.as_tensor(frame.camera.K, **f), template=template,
                       floor_plane=floor, keypoints_2d=kp, keypoint_scores=sc,
                       object_mask_distance=mask_dt, object_points=obj_pts,
                       human_points=human_pts, scale_px=scale)


def condition_of(spec: ConditionSpec, codec: StateCodec, frame: Frame, person: PersonDetection,
                 found: FoundObject, template: ObjectTemplate, hoi: CameraFrameHOI
                 ) -> torch.Tensor:
    """(1, C) condition of the prior for one pair: keypoints, the object's mask box (NaN when
    it has no mask), its template and the initial state `hoi`; on the device of `hoi` (and of
    the codec's statistics)."""
    box = torch.full((1, 4), float("nan"))
    if found.mask is not None and found.mask.any():
        ys, xs = np.nonzero(found.mask)
        box = torch.tensor([[xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]])
    kp, sc = mediapipe_keypoints(person)
    kp, sc = kp.to(hoi.pelvis.device), sc.to(hoi.pelvis.device)
    template_index = torch.tensor([spec.template_index(template.id)])
    return condition_features(spec, torch.as_tensor(frame.camera.K, dtype=torch.float32),
                              kp[None], sc[None], box, template_index, codec.encode(hoi))
