"""Render-free training samples: scenes, cameras and camera-frame ground truth, no images.

Training the diffusion prior needs many (scene, camera) samples but no pixels. `synth_samples`
draws scenes like `synth_frames` and cameras like `sample_view` but builds no light, floor,
wall or colours and renders nothing; the ground truth goes through the same world -> camera
conversion as rendered frames (`frames.camera_ground_truth`). `write_sample_shards` stores
samples as `HOIShard` files; `write_synth_shards` does it all, optionally in several processes.

Frames: world = `synth.scene` (+Y up, floor y = 0); camera = optical (x right, y down,
z forward), metres; pixels (u, v) from the top-left image corner.

Determinism: scene k of seed s always draws from `np.random.default_rng([s, k])` (scene, then
its cameras), so a sample depends only on (seed, scene index, view index): not on how many
scenes are drawn nor on how they are split among workers. With one view per scene, scene k is
the scene and camera `synth_frames(..., seq_len=1)` renders as its frame k.
"""

from __future__ import annotations

import os
import queue as queue_mod
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scorehoi_node.core.synth.camera import CameraPose, CameraSampler
from scorehoi_node.core.synth.frames import SynthContext, camera_ground_truth, sample_camera
from scorehoi_node.core.types import CameraIntrinsics

if TYPE_CHECKING:
    from scorehoi_node.core.data.shards import HOIShard
    from scorehoi_node.core.synth.frames import SynthFrame
    from scorehoi_node.core.synth.generator import SceneGenerator


@dataclass(frozen=True)
class SynthSample:
    """One (scene, camera) training sample: ground truth in the camera optical frame, no image.

    Attributes:
        interaction: one of `scene.INTERACTIONS`.
        body_model: body model name ("anny").
        body_pose_rotmat: (J-1, 3, 3) float32 local joint rotations (frame independent).
        shape: (S,) float32 body shape vector.
        object_id: template id in the object library.
        contact_labels: (C,) bool GT contact of each contact-subset vertex (frame independent).
        sequence: "synth-<seed>-<scene index>", shared by the views of one scene.
        frame_index: the view index within the scene.
        camera: intrinsics.
        pose: world -> camera transform.
        human_joints: (J, 3) float32 joint positions [m]; joint 0 = pelvis.
        root_rotmat: (3, 3) float32 body frame -> camera frame rotation (about the pelvis).
        root_transl: (3,) float32 the body model's translation in the camera frame [m]
            (`BodyModel.forward` convention; anny: the pelvis position).
        object_rotmat: (3, 3) float32 template frame -> camera frame rotation.
        object_transl: (3,) float32 template origin [m].
        floor_plane: (4,) float32 (n, d): n·x + d = 0 on the floor, > 0 above, |n| = 1.
    """

    interaction: str
    body_model: str
    body_pose_rotmat: np.ndarray
    shape: np.ndarray
    object_id: str
    contact_labels: np.ndarray
    sequence: str
    frame_index: int
    camera: CameraIntrinsics
    pose: CameraPose
    human_joints: np.ndarray
    root_rotmat: np.ndarray
    root_transl: np.ndarray
    object_rotmat: np.ndarray
    object_transl: np.ndarray
    floor_plane: np.ndarray

    @property
    def joints_2d(self) -> np.ndarray:
        """(J, 2) float64 projected joints [px]."""
        return self.camera.project(self.human_joints)

    @classmethod
    def from_frame(cls, frame: "SynthFrame") -> "SynthSample":
        """The sample of a rendered frame (drops the images, vertices and contacts)."""
        scene = frame.scene
        return cls(interaction=scene.interaction, body_model=scene.body_model,
                   body_pose_rotmat=scene.body_pose_rotmat, shape=scene.shape,
                   object_id=scene.object_id, contact_labels=scene.contact_labels,
                   sequence=scene.sequence, frame_index=scene.frame_index, camera=frame.camera,
                   pose=frame.pose, human_joints=frame.human_joints,
                   root_rotmat=frame.root_rotmat, root_transl=frame.root_transl,
                   object_rotmat=frame.object_rotmat, object_transl=frame.object_transl,
                   floor_plane=frame.floor_plane)


def synth_samples(n_scenes: int, seed: int, views_per_scene: int = 1, *,
                  generator: "SceneGenerator", context: SynthContext,
                  sampler: CameraSampler = CameraSampler(), worker: int = 0,
                  workers: int = 1, frames_per_scene: int = 1,
                  frame_stride: int = 4) -> Iterator[SynthSample]:
    """Yield `views_per_scene` samples (cameras) of each of `n_scenes` independent scenes.

    Scene k draws from `np.random.default_rng([seed, k])`: `generator.sample(rng)` (which
    redraws rejected scenes itself, like the sequences of `synth_frames`, and raises
    RuntimeError when it finds none), then its cameras one after the other with
    `sample_camera` (the camera draw of `sample_view`). Nothing is rendered.

    Args:
        n_scenes: number of scenes over all workers.
        seed: stream seed; same seed, same samples.
        views_per_scene: cameras per scene (each one sample, `frame_index` = view index).
        generator: draws world-frame scenes (`SceneGenerator`).
        context: joint names and object library of the body model.
        sampler: camera distribution (its image size is the samples' image size).
        worker, workers: yield only scenes k with k % workers == worker (one worker's share).
        frames_per_scene: consecutive mocap frames of the scene's person and object
            (`generator.sample_sequence`, `frame_stride` library frames apart); each frame gets
            `views_per_scene` cameras. Sequences cost much less per frame than new scenes.
    """
    if n_scenes < 0 or views_per_scene < 1:
        raise ValueError(f"need n_scenes >= 0 and views_per_scene >= 1, got {n_scenes}, "
                         f"{views_per_scene}")
    if not 0 <= worker < workers:
        raise ValueError(f"need 0 <= worker < workers, got worker={worker}, workers={workers}")
    for k in range(worker, n_scenes, workers):
        rng = np.random.default_rng([seed, k])
        scenes = ([generator.sample(rng)] if frames_per_scene == 1 else
                  generator.sample_sequence(rng, frames_per_scene, stride=frame_stride))
        for f, scene in enumerate(scenes):
            for v in range(views_per_scene):
                camera, pose = sample_camera(scene, rng, context, sampler)
                gt = camera_ground_truth(scene, pose)
                yield SynthSample(
                    interaction=scene.interaction, body_model=scene.body_model,
                    body_pose_rotmat=scene.body_pose_rotmat, shape=scene.shape,
                    object_id=scene.object_id, contact_labels=scene.contact_labels,
                    sequence=f"synth-{seed}-{k:05d}", frame_index=f * views_per_scene + v,
                    camera=camera, pose=pose, human_joints=gt.human_joints,
                    root_rotmat=gt.root_rotmat, root_transl=gt.root_transl,
                    object_rotmat=gt.object_rotmat, object_transl=gt.object_transl,
                    floor_plane=gt.floor_plane)


def samples_to_shard(samples: Sequence[SynthSample], body_model: str) -> "HOIShard":
    """HOIShard of samples: GT in the camera frame, keypoints_2d = projected joints [px]
    (score 1 inside the image and in front of the camera, else 0)."""
    from scorehoi_node.core.data.shards import HOIShard

    kp = np.stack([s.joints_2d for s in samples]).astype(np.float32)
    z = np.stack([s.human_joints[:, 2] for s in samples])
    w = np.array([s.camera.width for s in samples])[:, None]
    h = np.array([s.camera.height for s in samples])[:, None]
    inside = (z > 0) & (kp[..., 0] >= 0) & (kp[..., 0] < w) & (kp[..., 1] >= 0) & (kp[..., 1] < h)
    return HOIShard(
        body_model=body_model,
        body_pose_rotmat=np.stack([s.body_pose_rotmat for s in samples]),
        shape=np.stack([s.shape for s in samples]),
        root_rotmat=np.stack([s.root_rotmat for s in samples]),
        root_transl=np.stack([s.root_transl for s in samples]),
        object_id=tuple(s.object_id for s in samples),
        object_rotmat=np.stack([s.object_rotmat for s in samples]),
        object_transl=np.stack([s.object_transl for s in samples]),
        camera_K=np.stack([s.camera.K for s in samples]),
        image_size=np.array([[s.camera.width, s.camera.height] for s in samples]),
        sequence=tuple(s.sequence for s in samples),
        frame_index=np.array([s.frame_index for s in samples]),
        contact_labels=np.stack([s.contact_labels for s in samples]),
        keypoints_2d=kp, keypoint_scores=inside.astype(np.float32),
        floor_plane=np.stack([s.floor_plane for s in samples]))


def write_sample_shards(out_dir: str | Path, samples: Iterable[SynthSample], body_model: str,
                        shard_size: int, *, stem: str = "shard") -> list[Path]:
    """Write `samples` (consumed lazily) as HOIShards of `shard_size` samples (the last may be
    smaller) to `out_dir/<stem>-<i:05d>.safetensors`; returns the paths in order.

    `stem` must start with "shard" so `iter_shards` finds the files (e.g. "shard-w03").
    """
    from scorehoi_node.core.data.shards import write_shard

    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if not (stem == "shard" or stem.startswith("shard-")):
        raise ValueError(f"stem must be 'shard' or start with 'shard-', got {stem!r}")
    out_dir = Path(out_dir)
    paths: list[Path] = []
    pending: list[SynthSample] = []

    def flush() -> None:
        if pending:
            path = out_dir / f"{stem}-{len(paths):05d}.safetensors"
            paths.append(write_shard(path, samples_to_shard(pending, body_model)))
            pending.clear()

    for sample in samples:
        pending.append(sample)
        if len(pending) >= shard_size:
            flush()
    flush()
    return paths


# --------------------------------------------------------------------------------------------
# Whole runs, in one or several processes


@dataclass(frozen=True)
class SynthJob:
    """A render-free run: what every worker needs (picklable, for spawned processes).

    Attributes:
        n_scenes: scenes over all workers.
        seed: stream seed.
        views_per_scene: cameras (samples) per scene.
        sampler: camera distribution (image size included).
        shard_size: samples per shard file.
        body_model: body model name (the generator needs "anny").
    """

    n_scenes: int
    seed: int
    views_per_scene: int = 1
    frames_per_scene: int = 1
    sampler: CameraSampler = CameraSampler()
    shard_size: int = 256
    body_model: str = "anny"


@dataclass
class WorkerResult:
    """What one worker did.

    Attributes:
        worker: worker index.
        paths: shard files written, in order.
        scenes: scenes drawn.
        samples: samples written.
        setup_s: seconds to build the body model and generator.
        stats: the generator's accept / reject counters.
    """

    worker: int
    paths: list[Path] = field(default_factory=list)
    scenes: int = 0
    samples: int = 0
    setup_s: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)


def run_worker(job: SynthJob, out_dir: str | Path, worker: int = 0, workers: int = 1,
               on_scene: Callable[[], None] | None = None) -> WorkerResult:
    """One worker's share of `job` (scenes k % workers == worker): builds its own body model,
    context and generator, writes `out_dir/shard-w<worker:02d>-<i:05d>.safetensors`, calls
    `on_scene` after each scene."""
    from scorehoi_node.core.bodies import make_body_model
    from scorehoi_node.core.objects import load_library
    from scorehoi_node.core.synth.generator import SceneGenerator

    t0 = time.perf_counter()
    body = make_body_model(job.body_model)
    library = load_library()
    context = SynthContext.from_body(body, library)
    generator = SceneGenerator(body, library)
    result = WorkerResult(worker=worker, setup_s=time.perf_counter() - t0)

    def tracked() -> Iterator[SynthSample]:
        for sample in synth_samples(job.n_scenes, job.seed, job.views_per_scene,
                                    generator=generator, context=context, sampler=job.sampler,
                                    worker=worker, workers=workers,
                                    frames_per_scene=job.frames_per_scene):
            yield sample
            result.samples += 1
            if sample.frame_index == job.views_per_scene * job.frames_per_scene - 1:
                result.scenes += 1
                if on_scene is not None:
                    on_scene()

    result.paths = write_sample_shards(out_dir, tracked(), body.name, job.shard_size,
                                       stem=f"shard-w{worker:02d}")
    result.stats = dict(generator.stats)
    return result


def _worker_main(job: SynthJob, out_dir: str, worker: int, workers: int, messages) -> None:
    """Entry point of a spawned worker: torch threads = its share of the CPUs; reports
    ("scene", worker, None) per scene, then ("done", worker, WorkerResult) or
    ("error", worker, traceback text)."""
    try:
        import torch

        torch.set_num_threads(max(1, _cpu_count() // workers))
        result = run_worker(job, out_dir, worker, workers,
                            on_scene=lambda: messages.put(("scene", worker, None)))
        messages.put(("done", worker, result))
    except BaseException:  # report everything, the parent raises
        messages.put(("error", worker, traceback.format_exc()))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def write_synth_shards(out_dir: str | Path, job: SynthJob, workers: int = 1,
                       on_scene: Callable[[], None] | None = None) -> list[WorkerResult]:
    """Run `job` writing shards to `out_dir`: in this process when `workers` == 1, else in
    `workers` spawned processes (each builds its own body model and generator and writes its
    own `shard-w<worker>-*` files). `on_scene` is called in this process after every scene.

    The samples do not depend on `workers` (see the module docstring), only how they are
    grouped into files. Returns one result per worker, in worker order.

    Raises:
        RuntimeError: a worker failed (its traceback in the message) or died.
    """
    import multiprocessing as mp

    out_dir = Path(out_dir)
    workers = max(1, min(workers, job.n_scenes))
    if workers == 1:
        return [run_worker(job, out_dir, 0, 1, on_scene)]
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(job, str(out_dir), w, workers, messages),
                         name=f"synth-worker-{w}", daemon=True) for w in range(workers)]
    for p in procs:
        p.start()
    results: dict[int, WorkerResult] = {}
    try:
        while len(results) < workers:
            try:
                kind, worker, payload = messages.get(timeout=1.0)
            except queue_mod.Empty:
                dead = [w for w, p in enumerate(procs)
                        if w not in results and not p.is_alive() and p.exitcode != 0]
                if dead:
                    raise RuntimeError(f"synth worker(s) {dead} died (exit codes "
                                       f"{[procs[w].exitcode for w in dead]})") from None
                continue
            if kind == "scene":
                if on_scene is not None:
                    on_scene()
            elif kind == "done":
                results[worker] = payload
            else:
                raise RuntimeError(f"synth worker {worker} failed:\n{payload}")
    finally:
        for p in procs:
            if p.is_alive() and len(results) < workers:
                p.terminate()
            p.join(timeout=30)
    return [results[w] for w in range(workers)]


def merge_stats(results: Iterable[WorkerResult]) -> dict[str, int]:
    """Sum of the workers' generator counters (accepted_<kind>, rejected_<kind>_<reason>)."""
    total: Counter[str] = Counter()
    for r in results:
        total.update(r.stats)
    return dict(sorted(total.items()))
