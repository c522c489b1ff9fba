"""Stamp synchronisation of the node's inputs, like `message_filters` ApproximateTime.

ROS-free in its logic: stamps are integers [ns], payloads opaque (the node passes its
messages), the clock is injected (a callable returning seconds), so the rules below are tested
without DDS and without sleeping (`tests/ros/test_sync.py`).

Rules:
- An image waits in a bounded queue (`queue_size`, oldest dropped first) for its side inputs,
  for at most `window_s` after its arrival or after the worker came back for the next frame,
  whichever is later (time the worker spends on the previous frame does not count: the
  executor may not get to run the side input's callback then, e.g. while the worker's
  publishing holds the GIL): the camera_info of its stamp (exact: a
  camera publishes both with one header), and the depth image / external detections nearest
  to its stamp within `tolerance_s` for each topic the node expects (`expects()`: those with
  publishers). Each topic's messages arrive in stamp order, so the wait for a topic ends with
  an exact match or as soon as a message of that topic stamped after the image arrived:
  nothing nearer can come (with no match then, it goes without, e.g. depth at a lower rate).
- The worker takes the NEWEST image that is complete or whose window has expired; older
  images still waiting are dropped (`dropped_superseded`): latest frame wins.
- An image taken without the camera_info of its stamp gets the latest camera_info received
  (`ignored_camera_info_not_in_time`); one without its depth image or detections gets none
  (`ignored_<topic>_not_in_time`). Each is reported for a throttled log line.
- Cameras that do not stamp camera_info like their images (a fixed-rate camera_info): after
  `INFO_SYNC_MISSES` images in a row fell back to the latest camera_info while no camera_info
  arrived with the stamp of any of the last `RECENT_IMAGES` images, images stop waiting for
  theirs (reported once); a camera_info with a recent image's stamp (late or not) turns waiting
  on again. So lost or late camera_infos (a flood, a loaded network) never stop the waiting
  of a camera that stamps them like its images. Until a camera_info has once carried an
  image's stamp, a fallback counts as `camera_info_latest` (an unstamped camera, not a late
  message), as do fallbacks while not waiting. With no camera_info at all yet, images always
  wait their window.
- A static camera (`info_key` given): once `STATIC_INFOS` camera_infos in a row had the same
  intrinsics (`info_key(msg)`: size, K, D, ...), an image whose camera_info has not arrived yet
  takes the latest one at once (`camera_info_latest`) instead of waiting its window for a
  message that can only repeat what the node already has; one camera_info with other
  intrinsics turns waiting on again (a zoom, a switched camera, a bag of changing cameras).
- Image stamps are checked on arrival: a duplicate or older stamp than the newest accepted
  image is skipped (`skipped_duplicate_stamp`, `skipped_out_of_order_stamp`); a jump back by
  more than `STAMP_RESET_S` is a restarted clock (bag loop, simulator reset): accepted,
  counted (`stamp_resets`) and reported; side messages stamped over 1 s after it (the old
  clock's) are dropped, so that they do not end the wait of the new clock's images.

Every image is accounted for: `frames_in` = taken + `dropped_superseded` + `skipped_*` (+ the
few still waiting).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

STAMP_RESET_S = 5.0  # an image stamp this much older than the newest one: a restarted clock
INFO_SYNC_MISSES = 30  # fallbacks in a row to the latest camera_info: stop waiting for one
QUEUE_SIZE = 10  # images waiting for their side inputs
SIDE_QUEUE_SIZE = 20  # messages kept per side input (the last one is the "latest")
RECENT_IMAGES = 100  # image stamps remembered to tell a stamped camera_info from a fixed-rate one
STATIC_INFOS = 30  # camera_infos in a row with the same intrinsics: a static camera
SIDE_INPUTS = ("camera_info", "depth", "detections")


@dataclass(frozen=True)
class SyncedFrame:
    """An image and the side inputs of its stamp, as the worker takes it.

    Attributes:
        stamp_ns: the image's stamp [ns].
        image: the image payload, as given to `add_image`.
        received_s: when the image arrived [s, the synchroniser's clock].
        camera_info: the camera_info of its stamp, else the latest received; None: none yet.
        side: for each side input expected when the frame was taken ("depth", "detections"):
            the message nearest its stamp within the tolerance, or None (none in time).
    """

    stamp_ns: int
    image: Any
    received_s: float
    camera_info: Any
    side: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Waiting:
    stamp_ns: int
    image: Any
    received_s: float


class StampSync:
    """Matches images to their camera_info, depth image and detections by stamp (rules in the
    module docstring). Thread-safe: `add_*` from the executor's callbacks, `take` from one
    worker thread; `close` wakes a waiting `take`.

    Args:
        window_s: how long an image waits for its side inputs after arriving [s].
        tolerance_s: max stamp difference between an image and its depth image/detections [s].
        expects: the side inputs besides camera_info to wait for now (e.g. the topics that have
            publishers); called by `take`.
        clock: seconds, monotonic (default `time.monotonic`).
        report: `report(key, text)` for each event worth a log line (keys: the counter names,
            `camera_info_unstamped`); called outside the lock.
        queue_size: images kept waiting at most.
        info_key: the intrinsics of a camera_info (hashable, its stamp left out), to tell a
            static camera (module docstring); None: always wait for the image's own.
    """

    def __init__(self, window_s: float = 0.2, tolerance_s: float = 0.02,
                 expects: Callable[[], Collection[str]] = lambda: (),
                 clock: Callable[[], float] = time.monotonic,
                 report: Callable[[str, str], None] | None = None,
                 queue_size: int = QUEUE_SIZE,
                 info_key: Callable[[Any], Any] | None = None) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be at least 1")
        self._clock = clock
        self._expects = expects
        self._info_key = info_key
        self._report = report or (lambda key, text: None)
        self._cond = threading.Condition()
        self._images: deque[_Waiting] = deque()
        self._queue_size = queue_size
        self._side: dict[str, OrderedDict[int, Any]] = {k: OrderedDict() for k in SIDE_INPUTS}
        self._counts: Counter[str] = Counter()
        self._closed = False
        self.window_s = window_s
        self.tolerance_s = tolerance_s
        self._reset_state()

    def _reset_state(self) -> None:
        self._images.clear()
        for buf in self._side.values():
            buf.clear()
        self._newest_stamp: int | None = None
        self._free_since: float | None = None  # when the worker came back for a frame
        self._recent_images: deque[int] = deque(maxlen=RECENT_IMAGES)
        self._info_misses = 0
        self._info_matched_once = False
        self._last_info_key: Any = None
        self._same_infos = 0  # camera_infos in a row with the same intrinsics

    def _info_stamped_like_images(self) -> None:
        """A camera_info carried an image's stamp: the camera stamps them alike."""
        self._info_misses = 0
        self._info_matched_once = True

    # -- settings, lifecycle ------------------------------------------------------------------
    def update(self, window_s: float | None = None, tolerance_s: float | None = None) -> None:
        """Change the window / tolerance; applies to the images waiting now."""
        with self._cond:
            if window_s is not None:
                self.window_s = window_s
            if tolerance_s is not None:
                self.tolerance_s = tolerance_s
            self._cond.notify_all()

    def open(self) -> None:
        """Start (again) from empty queues and no stamp history; counters are kept."""
        with self._cond:
            self._reset_state()
            self._closed = False

    def close(self) -> None:
        """Wake a waiting `take` (it returns None, as does every `take` until `open`)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def counts(self) -> dict[str, int]:
        """A snapshot of the counters (frames_in, dropped_superseded, <input>_in, skipped_*,
        ignored_*, camera_info_latest, stamp_resets)."""
        with self._cond:
            return dict(self._counts)

    def waiting(self) -> int:
        """Images waiting now."""
        with self._cond:
            return len(self._images)

    def buffered(self, key: str) -> int:
        """Side messages of `key` kept now."""
        with self._cond:
            return len(self._side[key])

    # -- inputs (never block for long) --------------------------------------------------------
    def add_image(self, stamp_ns: int, image: Any) -> None:
        """An image arrived: queued unless its stamp is a duplicate or out of order."""
        events: list[tuple[str, str]] = []
        with self._cond:
            self._counts["frames_in"] += 1
            if self._accept_stamp(stamp_ns, events):
                self._recent_images.append(stamp_ns)
                if stamp_ns in self._side["camera_info"]:
                    self._info_stamped_like_images()
                self._images.append(_Waiting(stamp_ns, image, self._clock()))
                while len(self._images) > self._queue_size:
                    self._images.popleft()
                    self._counts["dropped_superseded"] += 1
                self._cond.notify_all()
        self._emit(events)

    def add_side(self, key: str, stamp_ns: int, msg: Any) -> None:
        """A camera_info, depth image or detections message arrived (`key` in SIDE_INPUTS)."""
        with self._cond:
            self._counts[f"{key}_in"] += 1
            if key == "camera_info":
                if stamp_ns in self._recent_images:
                    self._info_stamped_like_images()
                self._note_intrinsics(msg)
            buf = self._side[key]
            buf.pop(stamp_ns, None)  # a repeated stamp moves to the end: arrival order
            buf[stamp_ns] = msg
            while len(buf) > SIDE_QUEUE_SIZE:
                buf.popitem(last=False)
            self._cond.notify_all()

    def _accept_stamp(self, stamp: int, events: list) -> bool:
        newest = self._newest_stamp
        if newest is not None and stamp <= newest:
            if newest - stamp <= STAMP_RESET_S * 1e9:
                if stamp == newest:
                    key, text = "skipped_duplicate_stamp", f"image stamp {stamp} ns came before"
                else:
                    key, text = "skipped_out_of_order_stamp", (
                        f"image stamp {stamp} ns is older than the last one ({newest} ns)")
                self._counts[key] += 1
                events.append((key, text))
                return False
            self._counts["stamp_resets"] += 1
            events.append(("stamp_resets", f"image stamps jumped back by "
                           f"{(newest - stamp) / 1e9:.1f} s (clock reset or bag loop); "
                           "continuing from there"))
            for buf in self._side.values():  # the old clock's messages (over 1 s ahead)
                for s in [s for s in buf if s - stamp > 1e9]:
                    del buf[s]
        self._newest_stamp = stamp
        return True

    # -- the worker's side ---------------------------------------------------------------------
    def take(self, timeout_s: float) -> SyncedFrame | None:
        """The newest image that is complete or whose window expired, with its side inputs;
        waits up to `timeout_s` (clock seconds) for one. None on timeout or when closed."""
        events: list[tuple[str, str]] = []
        frame = None
        with self._cond:
            deadline = self._clock() + timeout_s
            if self._free_since is None:
                self._free_since = self._clock()
            while not self._closed:
                now = self._clock()
                frame = self._pick(now, events)
                if frame is not None:
                    self._free_since = None  # busy with it until the next take
                    break
                if now >= deadline:
                    break
                wake = min([deadline] + [self._expiry(w) for w in self._images])
                self._cond.wait(max(wake - now, 0.0))
        self._emit(events)
        return frame

    def _pick(self, now: float, events: list) -> SyncedFrame | None:
        expected = tuple(self._expects())
        keys = expected + (("camera_info",) if self._waits_for_info() else ())
        for i in range(len(self._images) - 1, -1, -1):
            w = self._images[i]
            if now >= self._expiry(w) or all(
                    self._match(k, w.stamp_ns)[1] for k in keys):
                for _ in range(i):
                    self._images.popleft()
                    self._counts["dropped_superseded"] += 1
                return self._assemble(self._images.popleft(), expected, events)
        return None

    def _expiry(self, w: _Waiting) -> float:
        """When `w` stops waiting: its window counts from its arrival or from when the worker
        came back for a frame, whichever is later."""
        return max(w.received_s, self._free_since) + self.window_s

    def _note_intrinsics(self, msg: Any) -> None:
        if self._info_key is None:
            return
        key = self._info_key(msg)
        self._same_infos = self._same_infos + 1 if key == self._last_info_key else 1
        self._last_info_key = key

    def static_camera(self) -> bool:
        """The last `STATIC_INFOS` camera_infos had the same intrinsics (needs `info_key`)."""
        return self._same_infos >= STATIC_INFOS

    def _waits_for_info(self) -> bool:
        if not self._side["camera_info"]:
            return True
        return self._info_misses < INFO_SYNC_MISSES and not self.static_camera()

    def _match(self, key: str, stamp: int) -> tuple[Any, bool]:
        """(the `key` message for `stamp` or None, whether no better one can still come).
        camera_info: the exact stamp; others: the nearest within the tolerance."""
        buf = self._side[key]
        tol = 0 if key == "camera_info" else self.tolerance_s * 1e9
        best = min(buf, key=lambda s: abs(s - stamp), default=None)
        msg = buf[best] if best is not None and abs(best - stamp) <= tol else None
        return msg, best == stamp or any(s > stamp for s in buf)

    def _assemble(self, w: _Waiting, expected: tuple[str, ...], events: list) -> SyncedFrame:
        info = self._camera_info_for(w.stamp_ns, events)
        side = {}
        for key in expected:
            side[key] = self._match(key, w.stamp_ns)[0]
            if side[key] is None:
                self._counts[f"ignored_{key}_not_in_time"] += 1
                events.append((f"ignored_{key}_not_in_time", (
                    f"no {key} within {self.tolerance_s} s of stamp {w.stamp_ns} ns arrived "
                    f"within {self.window_s} s; processed without it")))
        return SyncedFrame(w.stamp_ns, w.image, w.received_s, info, side)

    def _camera_info_for(self, stamp: int, events: list):
        """The camera_info of `stamp`, else the latest (counted), else None."""
        infos = self._side["camera_info"]
        info = infos.get(stamp)
        if info is not None:
            return info
        if not infos:
            return None
        if self._waits_for_info() and self._info_matched_once:
            self._counts["ignored_camera_info_not_in_time"] += 1
            events.append(("ignored_camera_info_not_in_time", (
                f"no camera_info with stamp {stamp} ns arrived within {self.window_s} s; "
                "using the latest one")))
        else:
            self._counts["camera_info_latest"] += 1
        self._info_misses += 1
        if self._info_misses == INFO_SYNC_MISSES:
            events.append(("camera_info_unstamped", (
                f"{INFO_SYNC_MISSES} images in a row without a camera_info of their stamp: "
                "using the latest camera_info without waiting (until one matches again)")))
        return next(reversed(infos.values()))

    def _emit(self, events: list[tuple[str, str]]) -> None:
        for key, text in events:
            self._report(key, text)
