"""Keypoint layouts of person detectors: names in model order and the indices the pipeline needs.

A `PersonDetection` names its layout (`keypoint_layout`): "mediapipe33" (MediaPipe Pose) or
"coco17" (COCO / ultralytics pose models).
"""

from __future__ import annotations

import numpy as np

from scorehoi_node.core.types import PersonDetection

#: MediaPipe Pose landmark names, in model order.
MEDIAPIPE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)

#: Keypoint order of COCO-17 (ultralytics pose models).
COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

#: Wrist keypoint indices (left, right) of each keypoint layout.
WRIST_INDICES = {"mediapipe33": (15, 16), "coco17": (9, 10)}


def person_wrists(person: PersonDetection) -> tuple[np.ndarray, np.ndarray]:
    """(2, 2) wrist pixels (left, right) and (2,) scores of a person; (0, 2), (0,) without them."""
    idx = WRIST_INDICES.get(person.keypoint_layout)
    if idx is None or len(person.keypoints_2d) <= max(idx):
        return np.zeros((0, 2)), np.zeros(0)
    return (np.asarray(person.keypoints_2d, np.float64)[list(idx)],
            np.asarray(person.keypoint_scores, np.float64)[list(idx)])
