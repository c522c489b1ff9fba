"""`scorehoi eval BAG --out DIR --via-node`: the node as its own process, the bag on real topics,
its outputs recorded and scored; every frame accounted for; a robot's bag (standard types only,
sqlite3, other topic names) works too."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from scorehoi_node.bags import read_messages
from scorehoi_node.bags.io import bag_topics
from scorehoi_node.ros import conversions as conv

pytestmark = pytest.mark.slow
NS = "/scorehoi_eval"


def _cli(*args, timeout=900):
    res = subprocess.run([sys.executable, "-m", "scorehoi_node.cli", *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def synth_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "run"
    # one frame per sequence: every frame has its own camera (intrinsics change per frame)
    _cli("synth", "--out", out, "--frames", "3", "--seed", "4", "--seq-len", "1")
    return out / "bag"


def test_eval_via_node_scores_the_recording_like_the_pipeline(synth_bag, tmp_path):
    _cli("eval", synth_bag, "--out", tmp_path / "node", "--via-node", "--refine", "fast")
    m = json.loads((tmp_path / "node" / "metrics.json").read_text())
    assert m["via_node"] is True and m["refine"] == "fast" and m["pacing"] == "flow"
    assert m["frames_in"] == 3 and m["frames_out"] == 3 and m["dropped"] == {}
    assert m["node_counters"]["frames_in"] == 3 and m["node_counters"]["frames_out"] == 3
    assert m["latency_ms"]["median"] > 0 and m["fps"] > 0
    # the recording holds exactly one answer per input image, with its stamp
    rec = tmp_path / "node" / "recording"
    topics = bag_topics(rec)
    assert topics[f"{NS}/scorehoi/interactions"] == ("scorehoi_msgs/msg/HumanObjectInteractionArray", 3)
    assert topics[f"{NS}/scorehoi/markers"][1] == 3 and "/diagnostics" in topics
    in_stamps = [conv.stamp_to_ns(msg.header.stamp)
                 for _, _, _, msg in read_messages(synth_bag, ["/camera/image_raw"])]
    out_stamps = [conv.stamp_to_ns(msg.header.stamp) for _, _, _, msg in
                  read_messages(rec, [f"{NS}/scorehoi/interactions"])]
    assert out_stamps == in_stamps
    # the same bag in-process: the recording scores like the pipeline's own results — each
    # frame processed with its own camera_info and depth image (a replay that let the node
    # fall back to the previous frame's camera_info scored differently from run to run)
    assert not any(k.startswith("ignored_") for k in m["node_counters"]), m["node_counters"]
    _cli("eval", synth_bag, "--out", tmp_path / "inproc", "--refine", "fast")
    ref = json.loads((tmp_path / "inproc" / "metrics.json").read_text())
    assert ref["frames_with_person"] == m["frames_with_person"] >= 1
    for key in ("cd_human_cm", "pelvis_error_cm", "cd_object_cm", "penetration_cm"):
        if np.isnan(ref[key]):
            assert np.isnan(m[key]), key
        else:  # the messages carry float32/float64 values of the same estimate
            assert m[key] == pytest.approx(ref[key], abs=0.05), key
    rows = list(csv.DictReader(open(tmp_path / "node" / "frames.csv")))
    assert len(rows) == 3 and float(rows[0]["latency_ms"]) > 0 and float(rows[0]["node_ms"]) > 0
    # the report and its pictures
    report = (tmp_path / "node" / "report.md").read_text()
    for name in ("metrics_distributions.png", "metrics_per_frame.png", "markers.png",
                 "overlay_0000.png", "view3d_0000.png"):
        assert f"]({name})" in report, name
        assert (tmp_path / "node" / name).stat().st_size > 10_000, name
    assert "replayed through the node" in report and "| CD human [cm] |" in report


def _standard_bag(path, person_rgb):
    """A robot's bag: sqlite3, standard types only, its own topic names, written by rosbags.
    Frames: 0 before any camera_info, 1 a yuv422 image (not supported), 2-3 valid."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image = ts.types["sensor_msgs/msg/Image"]
    CameraInfo = ts.types["sensor_msgs/msg/CameraInfo"]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    RoI = ts.types["sensor_msgs/msg/RegionOfInterest"]
    h, w = person_rgb.shape[:2]
    f = 0.5 * w / np.tan(np.radians(30))
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as bag:
        img_c = bag.add_connection("/robot/front/color", Image.__msgtype__, typestore=ts)
        info_c = bag.add_connection("/robot/front/info", CameraInfo.__msgtype__, typestore=ts)
        for i in range(4):
            t = 10**9 * (50 + i)
            hdr = Header(stamp=Time(sec=50 + i, nanosec=0), frame_id="front_optical")
            if i >= 1:
                info = CameraInfo(
                    header=hdr, height=h, width=w, distortion_model="plumb_bob",
                    d=np.zeros(5), k=np.array([f, 0, w / 2, 0, f, h / 2, 0, 0, 1.0]),
                    r=np.eye(3).ravel(), p=np.array([f, 0, w / 2, 0, 0, f, h / 2, 0, 0, 0, 1, 0.0]),
                    binning_x=0, binning_y=0,
                    roi=RoI(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
                bag.write(info_c, t - 1000, ts.serialize_cdr(info, CameraInfo.__msgtype__))
            if i == 1:
                img = Image(header=hdr, height=h, width=w, encoding="yuv422", is_bigendian=0,
                            step=2 * w, data=np.zeros(2 * w * h, np.uint8))
            else:
                img = Image(header=hdr, height=h, width=w, encoding="rgb8", is_bigendian=0,
                            step=3 * w, data=np.ascontiguousarray(person_rgb).ravel())
            bag.write(img_c, t, ts.serialize_cdr(img, Image.__msgtype__))


def test_eval_via_node_on_a_robot_bag_with_standard_types(tmp_path, person_640x480):
    bag = tmp_path / "robot_bag"
    _standard_bag(bag, person_640x480)
    out = tmp_path / "ev"
    _cli("eval", bag, "--out", out, "--via-node", "--refine", "none",
         "--image-topic", "/robot/front/color", "--info-topic", "/robot/front/info",
         "--depth-topic", "/robot/front/depth", "--gt-topic", "/robot/none")
    m = json.loads((out / "metrics.json").read_text())
    assert m["frames_in"] == 4 and m["frames_out"] == 2
    assert m["dropped"] == {"no_camera_info": 1, "unsupported_encoding": 1}
    assert m["frames_out"] + sum(m["dropped"].values()) == m["frames_in"]
    assert m["frames_with_person"] == 2
    # without ground truth every metric is undefined, not zero
    assert m["cd_human_cm"] is None and m["frames_scored"]["cd_human_cm"] == 0
    assert (out / "report.md").is_file() and (out / "overlay_0002.png").is_file()
