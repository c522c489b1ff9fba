"""Object candidates for every interaction: where a person can hold, sit on, kick, push or stand
next to an object, from depth clusters and from detector masks / boxes (with or without depth).

A candidate is evidence, not an answer: the recogniser (`estimate.object_recogniser`) says which
template it is (or "other object" / "clutter") and seeds its pose.

Depth clusters (`depth_candidates`):

1. valid depth in [min_depth_m, max_depth_m]; the person's pixels (`exclude`, see
   `person_pixels`: the person mask restricted to the fitted body's surface, so the held object
   stays) are dropped;
2. only the floor is removed (pixels within `floor_band_m + floor_band_rel * z` of the floor
   plane): a table top or a stool seat is a horizontal plane too, and RANSAC support-plane
   removal deletes it; a floor object loses only its bottom band and stays one cluster;
3. connected components that do not cross a depth discontinuity (`rgbd_objects.depth_components`);
   components larger than `max_extent_m` (walls, the floor far away) are scenery;
4. each component is given to the body anchor it touches (`BodyAnchors`): hands (wrists, palms,
   forearms), seat (pelvis, hips, thighs), feet (shins, ankles, toes), each within its radius; or
   "floor" when it stands on the floor (lowest point within `floor_contact_m`, at least
   `min_object_height_m` tall) within `nearby_radius_m` (horizontal) of the pelvis. Of several
   people, the one whose anchor is nearest (relative to the anchor's radius) gets it.

Detections (`detection_candidates`): a detector mask (or an external box) minus the person's
pixels; with depth, its points are the mask's largest depth-continuous part (a mask bleeding onto
the background gives flying points) and its anchor is found in 3D like a cluster's; without depth
the anchors are compared in the image, the radii scaled by the anchor's depth. A detection near no
one keeps `person=None`, `anchor="none"`.

Frames: camera optical frame (x right, y down, z forward), metres; pixels (u, v) from the
top-left corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from scorehoi_node.core.detect.rgbd_objects import RGBDObjectConfig, depth_components
from scorehoi_node.core.floor import estimate_floor
from scorehoi_node.core.geometry import backproject_image, body_surface_mask, box_mask
from scorehoi_node.core.types import (CameraIntrinsics, HumanEstimate, ObjectCandidate,
                                      ObjectDetection, PersonDetection)

#: body anchors a candidate can be found at ("none": a detection near no one)
ANCHORS = ("hands", "seat", "feet", "floor", "none")
#: where a candidate's evidence comes from
SOURCES = ("depth", "mask", "box")
#: joints the anchors (and the recogniser's body context) use, in this order
KEY_JOINTS = ("pelvis", "chest", "left_hip", "right_hip", "left_knee", "right_knee",
              "left_ankle", "right_ankle", "left_elbow", "right_elbow", "left_wrist",
              "right_wrist")
#: detector keypoint indices (averaged) of each key joint, per keypoint layout
_KEYPOINT_INDEX = {
    "mediapipe33": ((23, 24), (11, 12), (23,), (24,), (25,), (26,), (27,), (28,), (13,), (14,),
                    (15,), (16,)),
    "coco17": ((11, 12), (5, 6), (11,), (12,), (13,), (14,), (15,), (16,), (7,), (8,), (9,),
               (10,)),
}
#: key joints placed from keypoints + depth by `BodyAnchors.from_person`
_LIMB_JOINTS = ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_elbow",
                "right_elbow", "left_wrist", "right_wrist")
#: joint names of each key joint in the supported bodies (anny, skeleton, SMPL family)
_ALIASES = {
    "pelvis": ("root", "pelvis"), "chest": ("spine01", "neck", "spine3"),
    "left_hip": ("upperleg01.L", "left_hip"), "right_hip": ("upperleg01.R", "right_hip"),
    "left_knee": ("lowerleg01.L", "left_knee"), "right_knee": ("lowerleg01.R", "right_knee"),
    "left_ankle": ("foot.L", "left_ankle"), "right_ankle": ("foot.R", "right_ankle"),
    "left_elbow": ("lowerarm01.L", "left_elbow"), "right_elbow": ("lowerarm01.R", "right_elbow"),
    "left_wrist": ("wrist.L", "left_wrist"), "right_wrist": ("wrist.R", "right_wrist"),
}


@dataclass(frozen=True)
class CandidateConfig:
    """Settings of the candidate search (the only source of its defaults).

    Attributes:
        min_depth_m, max_depth_m: depth range kept [m].
        person_dilate_px: the excluded person pixels grow by this many pixels [px].
        floor_band_m, floor_band_rel: pixels within floor_band_m + floor_band_rel * z of the
            floor plane are floor [m, m per m of depth].
        min_pixels: smaller components are noise [px].
        max_extent_m: components with a larger 3D box diagonal are scenery [m].
        hand_radius_m, seat_radius_m, feet_radius_m: a component touches that anchor when a
            point is this close to one of its points [m] (body thickness + fit error).
        floor_contact_m: a "floor" candidate's lowest point is at most this above the floor [m].
        min_object_height_m: a "floor" candidate reaches at least this above the floor [m].
        nearby_radius_m: a "floor" candidate lies within this horizontal distance of the pelvis [m].
        full_score_pixels: components of this many pixels or more get the full size score [px].
        min_mask_pixels: detections with fewer mask pixels (after removing the person) are
            dropped [px].
        dedup_iou: a depth cluster overlapping a detection's mask by this IoU is the detection.
        merge_gap_m: clusters closer than this in 3D are one object [m].
        occluded_gap_m: clusters closer than this are one object when the gap between them is
            hidden behind the person (a stool between the sitter's legs) [m].
        body_tolerance_m, body_splat_px: person pixels are those of the person mask within this
            depth of the fitted body's z-buffer, splatted this wide (`person_pixels`).
        palm_keep_m: person pixels this close (3D) to a wrist or palm stay (`person_pixels`).
        max_points: points kept per candidate (seeded subsample) for the later stages.
        seed: seed of the subsample.
    """

    min_depth_m: float = 0.2
    max_depth_m: float = 8.0
    person_dilate_px: int = 2
    floor_band_m: float = 0.015
    floor_band_rel: float = 0.004
    min_pixels: int = 40
    max_extent_m: float = 2.5
    hand_radius_m: float = 0.16
    seat_radius_m: float = 0.24
    feet_radius_m: float = 0.2
    floor_contact_m: float = 0.1
    min_object_height_m: float = 0.06
    nearby_radius_m: float = 2.2
    full_score_pixels: int = 1500
    min_mask_pixels: int = 20
    dedup_iou: float = 0.5
    merge_gap_m: float = 0.04
    occluded_gap_m: float = 0.3
    body_tolerance_m: float = 0.15
    body_splat_px: int = 15
    palm_keep_m: float = 0.25
    max_points: int = 4000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.min_depth_m < self.max_depth_m:
            raise ValueError(f"need 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, "
                             f"{self.max_depth_m}")
        for name in ("floor_band_m", "max_extent_m", "hand_radius_m", "seat_radius_m",
                     "feet_radius_m", "floor_contact_m", "nearby_radius_m", "body_tolerance_m"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        for name in ("person_dilate_px", "floor_band_rel", "min_object_height_m", "merge_gap_m",
                     "palm_keep_m", "occluded_gap_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0")
        for name in ("min_pixels", "full_score_pixels", "min_mask_pixels", "max_points",
                     "body_splat_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")
        if not 0.0 < self.dedup_iou <= 1.0:
            raise ValueError(f"dedup_iou={self.dedup_iou!r} must be within (0, 1]")

    def radius(self, anchor: str) -> float:
        """Contact radius [m] of a contact anchor ("hands", "seat", "feet")."""
        return {"hands": self.hand_radius_m, "seat": self.seat_radius_m,
                "feet": self.feet_radius_m}[anchor]


@dataclass(frozen=True)
class BodyAnchors:
    """One person's key joints, from which the anchor points follow (camera frame, metres).

    Attributes:
        joints: (12, 3) float64 positions of `KEY_JOINTS`; NaN rows where the body lacks one.
        person: index of the person in the frame's person list.
        alternative: (12, 3) float64 a second placement of the same joints (the body fit when
            `joints` come from keypoints and depth) whose anchor points count too, or None.
    """

    joints: np.ndarray
    person: int = 0
    alternative: np.ndarray | None = None

    def __post_init__(self) -> None:
        j = np.asarray(self.joints, np.float64)
        if j.shape != (len(KEY_JOINTS), 3):
            raise ValueError(f"joints must be ({len(KEY_JOINTS)}, 3), got {j.shape}")
        if not np.isfinite(j[0]).all():
            raise ValueError("the pelvis joint must be finite")
        object.__setattr__(self, "joints", j)
        if self.alternative is not None:
            alt = np.asarray(self.alternative, np.float64)
            if alt.shape != j.shape:
                raise ValueError(f"alternative must be {j.shape}, got {alt.shape}")
            object.__setattr__(self, "alternative", alt)

    @classmethod
    def from_human(cls, human: HumanEstimate, person: int = 0) -> "BodyAnchors":
        """The key joints of a fitted body (anny, skeleton or SMPL-family joint names)."""
        names = list(human.joint_names)
        out = np.full((len(KEY_JOINTS), 3), np.nan)
        for k, key in enumerate(KEY_JOINTS):
            for alias in _ALIASES[key]:
                if alias in names:
                    out[k] = human.joint_positions[names.index(alias)]
                    break
        if not np.isfinite(out[0]).all():
            out[0] = human.joint_positions[0]
        return cls(out, person)

    @classmethod
    def from_person(cls, human: HumanEstimate, person: PersonDetection | None,
                    camera: CameraIntrinsics, depth: np.ndarray | None = None,
                    person_index: int = 0, *, min_score: float = 0.5, window_px: int = 5,
                    behind_surface_m: float = 0.03) -> "BodyAnchors":
        """Key joints of a fitted body; with depth, the limb joints (knees, ankles, elbows,
        wrists) are also placed from their detected 2D keypoints back-projected at the median
        depth of a (2 window_px + 1)^2 window (person pixels first) plus `behind_surface_m`:
        keypoints and depth place limbs much better than the body fit (measured on rendered
        frames: median 6-8 cm vs 14-20 cm). Both placements become anchor points
        (`alternative`); torso joints stay the fit's (a hip joint lies deep behind the skin)."""
        base = cls.from_human(human, person_index)
        table = _KEYPOINT_INDEX.get(person.keypoint_layout) if person is not None else None
        if depth is None or table is None:
            return base
        kp = np.asarray(person.keypoints_2d, np.float64)
        sc = np.asarray(person.keypoint_scores, np.float64)
        joints = base.joints.copy()
        h, w = depth.shape
        for k, key in enumerate(KEY_JOINTS):
            idx = table[k]
            if key not in _LIMB_JOINTS or max(idx) >= len(kp) or np.min(sc[list(idx)]) < min_score:
                continue
            u, v = kp[list(idx)].mean(0)
            if not (0 <= u < w and 0 <= v < h):
                continue
            u0, u1 = max(int(u) - window_px, 0), min(int(u) + window_px + 1, w)
            v0, v1 = max(int(v) - window_px, 0), min(int(v) + window_px + 1, h)
            win = np.asarray(depth[v0:v1, u0:u1], np.float64)
            good = np.isfinite(win) & (win > 0)
            if person.mask is not None and (good & person.mask[v0:v1, u0:u1]).any():
                good &= person.mask[v0:v1, u0:u1]
            if good.any():
                z = float(np.median(win[good])) + behind_surface_m
                joints[k] = camera.backproject(np.array([[u, v]]), np.array([z]))[0]
        return cls(joints, person_index, base.joints)

    def joint(self, name: str) -> np.ndarray:
        return self.joints[KEY_JOINTS.index(name)]

    @property
    def pelvis(self) -> np.ndarray:
        return self.joints[0]

    def forward(self, up: np.ndarray) -> np.ndarray:
        """(3,) unit horizontal direction the person faces (left hip x up; camera-facing
        fallback when the hips are missing)."""
        left = self.joint("left_hip") - self.joint("right_hip")
        if not np.isfinite(left).all():
            f = -self.pelvis
        else:
            f = np.cross(left, up)
        f = f - (f @ up) * up
        n = np.linalg.norm(f)
        return f / n if n > 1e-9 else np.cross(up, [1.0, 0.0, 0.0])

    def palms(self) -> np.ndarray:
        """(K, 3) finite wrists and palm centres of both placements (what `person_pixels`
        keeps)."""
        pts = _palms(self.joints)
        if self.alternative is not None:
            pts = np.concatenate([pts, _palms(self.alternative)])
        return pts[np.isfinite(pts).all(1)]

    def points(self, anchor: str, up: np.ndarray) -> np.ndarray:
        """(K, 3) points of a contact anchor ("hands", "seat", "feet") of both placements,
        finite rows only."""
        pts = _anchor_points(self.joints, anchor, self.forward(up), up)
        if self.alternative is not None:
            pts = np.concatenate([pts, _anchor_points(self.alternative, anchor,
                                                      self.forward(up), up)])
        return pts


def _palms(joints: np.ndarray) -> np.ndarray:
    """(4, 3) wrists and palm centres (8 cm beyond the wrist along the forearm)."""
    out = []
    for s in ("left", "right"):
        w = joints[KEY_JOINTS.index(f"{s}_wrist")]
        d = w - joints[KEY_JOINTS.index(f"{s}_elbow")]
        out += [w, w + 0.08 * d / max(np.linalg.norm(d), 1e-9)]
    return np.asarray(out)


def _anchor_points(joints: np.ndarray, anchor: str, fwd: np.ndarray,
                   up: np.ndarray) -> np.ndarray:
    """(K, 3) finite points of one anchor from (12, 3) key joints."""

    def j(name: str) -> np.ndarray:
        return joints[KEY_JOINTS.index(name)]

    pts = []
    if anchor == "hands":
        for s in ("left", "right"):
            w, e = j(f"{s}_wrist"), j(f"{s}_elbow")
            pts += [e + a * (w - e) for a in (0.5, 0.75)]
        pts += list(_palms(joints))
    elif anchor == "seat":
        pts.append(j("pelvis"))
        for s in ("left", "right"):
            h, k = j(f"{s}_hip"), j(f"{s}_knee")
            pts += [h + a * (k - h) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    elif anchor == "feet":
        for s in ("left", "right"):
            k, a = j(f"{s}_knee"), j(f"{s}_ankle")
            pts += [k + b * (a - k) for b in (0.5, 0.75, 1.0)]
            pts += [a + 0.1 * fwd - 0.05 * up, a - 0.05 * fwd - 0.05 * up]  # toes, heel
    else:
        raise ValueError(f"anchor={anchor!r} is not one of hands, seat, feet")
    pts = np.asarray(pts, np.float64)
    return pts[np.isfinite(pts).all(1)]


# -- helpers ------------------------------------------------------------------------------------

def person_pixels(depth: np.ndarray | None, camera: CameraIntrinsics,
                  humans: Sequence[HumanEstimate], person_masks: Sequence[np.ndarray | None],
                  *, keep_near: np.ndarray | None = None, keep_radius_m: float = 0.25,
                  tolerance_m: float = 0.15, splat_px: int = 15) -> np.ndarray:
    """(H, W) bool pixels of the people, to remove before clustering.

    Each person's mask, restricted (with depth and a fitted mesh) to the pixels whose depth lies
    within `tolerance_m` of the fitted body's surface (segmenters paint a held object as the
    person); without a mask, the body surface alone; without either, nothing. Pixels within
    `keep_radius_m` (3D) of a `keep_near` point (K, 3) stay (the hands: a held object lies within
    a few centimetres of the hand surface, closer than any fit's error; the recogniser
    separates the hand from the object later)."""
    out = np.zeros((camera.height, camera.width), bool)
    for human, mask in zip(humans, person_masks):
        on_body = None
        if depth is not None and human.vertices is not None:
            on_body = body_surface_mask(human.vertices, camera, depth, tolerance_m, splat_px)
        if mask is not None:
            out |= mask if on_body is None else (mask & on_body)
        elif on_body is not None:
            out |= on_body
    if depth is not None and keep_near is not None and len(keep_near):
        out &= ~near_points(depth, camera, np.asarray(keep_near, np.float64), keep_radius_m)
    return out


def near_points(depth: np.ndarray, camera: CameraIntrinsics, centres: np.ndarray,
                radius_m: float) -> np.ndarray:
    """(H, W) bool pixels whose back-projected depth lies within `radius_m` of a centre (K, 3)
    [m] (only the image box of each centre's sphere is examined)."""
    h, w = depth.shape
    out = np.zeros((h, w), bool)
    for c in centres:
        if not (np.isfinite(c).all() and c[2] > radius_m + 0.05):
            continue
        r_px = radius_m * camera.fx / (c[2] - radius_m)
        u, v = camera.project(c[None])[0]
        u0, u1 = max(int(u - r_px), 0), min(int(u + r_px) + 1, w)
        v0, v1 = max(int(v - r_px), 0), min(int(v + r_px) + 1, h)
        if u0 >= u1 or v0 >= v1:
            continue
        z = np.nan_to_num(np.asarray(depth[v0:v1, u0:u1], np.float64), nan=0.0)
        x = ((np.arange(u0, u1) + 0.5 - camera.cx) / camera.fx)[None, :] * z
        y = ((np.arange(v0, v1) + 0.5 - camera.cy) / camera.fy)[:, None] * z
        d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2
        out[v0:v1, u0:u1] |= (d2 < radius_m ** 2) & (z > 0)
    return out


def up_and_floor(floor_plane: np.ndarray | None, anchors: Sequence[BodyAnchors],
                 foot_below_ankle_m: float = 0.08, up_hint: np.ndarray | None = None
                 ) -> tuple[np.ndarray, float]:
    """("up" (3,), d) with up . x + d = height above the floor [m]: the floor plane, else
    `up_hint` (default camera -y) with the floor through the lowest ankle (minus
    `foot_below_ankle_m`)."""
    if floor_plane is not None:
        n = np.asarray(floor_plane, np.float64).reshape(4)
        s = np.linalg.norm(n[:3])
        return n[:3] / s, float(n[3] / s)
    up = np.array([0.0, -1.0, 0.0]) if up_hint is None else \
        np.asarray(up_hint, np.float64) / np.linalg.norm(up_hint)
    lows = [a.joints[KEY_JOINTS.index(k)] for a in anchors
            for k in ("left_ankle", "right_ankle")]
    lows = [p for p in lows if np.isfinite(p).all()]
    if not lows:
        return up, 1.0e3  # no floor known: every point counts as far above it
    return up, float(-min(up @ p for p in lows) + foot_below_ankle_m)


def _box_of(mask: np.ndarray) -> np.ndarray:
    vs, us = np.nonzero(mask)
    return np.array([us.min(), vs.min(), us.max() + 1.0, vs.max() + 1.0])


def _subsample(points: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(points) <= n:
        return points
    idx = np.random.default_rng(seed).choice(len(points), n, replace=False)
    return points[np.sort(idx)]


def _anchor_3d(points: np.ndarray, persons: Sequence[BodyAnchors], up: np.ndarray,
               floor_d: float, cfg: CandidateConfig) -> tuple[str, int | None, float]:
    """(anchor, person, relative distance) of a 3D point set: the first contact anchor (hands,
    seat, feet) within its radius (a stool touches the shins too; a carried box the thighs),
    of the person nearest in that anchor; else "floor" when it stands on the floor near a
    pelvis; else ("none", None, NaN)."""
    pts = _subsample(points, 400, cfg.seed)
    best = ("none", None, np.inf)
    for anchors in persons:
        for name in ("hands", "seat", "feet"):  # priority order: the first within its radius
            ap = anchors.points(name, up)
            if not len(ap):
                continue
            d = float(np.sqrt(((pts[:, None, :] - ap[None]) ** 2).sum(-1).min()))
            rel = d / cfg.radius(name)
            if rel <= 1.0:
                rank = (ANCHORS.index(name), rel)
                if best[1] is None or rank < (ANCHORS.index(best[0]), best[2]):
                    best = (name, anchors.person, rel)
                break
    if best[1] is not None:
        return best
    height = pts @ up + floor_d
    if height.min() <= cfg.floor_contact_m and height.max() >= cfg.min_object_height_m:
        for anchors in persons:
            flat = pts - anchors.pelvis
            flat = flat - (flat @ up)[:, None] * up
            rel = float(np.linalg.norm(flat, axis=1).min()) / cfg.nearby_radius_m
            if rel <= 1.0 and rel < best[2]:
                best = ("floor", anchors.person, rel)
    return best if best[1] is not None else ("none", None, float("nan"))


def _score(pixels: int, rel: float, cfg: CandidateConfig) -> float:
    near = 0.0 if not np.isfinite(rel) else 1.0 - min(rel, 1.0)
    return float(0.5 * near + 0.5 * min(1.0, pixels / cfg.full_score_pixels))


def _valid_points(depth: np.ndarray, camera: CameraIntrinsics, exclude: np.ndarray | None,
                  up: np.ndarray, floor_d: float, cfg: CandidateConfig
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z (H, W) float64, points (H, W, 3), keep (H, W) bool): valid depth, not a person
    (dilated), not floor."""
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f"depth must be ({camera.height}, {camera.width}), got {depth.shape}")
    z = np.nan_to_num(np.asarray(depth, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    keep = (z >= cfg.min_depth_m) & (z <= cfg.max_depth_m)
    if exclude is not None:
        if exclude.shape != depth.shape:
            raise ValueError(f"exclude is {exclude.shape}, depth is {depth.shape}")
        grown = exclude.astype(np.uint8)
        if cfg.person_dilate_px > 0:
            k = 2 * cfg.person_dilate_px + 1
            grown = cv2.dilate(grown, np.ones((k, k), np.uint8))
        keep &= grown == 0
    points = backproject_image(z, camera)
    height = points @ up + floor_d
    keep &= height > cfg.floor_band_m + cfg.floor_band_rel * z
    return z, points, keep


# -- depth clusters -------------------------------------------------------------------------------

def depth_candidates(depth: np.ndarray, camera: CameraIntrinsics,
                     persons: Sequence[BodyAnchors], *, exclude: np.ndarray | None = None,
                     floor_plane: np.ndarray | None = None,
                     config: CandidateConfig = CandidateConfig()) -> list[ObjectCandidate]:
    """Depth clusters at every person's hands, seat, feet or on the floor next to them.

    Args:
        depth: (H, W) depth [m] registered to the image; NaN or <= 0 invalid.
        camera: intrinsics of `depth`.
        persons: the people's anchors (`BodyAnchors.from_human`); none -> no candidates.
        exclude: (H, W) bool pixels of people (`person_pixels`), or None.
        floor_plane: (4,) (n, d), n.x + d = 0 on the floor, n up; None -> camera -y through the
            lowest ankle.
        config: search settings.

    Returns:
        Candidates ordered by person, then score (best first).
    """
    if not persons:
        return []
    cfg = config
    up, floor_d = up_and_floor(floor_plane, persons)
    z, points, keep = _valid_points(np.asarray(depth), camera, exclude, up, floor_d, cfg)
    labels, n = depth_components(z, keep, _component_config(cfg))
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    slices = ndimage.find_objects(labels)
    labels, sizes, slices = _merge_close(labels, sizes, slices, points, cfg, camera, z)
    found = []
    for lab in np.flatnonzero(sizes >= cfg.min_pixels):
        sl = slices[lab - 1]
        local = labels[sl] == lab
        pts = points[sl][local]
        probe = _subsample(pts, 500, cfg.seed)
        if np.linalg.norm(probe.max(0) - probe.min(0)) > cfg.max_extent_m:
            continue
        anchor, person, rel = _anchor_3d(pts, persons, up, floor_d, cfg)
        if person is None:
            continue
        mask = np.zeros(labels.shape, bool)
        mask[sl] = local
        found.append(ObjectCandidate(
            source="depth", class_name=None, mask=mask,
            points=_subsample(pts, cfg.max_points, cfg.seed), box=_box_of(mask),
            score=_score(int(sizes[lab]), rel, cfg), anchor=anchor, person=person,
            anchor_distance=rel))
    return sorted(found, key=lambda c: (c.person, -c.score))


def _merge_close(labels: np.ndarray, sizes: np.ndarray, slices: list, points: np.ndarray,
                 cfg: CandidateConfig, camera: CameraIntrinsics | None = None,
                 depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """Join components of one object: components of at least min_pixels / 2 pixels and at
    most `max_extent_m` across join when any of their (up to 150 sampled) points are within
    `merge_gap_m`, or within `occluded_gap_m` with the gap hidden behind something in front
    (a stool seen between the sitter's legs, a table's back legs below its top; `_occluded`).
    Union-find; returns the new labels, sizes and slices (by label - 1)."""
    trees, ids, boxes = [], [], []
    for lab in np.flatnonzero(sizes >= max(cfg.min_pixels // 2, 1)):
        sl = slices[lab - 1]
        pts = _subsample(points[sl][labels[sl] == lab], 150, cfg.seed)
        lo, hi = pts.min(0), pts.max(0)
        if np.linalg.norm(hi - lo) <= cfg.max_extent_m:
            trees.append(cKDTree(pts))
            ids.append(int(lab))
            boxes.append((lo, hi))
    if len(ids) < 2:
        return labels, sizes, slices
    lo, hi = (np.array(b) for b in zip(*boxes))
    gap = cfg.merge_gap_m
    reach = max(gap, cfg.occluded_gap_m if depth is not None else 0.0)
    overlap = np.all((lo[:, None] - reach <= hi[None]) & (lo[None] - reach <= hi[:, None]), 2)
    lut = np.arange(len(sizes), dtype=np.int32)

    def root(i: int) -> int:
        while lut[i] != i:
            lut[i] = lut[lut[i]]
            i = int(lut[i])
        return i

    merged = False
    for a, b in zip(*np.nonzero(np.triu(overlap, 1))):
        if root(ids[a]) == root(ids[b]):
            continue
        d, j = trees[b].query(trees[a].data, distance_upper_bound=reach)
        k = int(np.argmin(d))
        if d[k] <= gap or (np.isfinite(d[k]) and _occluded(
                trees[a].data[k], trees[b].data[j[k]], camera, depth)):
            lut[root(ids[a])] = root(ids[b])
            merged = True
    if not merged:
        return labels, sizes, slices
    sizes, slices = sizes.copy(), list(slices)
    for i in ids:
        r = root(i)
        if r != i:
            lut[i] = r
            sizes[r] += sizes[i]
            sizes[i] = 0
            a, b = slices[r - 1], slices[i - 1]
            slices[r - 1] = tuple(slice(min(x.start, y.start), max(x.stop, y.stop))
                                  for x, y in zip(a, b))
    return lut[labels], sizes, slices


def _occluded(p: np.ndarray, q: np.ndarray, camera: CameraIntrinsics | None,
              depth: np.ndarray | None, samples: int = 9) -> bool:
    """True when the segment between two 3D points is hidden: every interior sample projects
    onto a pixel with valid depth not behind it (a person, the object itself, anything in
    front). A gap showing the background behind is not hidden."""
    if depth is None or camera is None:
        return False
    h, w = depth.shape
    seg = p + np.linspace(0.0, 1.0, samples + 2)[1:-1, None] * (q - p)
    uv = np.floor(camera.project(seg)).astype(int)
    if np.any((uv < 0) | (uv >= [w, h])):
        return False
    z = depth[uv[:, 1], uv[:, 0]]
    return bool(np.all((z > 0) & (z < seg[:, 2] + 0.03)))


def _component_config(cfg: CandidateConfig):
    """The depth-discontinuity settings of `rgbd_objects.depth_components`."""
    return RGBDObjectConfig(min_depth_m=cfg.min_depth_m, max_depth_m=cfg.max_depth_m,
                            min_pixels=cfg.min_pixels, slope_aware=True)


# -- detections -----------------------------------------------------------------------------------

def _largest_part(mask: np.ndarray, z: np.ndarray, keep: np.ndarray, cfg: CandidateConfig,
                  centre: np.ndarray | None = None) -> np.ndarray:
    """The largest depth-continuous part of `mask` among `keep` pixels (empty if none); with
    `centre` (H, W) bool, the part with the most pixels there (a box's middle: the object fills
    its box, the background only shows around it)."""
    out = np.zeros_like(mask)
    sel = mask & keep
    if not sel.any():
        return out
    u0, v0, u1, v1 = _box_of(sel).astype(int)
    labels, n = depth_components(z[v0:v1, u0:u1], sel[v0:v1, u0:u1], _component_config(cfg))
    if n == 0:
        return out
    votes = labels if centre is None else labels[centre[v0:v1, u0:u1]]
    sizes = np.bincount(votes.ravel(), minlength=n + 1)
    sizes[0] = 0
    if not sizes.any():
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        sizes[0] = 0
    out[v0:v1, u0:u1] = labels == int(np.argmax(sizes))
    return out


def _anchor_2d(mask: np.ndarray, camera: CameraIntrinsics, persons: Sequence[BodyAnchors],
               up: np.ndarray, cfg: CandidateConfig) -> tuple[str, int | None, float]:
    """Anchor of a mask without depth: image distance from each anchor point to the mask, the
    radius projected at the anchor point's depth; "floor" when the mask's bottom lies below the
    person's knees within the nearby radius (projected at the pelvis' depth)."""
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    h, w = mask.shape
    best = ("none", None, np.inf)
    for anchors in persons:
        for name in ("hands", "seat", "feet"):
            ap = anchors.points(name, up)
            ap = ap[ap[:, 2] > 1e-3]
            if not len(ap):
                continue
            uv = np.floor(camera.project(ap)).astype(int)
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
            if not inside.any():
                continue
            r_px = cfg.radius(name) * camera.fx / ap[inside, 2]
            rel = float((dist[uv[inside, 1], uv[inside, 0]] / r_px).min())
            if rel <= 1.0 and rel < best[2]:
                best = (name, anchors.person, rel)
    if best[1] is not None:
        return best
    box = _box_of(mask)
    for anchors in persons:
        p = anchors.pelvis
        if p[2] <= 1e-3:
            continue
        knees = [anchors.joint(k) for k in ("left_knee", "right_knee")]
        knees = [k for k in knees if np.isfinite(k).all() and k[2] > 1e-3]
        knee_v = max(camera.project(np.array(knees))[:, 1]) if knees else \
            camera.project(p[None])[0, 1]
        pu = camera.project(p[None])[0, 0]
        gap = max(box[0] - pu, pu - box[2], 0.0)
        rel = gap / (cfg.nearby_radius_m * camera.fx / p[2])
        if box[3] >= knee_v and rel <= 1.0 and rel < best[2]:
            best = ("floor", anchors.person, rel)
    return best if best[1] is not None else ("none", None, float("nan"))


def detection_candidates(detections: Sequence[ObjectDetection], camera: CameraIntrinsics,
                         persons: Sequence[BodyAnchors], *, depth: np.ndarray | None = None,
                         exclude: np.ndarray | None = None,
                         floor_plane: np.ndarray | None = None,
                         config: CandidateConfig = CandidateConfig()) -> list[ObjectCandidate]:
    """Candidates from detector masks or boxes (source "mask" / "box"), with or without depth.

    A box-only detection with depth becomes the largest depth-continuous part inside its box
    (not a person, not floor); without depth its mask is the box. Person pixels are removed from
    masks. Detections with fewer than `min_mask_pixels` left are dropped.
    """
    cfg = config
    shape = (camera.height, camera.width)
    up, floor_d = up_and_floor(floor_plane, persons)
    z = points = keep = None
    if depth is not None:
        z, points, keep = _valid_points(np.asarray(depth), camera, exclude, up, floor_d, cfg)
    out = []
    for det in detections:
        source = "box" if det.mask is None else "mask"
        mask = box_mask(det.box, shape) if det.mask is None else np.asarray(det.mask, bool)
        if mask.shape != shape:
            raise ValueError(f"detection mask is {mask.shape}, image is {shape}")
        if exclude is not None and source == "mask":
            mask = mask & ~exclude
        pts = None
        if z is not None:
            centre = None
            if source == "box":
                b = np.asarray(det.box, np.float64)
                half = 0.25 * (b[2:] - b[:2])
                centre = box_mask(np.r_[b[:2] + half, b[2:] - half], shape)
            part = _largest_part(mask, z, keep, cfg, centre)
            if part.sum() >= cfg.min_mask_pixels:
                mask = part if source == "box" else mask
                pts = points[part]
        if mask.sum() < cfg.min_mask_pixels:
            continue
        if pts is not None:
            anchor, person, rel = _anchor_3d(pts, persons, up, floor_d, cfg)
        else:
            anchor, person, rel = _anchor_2d(mask, camera, persons, up, cfg)
        out.append(ObjectCandidate(
            source=source, class_name=det.class_name, mask=mask,
            points=None if pts is None else _subsample(pts, cfg.max_points, cfg.seed),
            box=_box_of(mask), score=float(det.score) * max(_score(int(mask.sum()), rel, cfg),
                                                            0.25),
            anchor=anchor, person=person, anchor_distance=rel))
    return out


def find_candidates(camera: CameraIntrinsics, persons: Sequence[BodyAnchors], *,
                    depth: np.ndarray | None = None,
                    detections: Sequence[ObjectDetection] = (),
                    exclude: np.ndarray | None = None, floor_plane: np.ndarray | None = None,
                    config: CandidateConfig = CandidateConfig()) -> list[ObjectCandidate]:
    """All candidates of a frame: detections (masks / boxes) first, then the depth clusters that
    no detection already covers (IoU < `dedup_iou`). See the module docstring."""
    dets = detection_candidates(detections, camera, persons, depth=depth, exclude=exclude,
                                floor_plane=floor_plane, config=config)
    if depth is None:
        return dets
    clusters = depth_candidates(depth, camera, persons, exclude=exclude,
                                floor_plane=floor_plane, config=config)

    def covered(c: ObjectCandidate) -> bool:
        for d in dets:
            inter = np.count_nonzero(c.mask & d.mask)
            if inter and inter / np.count_nonzero(c.mask | d.mask) >= config.dedup_iou:
                return True
        return False

    return dets + [c for c in clusters if not covered(c)]


@dataclass(frozen=True)
class FrameCandidates:
    """A frame's candidates and the context they were found in.

    Attributes:
        candidates: the candidates (`find_candidates`).
        anchors: one `BodyAnchors` per person (index = `ObjectCandidate.person`).
        exclude: (H, W) bool person pixels removed before clustering (None without depth).
        floor_plane: (4,) the floor used (given, estimated from depth, or None).
        up: (3,) unit floor normal, camera frame (without a floor plane: camera -y with depth,
            the first person's body axis without).
        floor_d: up . x + floor_d = height above the floor [m].
    """

    candidates: list[ObjectCandidate]
    anchors: list[BodyAnchors]
    exclude: np.ndarray | None
    floor_plane: np.ndarray | None
    up: np.ndarray
    floor_d: float


def frame_candidates(camera: CameraIntrinsics, humans: Sequence[HumanEstimate],
                     persons: Sequence[PersonDetection | None], *,
                     depth: np.ndarray | None = None,
                     detections: Sequence[ObjectDetection] = (),
                     floor_plane: np.ndarray | None = None,
                     config: CandidateConfig = CandidateConfig()) -> FrameCandidates:
    """Everything of one frame: anchors of every person (`BodyAnchors.from_person`), their
    pixels (`person_pixels`, the palms kept), the floor (given, else `estimate_floor` on the
    depth without the people), then `find_candidates`.

    Args:
        camera: intrinsics of the image (and depth).
        humans: fitted people (camera frame); person index = position in this list.
        persons: their detections (keypoints, mask), same order (None entries allowed).
        depth: (H, W) registered depth [m] or None (RGB only).
        detections: detector objects (masks or boxes) of the frame.
        floor_plane: (4,) known floor, or None.
        config: candidate settings.
    """
    if len(humans) != len(persons):
        raise ValueError(f"{len(humans)} humans but {len(persons)} person detections")
    anchors = [BodyAnchors.from_person(h, p, camera, depth, i)
               for i, (h, p) in enumerate(zip(humans, persons))]
    exclude = None
    if depth is not None:
        palms = [a.palms() for a in anchors]
        exclude = person_pixels(depth, camera, humans,
                                [None if p is None else p.mask for p in persons],
                                keep_near=np.concatenate(palms) if palms else None,
                                keep_radius_m=config.palm_keep_m,
                                tolerance_m=config.body_tolerance_m,
                                splat_px=config.body_splat_px)
        if floor_plane is None:
            floor_plane = estimate_floor(depth, camera, exclude=exclude)
    # RGB only: "up" is the first person's body axis (their root's +Y), not the camera's -y
    hint = humans[0].root_rotation[:, 1] if depth is None and len(humans) else None
    up, floor_d = up_and_floor(floor_plane, anchors, up_hint=hint)
    cands = find_candidates(camera, anchors, depth=depth, detections=detections,
                            exclude=exclude, floor_plane=floor_plane, config=config)
    return FrameCandidates(cands, anchors, exclude, floor_plane, up, floor_d)
