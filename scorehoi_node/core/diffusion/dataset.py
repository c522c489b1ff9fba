"""Training samples of the diffusion prior: HOIShards -> clean states + what a detector would see.

`PriorDataset.from_shards` poses every shard sample once (body model forward) to get its raw
state x0 (`StateCodec.pack`), its MediaPipe-33 landmarks in pixels and the object's box.
`PriorDataset.batch` then draws a batch with freshly corrupted observations (keypoint noise and
dropout, box jitter, a perturbed initial estimate, parts dropped at random), so every epoch sees
new conditions. The perturbation sizes follow the initial estimate's measured errors (body fit
~10 cm per joint, object yaw often wrong, translation off by several cm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

from scorehoi_node.core.bodies.base import BodyModel
from scorehoi_node.core.bodies.layout import HOIStateParts
from scorehoi_node.core.data.shards import HOIShard
from scorehoi_node.core.diffusion.condition import ConditionSpec, condition_features
from scorehoi_node.core.diffusion.state import CameraFrameHOI, StateCodec
from scorehoi_node.core.objects.library import ObjectLibrary


@dataclass(frozen=True)
class Corruption:
    """How observations are corrupted for training (radians, metres, fractions of the box)."""

    keypoint_noise: float = 0.015       # of the person box size
    keypoint_dropout: float = 0.1
    box_noise: float = 0.05             # of the object box size
    root_rot: float = 0.12
    joint_rot: float = 0.15
    object_rot: float = 0.25
    object_yaw_flip: float = 0.3        # probability of a uniform spin about the template's y
    object_transl: float = 0.07
    shape: float = 0.08
    drop_object: float = 0.15
    drop_template: float = 0.1
    drop_initial: float = 0.15
    drop_all: float = 0.1


class PriorDataset:
    """Clean raw states and clean observations of N samples (tensors, CPU)."""

    def __init__(self, raw: torch.Tensor, pelvis: torch.Tensor, keypoints_2d: torch.Tensor,
                 visible: torch.Tensor, object_box: torch.Tensor, template_index: torch.Tensor,
                 camera_K: torch.Tensor, spec: ConditionSpec, num_pose_joints: int):
        self.raw, self.pelvis = raw, pelvis
        self.keypoints_2d, self.visible = keypoints_2d, visible
        self.object_box, self.template_index, self.camera_K = object_box, template_index, camera_K
        self.spec, self.num_pose_joints = spec, num_pose_joints

    def __len__(self) -> int:
        return self.raw.shape[0]

    def subset(self, idx: torch.Tensor) -> "PriorDataset":
        return PriorDataset(self.raw[idx], self.pelvis[idx], self.keypoints_2d[idx],
                            self.visible[idx], self.object_box[idx], self.template_index[idx],
                            self.camera_K[idx], self.spec, self.num_pose_joints)

    @classmethod
    def from_shards(cls, shards: list[HOIShard], body: BodyModel, library: ObjectLibrary,
                    codec: StateCodec, landmark_index: torch.Tensor, chunk: int = 64
                    ) -> "PriorDataset":
        """Pose every sample of `shards` (all of `body`'s model) and collect what training needs."""
        template_ids = tuple(t.id for t in library.templates)
        spec = ConditionSpec(template_ids=template_ids, state_dim=codec.layout.size)
        raws, pelvises, kps, viss, boxes, tidx, Ks = [], [], [], [], [], [], []
        for shard in shards:
            if shard.body_model != body.name:
                raise ValueError(f"shard of body model {shard.body_model!r}, training {body.name!r}")
            for s in range(0, len(shard), chunk):
                sl = slice(s, s + chunk)
                pose = torch.tensor(shard.body_pose_rotmat[sl])
                root = torch.tensor(shard.root_rotmat[sl])
                with torch.no_grad():
                    out = body(body_pose_rotmat=pose, shape=torch.tensor(shard.shape[sl]),
                               root_rotmat=root, root_transl=torch.tensor(shard.root_transl[sl]))
                joints, verts = out.joints.float(), out.vertices.float()
                pelvis = joints[:, 0]
                hoi = CameraFrameHOI(root_rotmat=root.float(), body_pose_rotmat=pose.float(),
                                     shape=torch.tensor(shard.shape[sl]).float(), pelvis=pelvis,
                                     object_rotmat=torch.tensor(shard.object_rotmat[sl]).float(),
                                     object_transl=torch.tensor(shard.object_transl[sl]).float())
                raws.append(codec.pack(hoi))
                pelvises.append(pelvis)
                K = torch.tensor(shard.camera_K[sl]).float()
                lm = torch.cat([joints, verts], dim=1)[:, landmark_index]
                z = lm[..., 2:3]
                uv = lm[..., :2] / z.clamp_min(1e-3) * torch.stack(
                    [K[:, 0, 0], K[:, 1, 1]], 1)[:, None] + K[:, :2, 2][:, None]
                size = torch.tensor(shard.image_size[sl]).float()
                vis = (z[..., 0] > 0.05) & (uv >= 0).all(-1) & (uv < size[:, None]).all(-1)
                kps.append(uv)
                viss.append(vis)
                Ks.append(K)
                for i, oid in enumerate(shard.object_id[s:s + chunk]):
                    tmpl = library.by_id(oid)
                    R = shard.object_rotmat[s + i].astype(np.float64)
                    p = tmpl.vertices.astype(np.float64) @ R.T + shard.object_transl[s + i]
                    Kn = shard.camera_K[s + i].astype(np.float64)
                    q = p[:, :2] / np.clip(p[:, 2:], 1e-3, None) * [Kn[0, 0], Kn[1, 1]] + Kn[:2, 2]
                    boxes.append(torch.tensor([*q.min(0), *q.max(0)], dtype=torch.float32))
                    tidx.append(spec.template_index(oid))
        return cls(torch.cat(raws), torch.cat(pelvises), torch.cat(kps), torch.cat(viss),
                   torch.stack(boxes), torch.tensor(tidx), torch.cat(Ks), spec,
                   body.num_pose_joints)

    # -- corrupted observations --------------------------------------------------------------------
    def perturb_state(self, raw: torch.Tensor, codec: StateCodec, c: Corruption,
                      g: torch.Generator) -> torch.Tensor:
        """A plausible initial estimate: the clean raw state with rotation/translation noise."""
        lay = codec.layout
        p = lay.unpack(raw)
        B, P = raw.shape[0], lay.num_pose_joints

        def jitter(R: torch.Tensor, sigma: float) -> torch.Tensor:
            noise = torch.randn(*R.shape[:-2], 3, generator=g) * sigma
            return roma.rotvec_to_rotmat(noise) @ R

        spin_angle = torch.rand(B, generator=g) * 2 * np.pi
        spin = roma.rotvec_to_rotmat(torch.stack([torch.zeros(B), spin_angle, torch.zeros(B)], 1))
        flip = (torch.rand(B, generator=g) < c.object_yaw_flip)[:, None, None]
        obj = torch.where(flip, p.object_rotmat @ spin, p.object_rotmat)
        parts = HOIStateParts(
            root_rotmat=jitter(p.root_rotmat, c.root_rot),
            body_pose_rotmat=jitter(p.body_pose_rotmat.reshape(B * P, 3, 3),
                                    c.joint_rot).reshape(B, P, 3, 3),
            object_rotmat=jitter(obj, c.object_rot),
            object_transl=p.object_transl + torch.randn(B, 3, generator=g) * c.object_transl,
            shape=p.shape + torch.randn(p.shape.shape, generator=g) * c.shape)
        return lay.pack(parts)

    def conditions(self, idx: torch.Tensor, codec: StateCodec, c: Corruption,
                   g: torch.Generator, initial_raw: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C) corrupted conditions of samples `idx` (fresh noise from `g`)."""
        B = len(idx)
        kp = self.keypoints_2d[idx].clone()
        vis = self.visible[idx]
        span = (kp.amax(1) - kp.amin(1)).amax(1).clamp_min(10.0)
        kp = kp + torch.randn(kp.shape, generator=g) * c.keypoint_noise * span[:, None, None]
        scores = vis.float() * (0.4 + 0.6 * torch.rand(B, 33, generator=g))
        scores = scores * (torch.rand(B, 33, generator=g) >= c.keypoint_dropout)
        box = self.object_box[idx].clone()
        bsize = (box[:, 2:] - box[:, :2]).amax(1, keepdim=True)
        box = box + torch.randn(B, 4, generator=g) * c.box_noise * bsize
        box[torch.rand(B, generator=g) < c.drop_object] = float("nan")
        tidx = self.template_index[idx].clone()
        tidx[torch.rand(B, generator=g) < c.drop_template] = -1
        if initial_raw is None:
            initial_raw = self.perturb_state(self.raw[idx], codec, c, g)
        init = codec.normalise(initial_raw)
        init[torch.rand(B, generator=g) < c.drop_initial] = float("nan")
        cond = condition_features(self.spec, self.camera_K[idx], kp, scores, box, tidx, init)
        cond[torch.rand(B, generator=g) < c.drop_all] = 0.0
        return cond
