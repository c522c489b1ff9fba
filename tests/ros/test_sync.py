"""The node's stamp synchroniser without DDS: a fake clock, stamps in ns, opaque payloads."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref

import numpy as np
import pytest

from scorehoi_node.ros.sync import (INFO_SYNC_MISSES, QUEUE_SIZE, SIDE_QUEUE_SIZE, STATIC_INFOS,
                                    STAMP_RESET_S, StampSync)

MS = 1_000_000  # ns
WINDOW = 0.2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Msg:
    """A payload that remembers what it is (and can be weakly referenced)."""

    def __init__(self, kind: str, stamp: int) -> None:
        self.kind, self.stamp = kind, stamp

    def __repr__(self) -> str:
        return f"{self.kind}@{self.stamp}"


class Rig:
    """A synchroniser on a fake clock that expects depth (and optionally detections)."""

    def __init__(self, expects=("depth",), window_s=WINDOW, tolerance_s=0.02,
                 queue_size=QUEUE_SIZE):
        self.clock = Clock()
        self.expects = set(expects)
        self.reports: list[tuple[str, str]] = []
        self.sync = StampSync(window_s=window_s, tolerance_s=tolerance_s,
                              expects=lambda: sorted(self.expects), clock=self.clock,
                              report=lambda k, t: self.reports.append((k, t)),
                              queue_size=queue_size)

    def image(self, stamp: int) -> Msg:
        m = Msg("image", stamp)
        self.sync.add_image(stamp, m)
        return m

    def side(self, key: str, stamp: int) -> Msg:
        m = Msg(key, stamp)
        self.sync.add_side(key, stamp, m)
        return m

    def take(self):
        return self.sync.take(0.0)

    def counts(self) -> dict[str, int]:
        return self.sync.counts()

    def complete(self, stamp: int):
        """Image, camera_info and depth of `stamp`, in that order: taken at once."""
        img, info, depth = self.image(stamp), self.side("camera_info", stamp), self.side(
            "depth", stamp)
        f = self.take()
        assert f is not None and f.image is img and f.camera_info is info
        assert f.side == {"depth": depth}
        return f


@pytest.mark.parametrize("order", list(itertools.permutations(("image", "camera_info", "depth"))))
def test_every_arrival_order_gives_the_frame_its_own_inputs_once_all_arrived(order):
    rig = Rig()
    rig.complete(1000 * MS)  # an earlier frame: a latest camera_info and depth exist
    stamp = 2000 * MS
    sent = {}
    for k, what in enumerate(order):
        sent[what] = rig.image(stamp) if what == "image" else rig.side(what, stamp)
        got = rig.take()
        if k < 2:  # the image is not complete yet (or not there): nothing to take, no fallback
            assert got is None, (order, k)
    assert got is not None, order
    assert got.image is sent["image"] and got.stamp_ns == stamp
    assert got.camera_info is sent["camera_info"] and got.side == {"depth": sent["depth"]}
    assert rig.take() is None  # taken once
    c = rig.counts()
    assert c["frames_in"] == 2 and c["camera_info_in"] == 2 and c["depth_in"] == 2
    assert not any(k.startswith(("ignored_", "skipped_", "dropped_")) for k in c), c
    assert rig.reports == []


def test_depth_is_the_nearest_within_the_tolerance_and_waited_for_until_none_can_be_nearer():
    rig = Rig(tolerance_s=0.02)
    stamp = 5000 * MS
    rig.image(stamp)
    rig.side("camera_info", stamp)
    rig.side("depth", stamp - 30 * MS)  # outside the tolerance
    far = rig.side("depth", stamp - 10 * MS)  # inside, but a nearer one may come
    assert rig.take() is None
    near = rig.side("depth", stamp + 4 * MS)  # nearer, and later: final
    f = rig.take()
    assert f.side["depth"] is near and f.side["depth"] is not far
    # one within the tolerance is final once a later-stamped one arrived (it cannot be nearer)
    rig.image(stamp + 100 * MS)
    rig.side("camera_info", stamp + 100 * MS)
    before = rig.side("depth", stamp + 92 * MS)
    assert rig.take() is None
    rig.side("depth", stamp + 125 * MS)  # outside the tolerance, later
    assert rig.take().side["depth"] is before
    # nothing within the tolerance yet: waits its window, then goes without (counted)
    rig.image(stamp + 200 * MS)
    rig.side("camera_info", stamp + 200 * MS)
    rig.side("depth", stamp + 170 * MS)
    assert rig.take() is None
    rig.clock.now += WINDOW
    f = rig.take()
    assert f.side == {"depth": None} and rig.counts()["ignored_depth_not_in_time"] == 1
    # a depth stamped after the image's stamp + the tolerance arrived (depth at a lower rate
    # than the images): none can still match, so it goes without at once
    rig.image(stamp + 300 * MS)
    rig.side("camera_info", stamp + 300 * MS)
    assert rig.take() is None
    rig.side("depth", stamp + 321 * MS)
    f = rig.take()
    assert f.side == {"depth": None} and rig.counts()["ignored_depth_not_in_time"] == 2


def test_camera_info_is_matched_by_its_exact_stamp_only():
    rig = Rig(expects=())
    info = rig.side("camera_info", 1000 * MS)
    rig.image(1000 * MS)
    assert rig.take().camera_info is info
    rig.side("camera_info", 1033 * MS - 5 * MS)  # within the depth tolerance: not its own
    rig.image(1033 * MS)
    assert rig.take() is None  # still waiting for its own
    rig.clock.now += WINDOW
    assert rig.take().camera_info.stamp == 1028 * MS  # the latest, counted as late
    assert rig.counts()["ignored_camera_info_not_in_time"] == 1
    # the next frame's camera_info is here: this image's own was lost, no use waiting
    rig.image(1066 * MS)
    assert rig.take() is None
    rig.side("camera_info", 1099 * MS)
    assert rig.take().camera_info.stamp == 1099 * MS
    assert rig.counts()["ignored_camera_info_not_in_time"] == 2


def test_window_expiry_falls_back_to_the_latest_camera_info_and_no_depth_counted_and_reported():
    rig = Rig(expects=("depth", "detections"))
    rig.image(1000 * MS)
    rig.side("camera_info", 1000 * MS)
    rig.side("depth", 1000 * MS)
    rig.side("detections", 1000 * MS)
    assert rig.take() is not None
    latest = rig.side("camera_info", 1500 * MS)  # no image of its stamp comes
    img = rig.image(2000 * MS)
    assert rig.take() is None  # the worker is back for a frame: the window runs from now
    rig.clock.now += WINDOW - 0.001
    assert rig.take() is None  # still within its window
    rig.clock.now += 0.001
    f = rig.take()
    assert f.image is img and f.camera_info is latest
    assert f.side == {"depth": None, "detections": None}
    c = rig.counts()
    assert c["ignored_camera_info_not_in_time"] == 1
    assert c["ignored_depth_not_in_time"] == 1 and c["ignored_detections_not_in_time"] == 1
    assert [k for k, _ in rig.reports] == ["ignored_camera_info_not_in_time",
                                          "ignored_depth_not_in_time",
                                          "ignored_detections_not_in_time"]
    assert "no camera_info with stamp 2000000000 ns arrived within 0.2 s" in rig.reports[0][1]
    # a topic without publishers is not waited for, not given, not counted
    rig.expects.clear()
    rig.image(3000 * MS)
    rig.side("camera_info", 3000 * MS)
    f = rig.take()
    assert f is not None and f.side == {}
    assert rig.counts()["ignored_depth_not_in_time"] == 1


def test_no_camera_info_yet_the_image_waits_its_window_then_comes_without_one():
    rig = Rig(expects=())
    img = rig.image(1000 * MS)
    assert rig.take() is None
    rig.clock.now += WINDOW
    f = rig.take()
    assert f.image is img and f.camera_info is None
    assert not any(k.startswith("ignored_") for k in rig.counts())


def test_latest_frame_wins_and_the_older_waiting_images_count_as_superseded():
    rig = Rig(expects=())
    rig.image(1000 * MS)  # never complete
    rig.image(1100 * MS)
    rig.side("camera_info", 1100 * MS)
    last = rig.image(1200 * MS)
    rig.side("camera_info", 1200 * MS)
    f = rig.take()
    assert f.image is last and rig.counts()["dropped_superseded"] == 2
    assert rig.sync.waiting() == 0 and rig.take() is None
    # an older complete image is taken while a newer one still waits; the newer stays queued
    done = rig.image(2000 * MS)
    rig.side("camera_info", 2000 * MS)
    pending = rig.image(2100 * MS)
    assert rig.take().image is done and rig.sync.waiting() == 1
    assert rig.take() is None  # the worker is back
    rig.clock.now += WINDOW  # its window expires: it comes with the latest camera_info
    f = rig.take()
    assert f.image is pending and f.camera_info.stamp == 2000 * MS
    # the newest expired image beats the older expired ones
    for k in range(3):
        rig.image((3000 + 100 * k) * MS)
    assert rig.take() is None
    rig.clock.now += WINDOW
    assert rig.take().stamp_ns == 3200 * MS
    assert rig.counts()["dropped_superseded"] == 4


def test_time_the_worker_spends_on_a_frame_does_not_count_against_the_next_ones_window():
    """While the worker is busy (its publishing holds the GIL), the executor may not run the
    camera_info callback: an image that arrived meanwhile gets its window from when the
    worker is back, not from its arrival."""
    rig = Rig(expects=())
    rig.side("camera_info", 1000 * MS)
    rig.image(1000 * MS)
    assert rig.take() is not None  # the worker is busy with it now
    rig.image(1033 * MS)  # arrives meanwhile; its camera_info is not through yet
    rig.clock.now += 1.0  # the frame took 1 s
    assert rig.take() is None  # back: the waiting image's window starts now
    rig.clock.now += WINDOW / 2
    assert rig.take() is None
    own = rig.side("camera_info", 1033 * MS)
    assert rig.take().camera_info is own
    # and the window still ends: from the arrival when that is later than the worker's return
    rig.clock.now += 1.0
    assert rig.take() is None
    rig.clock.now += 1.0
    rig.image(1066 * MS)
    rig.clock.now += WINDOW - 0.001
    assert rig.take() is None
    rig.clock.now += 0.001
    assert rig.take().camera_info is own
    assert rig.counts()["ignored_camera_info_not_in_time"] == 1


def test_the_queue_is_bounded_and_its_overflow_counted():
    rig = Rig(expects=(), queue_size=4)
    for k in range(15):
        rig.image(k * 10 * MS)
    assert rig.sync.waiting() == 4 and rig.counts()["dropped_superseded"] == 11
    assert rig.take() is None
    rig.clock.now += WINDOW
    assert rig.take().stamp_ns == 140 * MS


def _flood(rig: Rig, rng, n: int, t_end: int) -> list:
    """n messages of every kind stamped within the n ms before `t_end`: images mostly in
    order (a fifth duplicates or out of order), side inputs at random stamps (a few match an
    image, most match none); the worker takes now and then. Weak references to them all."""
    sent = []
    t0 = stamp = t_end - n * MS
    for _ in range(n):
        kind = ["image", "camera_info", "depth", "detections"][rng.integers(4)]
        if kind == "image":
            stamp += MS
            s = stamp if rng.random() < 0.8 else stamp - int(rng.integers(0, 500)) * MS
        else:
            s = int(rng.integers(t0, t_end))
        m = Msg(kind, s)
        if kind == "image":
            rig.sync.add_image(s, m)
        else:
            rig.sync.add_side(kind, s, m)
        sent.append(weakref.ref(m))
        if rng.random() < 0.05:
            rig.clock.now += 0.05
            rig.take()
    return sent


def test_memory_stays_bounded_under_a_flood_of_ten_thousand_messages():
    rig = Rig(expects=("depth", "detections"))
    refs = _flood(rig, np.random.default_rng(0), 10_000, 10**12)
    gc.collect()
    alive = sum(r() is not None for r in refs)
    assert rig.sync.waiting() <= QUEUE_SIZE
    for key in ("camera_info", "depth", "detections"):
        assert rig.sync.buffered(key) <= SIDE_QUEUE_SIZE
    assert alive <= QUEUE_SIZE + 3 * SIDE_QUEUE_SIZE  # everything else was let go
    c = rig.counts()
    assert sum(c[f"{k}_in"] for k in ("camera_info", "depth", "detections")) + c["frames_in"] \
        == 10_000
    taken = c["frames_in"] - rig.sync.waiting() - c["dropped_superseded"] - sum(
        v for k, v in c.items() if k.startswith("skipped_"))
    assert 0 < taken < c["frames_in"]


def test_after_a_flood_of_malformed_and_unmatched_inputs_every_valid_frame_is_complete():
    rig = Rig(expects=("depth",))
    t0 = 10**12
    rng = np.random.default_rng(1)
    _flood(rig, rng, 10_000, t0)
    rig.clock.now += WINDOW
    while rig.take() is not None:  # the worker catches up
        pass
    valid = [t0 + k * 33 * MS for k in range(1, 9)]
    for s in valid:  # junk of every side input at the very stamps of the valid frames
        for key in ("camera_info", "depth"):
            rig.sync.add_side(key, s, Msg("junk", s))
    before = rig.counts()
    orders = list(itertools.permutations(("image", "camera_info", "depth")))
    for s, order in zip(valid, itertools.cycle(orders)):
        sent = {w: rig.image(s) if w == "image" else rig.side(w, s) for w in order}
        f = rig.take()
        assert f is not None and f.image is sent["image"]
        assert f.camera_info is sent["camera_info"] and f.side["depth"] is sent["depth"]
    c = rig.counts()
    for k in c:
        if k.startswith(("ignored_", "skipped_", "dropped_")):
            assert c[k] == before.get(k, 0), k


def test_duplicate_and_out_of_order_stamps_are_skipped_and_a_clock_reset_accepted():
    rig = Rig(expects=())
    t0 = 100_000 * MS
    for s in (t0, t0 + 1000 * MS):
        rig.side("camera_info", s)
        rig.image(s)
        assert rig.take().stamp_ns == s
    rig.image(t0 + 1000 * MS)  # duplicate
    rig.image(t0 + 500 * MS)  # out of order
    assert rig.sync.waiting() == 0 and rig.take() is None
    c = rig.counts()
    assert c["skipped_duplicate_stamp"] == 1 and c["skipped_out_of_order_stamp"] == 1
    assert [k for k, _ in rig.reports] == ["skipped_duplicate_stamp", "skipped_out_of_order_stamp"]
    # also against images still waiting, not only the ones taken
    rig.image(t0 + 2000 * MS)
    rig.image(t0 + 1500 * MS)
    assert rig.sync.waiting() == 1 and rig.counts()["skipped_out_of_order_stamp"] == 2
    rig.clock.now += WINDOW
    assert rig.take().stamp_ns == t0 + 2000 * MS
    # a jump back by more than STAMP_RESET_S: a restarted clock (bag loop), accepted
    back = int(t0 + 2000 * MS - (STAMP_RESET_S + 1) * 1e9)
    rig.side("camera_info", back)
    img = rig.image(back)
    f = rig.take()
    assert f.image is img and f.camera_info.stamp == back
    assert rig.counts()["stamp_resets"] == 1
    assert rig.reports[-1][0] == "stamp_resets" and "jumped back by 6.0 s" in rig.reports[-1][1]
    # and continues from there: the old clock's later stamps do not end the wait for its own
    rig.image(back + 33 * MS)
    assert rig.take() is None
    rig.side("camera_info", back + 33 * MS)
    assert rig.take().camera_info.stamp == back + 33 * MS
    c = rig.counts()  # every image accounted for: 5 taken, 3 skipped, none dropped
    assert c["frames_in"] == 8 and "dropped_superseded" not in c


def test_a_camera_that_does_not_stamp_camera_info_like_its_images_stops_making_them_wait():
    rig = Rig(expects=())
    rig.side("camera_info", 1 * MS)  # fixed-rate camera_info: its own stamps
    stamp = 1000 * MS
    for k in range(INFO_SYNC_MISSES):
        rig.image(stamp)
        assert rig.take() is None, k  # waits its window
        rig.clock.now += WINDOW
        assert rig.take().camera_info.stamp == 1 * MS
        stamp += 33 * MS
    c = rig.counts()
    # a camera that never stamped alike: no late messages, counted apart
    assert c["camera_info_latest"] == INFO_SYNC_MISSES
    assert "ignored_camera_info_not_in_time" not in c
    assert [k for k, _ in rig.reports] == ["camera_info_unstamped"]
    rig.image(stamp)
    assert rig.take().camera_info.stamp == 1 * MS  # no waiting any more
    # one image whose own camera_info is there: waiting again, and a miss is now late
    stamp += 33 * MS
    own = rig.side("camera_info", stamp)
    rig.image(stamp)
    assert rig.take().camera_info is own
    rig.image(stamp + 33 * MS)
    assert rig.take() is None
    rig.clock.now += WINDOW
    assert rig.take().camera_info is own
    assert rig.counts()["ignored_camera_info_not_in_time"] == 1


def test_a_late_camera_info_after_a_match_is_counted_as_late_not_as_unstamped():
    rig = Rig(expects=())
    rig.side("camera_info", 1000 * MS)
    rig.image(1000 * MS)
    rig.take()
    for k in range(INFO_SYNC_MISSES + 2):
        rig.image((2000 + 33 * k) * MS)
        assert (rig.take() is None) == (k < INFO_SYNC_MISSES), k
        rig.clock.now += WINDOW
        if k < INFO_SYNC_MISSES:
            rig.take()
    c = rig.counts()
    assert c["ignored_camera_info_not_in_time"] == INFO_SYNC_MISSES
    assert c["camera_info_latest"] == 2  # taken at once once waiting stopped


def test_window_and_tolerance_change_for_the_images_waiting_now():
    rig = Rig(expects=("depth",))
    rig.side("camera_info", 1000 * MS)
    rig.image(1000 * MS)
    rig.side("depth", 970 * MS)  # outside the tolerance; a nearer one may come
    assert rig.take() is None
    rig.sync.update(tolerance_s=0.05)
    assert rig.take() is None  # inside now, and a nearer one may still come
    rig.clock.now += WINDOW
    assert rig.take().side["depth"].stamp == 970 * MS
    rig.image(2000 * MS)
    assert rig.take() is None
    rig.clock.now += 0.1
    assert rig.take() is None
    rig.sync.update(window_s=0.1)
    assert rig.take().stamp_ns == 2000 * MS


def test_close_wakes_the_waiting_worker_and_open_starts_afresh():
    sync = StampSync(window_s=5.0)  # real clock
    got: list = []
    worker = threading.Thread(target=lambda: got.append(sync.take(timeout_s=30.0)))
    worker.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    sync.close()
    worker.join(5.0)
    assert not worker.is_alive() and got == [None] and time.monotonic() - t0 < 2.0
    sync.add_side("camera_info", 1, "info")
    sync.add_image(1, "image")
    assert sync.take(0.0) is None  # closed: nothing is taken
    sync.open()
    assert sync.waiting() == 0 and sync.buffered("camera_info") == 0  # afresh
    assert sync.counts()["frames_in"] == 1  # counters kept
    sync.add_image(1, "image")  # the stamp history was reset too: not a duplicate
    assert sync.waiting() == 1


def test_a_worker_waiting_in_take_wakes_when_a_frame_completes():
    sync = StampSync(window_s=10.0)  # real clock; far longer than the test needs

    def wait_for_frame(complete) -> object:
        got: list = []
        worker = threading.Thread(target=lambda: got.append(sync.take(timeout_s=30.0)))
        worker.start()
        time.sleep(0.05)
        assert worker.is_alive()  # nothing complete yet
        t0 = time.monotonic()
        complete()
        worker.join(5.0)
        assert not worker.is_alive() and time.monotonic() - t0 < 2.0
        return got[0]

    # its camera_info came first: the image wakes the worker
    sync.add_side("camera_info", 7, "info 7")
    f = wait_for_frame(lambda: sync.add_image(7, "image 7"))
    assert (f.image, f.camera_info) == ("image 7", "info 7")
    # the image came first: its camera_info wakes the worker
    sync.add_image(8, "image 8")
    f = wait_for_frame(lambda: sync.add_side("camera_info", 8, "info 8"))
    assert (f.image, f.camera_info) == ("image 8", "info 8")
    sync.close()


def test_late_or_lost_camera_infos_never_stop_the_waiting_of_a_camera_that_stamps_them():
    """A flood or a loaded network: for many images in a row the camera_info comes after the
    image was taken, or never; each still carries an image's stamp, so images keep waiting."""
    rig = Rig(expects=())
    stamp = 1000 * MS
    rig.side("camera_info", stamp)
    rig.image(stamp)
    rig.take()
    for k in range(2 * INFO_SYNC_MISSES):
        stamp += 33 * MS
        rig.image(stamp)
        assert rig.take() is None, k  # waits for its own
        rig.clock.now += WINDOW
        assert rig.take().camera_info.stamp < stamp
        if k % 3:  # its camera_info comes late (a DDS repair) or, every third, never
            rig.side("camera_info", stamp)
    c = rig.counts()
    assert c["ignored_camera_info_not_in_time"] == 2 * INFO_SYNC_MISSES
    assert "camera_info_latest" not in c
    assert "camera_info_unstamped" not in [k for k, _ in rig.reports]


def test_a_static_camera_stops_waiting_for_its_camera_info_and_a_change_restarts_it():
    """After STATIC_INFOS camera_infos with the same intrinsics, an image whose camera_info is
    late takes the latest one at once; a camera_info with other intrinsics turns waiting on."""
    now = [0.0]
    sync = StampSync(window_s=0.2, clock=lambda: now[0], info_key=lambda m: m["K"])
    stamp = 1_000
    for _ in range(STATIC_INFOS - 1):  # images with their camera_infos: not yet static
        sync.add_side("camera_info", stamp, {"K": 1})
        sync.add_image(stamp, "img")
        assert sync.take(0.0).camera_info == {"K": 1}
        stamp += 1_000
    sync.add_image(stamp, "late")  # its camera_info is late: waits (not static yet)
    assert sync.take(0.0) is None
    sync.add_side("camera_info", stamp, {"K": 1})  # the 30th alike: static from now on
    assert sync.take(0.0).image == "late" and sync.static_camera()
    stamp += 1_000
    sync.add_image(stamp, "no-wait")
    taken = sync.take(0.0)  # no camera_info of its stamp, taken at once with the latest
    assert taken.image == "no-wait" and taken.camera_info == {"K": 1}
    assert sync.counts()["camera_info_latest"] == 1
    sync.add_side("camera_info", stamp + 500, {"K": 2})  # other intrinsics: wait again
    assert not sync.static_camera()
    sync.add_image(stamp + 1_000, "waits")
    assert sync.take(0.0) is None
    now[0] += 0.3  # its window expired: the latest camera_info, counted as ignored
    assert sync.take(0.0).image == "waits"


def test_without_an_info_key_a_camera_never_counts_as_static():
    sync = StampSync(window_s=0.2, clock=lambda: 0.0)
    for stamp in range(1, STATIC_INFOS + 5):
        sync.add_side("camera_info", stamp, {"K": 1})
    assert not sync.static_camera()
    sync.add_image(STATIC_INFOS + 10, "waits")
    assert sync.take(0.0) is None
