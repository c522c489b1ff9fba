"""Drawing helpers for reports and the demo (image overlays of reconstructions)."""

from __future__ import annotations

import cv2
import numpy as np

from scorehoi_node.core.types import FrameResult, Frame


def draw_result(frame: Frame, result: FrameResult) -> np.ndarray:
    """RGB overlay: detected 2D keypoints (cyan dots), the reconstructed 3D skeleton projected
    through the camera (blue lines) and the estimated contact points (red)."""
    img = frame.rgb.copy()
    for person in result.detections.persons:
        for (u, v), s in zip(person.keypoints_2d, person.keypoint_scores):
            if s > 0.5:
                cv2.circle(img, (int(u), int(v)), 3, (255, 255, 0), -1, cv2.LINE_AA)
    for inter in result.interactions:
        h = inter.human
        uv = frame.camera.project(h.joint_positions)
        for j, p in enumerate(h.parents):
            if p >= 0:
                cv2.line(img, tuple(int(x) for x in uv[p]), tuple(int(x) for x in uv[j]),
                         (40, 140, 255), 3, cv2.LINE_AA)
        if inter.contacts:
            pts = frame.camera.project(np.array([c.human_point for c in inter.contacts]))
            for u, v in pts.astype(int):
                cv2.circle(img, (int(u), int(v)), 2, (255, 40, 40), -1, cv2.LINE_AA)
        pelvis = uv[0].astype(int)
        z = h.root_position[2]
        cv2.putText(img, f"z={z:.2f} m", (int(pelvis[0]) + 6, int(pelvis[1])),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return img
