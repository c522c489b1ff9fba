"""Keyframe worker: results reach the callback, a newer keyframe replaces a waiting one."""

from __future__ import annotations

import threading

import numpy as np

from scorehoi_node.core.stages.keyframes import KeyframeJob, KeyframeWorker
from scorehoi_node.core.types import CameraIntrinsics, Detections, Frame, FrameResult


def _job(stamp: int) -> KeyframeJob:
    camera = CameraIntrinsics.from_fov(8, 6, 60.0)
    return KeyframeJob(Frame(np.zeros((6, 8, 3), np.uint8), camera, stamp_ns=stamp), [], [])


def test_latest_keyframe_wins_and_every_run_is_reported():
    started, release = threading.Event(), threading.Event()
    results: list[FrameResult] = []
    done = threading.Semaphore(0)

    def refine(job: KeyframeJob) -> FrameResult | None:
        started.set()
        release.wait(10)
        if job.frame.stamp_ns == 3:
            worker.count_failure()
            return None
        return FrameResult(job.frame.stamp_ns, "cam", [], Detections([], [], "k"), {})

    def on_result(result: FrameResult) -> None:
        results.append(result)
        done.release()

    worker = KeyframeWorker(refine, on_result)
    try:
        worker.submit(_job(1))
        assert started.wait(10)  # job 1 is running
        worker.submit(_job(2))
        worker.submit(_job(3))   # replaces the waiting job 2
        release.set()
        assert done.acquire(timeout=10)  # job 1's result; job 3 fails and reports nothing
        for _ in range(100):
            if worker.stats["done"] == 2:
                break
            threading.Event().wait(0.05)
        assert [r.stamp_ns for r in results] == [1]
        assert worker.stats == {"submitted": 3, "replaced": 1, "done": 2, "failed": 1}
    finally:
        worker.stop()
    assert not worker.alive
