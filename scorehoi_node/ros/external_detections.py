"""vision_msgs/Detection2DArray (yolo_ros, Isaac ROS, depthai, ...) -> core `Detections`.

Pure conversion, no math beyond layout changes. Each `Detection2D` contributes its best
hypothesis (highest score): class_id "person" (any case) or "0" becomes a `PersonDetection`
without keypoints (layout "none", empty (0, 2) keypoints), anything else an `ObjectDetection`.
Integer class ids ("41", "41.0") are COCO-80 contiguous ids (YOLO order) and map to COCO names;
ids outside 0..79 and other strings are kept as given (stripped, lower-cased). Boxes are
centre + size in pixels; a rotated box (theta != 0) becomes its axis-aligned hull.
"""

from __future__ import annotations

import math

import numpy as np
from vision_msgs.msg import Detection2D, Detection2DArray

from scorehoi_node.core.objects.classes import COCO80, PERSON_CLASS
from scorehoi_node.core.types import Detections, ObjectDetection, PersonDetection



def class_name_of(class_id: str) -> str:
    """vision_msgs class_id -> COCO class name ("0" -> "person", "cup" -> "cup", "" -> "unknown").
    """
    text = str(class_id).strip()
    try:
        value = float(text)
    except ValueError:
        return text.lower() or "unknown"
    if value.is_integer() and 0 <= int(value) < len(COCO80):
        return COCO80[int(value)]
    return text


def bbox_to_xyxy(det: Detection2D) -> np.ndarray:
    """BoundingBox2D (centre, size, theta [rad]) -> (4,) float64 [u_min, v_min, u_max, v_max] px."""
    b = det.bbox
    cx, cy = float(b.center.position.x), float(b.center.position.y)
    hw, hh = 0.5 * abs(float(b.size_x)), 0.5 * abs(float(b.size_y))
    th = float(b.center.theta)
    if th != 0.0 and math.isfinite(th):
        c, s = abs(math.cos(th)), abs(math.sin(th))
        hw, hh = hw * c + hh * s, hw * s + hh * c
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], dtype=np.float64)


def detections_from_msg(msg: Detection2DArray, *, min_score: float = 0.0,
                        image_size: tuple[int, int] | None = None,
                        detector: str = "external") -> Detections:
    """One Detection2DArray -> `Detections` (no masks, no keypoints).

    Args:
        msg: the detections of one image (pixels of that image).
        min_score: detections whose best hypothesis scores lower are dropped.
        image_size: (width, height) px to clip boxes to; None leaves them unclipped.
        detector: name recorded in `Detections.detector`.

    Returns:
        Persons and objects in message order. Detections without results, with a non-finite or
        empty box are skipped.
    """
    persons: list[PersonDetection] = []
    objects: list[ObjectDetection] = []
    for det in msg.detections:
        if not det.results:
            continue
        best = max(det.results, key=lambda r: float(r.hypothesis.score))
        score = float(best.hypothesis.score)
        if not math.isfinite(score) or score < min_score:
            continue
        box = bbox_to_xyxy(det)
        if image_size is not None:
            w, h = image_size
            box[[0, 2]] = box[[0, 2]].clip(0, w)
            box[[1, 3]] = box[[1, 3]].clip(0, h)
        if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            continue
        name = class_name_of(best.hypothesis.class_id)
        score = min(max(score, 0.0), 1.0)
        if name == PERSON_CLASS:
            persons.append(PersonDetection(
                keypoints_2d=np.zeros((0, 2)), keypoint_scores=np.zeros(0), keypoints_3d=None,
                keypoint_layout="none", box=box, score=score, mask=None))
        else:
            objects.append(ObjectDetection(class_name=name, box=box, score=score, mask=None))
    return Detections(persons=persons, objects=objects, detector=detector)
