"""Write synthetic frames (`core.synth.frames.SynthFrame`) as a rosbag2 with ground truth.

Topics (all messages of a frame share one header: the frame's stamp, `FRAME_ID`):

    /camera/image_raw       sensor_msgs/Image rgb8
    /camera/camera_info     sensor_msgs/CameraInfo
    /camera/depth           sensor_msgs/Image 32FC1, metres (NaN = no surface)
    /scorehoi/ground_truth  scorehoi_msgs/HumanObjectInteractionArray (one interaction,
                            refinement "ground_truth", processing_time 0)

Stamps are deterministic: frame i is stamped `START_S + i / fps`. The GT math (camera-frame
pose, contacts from the template SDF) lives in the core (`ground_truth_interaction`); this module
only builds messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from std_msgs.msg import Header

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.bags.io import BagWriter
from scorehoi_node.core.synth.frames import SynthContext, SynthFrame, ground_truth_interaction
from scorehoi_node.ros.conversions import (depth_to_image, interaction_to_msg,
                                           intrinsics_to_camera_info, rgb_to_image)

FRAME_ID = "camera_color_optical_frame"
START_S = 1_700_000_000
IMAGE_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"
DEPTH_TOPIC = "/camera/depth"
GT_TOPIC = "/scorehoi/ground_truth"
TOPICS = (IMAGE_TOPIC, INFO_TOPIC, DEPTH_TOPIC, GT_TOPIC)


def frame_stamp_ns(index: int, fps: float = 30.0) -> int:
    """Stamp of frame `index` [ns]: START_S + index / fps."""
    return START_S * 1_000_000_000 + round(index * 1e9 / fps)


def header_for(index: int, fps: float = 30.0, frame_id: str = FRAME_ID) -> Header:
    ns = frame_stamp_ns(index, fps)
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    return h


def ground_truth_msg(frame: SynthFrame, context: SynthContext,
                     header: Header) -> HumanObjectInteractionArray:
    """The frame's GT as a HumanObjectInteractionArray (camera frame, `header`)."""
    inter = ground_truth_interaction(frame, context)
    return HumanObjectInteractionArray(header=header,
                                       interactions=[interaction_to_msg(inter, 0.0)])


@dataclass(frozen=True)
class SynthBagInfo:
    """What `write_synth_bag` wrote.

    Attributes:
        path: the rosbag2 directory.
        frames: number of frames (each: one message per topic in `TOPICS`).
    """

    path: Path
    frames: int


def write_synth_bag(out_dir: str | Path, frames: Iterable[SynthFrame], context: SynthContext,
                    *, fps: float = 30.0, frame_id: str = FRAME_ID,
                    storage: str = "mcap") -> SynthBagInfo:
    """Write `frames` into a new rosbag2 directory `out_dir` (must not exist).

    Frames are consumed lazily (a generator renders while the bag is written). Receive times
    equal the header stamps.
    """
    count = 0
    with BagWriter(out_dir, storage=storage) as bag:
        for i, frame in enumerate(frames):
            header = header_for(i, fps, frame_id)
            t = frame_stamp_ns(i, fps)
            bag.write(IMAGE_TOPIC, rgb_to_image(frame.rgb, header), t)
            bag.write(INFO_TOPIC, intrinsics_to_camera_info(frame.camera, header), t)
            bag.write(DEPTH_TOPIC, depth_to_image(frame.depth, header), t)
            bag.write(GT_TOPIC, ground_truth_msg(frame, context, header), t)
            count += 1
    return SynthBagInfo(path=Path(out_dir), frames=count)
