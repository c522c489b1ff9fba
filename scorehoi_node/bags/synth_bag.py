"""Write synthetic frames (`core.synth.frames.SynthFrame`) as a rosbag2 with ground truth.

Topics (all messages of a frame share one header: the frame's stamp, `FRAME_ID`):

    /camera/image_raw       sensor_msgs/Image rgb8
    /camera/camera_info     sensor_msgs/CameraInfo
    /camera/depth           sensor_msgs/Image 32FC1, metres (NaN = no surface)
    /scorehoi/ground_truth  scorehoi_msgs/HumanObjectInteractionArray (one interaction per
                            person, refinement "ground_truth", processing_time 0)

and, with `instances=True`,

    /scorehoi/ground_truth/instances  sensor_msgs/Image mono8 instance mask: 0 background,
                            2 i + 1 the i-th interaction's person, 2 i + 2 their object

Frames are single-person `SynthFrame`s (one interaction, track id 1) or `CrowdFrame`s (one
interaction per person, in the frame's order, with the person's track id; people without an
object have `has_object` false and no contacts). Stamps are deterministic: frame i is stamped
`START_S + i / fps`. The GT math (camera-frame pose, contacts from the template SDF) lives in
the core (`ground_truth_interaction`); this module only builds messages.
`write_crowd_bag` draws, renders and writes a crowd bag in one call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from scorehoi_msgs.msg import HumanObjectInteractionArray
from scorehoi_node.bags.io import BagWriter
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.crowd import CrowdConfig, CrowdGenerator
from scorehoi_node.core.synth.crowd_frames import CrowdFrame, CrowdTally, crowd_frames
from scorehoi_node.core.synth.frames import SynthContext, SynthFrame, ground_truth_interaction
from scorehoi_node.core.synth.generator import SceneGenerator
from scorehoi_node.core.synth.render import Renderer
from scorehoi_node.ros.conversions import (depth_to_image, interaction_to_msg,
                                           intrinsics_to_camera_info, rgb_to_image)

FRAME_ID = "camera_color_optical_frame"
START_S = 1_700_000_000
IMAGE_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"
DEPTH_TOPIC = "/camera/depth"
GT_TOPIC = "/scorehoi/ground_truth"
TOPICS = (IMAGE_TOPIC, INFO_TOPIC, DEPTH_TOPIC, GT_TOPIC)
INSTANCES_TOPIC = "/scorehoi/ground_truth/instances"


def frame_stamp_ns(index: int, fps: float = 30.0) -> int:
    """Stamp of frame `index` [ns]: START_S + index / fps."""
    return START_S * 1_000_000_000 + round(index * 1e9 / fps)


def header_for(index: int, fps: float = 30.0, frame_id: str = FRAME_ID) -> Header:
    ns = frame_stamp_ns(index, fps)
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    return h


def ground_truth_msg(frame: SynthFrame | CrowdFrame, context: SynthContext,
                     header: Header) -> HumanObjectInteractionArray:
    """The frame's GT as a HumanObjectInteractionArray (camera frame, `header`): one
    interaction per person."""
    if isinstance(frame, CrowdFrame):
        inters = [ground_truth_interaction(p.frame, context, p.track_id) for p in frame.people]
    else:
        inters = [ground_truth_interaction(frame, context)]
    return HumanObjectInteractionArray(header=header,
                                       interactions=[interaction_to_msg(i, 0.0) for i in inters])


def mask_to_image(mask: np.ndarray, header: Header) -> Image:
    """(H, W) uint8 instance mask -> sensor_msgs/Image mono8."""
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    h, w = m.shape
    return Image(header=header, height=h, width=w, encoding="mono8", is_bigendian=0, step=w,
                 data=m.tobytes())


@dataclass(frozen=True)
class SynthBagInfo:
    """What `write_synth_bag` wrote.

    Attributes:
        path: the rosbag2 directory.
        frames: number of frames (each: one message per topic in `TOPICS`).
    """

    path: Path
    frames: int


def write_synth_bag(out_dir: str | Path, frames: Iterable[SynthFrame | CrowdFrame],
                    context: SynthContext, *, fps: float = 30.0, frame_id: str = FRAME_ID,
                    storage: str = "mcap", instances: bool = False) -> SynthBagInfo:
    """Write `frames` into a new rosbag2 directory `out_dir` (must not exist).

    Frames are consumed lazily (a generator renders while the bag is written). Receive times
    equal the header stamps. `instances`: also write each frame's instance mask on
    `INSTANCES_TOPIC`.
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
            if instances:
                bag.write(INSTANCES_TOPIC, mask_to_image(frame.mask, header), t)
            count += 1
    return SynthBagInfo(path=Path(out_dir), frames=count)


@dataclass(frozen=True)
class CrowdBagInfo:
    """What `write_crowd_bag` wrote.

    Attributes:
        path: the rosbag2 directory.
        frames: number of frames.
        seed: the stream's seed.
        config: the crowd distribution.
        seconds: wall time of drawing, rendering and writing (setup excluded) [s].
        cpu_s: CPU time of this process over the same span (all its threads) [s]; on a shared
            machine the load-independent cost.
        setup_s: wall time of loading the body model, objects and renderer [s].
        bytes: size of the bag directory on disk.
        tally: `CrowdTally.summary()` of the frames (people, heights, occlusion, ...).
        rejections: placement and scene-generator counters (accepted / rejected / redrawn).
    """

    path: Path
    frames: int
    seed: int
    config: CrowdConfig
    seconds: float
    cpu_s: float
    setup_s: float
    bytes: int
    tally: dict
    rejections: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready summary (for OUT/synth.json)."""
        n = max(self.frames, 1)
        return {"bag": str(self.path), "frames": self.frames, "seed": self.seed,
                "topics": [*TOPICS, INSTANCES_TOPIC], "seconds": round(self.seconds, 2),
                "cpu_s": round(self.cpu_s, 2), "setup_s": round(self.setup_s, 2),
                "s_per_frame": round(self.seconds / n, 3),
                "cpu_s_per_frame": round(self.cpu_s / n, 3),
                "mb_per_frame": round(self.bytes / n / 1e6, 3), "crowd": self.tally,
                "rejections": self.rejections, "config": _config_dict(self.config)}


def _config_dict(config: CrowdConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()}


def write_crowd_bag(out_dir: str | Path, n_frames: int, seed: int,
                    config: CrowdConfig = CrowdConfig(), *,
                    on_frame: Callable[[CrowdFrame], None] | None = None,
                    fps: float = 30.0, storage: str = "mcap") -> CrowdBagInfo:
    """Draw, render and write `n_frames` crowd frames of `seed` into the new rosbag2 directory
    `out_dir` (with the instance-mask topic); `on_frame` sees every frame after it is
    written (progress bars). Loads the anny body model, the object library and an offscreen
    renderer of the config's image size."""
    t_setup = time.perf_counter()
    body = make_body_model("anny")
    library = load_library()
    context = SynthContext.from_body(body, library)
    generator = CrowdGenerator(SceneGenerator(body, library), config)
    renderer = Renderer(config.width, config.height)
    setup_s = time.perf_counter() - t_setup
    tally = CrowdTally()

    def counted():
        for frame in crowd_frames(n_frames, seed, generator=generator, context=context,
                                  renderer=renderer):
            yield frame
            tally.add(frame)
            if on_frame is not None:
                on_frame(frame)

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        info = write_synth_bag(out_dir, counted(), context, fps=fps, storage=storage,
                               instances=True)
    finally:
        renderer.close()
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    size = sum(f.stat().st_size for f in Path(out_dir).rglob("*") if f.is_file())
    counts = Counter({f"crowd_{k}": v for k, v in generator.stats.items()})
    counts.update({f"person_{k}": v for k, v in generator.generator.stats.items()})
    return CrowdBagInfo(path=info.path, frames=info.frames, seed=seed, config=config,
                        seconds=seconds, cpu_s=cpu_s, setup_s=setup_s, bytes=size,
                        tally=tally.summary(),
                        rejections=dict(sorted(counts.items())))
