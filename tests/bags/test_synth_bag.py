"""Synthetic bag: write -> read equality, one stamp per frame, GT that lands on the person."""

from __future__ import annotations

import numpy as np
import pytest

from scorehoi_node.bags.io import bag_topics, read_messages
from scorehoi_node.bags.synth_bag import (DEPTH_TOPIC, FRAME_ID, GT_TOPIC, IMAGE_TOPIC,
                                          INFO_TOPIC, TOPICS, frame_stamp_ns, write_synth_bag)
from scorehoi_node.core.bodies import make_body_model
from scorehoi_node.core.objects import load_library
from scorehoi_node.core.synth.camera import CameraSampler
from scorehoi_node.core.synth.frames import PERSON_ID, SynthContext, synth_frames
from scorehoi_node.core.synth.render import Renderer
from scorehoi_node.ros import conversions as conv
from tests.core.synth.test_frames import fixture_sequences

N = 3


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    body = make_body_model("anny")
    context = SynthContext.from_body(body, load_library())
    renderer = Renderer(200, 150)
    sampler = CameraSampler(width=200, height=150, back_view_prob=0.0)
    frames = list(synth_frames(N, 3, sequences=fixture_sequences(body, context.library),
                               context=context, renderer=renderer, sampler=sampler, seq_len=2))
    renderer.close()
    path = tmp_path_factory.mktemp("synth") / "bag"
    info = write_synth_bag(path, iter(frames), context)
    return path, info, frames, context


def test_topics_counts_and_types(written):
    path, info, _, _ = written
    assert info.frames == N and info.path == path
    assert bag_topics(path) == {
        IMAGE_TOPIC: ("sensor_msgs/msg/Image", N), INFO_TOPIC: ("sensor_msgs/msg/CameraInfo", N),
        DEPTH_TOPIC: ("sensor_msgs/msg/Image", N),
        GT_TOPIC: ("scorehoi_msgs/msg/HumanObjectInteractionArray", N)}
    assert (path / "metadata.yaml").is_file() and list(path.glob("*.mcap"))


def test_messages_equal_frames_with_one_stamp_per_frame(written):
    path, _, frames, _ = written
    by_topic: dict[str, list] = {t: [] for t in TOPICS}
    for topic, _, t, msg in read_messages(path):
        assert conv.stamp_to_ns(msg.header.stamp) == t
        assert msg.header.frame_id == FRAME_ID
        by_topic[topic].append((t, msg))
    for i, frame in enumerate(frames):
        stamps = {by_topic[topic][i][0] for topic in TOPICS}
        assert stamps == {frame_stamp_ns(i)}
        assert np.array_equal(conv.image_to_rgb(by_topic[IMAGE_TOPIC][i][1]), frame.rgb)
        depth = conv.depth_to_metres(by_topic[DEPTH_TOPIC][i][1])
        assert np.array_equal(depth, frame.depth, equal_nan=True)
        cam = conv.camera_info_to_intrinsics(by_topic[INFO_TOPIC][i][1])
        assert np.allclose(cam.K, frame.camera.K) and (cam.width, cam.height) == (200, 150)
    assert frame_stamp_ns(1) - frame_stamp_ns(0) == round(1e9 / 30)


def test_ground_truth_message_decodes_and_lands_on_the_person(written):
    path, _, frames, context = written
    msgs = [m for _, _, _, m in read_messages(path, topics=[GT_TOPIC])]
    for frame, msg in zip(frames, msgs):
        assert len(msg.interactions) == 1
        gt = msg.interactions[0]
        assert gt.body_model == "anny" and list(gt.joint_names) == list(context.joint_names)
        joints = np.array([[p.x, p.y, p.z] for p in gt.joint_positions])
        assert np.allclose(joints, frame.human_joints, atol=1e-5)
        uv = np.floor(frame.camera.project(joints)).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 200) & (uv[:, 1] >= 0) & (uv[:, 1] < 150)
        assert inside.all()
        assert np.mean(frame.mask[uv[:, 1], uv[:, 0]] == PERSON_ID) >= 0.8
        # root pose: pelvis position + camera-frame root rotation (also joint_rotations[0])
        root = gt.root_pose
        assert np.allclose([root.position.x, root.position.y, root.position.z], joints[0], atol=1e-6)
        q = gt.joint_rotations[0]
        assert np.allclose([q.x, q.y, q.z, q.w], [root.orientation.x, root.orientation.y,
                                                  root.orientation.z, root.orientation.w])
        assert np.allclose(gt.shape, frame.scene.shape)
        assert gt.has_object and gt.object_template == frame.scene.object_id == "mug"
        assert gt.object_class == "cup"
        p = gt.object_pose.position
        assert np.allclose([p.x, p.y, p.z], frame.object_transl, atol=1e-5)
        assert len(gt.contacts) == int(frame.scene.contact_labels.sum()) > 0
        for c in gt.contacts:
            assert c.probability == 1.0 and c.body_part.startswith("right_")
            v = frame.human_vertices[c.human_vertex_index]
            assert np.allclose([c.human_point.x, c.human_point.y, c.human_point.z], v, atol=1e-5)
            gap = np.linalg.norm(v - [c.object_point.x, c.object_point.y, c.object_point.z])
            assert abs(gap - abs(c.distance)) < 5e-3
        assert gt.penetration_depth == pytest.approx(frame.penetration_depth, abs=1e-6)
        assert gt.refinement == "ground_truth"
