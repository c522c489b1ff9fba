"""Keyframe refinement in the background: keyframes (frames on which a person's object came
from the full template search) are refined again with a slower mode (e.g. "paper") in a worker
thread while the frame path goes on. Latest keyframe wins: one waiting job at most."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from scorehoi_node.core.types import FoundObject, Frame, FrameResult, Person


@dataclass(frozen=True)
class KeyframeJob:
    """A keyframe and the person-object pairs to refine again (`FoundObject.person` indexes
    `persons`)."""

    frame: Frame
    persons: list[Person]
    objects: list[FoundObject]


class KeyframeWorker:
    """Runs `refine(job) -> FrameResult | None` on submitted jobs in a daemon thread and hands
    each result to `on_result`. A job submitted while another waits replaces it (counted).

    `stats`: submitted, replaced (dropped for a newer keyframe), done, failed (pairs whose
    refinement failed or raised; `refine` reports them through `count_failure`).
    """

    def __init__(self, refine: Callable[[KeyframeJob], FrameResult | None],
                 on_result: Callable[[FrameResult], None]) -> None:
        self._refine, self._on_result = refine, on_result
        self._cond = threading.Condition()
        self._job: KeyframeJob | None = None
        self._running = True
        self.stats = {"submitted": 0, "replaced": 0, "done": 0, "failed": 0}
        self._thread = threading.Thread(target=self._loop, daemon=True, name="scorehoi-keyframes")
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The worker thread is running."""
        return self._thread.is_alive()

    def submit(self, job: KeyframeJob) -> None:
        with self._cond:
            self.stats["submitted"] += 1
            if self._job is not None:
                self.stats["replaced"] += 1
            self._job = job
            self._cond.notify()

    def count_failure(self) -> None:
        with self._cond:
            self.stats["failed"] += 1

    def stop(self, timeout: float = 60.0) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and self._job is None:
                    self._cond.wait(timeout=0.5)
                if not self._running:
                    return
                job, self._job = self._job, None
            result = self._refine(job)
            with self._cond:
                self.stats["done"] += 1
            if result is not None:
                self._on_result(result)
