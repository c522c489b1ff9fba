"""Render-free samples: determinism by seed, camera-frame ground truth identical to rendered
frames', several views of one scene, the shard round trip and `scorehoi synth --no-render`.

Scenes come from the real generator (about 0.4 s each), so the tests draw only a handful.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from scorehoi_node.core.data.shards import concat_shards, iter_shards, read_shard
from scorehoi_node.core.synth.camera import CameraSampler
from scorehoi_node.core.synth.frames import synth_frames
from scorehoi_node.core.synth.generator import SceneGenerator
from scorehoi_node.core.synth.samples import (SynthSample, samples_to_shard, synth_samples,
                                              write_sample_shards)

SAMPLER = CameraSampler(width=320, height=240)
GT_FIELDS = ("human_joints", "root_rotmat", "root_transl", "object_rotmat", "object_transl",
             "floor_plane", "body_pose_rotmat", "shape", "contact_labels")


@pytest.fixture(scope="module")
def generator(body, context):
    return SceneGenerator(body, context.library)


def _samples(generator, context, n=2, seed=5, views=2, **kw):
    return list(synth_samples(n, seed, views, generator=generator, context=context,
                              sampler=SAMPLER, **kw))


@pytest.fixture(scope="module")
def samples(generator, context):
    """2 scenes x 2 views of seed 5."""
    return _samples(generator, context)


def _same(a: SynthSample, b: SynthSample) -> bool:
    return (a.sequence == b.sequence and a.frame_index == b.frame_index
            and a.object_id == b.object_id and a.interaction == b.interaction
            and np.array_equal(a.camera.K, b.camera.K) and np.array_equal(a.pose.R, b.pose.R)
            and np.array_equal(a.pose.t, b.pose.t)
            and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in GT_FIELDS))


def test_same_seed_same_samples_and_workers_split_the_same_stream(samples, generator, context):
    assert [(s.sequence, s.frame_index) for s in samples] == [
        ("synth-5-00000", 0), ("synth-5-00000", 1), ("synth-5-00001", 0), ("synth-5-00001", 1)]
    again = _samples(generator, context)
    assert all(_same(a, b) for a, b in zip(samples, again, strict=True))
    # worker 1 of 2 draws exactly scene 1 of the single-process stream
    assert all(_same(a, b) for a, b in zip(samples[2:], _samples(generator, context, worker=1,
                                                                 workers=2), strict=True))
    other = _samples(generator, context, n=1, seed=6, views=1)[0]
    assert not np.array_equal(other.human_joints, samples[0].human_joints)


def test_ground_truth_equals_the_rendered_frames(generator, context):
    """With one view per scene, sample k is the scene and camera that `synth_frames` renders
    (seq_len 1) as frame k, with the same camera-frame ground truth, bit for bit."""
    ours = _samples(generator, context, n=1, seed=9, views=1)

    class StubRenderer:  # skips the rasteriser; the GT does not depend on the pixels
        def render(self, meshes, camera, pose, lighting, background):
            h, w = camera.height, camera.width
            return SimpleNamespace(rgb=np.zeros((h, w, 3), np.uint8),
                                   depth=np.zeros((h, w), np.float32),
                                   instances=np.zeros((h, w), np.uint8))

    frames = list(synth_frames(1, 9, sequences=generator.sample_sequence, context=context,
                               renderer=StubRenderer(), sampler=SAMPLER, seq_len=1))
    assert _same(ours[0], SynthSample.from_frame(frames[0]))


def test_camera_frame_ground_truth_is_consistent(samples, body, context, tmp_path):
    """The shard's body parameters through the body model reproduce the sample's joints; the
    object pose is a proper rotation that puts the template where the world scene has it."""
    paths = write_sample_shards(tmp_path, samples, body.name, shard_size=8)
    shard = read_shard(paths[0])
    with torch.no_grad():
        out = body(torch.from_numpy(shard.body_pose_rotmat.copy()),
                   torch.from_numpy(shard.shape.copy()),
                   torch.from_numpy(shard.root_rotmat.copy()),
                   torch.from_numpy(shard.root_transl.copy()))
    joints = np.stack([s.human_joints for s in samples])
    assert np.abs(out.joints.numpy() - joints).max() < 1e-4
    for s in samples:
        R = s.object_rotmat.astype(np.float64)
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-5) and abs(np.linalg.det(R) - 1) < 1e-5
        n, d = s.floor_plane[:3], s.floor_plane[3]
        assert abs(np.linalg.norm(n) - 1) < 1e-5 and d > 0.3  # the camera is above the floor
        assert s.human_joints[0, 2] > 1.0  # the pelvis is in front of the camera
        # back in the world: template placed by the sample's pose = the scene's object pose
        template = context.library.by_id(s.object_id)
        world = (template.vertices @ R.T + s.object_transl - s.pose.t) @ s.pose.R
        assert world[:, 1].min() > -0.01  # on or above the floor (y = 0)


def test_views_are_distinct_cameras_of_one_scene(samples):
    a, b = samples[0], samples[1]
    assert a.sequence == b.sequence and a.object_id == b.object_id
    assert np.array_equal(a.body_pose_rotmat, b.body_pose_rotmat)
    assert np.array_equal(a.contact_labels, b.contact_labels)
    assert not np.allclose(a.pose.R, b.pose.R) and not np.allclose(a.root_transl, b.root_transl)

    def invariants(s):  # joint heights above the floor, object-pelvis distance
        height = s.human_joints.astype(np.float64) @ s.floor_plane[:3] + s.floor_plane[3]
        return height, np.linalg.norm(s.object_transl - s.human_joints[0])

    (ha, da), (hb, db) = invariants(a), invariants(b)
    assert np.allclose(ha, hb, atol=1e-4) and abs(da - db) < 1e-4


def test_shards_round_trip(samples, tmp_path):
    paths = write_sample_shards(tmp_path, samples, "anny", shard_size=3, stem="shard-w01")
    assert [p.name for p in paths] == ["shard-w01-00000.safetensors", "shard-w01-00001.safetensors"]
    back = concat_shards(list(iter_shards(tmp_path)))
    want = samples_to_shard(samples, "anny")
    assert len(back) == 4 and back.sequence == want.sequence and back.object_id == want.object_id
    for name in ("body_pose_rotmat", "shape", "root_rotmat", "root_transl", "object_rotmat",
                 "object_transl", "camera_K", "image_size", "frame_index", "contact_labels",
                 "keypoints_2d", "keypoint_scores", "floor_plane"):
        assert np.array_equal(getattr(back, name), getattr(want, name)), name
    kp = np.stack([s.joints_2d for s in samples]).astype(np.float32)
    assert np.array_equal(back.keypoints_2d, kp)
    inside = (kp[..., 0] >= 0) & (kp[..., 0] < 320) & (kp[..., 1] >= 0) & (kp[..., 1] < 240)
    assert np.array_equal(back.keypoint_scores, inside.astype(np.float32))
    assert back.keypoint_scores.mean() > 0.9  # cameras frame the person


def test_cli_no_render_writes_only_shards(tmp_path):
    from typer.testing import CliRunner

    from scorehoi_node.cli import app

    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["synth", "--no-render", "--out", str(out), "--frames", "3",
                                   "--views-per-scene", "2", "--seq-len", "1", "--width", "320", "--height", "240",
                                   "--shard-size", "4", "--workers", "2", "--seed", "5"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert not (out / "bag").exists()
    summary = json.loads((out / "synth.json").read_text())
    assert (summary["scenes"], summary["samples"], summary["workers"]) == (3, 6, 2)
    names = sorted(p.name for p in (out / "shards").iterdir())
    # worker 0: scenes 0 and 2 (4 samples), worker 1: scene 1
    assert names == ["shard-w00-00000.safetensors", "shard-w01-00000.safetensors"]
    shard = concat_shards(list(iter_shards(out / "shards")))
    assert len(shard) == 6 and sorted(set(shard.sequence)) == [f"synth-5-{k:05d}" for k in range(3)]
    assert np.array_equal(shard.image_size, np.tile([320, 240], (6, 1)))
