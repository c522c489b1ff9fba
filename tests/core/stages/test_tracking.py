"""Track stage: ids across frames, the largest persons first, tracks age out on empty frames."""

from __future__ import annotations

import numpy as np

from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.stages.tracking import TrackingStage
from scorehoi_node.core.types import Detections, PersonDetection


def _person(box) -> PersonDetection:
    return PersonDetection(keypoints_2d=np.zeros((33, 2)), keypoint_scores=np.ones(33),
                           keypoints_3d=None, keypoint_layout="mediapipe33",
                           box=np.asarray(box, float), score=0.9)


def _frame(*boxes) -> Detections:
    return Detections([_person(b) for b in boxes], [], "test")


def test_largest_first_capped_and_ids_follow_the_boxes():
    stage = TrackingStage(PipelineConfig(max_persons=2))
    small, big, mid = [0, 0, 10, 20], [100, 0, 200, 300], [300, 0, 350, 100]
    first = stage(_frame(small, big, mid))
    assert [tp.detection.box.tolist() for tp in first] == [big, mid]  # largest two
    ids = {tuple(tp.detection.box): tp.track_id for tp in first}
    moved = stage(_frame([302, 2, 352, 102], [104, 0, 204, 300]))  # both moved a little
    assert moved[0].track_id == ids[tuple(big)] and moved[1].track_id == ids[tuple(mid)]


def test_tracks_age_out_on_frames_without_persons():
    stage = TrackingStage(PipelineConfig(track_max_age=2))
    (a,) = stage(_frame([0, 0, 50, 100]))
    for _ in range(3):  # longer than track_max_age without the person
        assert stage(_frame()) == []
    (b,) = stage(_frame([0, 0, 50, 100]))
    assert b.track_id != a.track_id
    stage.update(PipelineConfig(track_max_age=10))
    for _ in range(3):
        stage(_frame())
    (c,) = stage(_frame([0, 0, 50, 100]))
    assert c.track_id == b.track_id
