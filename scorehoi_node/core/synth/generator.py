"""Scene generator: natural poses from motion capture, retargeted to the body model, edited by
interaction-specific IK, objects placed by their signed distance, and every scene validated
against physical plausibility before it is returned.

Pipeline per scene:
1. body shape from the phenotype prior; a mocap frame (CMU) retargeted by aiming bones;
2. the interaction's edits: arm/leg two-bone IK to grasp or support points, torso bends;
3. object placement: a 1-D search along the approach direction puts the object's surface
   exactly at the contact vertices (the template's SDF), floor objects stand on y = 0;
4. the body is lowered onto the floor (lowest foot vertex at y = 0, or the seat carries it);
5. validation (`PlausibilityLimits`): contact gap, penetration, feet on the floor, object
   supported. Failing scenes are rejected and redrawn (counted in `stats`).

People without an object (`NO_OBJECT`, "none") skip steps 2-3 and are validated for the floor
only; they are drawn only when asked for, so the default draw (`INTERACTIONS`) is unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.objects.library import ObjectLibrary
from scorehoi_node.core.objects.template import ObjectTemplate
from scorehoi_node.core.bodies.kinematics import Pose, Skeleton
from scorehoi_node.core.synth.mocap import LIBRARY_JOINTS, MocapLibrary, load_library
from scorehoi_node.core.synth.scene import (ALL_INTERACTIONS, CONTACT_GT_M, INTERACTIONS,
                                            NO_OBJECT, HOIScene)

#: objects each interaction may use
OBJECTS_FOR = {
    "hold_one_hand": ("mug", "bottle", "ball"),
    "hold_two_hands": ("ball", "box"),
    "carry_box": ("box",),
    "lift_box": ("box",),
    "sit": ("stool", "chair"),
    "kick_ball": ("ball",),
    "push_table": ("table",),
    "nearby": ("box", "backpack", "stool", "chair", "ball", "table"),
    NO_OBJECT: (),
}
#: body parts whose contact-subset vertices must touch the object, per interaction
CONTACT_PARTS = {
    "hold_one_hand": None,  # the chosen hand
    "hold_two_hands": ("left_hand", "right_hand"),
    "carry_box": ("left_hand", "right_hand"),
    "lift_box": ("left_hand", "right_hand"),
    "sit": ("hips",),
    "kick_ball": None,  # the kicking foot
    "push_table": ("left_hand", "right_hand"),
    "nearby": (),
    NO_OBJECT: (),
}

#: interactions whose object stands on the floor (the others are held by the person)
_ON_FLOOR = ("sit", "kick_ball", "push_table", "nearby")
# anny-style bone chains (the generator is written against the anny backend's joint set)
_ARM = {s: (f"clavicle.{s}", f"upperarm01.{s}", f"lowerarm01.{s}", f"wrist.{s}") for s in "LR"}
_LEG = {s: (f"upperleg01.{s}", f"lowerleg01.{s}", f"foot.{s}") for s in "LR"}
_HAND = {"L": "left_hand", "R": "right_hand"}
_FOOT = {"L": "left_foot", "R": "right_foot"}
# library joint used as the aim target of each body joint: joint -> (from, to) library joints
_AIM_FROM_MOCAP = {
    "spine05": ("Hips", "Spine1"), "spine03": ("Hips", "Spine1"), "spine01": ("Spine1", "Neck1"),
    "neck01": ("Neck1", "Head"),
    "clavicle.L": ("Spine1", "LeftArm"), "clavicle.R": ("Spine1", "RightArm"),
    "upperarm01.L": ("LeftArm", "LeftForeArm"), "upperarm01.R": ("RightArm", "RightForeArm"),
    "lowerarm01.L": ("LeftForeArm", "LeftHand"), "lowerarm01.R": ("RightForeArm", "RightHand"),
    "upperleg01.L": ("LeftUpLeg", "LeftLeg"), "upperleg01.R": ("RightUpLeg", "RightLeg"),
    "lowerleg01.L": ("LeftLeg", "LeftFoot"), "lowerleg01.R": ("RightLeg", "RightFoot"),
}
_CHILD = {"spine05": "spine03", "spine03": "spine01", "spine01": "neck01", "neck01": "head",
          "clavicle.L": "upperarm01.L", "clavicle.R": "upperarm01.R",
          "upperarm01.L": "lowerarm01.L", "upperarm01.R": "lowerarm01.R",
          "lowerarm01.L": "wrist.L", "lowerarm01.R": "wrist.R",
          "upperleg01.L": "lowerleg01.L", "upperleg01.R": "lowerleg01.R",
          "lowerleg01.L": "foot.L", "lowerleg01.R": "foot.R"}


@dataclass(frozen=True)
class PlausibilityLimits:
    """Acceptance thresholds of generated ground truth (metres).

    Attributes:
        max_contact_gap: every required contact part comes within this of the object surface.
        max_penetration: no human vertex deeper than this inside the object.
        max_foot_float: the lowest foot vertex of a standing person within this of the floor.
        max_object_float: a floor object's lowest point within this of the floor.
        min_nearby_gap: the "nearby" object stays at least this far from the person.
    """

    max_contact_gap: float = 0.01
    max_penetration: float = 0.005
    max_foot_float: float = 0.01
    max_object_float: float = 0.002
    min_nearby_gap: float = 0.10


class SceneRejected(Exception):
    """A drawn scene failed its plausibility checks (the generator redraws)."""


class NoPlausibleScene(RuntimeError):
    """Every try of a draw was rejected (`SceneGenerator.max_tries`)."""


class SceneGenerator:
    """Draws physically plausible HOI scenes.

    Args:
        body: the body model (the anny backend: its joint names are used for IK chains).
        library: object templates.
        mocap: pose library (default: the shipped CMU clips).
        limits: acceptance thresholds.
        max_tries: redraws per scene before giving up with RuntimeError.
    """

    def __init__(self, body: BodyModel, library: ObjectLibrary, mocap: MocapLibrary | None = None,
                 limits: PlausibilityLimits = PlausibilityLimits(), max_tries: int = 30) -> None:
        missing = [j for chain in (*_ARM.values(), *_LEG.values()) for j in chain
                   if j not in body.joint_names]
        if missing:
            raise ValueError(f"SceneGenerator needs the anny joint set; {body.name} lacks {missing}")
        self.body = body
        self.library = library
        self.mocap = mocap or load_library()
        self.limits = limits
        self.max_tries = max_tries
        self.stats: Counter[str] = Counter()
        self._raycast: dict = {}  # template id -> open3d RaycastingScene (canonical frame)
        parts = body.contact_parts()
        self._part_ids = {k: v.numpy() for k, v in parts.items()}
        self._contact_ids = body.contact_vertex_ids.numpy()
        self._contact_part_ids = body.contact_part_ids.numpy()
        j = self.mocap.joints
        ankle_h = np.minimum(j[:, LIBRARY_JOINTS.index("LeftFoot"), 1],
                             j[:, LIBRARY_JOINTS.index("RightFoot"), 1])
        hips_h = j[:, 0, 1]
        # standing-like frames (both hips high, an ankle near the ground) for standing scenes
        self._standing = np.flatnonzero((ankle_h < 0.15) & (hips_h > np.percentile(hips_h, 60)))

    # -- public -----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, interaction: str | None = None) -> HOIScene:
        """One validated scene (interaction drawn uniformly when None)."""
        return self.sample_sequence(rng, 1, interaction)[0]

    def sample_sequence(self, rng: np.random.Generator, n_frames: int,
                        interaction: str | tuple[str, ...] | None = None,
                        stride: int = 1) -> list[HOIScene]:
        """`n_frames` consecutive validated frames: one person, one object and one interaction
        following consecutive mocap frames (`stride` library frames apart, 30 Hz library).

        `interaction`: None draws one of `INTERACTIONS` uniformly on every try, a tuple draws
        from its members the same way, a name fixes it; `NO_OBJECT` ("none") gives a person
        without an object (validated for the floor only). Raises `NoPlausibleScene` after
        `max_tries` rejected tries."""
        choices = (INTERACTIONS if interaction is None else
                   (interaction,) if isinstance(interaction, str) else tuple(interaction))
        unknown = [k for k in choices if k not in ALL_INTERACTIONS]
        if unknown or not choices:
            raise ValueError(f"interaction={interaction!r} is not one of "
                             f"{', '.join(ALL_INTERACTIONS)}")
        for _ in range(self.max_tries):
            kind = choices[rng.integers(len(choices))] if len(choices) > 1 else choices[0]
            params = self._draw_params(rng, kind)
            start = int(self._standing[rng.integers(len(self._standing))])
            frames = [min(start + k * stride, len(self.mocap) - 1) for k in range(n_frames)]
            seq = f"{kind}-{rng.integers(1 << 31):08x}"
            try:
                out = [self._build(kind, params, f, seq, k) for k, f in enumerate(frames)]
            except SceneRejected as e:
                self.stats[f"rejected_{kind}_{e}"] += 1
                continue
            self.stats[f"accepted_{kind}"] += 1
            return out
        raise NoPlausibleScene(f"no plausible scene after {self.max_tries} tries: "
                               f"{dict(self.stats)}")

    # -- drawing ------------------------------------------------------------------------------
    def _draw_params(self, rng: np.random.Generator, kind: str) -> dict:
        gender = float(rng.choice([0.1, 0.9])) if rng.random() < 0.7 else float(rng.uniform())
        shape = np.array([gender, rng.uniform(0.35, 0.75), rng.uniform(0.2, 0.8),
                          rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.85), rng.uniform(0.3, 0.7)])
        objects = OBJECTS_FOR[kind]
        obj = objects[rng.integers(len(objects))] if objects else ""
        return dict(
            shape=shape.astype(np.float32), object_id=obj,
            yaw=rng.uniform(-np.pi, np.pi), place=rng.uniform(-1.5, 1.5, size=2),
            side="L" if rng.random() < 0.5 else "R",
            height=rng.uniform(), forward=rng.uniform(), object_yaw=rng.uniform(-0.6, 0.6),
            bend=rng.uniform(), azimuth=rng.uniform(-np.pi, np.pi),
        )

    # -- one frame ----------------------------------------------------------------------------
    def _build(self, kind: str, prm: dict, frame: int, seq: str, index: int) -> HOIScene:
        shape = torch.from_numpy(prm["shape"])[None]
        rest = self._rest_joints(shape)
        sk = Skeleton(rest, self.body.parents, self.body.joint_names)
        pose = self._retarget(sk, self.mocap.joints[frame])
        # face the drawn yaw: remove the mocap facing, keep its tilt
        fwd = pose.local[0][:, 2]
        heading = np.arctan2(fwd[0], fwd[2])
        pose.local[0] = Rotation.from_euler("y", prm["yaw"] - heading).as_matrix() @ pose.local[0]
        if kind == NO_OBJECT:
            return self._finish_alone(prm, sk, pose, shape, seq, index)
        tmpl = self.library.by_id(prm["object_id"])
        edit = getattr(self, f"_edit_{kind}")
        obj_R, obj_t, required = edit(sk, pose, tmpl, prm, shape)
        return self._finish(kind, prm, sk, pose, shape, tmpl, obj_R, obj_t, required, seq, index)

    def _rest_joints(self, shape: torch.Tensor) -> np.ndarray:
        inp = self.body.rest_inputs(1)
        with torch.no_grad():
            return self.body(inp["body_pose_rotmat"], shape, inp["root_rotmat"],
                             inp["root_transl"]).joints[0].double().numpy()

    def _forward(self, pose: Pose, shape: torch.Tensor) -> np.ndarray:
        """Mesh vertices (V, 3) float64, world frame."""
        local = torch.from_numpy(pose.local.astype(np.float32))
        with torch.no_grad():
            out = self.body(local[None, 1:], shape, local[None, 0],
                            torch.from_numpy(pose.root_transl.astype(np.float32))[None])
        return out.vertices[0].double().numpy()

    def _retarget(self, sk: Skeleton, joints: np.ndarray) -> Pose:
        """Aim the body's bones along the mocap frame's bone directions."""
        lib = {n: joints[i].astype(np.float64) for i, n in enumerate(LIBRARY_JOINTS)}
        left = lib["LeftUpLeg"] - lib["RightUpLeg"]
        up = lib["Spine1"] - lib["Hips"]
        up /= np.linalg.norm(up)
        left = left - (left @ up) * up
        left /= np.linalg.norm(left)
        root = np.stack([left, up, np.cross(left, up)], axis=1)
        pose = Pose(np.tile(np.eye(3), (len(sk.names), 1, 1)), np.zeros(3))
        pose.local[0] = root
        for joint in sk.names[1:]:  # parents precede children
            if joint in _AIM_FROM_MOCAP:
                a, b = _AIM_FROM_MOCAP[joint]
                sk.aim(pose, joint, sk.rest[sk.index[_CHILD[joint]]], lib[b] - lib[a])
        return pose

    # -- geometry helpers ---------------------------------------------------------------------
    def _rest_vertices(self, shape: torch.Tensor) -> np.ndarray:
        inp = self.body.rest_inputs(1)
        with torch.no_grad():
            return self.body(inp["body_pose_rotmat"], shape, inp["root_rotmat"],
                             inp["root_transl"]).vertices[0].double().numpy()

    def _palm(self, sk: Skeleton, pose: Pose, side: str, rest_vertices: np.ndarray) -> np.ndarray:
        """Approximate world centroid of a hand's contact vertices (rigid with the wrist)."""
        w = sk.index[f"wrist.{side}"]
        G, P = sk.fk(pose)
        c = rest_vertices[self._part_ids[_HAND[side]]].mean(0)
        return P[w] + G[w] @ (c - sk.rest[w])

    def _reach(self, sk: Skeleton, pose: Pose, side: str, palm_target: np.ndarray,
               rest_vertices: np.ndarray, pole: np.ndarray, iters: int = 4) -> float:
        """Arm IK putting the palm centroid (not the wrist) on `palm_target`."""
        _, up, low, wrist = _ARM[side]
        err = np.inf
        for _ in range(iters):
            _, P = sk.fk(pose)
            offset = self._palm(sk, pose, side, rest_vertices) - P[sk.index[wrist]]
            sk.two_bone_ik(pose, up, low, wrist, palm_target - offset, pole)
            err = float(np.linalg.norm(self._palm(sk, pose, side, rest_vertices) - palm_target))
            if err < 2e-3:
                break
        return err

    def _object_sdf(self, tmpl: ObjectTemplate, R: np.ndarray, t: np.ndarray,
                    points: np.ndarray) -> np.ndarray:
        """Exact signed distance [m] (negative inside) of world points to the placed template
        (open3d raycasting on the mesh; the SDF grids are for differentiable guidance)."""
        import open3d as o3d

        scene = self._raycast.get(tmpl.id)
        if scene is None:
            mesh = o3d.t.geometry.TriangleMesh()
            mesh.vertex.positions = o3d.core.Tensor(tmpl.vertices.astype(np.float32))
            mesh.triangle.indices = o3d.core.Tensor(tmpl.faces.astype(np.int32))
            scene = self._raycast[tmpl.id] = o3d.t.geometry.RaycastingScene()
            scene.add_triangles(mesh)
        local = ((points - t) @ R).astype(np.float32)
        return scene.compute_signed_distance(o3d.core.Tensor(local)).numpy().astype(np.float64)

    def _slide_to_contact(self, tmpl, R, t, direction, points, gap=0.002, max_travel=0.6,
                          step=0.01):
        """Move the object along `direction` (unit, world) until the closest of `points` sits
        `gap` from its surface: march in `step`s to the first contact, then bisect. Starting in
        contact, it backs off along -direction instead. Returns the new translation."""
        direction = direction / np.linalg.norm(direction)

        def clearance(s: float) -> float:
            return float(self._object_sdf(tmpl, R, t + s * direction, points).min()) - gap

        sgn = 1.0 if clearance(0.0) > 0 else -1.0  # towards contact, or back out of it
        prev = 0.0
        for k in range(1, int(max_travel / step) + 1):
            s = sgn * k * step
            if (clearance(s) > 0) != (sgn > 0):
                break
            prev = s
        else:
            raise SceneRejected("no_contact_on_approach")
        free, touch = (prev, s) if sgn > 0 else (s, prev)  # free side has clearance > 0
        for _ in range(25):
            mid = 0.5 * (free + touch)
            if clearance(mid) > 0:
                free = mid
            else:
                touch = mid
        return t + free * direction

    @staticmethod
    def _yaw(angle: float) -> np.ndarray:
        return Rotation.from_euler("y", angle).as_matrix()

    def _body_frame(self, pose: Pose, sk: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Heading-only body frame: (origin = pelvis, left (3,), forward (3,)) horizontal."""
        _, P = sk.fk(pose)
        fwd = _heading(pose)
        return P[0], np.cross([0.0, 1.0, 0.0], fwd), fwd

    def _bend_torso(self, sk: Skeleton, pose: Pose, angle: float) -> None:
        """Flex the spine forward by `angle` [rad] in total, spread over three joints."""
        for j in ("spine05", "spine03", "spine01"):
            i = sk.index[j]
            pose.local[i] = pose.local[i] @ Rotation.from_euler("x", angle / 3).as_matrix()

    # -- interactions -------------------------------------------------------------------------
    def _edit_hold_one_hand(self, sk, pose, tmpl, prm, shape):
        rv = self._rest_vertices(shape)
        side = prm["side"]
        sign = 1.0 if side == "L" else -1.0
        pelvis, left, fwd = self._body_frame(pose, sk)
        _, P = sk.fk(pose)
        shoulder = P[sk.index[_ARM[side][1]]]
        h = pelvis[1] + 0.05 + prm["height"] * (shoulder[1] - pelvis[1] + 0.15)
        target = (pelvis + sign * (0.12 + 0.08 * prm["forward"]) * left
                  + (0.28 + 0.15 * prm["forward"]) * fwd)
        target[1] = h
        pole = shoulder + sign * 0.3 * left - 0.4 * np.array([0, 1.0, 0]) - 0.2 * fwd
        if self._reach(sk, pose, side, target, rv, pole) > 0.02:
            raise SceneRejected("unreachable")
        palm = self._palm(sk, pose, side, rv)
        inward = -sign * left  # palms face the body's midline
        R = self._yaw(np.arctan2(fwd[0], fwd[2]) + prm["object_yaw"])
        centre_offset = np.array([0.0, tmpl.extent[1] / 2, 0.0])
        t = palm + inward * (0.05 + tmpl.extent[0] / 2) - R @ centre_offset
        hand_v = self._forward(pose, shape)[self._part_ids[_HAND[side]]]
        t = self._slide_to_contact(tmpl, R, t, -inward, hand_v)
        return R, t, (_HAND[side],)

    def _two_hands(self, sk, pose, tmpl, prm, shape, height, clearance):
        """Object held in front with both palms on its left/right sides; its near face
        `clearance` [m] in front of the torso."""
        rv = self._rest_vertices(shape)
        pelvis, left, fwd = self._body_frame(pose, sk)
        R = self._yaw(np.arctan2(fwd[0], fwd[2]))
        verts = self._forward(pose, shape)
        torso = np.r_[self._part_ids["front"], self._part_ids["hips"]]
        front = float(((verts[torso] - pelvis) @ fwd).max())
        centre = pelvis + (front + clearance + tmpl.extent[2] / 2) * fwd
        centre[1] = height
        half_w = tmpl.extent[0] / 2
        t = centre - R @ np.array([0.0, tmpl.extent[1] / 2, 0.0])
        _, P = sk.fk(pose)
        for side, sign in (("L", 1.0), ("R", -1.0)):
            shoulder = P[sk.index[_ARM[side][1]]]
            pole = shoulder + sign * 0.4 * left - 0.3 * np.array([0, 1.0, 0]) - 0.3 * fwd
            target = centre + sign * (half_w + 0.015) * left
            if self._reach(sk, pose, side, target, rv, pole) > 0.02:
                raise SceneRejected("unreachable")
        # close the remaining gaps: hands move in by their gap (two rounds), object centred
        for _ in range(3):
            verts = self._forward(pose, shape)
            gaps = {s: float(self._object_sdf(tmpl, R, t, verts[self._part_ids[_HAND[s]]]).min())
                    for s in "LR"}
            if all(0.0 <= g <= 0.006 for g in gaps.values()):
                break
            for side, sign in (("L", 1.0), ("R", -1.0)):
                palm = self._palm(sk, pose, side, rv)
                shoulder = sk.fk(pose)[1][sk.index[_ARM[side][1]]]
                pole = shoulder + sign * 0.4 * left - 0.3 * np.array([0, 1.0, 0]) - 0.3 * fwd
                self._reach(sk, pose, side, palm - sign * (gaps[side] - 0.003) * left, rv, pole)
        return R, t, ("left_hand", "right_hand")

    def _edit_hold_two_hands(self, sk, pose, tmpl, prm, shape):
        pelvis, _, _ = self._body_frame(pose, sk)
        return self._two_hands(sk, pose, tmpl, prm, shape,
                               pelvis[1] + 0.15 + 0.3 * prm["height"], 0.05 + 0.1 * prm["forward"])

    def _edit_carry_box(self, sk, pose, tmpl, prm, shape):
        pelvis, _, _ = self._body_frame(pose, sk)
        return self._two_hands(sk, pose, tmpl, prm, shape, pelvis[1] + 0.02 + 0.1 * prm["height"],
                               0.03 + 0.05 * prm["forward"])

    def _edit_lift_box(self, sk, pose, tmpl, prm, shape):
        self._bend_torso(sk, pose, 0.5 + 0.4 * prm["bend"])
        for s in "LR":  # knees soften
            i = sk.index[_LEG[s][1]]
            pose.local[i] = pose.local[i] @ Rotation.from_euler("x", 0.3 * prm["bend"]).as_matrix()
        pelvis, _, _ = self._body_frame(pose, sk)
        return self._two_hands(sk, pose, tmpl, prm, shape, pelvis[1] - 0.25 - 0.1 * prm["height"],
                               0.10 + 0.08 * prm["forward"])

    def _edit_sit(self, sk, pose, tmpl, prm, shape):
        pelvis, left, fwd = self._body_frame(pose, sk)
        heading = np.arctan2(fwd[0], fwd[2])
        upright = self._yaw(heading)
        pose.local[0] = upright @ Rotation.from_euler("x", -0.1 * prm["bend"]).as_matrix()
        for j in ("spine05", "spine03", "spine01"):
            pose.local[sk.index[j]] = np.eye(3)
        for s in "LR":
            hip, knee, ankle = _LEG[s]
            pose.local[sk.index[hip]] = (Rotation.from_euler("x", -np.pi / 2).as_matrix()
                                         @ Rotation.from_euler("y", (0.15 if s == "L" else -0.15)
                                                               * prm["forward"]).as_matrix())
            pose.local[sk.index[knee]] = Rotation.from_euler("x", np.pi / 2).as_matrix()
            pose.local[sk.index[ankle]] = np.eye(3)
        verts = self._forward(pose, shape)
        seat_pts = verts[self._part_ids["hips"]]
        R = upright
        seat_h = self._support_height(tmpl)
        centre = seat_pts.mean(0) - 0.04 * fwd
        t = np.array([centre[0], 0.0, centre[2]])
        # lift the body so the buttocks rest on the seat; then resolve what still intersects:
        # the seat (lift the body) or the backrest (move the chair back)
        lift = seat_h + 0.002 - seat_pts[:, 1].min()
        pose.root_transl = pose.root_transl + np.array([0.0, lift, 0.0])
        for _ in range(4):
            verts = self._forward(pose, shape)
            d = self._object_sdf(tmpl, R, t, verts)
            k = int(np.argmin(d))
            if d[k] > -0.002:
                break
            if verts[k, 1] > seat_h + 0.06:
                t = t - (0.003 - d[k]) * fwd
            else:
                pose.root_transl = pose.root_transl + np.array([0.0, 0.002 - d[k], 0.0])
        # feet on the floor: leg IK to an ankle height that puts the flat sole on y = 0
        rv = self._rest_vertices(shape)
        _, P = sk.fk(pose)
        for s, sign in (("L", 1.0), ("R", -1.0)):
            hip, knee, ankle = _LEG[s]
            sole = rv[self._part_ids[_FOOT[s]], 1].min()
            ankle_h = sk.rest[sk.index[ankle], 1] - sole
            target = P[sk.index[hip]] + (0.35 + 0.15 * prm["forward"]) * fwd + 0.03 * sign * left
            target[1] = ankle_h + 0.001
            pole = P[sk.index[hip]] + 0.6 * fwd + 0.2 * np.array([0, 1.0, 0])
            if sk.two_bone_ik(pose, hip, knee, ankle, target, pole) > 0.005:
                raise SceneRejected("feet_do_not_reach_floor")
            sk.set_global(pose, ankle, upright)
        return R, t, ("hips",)

    def _edit_kick_ball(self, sk, pose, tmpl, prm, shape):
        side = prm["side"]
        hip, knee, ankle = _LEG[side]
        pose.local[sk.index[hip]] = Rotation.from_euler("x", -0.35 - 0.25 * prm["height"]).as_matrix()
        pose.local[sk.index[knee]] = Rotation.from_euler("x", 0.2).as_matrix()
        pelvis, left, fwd = self._body_frame(pose, sk)
        verts = self._forward(pose, shape)
        foot = verts[self._part_ids[_FOOT[side]]]
        R = self._yaw(np.arctan2(fwd[0], fwd[2]))
        tip = foot[np.argmax(foot @ fwd)]
        t = np.array([tip[0], 0.0, tip[2]]) + (tmpl.extent[2] / 2 + 0.05) * fwd
        # the floor is where the standing foot is: done in _finish; approach along -fwd
        return R, t, (_FOOT[side],)

    def _edit_push_table(self, sk, pose, tmpl, prm, shape):
        self._bend_torso(sk, pose, 0.2 + 0.3 * prm["bend"])
        rv = self._rest_vertices(shape)
        self._drop_to_floor(pose, shape)
        pelvis, left, fwd = self._body_frame(pose, sk)
        R = self._yaw(np.arctan2(fwd[0], fwd[2]))
        near = 0.30 + 0.12 * prm["forward"]  # table edge distance from the pelvis
        t = pelvis + (near + tmpl.extent[2] / 2) * fwd
        t[1] = 0.0
        self._hands_on_table(sk, pose, shape, tmpl, R, t, rv, self._support_height(tmpl), left,
                            fwd)
        return R, t, ("left_hand", "right_hand")

    def _edit_nearby(self, sk, pose, tmpl, prm, shape):
        pelvis, left, fwd = self._body_frame(pose, sk)
        d = 0.7 + 0.8 * prm["forward"]
        a = prm["azimuth"]
        direction = np.cos(a) * fwd + np.sin(a) * left
        t = pelvis + d * direction
        R = self._yaw(prm["object_yaw"] * 5)
        return R, t, ()

    # -- finishing: floor, table hands, validation ------------------------------------------------
    def _support_height(self, tmpl: ObjectTemplate) -> float:
        """Height [m] of the first surface under the template's vertical axis (the seat of a
        stool or chair, the top of a table): a ray cast straight down, canonical frame."""
        self._object_sdf(tmpl, np.eye(3), np.zeros(3), np.zeros((1, 3)))  # builds the scene
        import open3d as o3d

        top = float(tmpl.extent[1]) + 0.1
        ray = o3d.core.Tensor([[0.0, top, 0.02, 0.0, -1.0, 0.0]], dtype=o3d.core.float32)
        hit = float(self._raycast[tmpl.id].cast_rays(ray)["t_hit"].numpy()[0])
        if not np.isfinite(hit):
            raise SceneRejected("no_support_surface")
        return top - hit

    def _drop_to_floor(self, pose: Pose, shape: torch.Tensor) -> float:
        """Lower (or raise) the standing body so its lowest vertex is at y = 0."""
        drop = float(self._forward(pose, shape)[:, 1].min())
        pose.root_transl = pose.root_transl - np.array([0.0, drop, 0.0])
        return drop

    def _finish(self, kind, prm, sk, pose, shape, tmpl, R, t, required, seq, index) -> HOIScene:
        if kind != "sit":
            drop = self._drop_to_floor(pose, shape)
            if kind in _ON_FLOOR:
                t = np.array([t[0], 0.0, t[2]])
            else:  # held objects move with the hands
                t = t - np.array([0.0, drop, 0.0])
            if kind == "kick_ball":
                verts = self._forward(pose, shape)
                t = self._slide_to_contact(tmpl, R, t, -_heading(pose),
                                           verts[self._part_ids[required[0]]])
        # human on the floor, then the human's pose is final: validate
        verts = self._forward(pose, shape)
        if not (np.isfinite(verts).all() and np.isfinite(t).all()):
            raise SceneRejected("non_finite")
        sdf = self._object_sdf(tmpl, R, t, verts)
        lim = self.limits
        if -sdf.min() > lim.max_penetration:
            raise SceneRejected("penetration")
        for part in required:
            if sdf[self._part_ids[part]].min() > lim.max_contact_gap:
                raise SceneRejected(f"gap_{part}")
        if kind == "nearby" and sdf.min() < lim.min_nearby_gap:
            raise SceneRejected("nearby_touches")
        obj_v = tmpl.vertices.astype(np.float64) @ R.T + t
        self._check_feet(verts)
        if kind in _ON_FLOOR and \
                abs(obj_v[:, 1].min()) > lim.max_object_float:
            raise SceneRejected("object_not_on_floor")
        csdf = sdf[self._contact_ids]
        return self._scene(
            kind, prm, sk, pose, verts, seq, index,
            object_id=tmpl.id, object_rotmat=R.astype(np.float32),
            object_transl=np.asarray(t, np.float32), object_vertices=obj_v.astype(np.float32),
            contact_labels=csdf <= CONTACT_GT_M, contact_distances=csdf.astype(np.float32))

    def _scene(self, kind, prm, sk, pose, verts, seq, index, **obj) -> HOIScene:
        """The validated scene: the person's pose and mesh, `obj` the object fields."""
        _, joints = sk.fk(pose)
        return HOIScene(
            interaction=kind, body_model=self.body.name,
            body_pose_rotmat=pose.local[1:].astype(np.float32), shape=prm["shape"],
            root_rotmat=pose.local[0].astype(np.float32),
            root_transl=pose.root_transl.astype(np.float32),
            human_vertices=verts.astype(np.float32), human_joints=joints.astype(np.float32),
            sequence=seq, frame_index=index, **obj)

    def _check_feet(self, verts: np.ndarray) -> None:
        """Feet on the floor (lowest foot vertex within `max_foot_float`), nothing below it."""
        lim = self.limits
        feet_y = verts[np.r_[self._part_ids["left_foot"], self._part_ids["right_foot"]], 1].min()
        if abs(feet_y) > lim.max_foot_float or verts[:, 1].min() < -lim.max_penetration:
            raise SceneRejected("feet_off_floor")

    def _finish_alone(self, prm, sk, pose, shape, seq, index) -> HOIScene:
        """A person without an object: on the floor, feet validated like `_finish`."""
        self._drop_to_floor(pose, shape)
        verts = self._forward(pose, shape)
        if not np.isfinite(verts).all():
            raise SceneRejected("non_finite")
        self._check_feet(verts)
        n = len(self._contact_ids)
        return self._scene(
            NO_OBJECT, prm, sk, pose, verts, seq, index,
            object_id="", object_rotmat=np.eye(3, dtype=np.float32),
            object_transl=np.zeros(3, np.float32), object_vertices=np.zeros((0, 3), np.float32),
            contact_labels=np.zeros(n, bool), contact_distances=np.full(n, np.inf, np.float32))

    def _hands_on_table(self, sk, pose, shape, tmpl, R, t, rv, top, left, fwd):
        """Both palms onto the table top (IK), then the exact gap closed vertically."""
        _, P = sk.fk(pose)
        near = (t - P[0]) @ fwd - tmpl.extent[2] / 2
        for side, sign in (("L", 1.0), ("R", -1.0)):
            shoulder = P[sk.index[_ARM[side][1]]]
            target = P[0] + sign * 0.2 * left + (near + 0.12) * fwd
            target[1] = top + 0.03
            pole = shoulder + sign * 0.4 * left - 0.3 * np.array([0, 1.0, 0]) - 0.4 * fwd
            if self._reach(sk, pose, side, target, rv, pole) > 0.03:
                raise SceneRejected("unreachable")
        for _ in range(3):  # lowest hand vertex onto the top
            verts = self._forward(pose, shape)
            for side, sign in (("L", 1.0), ("R", -1.0)):
                hv = verts[self._part_ids[_HAND[side]]]
                gap = float(self._object_sdf(tmpl, R, t, hv).min())
                if 0.0 <= gap <= 0.006:
                    continue
                shoulder = sk.fk(pose)[1][sk.index[_ARM[side][1]]]
                pole = shoulder + sign * 0.4 * left - 0.3 * np.array([0, 1.0, 0]) - 0.4 * fwd
                palm = self._palm(sk, pose, side, rv)
                self._reach(sk, pose, side, palm - np.array([0, gap - 0.003, 0]), rv, pole)


def _heading(pose: Pose) -> np.ndarray:
    """Unit horizontal direction the body faces."""
    f = pose.local[0][:, 2].copy()
    f[1] = 0
    return f / np.linalg.norm(f)
