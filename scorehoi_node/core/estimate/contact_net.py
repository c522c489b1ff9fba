"""Learned contact predictor: per contact-subset vertex, the probability of touching the object.

Distance rules (`estimate.contacts`, `refine.predict_contacts`) need an accurate body and object
pose: with the initial estimate ~10 cm off per joint they rarely fire. Like CONTHO's contact head
and ScoreHOI's per-round contact re-estimation, this network predicts contacts from the posed
body, the object's class and its placement, so it knows *which* vertices a held mug, a carried
box, a stool or a kicked ball touches even when the pose is off.

Inputs (`contact_inputs`, all in the body frame, see `body_frame`):
    per contact-subset vertex (C of them): position, outward normal (from two neighbouring
        contact vertices, `normal_pairs`, so guidance reconstructions of subsets suffice),
        signed distance to the placed template (its SDF grid; clamped and as 4 RBFs), offsets to
        the K nearest template keypoints, the body-part label, a learned embedding of the vertex;
    per person: the J joints, the object class (one-hot), its rotation (6D) and translation, and
        its 64 surface keypoints (`ObjectTemplate.keypoints`) placed by its pose.
Architecture (PointNet-style, two stages): keypoints -> shared MLP -> max/mean pool -> object
feature; [object feature, class, pose, joints] -> global feature; per vertex MLP([vertex
features, global]) -> max pool over vertices -> second global feature -> per vertex MLP -> logit.
~0.1 M parameters; batched over persons; no CPU-only ops (`.to(device)` moves everything).

Body frame: origin at the pelvis (joint 0), +X towards the left hip, +Y along the pelvis -> lower
spine joint (`FRAME_JOINTS`) made orthogonal to +X, +Z = X x Y (forward). It is computed from the
posed joints (`Reconstruction` has no root rotation), so the same person and object seen by any
camera give the same inputs.

The decision threshold chosen on validation data at training is folded into the output:
`ContactPredictor.probabilities` are sigmoid(logit - logit(threshold)), so p >= 0.5 is the
predicted contact set (the convention of `ContactEstimate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scorehoi_node.core.bodies.functional import rotmat_to_rot6d
from scorehoi_node.core.checkpoints import CheckpointError, Checkpointed
from scorehoi_node.core.config import ContactConfig
from scorehoi_node.core.estimate.contacts import ContactEstimate, estimate_contacts
from scorehoi_node.core.objects.template import NUM_KEYPOINTS, ObjectTemplate

CHECKPOINT_FORMAT = "scorehoi.contact_net"
CHECKPOINT_VERSION = 1
#: the checkpoint shipped with the package (`python -m scorehoi_node.core.contact_training.train`)
DEFAULT_CONTACT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "contact_net.safetensors"
#: joints that fix the body frame, per body model: (left hip, right hip, a spine joint ~10-15 cm
#: above the pelvis; anny's spine05 sits on the pelvis itself, so its spine03)
FRAME_JOINTS = {"anny": ("upperleg01.L", "upperleg01.R", "spine03"),
                "smplh": ("left_hip", "right_hip", "spine1"),
                "smplx": ("left_hip", "right_hip", "spine1")}
#: RBF widths [m] of the signed-distance encoding
SDF_SCALES = (0.02, 0.05, 0.1, 0.2)
#: metres -> network units of positions and offsets
POSITION_SCALE = 2.0


@dataclass(frozen=True)
class ContactNetConfig:
    """Architecture and what the checkpoint was trained for.

    Attributes:
        template_ids: object templates of the class one-hot, in order.
        body_model: body model name; `num_vertices`, `num_parts`, `num_joints` are its contact
            subset size, part-label count and joint count.
        hidden: width of the per-vertex and global layers.
        head_hidden: width of the last per-vertex layer.
        nearest_keypoints: K nearest template keypoints whose offsets each vertex sees.
        threshold: decision threshold on the raw sigmoid (chosen on validation data).
    """

    template_ids: tuple[str, ...]
    body_model: str = "anny"
    num_vertices: int = 400
    num_parts: int = 12
    num_joints: int = 20
    hidden: int = 64
    head_hidden: int = 32
    nearest_keypoints: int = 4
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.body_model not in FRAME_JOINTS:
            raise ValueError(f"body_model must be one of {tuple(FRAME_JOINTS)}, "
                             f"got {self.body_model!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 1 <= self.nearest_keypoints <= NUM_KEYPOINTS:
            raise ValueError(f"nearest_keypoints must be in 1..{NUM_KEYPOINTS}, "
                             f"got {self.nearest_keypoints}")

    @property
    def vertex_features(self) -> int:
        """Size of the per-vertex geometric features of `ContactInputs.vertex_features`."""
        return 3 + 3 + 2 + len(SDF_SCALES) + 2 + 4 * self.nearest_keypoints + 1


# -- geometry (pure tensor math) -------------------------------------------------------------------
def body_frame(joints: torch.Tensor, frame_joints: torch.Tensor) -> tuple[torch.Tensor,
                                                                         torch.Tensor]:
    """Pelvis-centred body frame of posed joints (module docstring).

    Args:
        joints: (B, J, 3) joints in any frame; joint 0 is the pelvis.
        frame_joints: (3,) int64 indices of (left hip, right hip, lower spine) (`FRAME_JOINTS`).
    Returns:
        origin (B, 3) and axes (B, 3, 3) whose columns are the body +X, +Y, +Z in the input
        frame; body coordinates are `(p - origin) @ axes`.
    """
    origin = joints[:, 0]
    left = joints[:, frame_joints[0]] - joints[:, frame_joints[1]]
    x = left / left.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    up = joints[:, frame_joints[2]] - origin
    up = up - (up * x).sum(-1, keepdim=True) * x
    y = up / up.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return origin, torch.stack([x, y, torch.linalg.cross(x, y)], dim=-1)


def incident_triangles(faces: torch.Tensor, vertex_ids: torch.Tensor) -> torch.Tensor:
    """(C, K, 3) int64 vertex indices of the triangles around each of `vertex_ids` (faces
    (F, 3)), padded with the degenerate triangle (0, 0, 0), whose normal is zero."""
    lists: list[list[list[int]]] = [[] for _ in range(len(vertex_ids))]
    where = {int(v): i for i, v in enumerate(vertex_ids)}
    for tri in faces.tolist():
        for v in tri:
            if v in where:
                lists[where[v]].append(tri)
    width = max(1, max(len(x) for x in lists))
    return torch.tensor([x + [[0, 0, 0]] * (width - len(x)) for x in lists], dtype=torch.int64)


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """(B, C, 3) unit area-weighted normals of C vertices from their triangles.

    Args:
        vertices: (B, V, 3) mesh vertices.
        triangles: (C, K, 3) the triangles around each vertex (`incident_triangles`; outward,
            counter-clockwise).
    """
    p = vertices[:, triangles]  # (B, C, K, 3, 3)
    n = torch.linalg.cross(p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :]).sum(2)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def normal_pairs(rest_vertices: torch.Tensor, faces: torch.Tensor, vertex_ids: torch.Tensor,
                 part_ids: torch.Tensor, neighbours: int = 8) -> torch.Tensor:
    """(C, 2) int64 per contact vertex i, two other contact vertices (a, b) of its body part
    such that cross(v_a - v_i, v_b - v_i) points along the mesh normal at i in the rest pose:
    `subset_normals` then gives a normal from the contact subset alone (guidance
    reconstructions may hold only some mesh rows).

    Among the `neighbours` nearest same-part vertices, the pair whose triangle normal is closest
    in direction to the mesh normal, among the pairs spanning at least 20 % of the largest
    triangle area (no slivers).

    Args:
        rest_vertices: (V, 3) rest-pose mesh; faces: (F, 3) its triangles.
        vertex_ids: (C,) the contact subset; part_ids: (C,) its body-part labels.
    """
    true = vertex_normals(rest_vertices[None], incident_triangles(faces, vertex_ids))[0]
    sub = rest_vertices[vertex_ids]
    pairs = []
    for i in range(len(vertex_ids)):
        same = torch.nonzero((part_ids == part_ids[i]) & (torch.arange(len(part_ids)) != i))[:, 0]
        near = same[(sub[same] - sub[i]).norm(dim=-1).argsort()[:neighbours]].tolist()
        cand = [(a, b) for k, a in enumerate(near) for b in near[k + 1:]]
        cross = torch.stack([torch.linalg.cross(sub[a] - sub[i], sub[b] - sub[i])
                             for a, b in cand])
        area = cross.norm(dim=-1)
        cosine = (cross @ true[i]) / area.clamp_min(1e-12)
        cosine[area < 0.2 * area.max()] = 0.0
        k = int(cosine.abs().argmax())
        a, b = cand[k]
        pairs.append((a, b) if cosine[k] >= 0 else (b, a))
    return torch.tensor(pairs, dtype=torch.int64)


def subset_normals(vertices: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """(B, C, 3) unit normals of contact-subset vertices (B, C, 3) from their `normal_pairs`."""
    n = torch.linalg.cross(vertices[:, pairs[:, 0]] - vertices,
                           vertices[:, pairs[:, 1]] - vertices)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@dataclass(frozen=True)
class ContactInputs:
    """What the network sees for B persons (body frame, metres; see the module docstring).

    Attributes:
        vertex_features: (B, C, F) per-vertex geometric features (`contact_inputs`).
        joints: (B, J, 3) joints.
        keypoints: (B, 64, 3) the template's keypoints placed by the object pose.
        object_pose: (B, 9) object rotation (6D) and translation.
        template_index: (B,) int64 index into `ContactNetConfig.template_ids`.
    """

    vertex_features: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    object_pose: torch.Tensor
    template_index: torch.Tensor

    def index(self, idx: torch.Tensor) -> "ContactInputs":
        return ContactInputs(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def cat(parts: list["ContactInputs"]) -> "ContactInputs":
        return ContactInputs(**{f.name: torch.cat([getattr(p, f.name) for p in parts])
                                for f in fields(ContactInputs)})


def contact_inputs(vertices: torch.Tensor, joints: torch.Tensor, object_rotmat: torch.Tensor,
                   object_transl: torch.Tensor, template: ObjectTemplate, template_index: int,
                   frame_joints: torch.Tensor, part_ids: torch.Tensor, pairs: torch.Tensor,
                   nearest_keypoints: int) -> ContactInputs:
    """Network inputs of B persons that share one object template.

    Args:
        vertices: (B, C, 3) contact-subset vertices.
        joints: (B, J, 3) joints (joint 0 the pelvis).
        object_rotmat, object_transl: (B, 3, 3), (B, 3) template frame -> the frame of the
            other inputs (any frame: camera, body model, world).
        template: the object's template; `template_index` its index in the config's ids.
        frame_joints: (3,) indices of the body-frame joints (`body_frame`).
        part_ids: (C,) int64 body-part label of each contact vertex.
        pairs: (C, 2) int64 `normal_pairs` of the contact subset.
        nearest_keypoints: K keypoint offsets per vertex.
    """
    origin, axes = body_frame(joints, frame_joints)
    v = (vertices - origin[:, None]) @ axes
    n = subset_normals(v, pairs)
    rot = axes.transpose(1, 2) @ object_rotmat
    transl = ((object_transl - origin)[:, None] @ axes)[:, 0]
    kp = torch.tensor(template.keypoints, dtype=v.dtype, device=v.device)
    keypoints = kp @ rot.transpose(1, 2) + transl[:, None]  # (B, 64, 3)
    sdf = template.sdf(((vertices - object_transl[:, None]) @ object_rotmat).to(v.dtype))
    rbf = torch.exp(-sdf.clamp_min(0.0)[..., None] / torch.tensor(SDF_SCALES).to(v))
    closest = torch.stack([sdf - sdf.amin(1, keepdim=True),
                           sdf - _part_minimum(sdf, part_ids)], dim=-1)
    offsets = keypoints[:, None] - v[:, :, None]  # (B, C, 64, 3)
    dist, near = offsets.norm(dim=-1).topk(nearest_keypoints, dim=-1, largest=False)
    near_off = torch.gather(offsets, 2, near[..., None].expand(-1, -1, -1, 3))
    facing = (near_off[:, :, 0] * n).sum(-1, keepdim=True) / dist[..., :1].clamp_min(1e-3)
    feats = torch.cat([v * POSITION_SCALE, n, sdf.clamp(-0.1, 0.5)[..., None] * 10.0,
                       (-sdf).clamp_min(0.0)[..., None] * 10.0, rbf,
                       closest.clamp_max(0.5) * 10.0,
                       near_off.flatten(2) * POSITION_SCALE * 2.0, dist * POSITION_SCALE * 2.0,
                       facing], dim=-1)
    B = vertices.shape[0]
    return ContactInputs(
        vertex_features=feats, joints=((joints - origin[:, None]) @ axes) * POSITION_SCALE,
        keypoints=keypoints * POSITION_SCALE,
        object_pose=torch.cat([rotmat_to_rot6d(rot), transl * POSITION_SCALE], dim=-1),
        template_index=torch.full((B,), template_index, dtype=torch.int64, device=v.device))


def _part_minimum(values: torch.Tensor, part_ids: torch.Tensor) -> torch.Tensor:
    """(B, C) minimum of `values` (B, C) over the vertices of each vertex's body part
    (`part_ids` (C,) labels < C)."""
    per_part = torch.full_like(values, float("inf"))
    per_part = per_part.scatter_reduce(1, part_ids.expand_as(values), values, "amin")
    return per_part[:, part_ids]


# -- the network -----------------------------------------------------------------------------------
def _mlp(*sizes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


class ContactNet(Checkpointed, nn.Module):
    """Per-vertex contact logits from `ContactInputs` (module docstring).

    Layers on [per-vertex, per-person] concatenations are split into a per-vertex and a
    per-person linear map whose outputs are added (the same function, computed once per person
    instead of once per vertex); what depends only on the vertex (its part label, a learned
    code) is a per-vertex bias. Buffers from the body model (`for_body`): `part_ids` (C,) int64
    part label per contact vertex, `normal_pairs` (C, 2) int64 (`normal_pairs`).
    """

    checkpoint_format, checkpoint_version = CHECKPOINT_FORMAT, CHECKPOINT_VERSION
    checkpoint_name, config_class = "contact-net", ContactNetConfig

    def __init__(self, config: ContactNetConfig):
        super().__init__()
        self.config = config
        h, c = config.hidden, config
        self.register_buffer("part_ids", torch.zeros(c.num_vertices, dtype=torch.int64))
        self.register_buffer("normal_pairs", torch.zeros(c.num_vertices, 2, dtype=torch.int64))
        self.vertex_code = nn.Parameter(torch.zeros(c.num_vertices, h))
        self.part_code = nn.Embedding(c.num_parts, h)
        self.keypoint_mlp = _mlp(3, 64, 64)
        global_in = 128 + len(c.template_ids) + 9 + 3 * c.num_joints
        self.global_mlp = _mlp(global_in, h, h)
        self.vertex_in = nn.Linear(c.vertex_features, h)
        self.vertex_global = nn.Linear(h, h, bias=False)
        self.vertex_mid = nn.Linear(h, h)
        self.context_mlp = _mlp(2 * h, h, h)
        self.head_in = nn.Linear(h, h)
        self.head_context = nn.Linear(h, h, bias=False)
        self.head_out = _mlp(h, c.head_hidden, 1)

    @classmethod
    def for_body(cls, config: ContactNetConfig, body) -> "ContactNet":
        """A fresh network with the body model's contact-subset tables."""
        net = cls(config)
        with torch.no_grad():
            rest = body(**body.rest_inputs(1)).vertices[0].float().cpu()
        ids, parts = body.contact_vertex_ids.cpu(), body.contact_part_ids.cpu()
        net.part_ids.copy_(parts)
        net.normal_pairs.copy_(normal_pairs(rest, body.faces.cpu(), ids, parts))
        return net

    def forward(self, x: ContactInputs) -> torch.Tensor:
        """(B, C) contact logits."""
        act = nn.functional.silu
        k = self.keypoint_mlp(x.keypoints)
        obj = torch.cat([k.amax(1), k.mean(1)], dim=-1)
        onehot = nn.functional.one_hot(x.template_index, len(self.config.template_ids))
        g = self.global_mlp(torch.cat([obj, onehot.to(obj), x.object_pose,
                                       x.joints.flatten(1)], dim=-1))
        vertex_bias = self.vertex_code + self.part_code(self.part_ids)  # (C, h)
        h = act(self.vertex_in(x.vertex_features) + vertex_bias + self.vertex_global(g)[:, None])
        h = act(self.vertex_mid(h))
        ctx = self.context_mlp(torch.cat([g, h.amax(1)], dim=-1))
        h = act(self.head_in(h) + self.head_context(ctx)[:, None])
        return self.head_out(h)[..., 0]

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# -- inference on reconstructions --------------------------------------------------------------------
class ContactPredictor(nn.Module):
    """A trained `ContactNet` with the body model's index tables, applied to reconstructions.

    Args:
        net: the network (its config pins the body model, templates and threshold).
        body: the body model the reconstructions come from.
    """

    def __init__(self, net: ContactNet, body):
        super().__init__()
        cfg = net.config
        if cfg.body_model != body.name or cfg.num_vertices != len(body.contact_vertex_ids):
            raise CheckpointError(f"contact net trained for body model {cfg.body_model!r} with "
                                  f"{cfg.num_vertices} contact vertices, not {body.name!r} "
                                  f"({len(body.contact_vertex_ids)})")
        self.net = net
        self.register_buffer("contact_vertex_ids", body.contact_vertex_ids.to(torch.int64).cpu())
        names = FRAME_JOINTS[cfg.body_model]
        self.register_buffer("frame_joints", torch.tensor(
            [list(body.joint_names).index(n) for n in names], dtype=torch.int64))
        self.logit_offset = math.log(cfg.threshold / (1.0 - cfg.threshold))
        self.to(net.part_ids.device)

    @classmethod
    def load(cls, body, path: str | Path | None = None,
             device: str | torch.device = "cpu") -> "ContactPredictor":
        """The predictor of a checkpoint (default: the shipped one); `CheckpointError` when the
        file is missing, corrupt or made for another body model."""
        net = ContactNet.load(path or DEFAULT_CONTACT_CHECKPOINT, device=device)
        return cls(net.requires_grad_(False), body).to(device)

    def knows(self, template: ObjectTemplate) -> bool:
        """Whether the network was trained with `template` (its class one-hot)."""
        return template.id in self.net.config.template_ids

    def inputs(self, vertices: torch.Tensor, joints: torch.Tensor, object_rotmat: torch.Tensor,
               object_transl: torch.Tensor, template: ObjectTemplate) -> ContactInputs:
        """Network inputs from contact-subset vertices (B, C, 3), joints (B, J, 3) and object
        poses (B, 3, 3), (B, 3)."""
        try:
            index = self.net.config.template_ids.index(template.id)
        except ValueError:
            raise ValueError(f"contact net knows templates {self.net.config.template_ids}, "
                             f"not {template.id!r}") from None
        return contact_inputs(vertices, joints, object_rotmat, object_transl, template, index,
                              self.frame_joints, self.net.part_ids, self.net.normal_pairs,
                              self.net.config.nearest_keypoints)

    @torch.no_grad()
    def probabilities(self, recon, template: ObjectTemplate) -> torch.Tensor:
        """(B, C) contact probability of each contact-subset vertex of a `Reconstruction`
        (dtype and device of its vertices); p >= 0.5 is the predicted contact set."""
        dtype = recon.vertices.dtype
        x = self.inputs(recon.vertices[:, recon.contact_vertex_ids].float(),
                        recon.joints.float(), recon.object_rotmat.float(),
                        recon.object_transl.float(), template)
        return torch.sigmoid(self.net(x) - self.logit_offset).to(dtype)

    def predict_contacts(self, recon, template: ObjectTemplate) -> torch.Tensor:
        """(B, C) bool contact mask of a `Reconstruction`: the learned `refine.ContactRule`."""
        return self.probabilities(recon, template) >= 0.5

    def vertex_probabilities(self, human_vertices, human_joints, rotation, translation,
                             template: ObjectTemplate) -> np.ndarray:
        """(B, C) float64 contact probabilities of B persons with objects of one template
        (numpy in, numpy out; one network call): (B, V, 3) meshes and (B, J, 3) joints [m],
        object rotations (B, 3, 3) and translations (B, 3), each person in any one frame."""
        f = dict(dtype=torch.float32, device=self.contact_vertex_ids.device)
        vertices = torch.as_tensor(np.asarray(human_vertices), **f)
        x = self.inputs(vertices[:, self.contact_vertex_ids],
                        torch.as_tensor(np.asarray(human_joints), **f),
                        torch.as_tensor(np.asarray(rotation), **f),
                        torch.as_tensor(np.asarray(translation), **f), template)
        with torch.no_grad():
            p = torch.sigmoid(self.net(x) - self.logit_offset)
        return p.double().cpu().numpy()


def learned_contact_estimates(predictor: ContactPredictor, body, humans, objects,
                              template: ObjectTemplate,
                              config: ContactConfig = ContactConfig()) -> list[ContactEstimate]:
    """`contacts.estimate_contacts` with the learned probabilities for B persons whose objects
    share `template` (one network call): the initial contacts.

    Args:
        humans: B `HumanEstimate`s with meshes (`vertices` (V, 3), `joint_positions` (J, 3)).
        objects: their B `ObjectEstimate`s of `template`, in the same frame as the humans.
    """
    if not humans:
        return []
    prob = predictor.vertex_probabilities(np.stack([h.vertices for h in humans]),
                                          np.stack([h.joint_positions for h in humans]),
                                          np.stack([o.rotation for o in objects]),
                                          np.stack([o.translation for o in objects]), template)
    ids = body.contact_vertex_ids.cpu().numpy()
    parts = body.contact_part_ids.cpu().numpy()
    return [estimate_contacts(h.vertices, ids, parts, body.contact_part_names, o, template,
                              config, probabilities=p)
            for h, o, p in zip(humans, objects, prob)]
