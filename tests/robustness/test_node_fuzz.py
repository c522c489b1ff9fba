"""The node process under bulk malformed input and at 3x its capacity, on real DDS topics:
it stays up, counts every rejection on /diagnostics, logs throttled one-line warnings,
answers the next valid frame, keeps latency bounded and memory flat."""

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.core.types import CameraIntrinsics
from scorehoi_node.ros import conversions as conv
from tests.ros.rostest_utils import CameraClient, NodeProcess, make_context

pytestmark = pytest.mark.slow
CAM = CameraIntrinsics.from_fov(640, 480, 60.0)


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Player(CameraClient):
    """Sends the flood; records answer times and the node's counters."""

    def __init__(self, ctx):
        super().__init__(ctx, "scorehoi_fuzzer", queue=100)
        self.rx: dict[int, float] = {}
        self.diag: dict[str, int] = {}
        self.node.create_subscription(HumanObjectInteractionArray, "/scorehoi/interactions",
                                      self._on_hoi, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_hoi(self, msg):
        self.rx.setdefault(conv.stamp_to_ns(msg.header.stamp), time.perf_counter())

    def _on_diag(self, msg):
        for st in msg.status:
            if st.hardware_id == "/scorehoi":
                self.diag = {kv.key: int(kv.value) for kv in st.values}

    @staticmethod
    def header(sec: int) -> Header:
        h = Header(frame_id="fuzz_optical")
        h.stamp.sec = sec
        return h


@pytest.fixture(scope="module")
def node_and_player(tmp_path_factory):
    log = tmp_path_factory.mktemp("fuzz") / "node.log"
    # diagnostics at 5 Hz; warnings throttled to one per reason per 2 s; images wait up to 2 s
    # for their camera_info (generous: the test machine is shared, 2 cores at load up to ~20,
    # and Fast DDS repairs a lost reliable sample only after 0.5-2 s)
    node = NodeProcess(log, extra=["-p", "diagnostics_period_s:=0.2", "-p", "warn_throttle_s:=2.0",
                                   "-p", "refine:=none", "-p", "sync_window_s:=2.0"])
    ctx = make_context()
    p = Player(ctx)
    try:
        assert p.spin(lambda: p.diag.get("publishers_image", 0) > 0
                      and p.diag.get("publishers_camera_info", 0) > 0
                      and p.image_pub.get_subscription_count() > 0, 90), node.log()[-3000:]
        # Fast DDS was seen to drop the first reliable samples for a while after both sides
        # report the match: send camera_infos until the node has one
        info = conv.intrinsics_to_camera_info(CAM, p.header(1))
        for _ in range(100):
            p.info_pub.publish(info)
            if p.spin(lambda: p.diag.get("camera_info_in", 0) > 0, 0.3):
                break
        yield node, p
    finally:
        p.close()
        node.stop()


def _valid(p, sec, person):
    info = conv.intrinsics_to_camera_info(CAM, p.header(sec))
    img = conv.rgb_to_image(person, p.header(sec))
    return info, img


def _malformed(rng, p, sec):
    """One broken (image, camera_info or None) pair, chosen at random."""
    kind = rng.integers(8)
    h = p.header(sec)
    good_info = conv.intrinsics_to_camera_info(CameraIntrinsics.from_fov(8, 6, 60.0), h)
    img = Image(header=h, height=6, width=8, encoding="rgb8", step=24, data=bytes(144))
    if kind == 0:
        img.encoding = str(rng.choice(["yuv422", "bayer_rggb8", "", "16UC3"]))
    elif kind == 1:
        img.step = int(rng.integers(0, 23))
    elif kind == 2:
        img.data = bytes(int(rng.integers(0, 143)))
    elif kind == 3:
        img.height = img.width = 0
        img.data = b""
    elif kind == 4:
        img.height, img.width = 100000, 100000
    elif kind == 5:  # image and camera_info disagree on the size
        good_info = conv.intrinsics_to_camera_info(CAM, h)
    elif kind == 6:
        k = np.array(good_info.k)
        k[int(rng.integers(0, 2)) * 4] = float(rng.choice([np.nan, 0.0, -5.0, np.inf]))
        good_info.k = k
    else:  # no camera_info for it, and an older stamp than the last one
        good_info = None
        img.header.stamp.sec = max(sec - 3, 1)
    return img, good_info


def test_bulk_malformed_input(node_and_player, person_640x480):
    node, p = node_and_player
    info, img = _valid(p, 10, person_640x480)
    p.info_pub.publish(info)
    p.image_pub.publish(img)
    assert p.spin(lambda: conv.stamp_to_ns(img.header.stamp) in p.rx, 60), node.log()[-3000:]
    rss0 = _rss_mb(node.proc.pid)
    rng = np.random.default_rng(0)
    n = 2000
    t0 = time.monotonic()
    for i in range(n):
        bad, bad_info = _malformed(rng, p, 20 + i)
        if bad_info is not None:
            p.info_pub.publish(bad_info)
        p.image_pub.publish(bad)
        # ~300 Hz, ten times a camera: a burst much faster than the node's executor can take
        # in overflows its 10-deep DDS reader queue, which DDS does not report to the node
        p.spin(lambda: False, 0.003)
    # once the node has taken in the flood, the next valid frame is answered
    settled = {}

    def stable():
        done = settled.get("v") == p.diag.get("frames_in")
        settled["v"] = p.diag.get("frames_in")
        return done and p.spin(lambda: False, 0.5) is False

    p.spin(stable, 20)
    # then valid frames, one at a time: every one is answered. The first one's camera_info
    # comes 0.3 s after its image, which waits for it by stamp (the latest camera_info is a
    # flood leftover for 8x6 images: a fixed 50 ms wait lost such frames); the others in a
    # camera's order, camera_info just before its image (the node's executor may take the two
    # in either order)
    for k in range(6):
        info, img = _valid(p, 20 + n + 5 + k, person_640x480)
        if k == 0:
            p.image_pub.publish(img)
            p.spin(lambda: False, 0.3)
            p.info_pub.publish(info)
        else:
            p.info_pub.publish(info)
            p.image_pub.publish(img)
        assert p.spin(lambda: conv.stamp_to_ns(img.header.stamp) in p.rx, 60), (
            k, sorted(p.diag.items()), node.log()[-1500:])
    elapsed = time.monotonic() - t0
    assert node.alive()
    # every image the node took in is accounted for
    # (nearly) every image reached the node, and every one it took in is accounted for
    settled.clear()
    p.spin(stable, 20)

    def accounted(c):
        return c["frames_in"] == c.get("frames_out", 0) + c.get("dropped_superseded", 0) + sum(
            v for k, v in c.items() if k.startswith("skipped_"))

    assert p.spin(lambda: accounted(p.diag), 10), p.diag
    c = p.diag
    assert c["frames_in"] >= 0.97 * (7 + n), c
    skipped = {k: v for k, v in c.items() if k.startswith("skipped_")}
    for reason in ("unsupported_encoding", "bad_step", "bad_data_size", "zero_size",
                   "too_large", "size_mismatch", "invalid_camera_info"):
        assert skipped.get(f"skipped_{reason}", 0) > 0, (reason, c)
    assert skipped.get("skipped_out_of_order_stamp", 0) + skipped.get(
        "skipped_no_camera_info", 0) > 0, c
    # throttled: at most one line per reason per 2 s (+1), each a single line
    log = node.log()
    warnings = [ln for ln in log.splitlines() if "skipped frame:" in ln]
    assert 7 <= len(warnings) <= len(skipped) * (elapsed / 2.0 + 2), len(warnings)
    assert all(ln.count("[WARN]") == 1 for ln in warnings)
    assert _rss_mb(node.proc.pid) - rss0 < 150


def test_overload_at_three_times_capacity(node_and_player, person_640x480):
    node, p = node_and_player
    base = 100_000
    # capacity: a few frames one at a time
    lat = []
    for i in range(3):
        info, img = _valid(p, base + i, person_640x480)
        p.info_pub.publish(info)
        t = time.perf_counter()
        p.image_pub.publish(img)
        assert p.spin(lambda: conv.stamp_to_ns(img.header.stamp) in p.rx, 60)
        lat.append(p.rx[conv.stamp_to_ns(img.header.stamp)] - t)
    period = float(np.median(lat))
    p.spin(lambda: False, 0.5)
    before = dict(p.diag)
    rss0 = _rss_mb(node.proc.pid)
    sent = {}
    n = 30
    for i in range(n):
        info, img = _valid(p, base + 10 + i, person_640x480)
        p.info_pub.publish(info)
        stamp = conv.stamp_to_ns(img.header.stamp)
        sent[stamp] = time.perf_counter()
        p.image_pub.publish(img)
        p.spin(lambda: False, period / 3)  # 3x the node's capacity
    assert p.spin(lambda: p.diag.get("frames_in", 0) - before.get("frames_in", 0) >= n
                  and p.diag.get("frames_out", 0) + p.diag.get("dropped_superseded", 0)
                  - before.get("frames_out", 0) - before.get("dropped_superseded", 0) >= n, 60), \
        (before, p.diag)
    c = p.diag
    out = c["frames_out"] - before["frames_out"]
    dropped = c.get("dropped_superseded", 0) - before.get("dropped_superseded", 0)
    assert out + dropped == n and dropped >= n // 3 and out >= n // 6, (out, dropped)
    # latest frame wins: no queue builds up, every answer is fresh (the answers themselves
    # may reach us after the counters that count them)
    assert p.spin(lambda: sum(s in p.rx for s in sent) >= out, 10), (out, len(p.rx))
    lats = [p.rx[s] - t for s, t in sent.items() if s in p.rx]
    assert len(lats) == out
    # the node's period during the burst (the shared machine's load changes within seconds):
    # a queue of frames would add a period per frame, latest frame wins keeps it to ~2
    during = float(np.median(np.diff(sorted(p.rx[s] for s in sent if s in p.rx))))
    assert max(lats) < 3 * max(period, during) + 0.5, (period, during, sorted(lats)[-5:])
    assert _rss_mb(node.proc.pid) - rss0 < 150
    assert node.alive()
