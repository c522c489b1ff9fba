"""Object candidates at every body anchor: a raycast scene with known geometry (exact answers)
and rendered data-engine frames of each interaction type."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from scorehoi_node.core.estimate.object_candidates import (KEY_JOINTS, BodyAnchors,
                                                           CandidateConfig, depth_candidates,
                                                           detection_candidates,
                                                           find_candidates, frame_candidates,
                                                           person_pixels)
from scorehoi_node.core.synth.frames import OBJECT_ID, PERSON_ID
from scorehoi_node.core.synth.recogniser_data import raycast
from scorehoi_node.core.types import CameraIntrinsics, ObjectDetection
from tests.core.rendered_hoi import rendered_frames

CAM = CameraIntrinsics.from_fov(320, 240, 70.0)
FLOOR_Y = 1.2  # camera 1.2 m above the floor, level (camera y points down)
FLOOR = np.array([0.0, -1.0, 0.0, FLOOR_Y])  # up = -y; height = -y + 1.2


def _box(lo, hi):
    m = o3d.geometry.TriangleMesh.create_box(*(np.subtract(hi, lo)))
    return np.asarray(m.vertices) + lo, np.asarray(m.triangles)


def _sphere(centre, r):
    m = o3d.geometry.TriangleMesh.create_sphere(r, resolution=16)
    return np.asarray(m.vertices) + centre, np.asarray(m.triangles)


def _joints(seat: bool) -> np.ndarray:
    """Key joints of a person at z = 3 m facing the camera (standing, or sitting on a stool)."""
    pel = np.array([0.0, 1.2 - (0.5 if seat else 0.95), 3.05])
    # facing the camera: the person's left is the image's right (+x)
    j = {"pelvis": pel, "chest": pel + [0, -0.45, 0], "left_hip": pel + [0.1, 0, 0],
         "right_hip": pel + [-0.1, 0, 0], "left_elbow": pel + [0.25, -0.25, -0.05],
         "right_elbow": pel + [-0.25, -0.25, -0.05], "left_wrist": pel + [0.35, 0.0, -0.15],
         "right_wrist": pel + [-0.3, 0.0, -0.15]}
    for s, x in (("left", 0.1), ("right", -0.1)):
        knee = pel + ([x, 0.0, -0.45] if seat else [x, 0.45, 0.0])
        j[f"{s}_knee"], j[f"{s}_ankle"] = knee, np.array([x, 1.12, knee[2]])
    return np.array([j[k] for k in KEY_JOINTS])


def _scene(objects, seat=False):
    """Depth, instance ids (0 person, 1 floor, 2 wall, 3.. objects) and anchors."""
    joints = _joints(seat)
    pel = joints[0]
    if seat:  # torso above the seat, thighs forward, shins down to the floor
        person = [_box(pel + [-0.18, -0.7, 0.0], pel + [0.18, 0.05, 0.2]),
                  _box(pel + [-0.18, -0.05, -0.45], pel + [0.18, 0.1, 0.0]),
                  _box([-0.17, pel[1] + 0.1, 2.55], [-0.05, FLOOR_Y, 2.65]),
                  _box([0.05, pel[1] + 0.1, 2.55], [0.17, FLOOR_Y, 2.65])]
    else:
        person = [_box(pel + [-0.18, -0.75, 0.0], pel + [0.18, 0.95, 0.15])]
    floor = (np.array([[-20, FLOOR_Y, 0.1], [20, FLOOR_Y, 0.1], [20, FLOOR_Y, 30],
                       [-20, FLOOR_Y, 30]]), np.array([[0, 1, 2], [0, 2, 3]]))
    wall = _box([-20, -3, 7.0], [20, FLOOR_Y, 7.1])
    merged = _merge(person)
    depth, ids, _ = raycast(CAM, [merged, floor, wall, *objects])
    return depth, ids, BodyAnchors(joints)


def _merge(meshes):
    verts, faces, n = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + n)
        n += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def test_candidates_at_every_anchor_keep_seats_and_floor_objects():
    pel, wrist = _joints(True)[0], _joints(True)[KEY_JOINTS.index("left_wrist")]
    stool = _box([-0.22, pel[1] + 0.1, 2.75], [0.22, FLOOR_Y, 3.2])      # under the thighs
    held = _box(wrist + [0.04, -0.12, -0.1], wrist + [0.24, 0.12, 0.1])  # in the left hand
    ball = _sphere([-0.1, FLOOR_Y - 0.11, 2.42], 0.11)                 # at the right foot
    nearby = _box([1.3, FLOOR_Y - 0.4, 3.0], [1.7, FLOOR_Y, 3.3])     # 1.3 m to the side
    far = _box([-3.0, FLOOR_Y - 0.4, 6.0], [-2.6, FLOOR_Y, 6.3])      # 4.5 m away
    depth, ids, anchors = _scene([stool, held, ball, nearby, far], seat=True)
    found = depth_candidates(depth, CAM, [anchors], exclude=ids == 0, floor_plane=FLOOR)
    by_id = {}
    for c in found:
        inst = np.bincount(ids[c.mask] + 1).argmax() - 1
        by_id[inst] = c
        assert c.person == 0 and 0.0 <= c.score <= 1.0
        assert not (c.mask & (ids == 0)).any()  # never the person's pixels
    assert set(by_id) == {3, 4, 5, 6}, "stool, held box, ball, nearby box; not the far box"
    assert by_id[3].anchor == "seat" and by_id[4].anchor == "hands"
    assert by_id[5].anchor == "feet" and by_id[6].anchor == "floor"
    # the stool, seen in three strips between and beside the legs, is one candidate
    assert sum(((c.mask & (ids == 3)).sum() > 0) for c in found) == 1
    assert (by_id[3].mask & (ids == 3)).sum() >= 0.3 * (ids == 3).sum()
    # the floor object keeps all but its bottom band (floor_band_m + rel * z, ~3 cm)
    for inst in (5, 6):
        assert (by_id[inst].mask & (ids == inst)).sum() >= 0.8 * (ids == inst).sum()
    pts = by_id[6].points
    assert pts.shape[1] == 3 and (-pts[:, 1] + FLOOR_Y).max() == pytest.approx(0.4, abs=0.03)


def test_floor_from_the_ankles_without_a_plane_and_person_assignment():
    ball = _sphere([-0.1, FLOOR_Y - 0.11, 2.82], 0.11)  # touching the right toes
    depth, ids, anchors = _scene([ball])
    other = BodyAnchors(anchors.joints + [2.0, 0.0, 0.0], person=1)  # 2 m to the right
    found = depth_candidates(depth, CAM, [other, anchors], exclude=ids == 0)
    (c,) = [c for c in found if (ids[c.mask] == 3).mean() > 0.9]
    assert c.person == 0 and c.anchor == "feet"


def test_a_table_top_stays_and_a_far_cluster_is_not_a_candidate():
    top = _box([-0.4, FLOOR_Y - 0.76, 2.55], [0.4, FLOOR_Y - 0.72, 2.95])  # at the hands' height
    legs = [_box([x, FLOOR_Y - 0.72, z], [x + 0.05, FLOOR_Y, z + 0.05])
            for x in (-0.38, 0.33) for z in (2.56, 2.89)]
    depth, ids, anchors = _scene([top, *legs])
    found = depth_candidates(depth, CAM, [anchors], exclude=ids == 0, floor_plane=FLOOR)
    table = (ids >= 3)
    best = max(found, key=lambda c: (c.mask & table).sum())
    assert (best.mask & table).sum() >= 0.8 * table.sum() and best.anchor == "hands"
    with pytest.raises(ValueError, match="depth must be"):
        depth_candidates(depth[1:], CAM, [anchors])
    assert depth_candidates(depth, CAM, [], exclude=ids == 0) == []


def test_detections_with_and_without_depth():
    wrist = _joints(False)[KEY_JOINTS.index("left_wrist")]
    held = _box(wrist + [0.04, -0.12, -0.1], wrist + [0.24, 0.12, 0.1])
    depth, ids, anchors = _scene([held])
    obj = ids == 3
    vs, us = np.nonzero(obj)
    box = np.array([us.min() - 4, vs.min() - 4, us.max() + 5, vs.max() + 5], float)
    # a box-only detection with depth: the largest depth-continuous part inside the box
    (c,) = detection_candidates([ObjectDetection("suitcase", box, 0.9)], CAM, [anchors],
                                depth=depth, exclude=ids == 0, floor_plane=FLOOR)
    assert c.source == "box" and c.class_name == "suitcase" and c.anchor == "hands"
    assert (c.mask & obj).sum() >= 0.9 * obj.sum() and (c.mask & ~obj).sum() <= 0.05 * obj.sum()
    np.testing.assert_allclose(c.points[:, 2].min(), wrist[2] - 0.1, atol=0.01)
    # RGB only: the mask is kept and the anchor found in the image
    (m,) = detection_candidates([ObjectDetection("suitcase", box, 0.9, obj)], CAM, [anchors])
    assert m.source == "mask" and m.points is None and m.anchor == "hands" and m.person == 0
    # a detection far from everyone keeps no person
    far = np.zeros_like(obj)
    far[10:30, 10:30] = True
    (n,) = detection_candidates([ObjectDetection("cup", box, 0.9, far)], CAM, [anchors])
    assert n.person is None and n.anchor == "none"
    # with depth, the detection replaces the cluster it covers
    both = find_candidates(CAM, [anchors], depth=depth, exclude=ids == 0, floor_plane=FLOOR,
                           detections=[ObjectDetection("suitcase", box, 0.9, obj)])
    assert sum(((c.mask & obj).sum() > 0.5 * obj.sum()) for c in both) == 1


def test_person_pixels_keep_the_palms_and_config_checks():
    depth, ids, anchors = _scene([])
    body = ids == 0
    near_palm = person_pixels(depth, CAM, [], [], keep_near=anchors.palms(), keep_radius_m=0.25)
    assert not near_palm.any()  # no humans: nothing removed
    with pytest.raises(ValueError, match="min_pixels"):
        CandidateConfig(min_pixels=0)
    with pytest.raises(ValueError, match="hand_radius_m"):
        CandidateConfig(hand_radius_m=0.0)
    with pytest.raises(ValueError, match="joints must be"):
        BodyAnchors(np.zeros((3, 3)))
    assert body.any()


EXPECTED_ANCHORS = {"hold_one_hand": {"hands"}, "carry_box": {"hands"}, "sit": {"seat"},
                    "kick_ball": {"feet", "floor"}, "push_table": {"hands", "seat", "feet"},
                    "nearby": {"floor"}}


@pytest.mark.parametrize("kind", sorted(EXPECTED_ANCHORS))
def test_rendered_interactions_give_an_object_candidate(kind):
    frame, human = rendered_frames()[kind]
    gt = frame.mask == OBJECT_ID

    class Person:  # the detector's mask: the rendered person, as MediaPipe would give it
        mask = frame.mask == PERSON_ID
        keypoint_layout = "none"

    found = frame_candidates(frame.camera, [human], [Person()], depth=frame.depth)
    # the floor comes from the depth, or (carry_box: RANSAC finds no floor plane passing its
    # tests in this frame) from the ankles: "up" is known either way
    assert found.floor_plane is not None or kind == "carry_box"
    assert found.up @ np.array([0.0, -1.0, 0.0]) > np.cos(np.deg2rad(45.0))
    best = max(found.candidates, key=lambda c: (c.mask & gt).sum())
    inter = (best.mask & gt).sum()
    assert inter >= 0.6 * gt.sum(), f"{kind}: {inter} of {gt.sum()} object pixels"
    assert inter >= 0.5 * best.mask.sum()
    assert best.anchor in EXPECTED_ANCHORS[kind] and best.person == 0
