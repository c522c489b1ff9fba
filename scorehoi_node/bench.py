"""`scorehoi bench --out DIR`: where the time goes, measured side by side in one run.

In-process, on the same frames (a seeded synthetic RGB-D bag, or `--bag`):
  image conversion (sensor_msgs/Image -> numpy), detection, initial estimate (human, object,
  contacts), refinement none / fast / paper (paper on the first frames where `fast` refined,
  so `ratio_paper_over_fast` compares the same frames), message building (interactions,
  markers, TF, joint states) and publishing (CDR serialization, what rclpy does in publish) as
  the node does them (decimated mesh markers serialized from numpy) and, side by side on the
  same results, the earlier way (the full mesh as geometry_msgs/Point objects serialized by
  rclpy); wall and CPU milliseconds (CPU time is what a loaded machine does not inflate);
  the pipeline (refine fast) with one torch thread and with all cores, interleaved.
Across processes: round trips of a 640x480 RGB + depth pair between two fresh processes with
Fast DDS's default builtin transports and with the shipped profile (config/fastdds.xml),
interleaved; then the bag replayed through the node (`scorehoi eval --via-node` machinery,
flow pacing; node and player with the profile unless the environment chose transports):
frame→message latency, the node's own processing time, transport overhead (latency -
processing time), the node's throughput and peak RSS.

Everything lands in `DIR/bench.json`; nothing here asserts a target (the README reports them).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from rclpy.serialization import serialize_message

from scorehoi_node.bags.evaluate import BagFrame, Topics, bag_frames
from scorehoi_node.bags.io import read_messages, resolve_bag
from scorehoi_node.bags.via_node import ReplayOptions, replay_through_node
from scorehoi_node.commands.synth import render_synth_bag
from scorehoi_node.core.config import PipelineConfig
from scorehoi_node.core.pipeline import Pipeline
from scorehoi_node.core.types import Frame
from scorehoi_node.ros import conversions as conv
from scorehoi_node.ros import transport

#: the per-frame stages bench.json reports (stage_ms); `*_full_mesh` the earlier messages
STAGES = ("image_conversion", "detection", "initial_estimate", "refinement_fast",
          "refinement_paper", "message_building", "publish_serialize", "messages_cpu",
          "message_building_full_mesh", "publish_serialize_full_mesh", "messages_cpu_full_mesh")
#: transport probe: rounds x round trips per configuration, interleaved
PROBE_ROUNDS, PROBE_COUNT = 3, 20


def _stats(values) -> dict | None:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not v.size:
        return None
    return {"mean": round(float(v.mean()), 2), "median": round(float(np.median(v)), 2),
            "p95": round(float(np.percentile(v, 95)), 2), "n": int(v.size)}


def _machine(device: str) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "device": device,
            "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip()
                                 for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def run_bench(out: Path, bag: Path | None = None, frames: int = 8, seed: int = 1,
              paper_frames: int = 2, via_node: bool = True, device: str = "auto",
              progress=None) -> dict:
    """Measure and write `out/bench.json`; returns its content. `bag`: a rosbag2 (or a folder
    holding one); None: `frames` seeded synthetic frames rendered into out/frames/bag."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if bag is None:
        bag = out / "frames" / "bag"
        if not bag.exists():
            render_synth_bag(out / "frames", frames, seed, seq_len=frames)
    bag = resolve_bag(bag)
    items = [bf for bf in bag_frames(bag, Topics()) if bf.camera_info is not None][:frames]
    if not items:
        raise ValueError(f"{bag} has no image with a camera_info")
    pipeline = Pipeline(PipelineConfig(refine="fast", device=device))
    # warm-up (graph construction, allocator, first-call caches, the marker mesh decimation
    # once per body model) is not measured; the decimation's one-time cost is reported
    warm = pipeline.step(_frame(items[0]))
    t0 = time.perf_counter()
    if pipeline.body is not None:
        conv.prepare_marker_mesh(pipeline.body)
    decimation_ms = 1e3 * (time.perf_counter() - t0)
    _measure_messages(warm, items[0].image.header.frame_id, pipeline)  # first-call costs
    rows: list[dict] = []
    for bf in items:
        paper_done = sum(bool(r.get("paper_ran")) for r in rows)
        rows.append(_measure_frame(pipeline, bf, paper=paper_done < paper_frames))
        if progress is not None:
            progress()
    threads = _thread_comparison(pipeline, items)
    pipeline.close()
    result = _summary(rows, bag, str(pipeline.device))
    result["marker_decimation_once_ms"] = round(decimation_ms, 1)
    result["torch_threads_fast"] = threads
    if via_node:
        result["transport_probe"] = _transport_probe()
        result["node"] = _node_bench(bag, out / "node_replay", len(rows))
        result["end_to_end_fps_node"] = result["node"]["fps"]
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=float))
    return result


def _frame(bf: BagFrame) -> Frame:
    """The pipeline's Frame of a bag frame (with its depth image when it has one)."""
    depth = conv.depth_to_metres(bf.depth) if bf.depth is not None else None
    return Frame(conv.image_to_rgb(bf.image), conv.camera_info_to_intrinsics(bf.camera_info),
                 bf.stamp_ns, bf.image.header.frame_id, depth)


def _measure_frame(pipeline: Pipeline, bf: BagFrame, paper: bool) -> dict:
    """One frame: conversion, the pipeline with refine none / fast (and `paper` when `paper`
    and `fast` refined it), message building and serialization of the `fast` result [ms]."""
    row: dict = {"stamp_ns": bf.stamp_ns}
    t0 = time.perf_counter()
    rgb = conv.image_to_rgb(bf.image)
    camera = conv.camera_info_to_intrinsics(bf.camera_info)
    depth = conv.depth_to_metres(bf.depth) if bf.depth is not None else None
    row["image_conversion"] = 1e3 * (time.perf_counter() - t0)
    frame = Frame(rgb, camera, bf.stamp_ns, bf.image.header.frame_id, depth)
    for mode in ("none", "fast", "paper"):
        if mode == "paper" and not (paper and row.get("refined")):
            continue
        pipeline.set_refine(mode)
        pipeline.reset()  # the same frame three times: same track each time
        t0 = time.perf_counter()
        result = pipeline.step(frame)
        total = 1e3 * (time.perf_counter() - t0)
        st = result.stage_ms
        refined = any(i.refinement == mode for i in result.interactions)
        if mode == "none":
            row["detection"] = st.get("detect")
            row["initial_estimate"] = sum(st.get(k, 0.0) for k in ("human", "object",
                                                                    "contacts"))
            row["pipeline_none"] = total
        elif mode == "fast":
            row["refined"], row["pipeline_fast"], fast_result = refined, total, result
        else:
            row["paper_ran"] = True
        if mode != "none" and refined:
            row[f"refinement_{mode}"] = st.get("refine")
    row.update(_measure_messages(fast_result, frame.frame_id, pipeline))
    return row


def _thread_comparison(pipeline: Pipeline, items: list[BagFrame]) -> dict:
    """The pipeline with refine `fast` on every frame with 1 torch thread and with all cores,
    interleaved frame by frame: {threads: {wall_ms, cpu_ms, fps}} (the process's torch
    thread count is restored)."""
    before = torch.get_num_threads()
    counts = sorted({1, os.cpu_count() or 1})
    wall: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[float]] = {n: [] for n in counts}
    pipeline.set_refine("fast")
    try:
        for bf in items:
            frame = _frame(bf)
            for n in counts:
                torch.set_num_threads(n)
                pipeline.reset()
                t0, c0 = time.perf_counter(), time.process_time()
                pipeline.step(frame)
                wall[n].append(1e3 * (time.perf_counter() - t0))
                cpu[n].append(1e3 * (time.process_time() - c0))
    finally:
        torch.set_num_threads(before)
    return {str(n): {"wall_ms": _stats(wall[n]), "cpu_ms": _stats(cpu[n]),
                     "fps": round(1e3 / float(np.mean(wall[n])), 3)} for n in counts}


def _measure_messages(result, frame_id: str, pipeline: Pipeline) -> dict:
    """Message building and serialization of one result [ms], as the node does it (markers
    decimated and serialized from numpy) and the earlier way (`_full_mesh`: the full mesh as
    Point objects, serialized by rclpy); `messages_cpu*` the CPU time of both steps."""
    header = conv.Header(frame_id=frame_id)
    planner = (lambda: [conv.result_to_msg(result, header, 0.0),
                        conv.result_to_tf(result, header, "scorehoi"),
                        conv.result_to_joint_states(result, header)])
    ways = {"": lambda: planner() + [conv.result_to_markers_cdr(
                result, header, library=pipeline.library, body=pipeline.body)],
            "_full_mesh": lambda: planner() + [conv.result_to_markers(
                result, header, library=pipeline.library, mesh_faces=0)]}
    row = {}
    for suffix, build in ways.items():
        w0, c0 = time.perf_counter(), time.process_time()
        msgs = build()
        w1, c1 = time.perf_counter(), time.process_time()
        data = [m if isinstance(m, bytes) else serialize_message(m) for m in msgs]
        w2, c2 = time.perf_counter(), time.process_time()
        row[f"message_building{suffix}"] = 1e3 * (w1 - w0)
        row[f"publish_serialize{suffix}"] = 1e3 * (w2 - w1)
        row[f"messages_cpu{suffix}"] = 1e3 * (c2 - c0)
        row[f"publish_bytes{suffix}"] = sum(len(d) for d in data)
    return row


def _transport_probe() -> dict:
    """640x480 RGB + depth round trips between two fresh processes, Fast DDS's default builtin
    transports vs the shipped profile, in interleaved rounds (same load for both)."""
    base = {k: v for k, v in os.environ.items() if k not in transport.USER_TRANSPORT_ENVS}
    envs = {"default": base,
            "profile": {**base, transport.PROFILE_ENV: str(transport.profile_file())}}
    trips: dict[str, list[float]] = {k: [] for k in envs}
    lost = dict.fromkeys(envs, 0)
    for r in range(PROBE_ROUNDS):
        for name in (list(envs) if r % 2 == 0 else list(envs)[::-1]):
            res = transport.probe_round_trips(envs[name], count=PROBE_COUNT)
            trips[name] += res["round_trip_ms"]
            lost[name] += res["lost"]
    out = {k: {"round_trip_ms": _stats(v), "lost": lost[k],
               "p10_ms": round(float(np.percentile(v, 10)), 2) if v else None}
           for k, v in trips.items()}
    out["profile_file"] = str(transport.profile_file())
    if trips["default"] and trips["profile"]:
        out["ratio_default_over_profile_median"] = round(
            float(np.median(trips["default"]) / np.median(trips["profile"])), 2)
    return out


def _summary(rows: list[dict], bag: Path, device: str) -> dict:
    """bench.json's in-process part from the per-frame rows."""
    paired = [(r["refinement_paper"], r["refinement_fast"]) for r in rows
              if r.get("refinement_paper") and r.get("refinement_fast")]
    per_frame = {mode: [r["image_conversion"] + r[f"pipeline_{mode}"] + r["message_building"]
                        + r["publish_serialize"] for r in rows] for mode in ("fast", "none")}
    return {
        "machine": _machine(device),
        "bag": str(bag),
        "frames": len(rows),
        "frames_refined": int(sum(bool(r.get("refined")) for r in rows)),
        "stage_ms": {k: _stats(r.get(k) for r in rows) for k in STAGES},
        "ratio_paper_over_fast": (round(float(np.mean([p for p, _ in paired])
                                              / np.mean([f for _, f in paired])), 2)
                                  if paired else None),
        "ratio_frames": len(paired),
        "end_to_end_fps": round(1e3 / float(np.mean(per_frame["fast"])), 3),
        "end_to_end_fps_refine_none": round(1e3 / float(np.mean(per_frame["none"])), 3),
        "message_bytes": _stats(r["publish_bytes"] for r in rows),
        "message_bytes_full_mesh": _stats(r["publish_bytes_full_mesh"] for r in rows),
        "peak_rss_mb_in_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                        / 1024, 1),
        "per_frame": rows,
    }


def _node_bench(bag: Path, out: Path, frames: int) -> dict:
    """Replay through the node process (refine fast, flow pacing): latency, transport."""
    if out.exists():
        shutil.rmtree(out)
    # the player (this process) and the node get the shipped profile unless the environment
    # chose transports; Fast DDS reads it at this process's first participant, the player's
    transport.use_transport_profile()
    rep = replay_through_node(bag, out, opts=ReplayOptions(overrides={"refine": "fast"}))
    processing = {}
    for _, _, _, msg in read_messages(rep.recording, ["/scorehoi_eval/scorehoi/interactions"]):
        if msg.interactions:
            processing[conv.stamp_to_ns(msg.header.stamp)] = 1e3 * msg.interactions[0].processing_time
    latency = rep.latency_ms()
    overhead = [latency[s] - processing[s] for s in latency if s in processing]
    return {
        "frames_in": rep.frames_in, "frames_out": len(rep.answered_s),
        "fps": round(len(rep.answered_s) / rep.wall_s, 3) if rep.wall_s > 0 else None,
        "latency_ms": _stats(latency.values()),
        "processing_ms": _stats(processing.values()),
        "transport_overhead_ms": _stats(overhead),
        "fastdds": transport.user_transport_choice(os.environ) or "Fast DDS defaults",
        "peak_rss_mb": rep.node_peak_rss_mb,
        "node_counters": rep.node_counts,
    }
