"""anny backend: the free default body model (code Apache-2.0, MakeHuman assets CC0).

anny (NAVER) is a MakeHuman-based, fully offline model: 13 718 vertices, 27 420 triangles,
104 bones, shape from 6 phenotype values in [0, 1]. Its native frame is Z-up, the body faces -Y,
left = +X, pelvis at the origin; this backend converts everything to the shared body frame
(+Y up, +X left, +Z forward) so the rest of the pipeline never sees anny's frame.

Pose subset. Only the 19 bones that carry the body's posture take a rotation; all other bones
(fingers, toes, eyes, twist bones `*02`, `pelvis.*`, `shoulder01.*`, `spine04/02`, `neck02/03`)
keep their rest orientation relative to their parent. Joint order is SMPL-like:

    0 root (pelvis)        5 lowerleg01.R (knee)   10 neck01          15 upperarm01.R
    1 upperleg01.L (hip)   6 spine03               11 clavicle.L      16 lowerarm01.L (elbow)
    2 upperleg01.R         7 foot.L (ankle)        12 clavicle.R      17 lowerarm01.R
    3 spine05 (lower back) 8 foot.R                13 head            18 wrist.L
    4 lowerleg01.L         9 spine01 (chest)       14 upperarm01.L    19 wrist.R

Rotations use anny's "local-ref" parameterisation (each delta in world-aligned axes, composed
down the chain: G_c = G_p D_c), which is exactly the body-frame convention of `BodyModel` after
the change of axes D_anny = C^T R_body C.

dtype: float32 by default (the diffusion prior and guidance run in float32; float32 vs float64
vertices differ by well under 0.1 mm). Pass `dtype=torch.float64` for anny's native precision.

anny caches its model data under `ANNY_CACHE_DIR`: the first construction builds it (~70 s,
~790 MB); later constructions take ~0.5 s. Set it to a stable place at setup.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import roma
import torch

from scorehoi_node.core.bodies.base import CONTACT_PART_BUDGET, BodyModel
from scorehoi_node.core.bodies.functional import (
    ancestor_in_subset,
    change_rotation_frame,
    contact_subset,
    dominant_bone,
)

# Posed joints (anny bone names), SMPL-like order; index 0 is the root.
ANNY_POSE_BONES: tuple[str, ...] = (
    "root",
    "upperleg01.L", "upperleg01.R",
    "spine05",
    "lowerleg01.L", "lowerleg01.R",
    "spine03",
    "foot.L", "foot.R",
    "spine01",
    "neck01",
    "clavicle.L", "clavicle.R",
    "head",
    "upperarm01.L", "upperarm01.R",
    "lowerarm01.L", "lowerarm01.R",
    "wrist.L", "wrist.R",
)

# anny phenotypes in the order of the shape vector (each in [0, 1], neutral 0.5).
ANNY_SHAPE_NAMES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")

def _anny_part_of(bone: str) -> str:
    """Body part of an anny bone by name ("" for none); "torso" is later split into back/front."""
    side = "left" if bone.endswith(".L") else "right" if bone.endswith(".R") else ""
    stem = bone.split(".")[0]
    if stem.startswith(("wrist", "finger", "metacarpal")):
        return f"{side}_hand"
    if stem.startswith(("foot", "toe")):
        return f"{side}_foot"
    if stem.startswith(("upperleg", "lowerleg")):
        return f"{side}_leg"
    if stem.startswith(("upperarm", "lowerarm")):
        return f"{side}_arm"
    if stem in ("root", "pelvis", "spine05"):
        return "hips"
    if stem.startswith(("spine", "clavicle", "shoulder")):
        return "torso"
    if stem.startswith(("neck", "head", "eye")):
        return "head"
    return ""


def _default_cache_dir() -> None:
    """Use the cache that `make setup` built inside the environment (`<venv>/anny-cache`) when
    ANNY_CACHE_DIR is unset, so `scorehoi ...` run outside make does not rebuild it (~70 s)."""
    env_cache = Path(sys.prefix) / "anny-cache"
    if "ANNY_CACHE_DIR" not in os.environ and env_cache.is_dir():
        os.environ["ANNY_CACHE_DIR"] = str(env_cache)


# anny axes -> body axes: x_b = x_a (left), y_b = z_a (up), z_b = -y_a (forward).
_ANNY_TO_BODY = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))


class AnnyBody(BodyModel):
    """anny as a `BodyModel` (see the module docstring for frame, joints and dtype).

    Shape vector: the 6 phenotypes `ANNY_SHAPE_NAMES`, values in [0, 1]; anny does not
    extrapolate, so values outside are clamped to the nearest anchor (zero gradient there).
    """

    name = "anny"

    def __init__(self, dtype: torch.dtype = torch.float32, skinning_method: str | None = None) -> None:
        """Build the model.

        Args:
            dtype: torch.float32 (default) or torch.float64.
            skinning_method: anny's skinning ("warp_lbs", "lbs", "dqs"); None lets anny choose
                (NVIDIA Warp when installed, else dense torch LBS).
        """
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        _default_cache_dir()
        import anny  # heavy import kept inside the backend

        model = anny.Anny(pose_parameterization="local-ref", skinning_method=skinning_method)
        if list(model.phenotype_labels) != list(ANNY_SHAPE_NAMES):
            raise ValueError(f"unexpected anny phenotypes {model.phenotype_labels}, "
                             f"expected {list(ANNY_SHAPE_NAMES)}")
        if (model.bone_orientation, model.rest_orientation_refiner,
                model.root_identity_orientation) != ("cached", None, False):
            raise ValueError("this anny build's rest model is not the one `_skin_subset` "
                             "reproduces (bone_orientation 'cached', no refiner, no root "
                             "identity); pin anny==0.6.2")
        labels = list(model.bone_labels)
        missing = [b for b in ANNY_POSE_BONES if b not in labels]
        if missing:
            raise ValueError(f"anny rig lacks bones {missing}")
        bone_ids = [labels.index(b) for b in ANNY_POSE_BONES]
        self.joint_names = ANNY_POSE_BONES
        self.parents = tuple(ancestor_in_subset(list(model.bone_parents), bone_ids))
        self.shape_names = ANNY_SHAPE_NAMES
        self.num_bones = len(labels)

        frame = torch.tensor(_ANNY_TO_BODY, dtype=torch.float64)
        default_shape = torch.full((len(ANNY_SHAPE_NAMES),), 0.5, dtype=torch.float64)
        with torch.no_grad():  # rest mesh (float64) for the contact subset
            rest = model(phenotype_kwargs=default_shape[None])["vertices"][0] @ frame.T
        part_bones: dict[str, list[int]] = {}
        for i, bone in enumerate(labels):
            part_bones.setdefault(_anny_part_of(bone), []).append(i)
        part_bones.pop("", None)
        vertex_ids, part_ids, part_names = contact_subset(
            rest, dominant_bone(model.vertex_bone_weights, model.vertex_bone_indices),
            part_bones, CONTACT_PART_BUDGET)
        self.contact_part_names = part_names

        self.model = model.to(dtype)
        self.num_vertices = int(model.template_vertices.shape[0])
        self.register_buffer("anny_to_body", frame.to(dtype), persistent=False)
        self.register_buffer("pose_bone_ids", torch.tensor(bone_ids[1:], dtype=torch.int64),
                             persistent=False)
        self.register_buffer("joint_bone_ids", torch.tensor(bone_ids, dtype=torch.int64),
                             persistent=False)
        self.register_buffer("faces", model.get_triangular_faces().to(torch.int64), persistent=False)
        self.register_buffer("default_shape", default_shape.to(dtype), persistent=False)
        self.register_buffer("contact_vertex_ids", vertex_ids, persistent=False)
        self.register_buffer("contact_part_ids", part_ids, persistent=False)

    def _forward_local(
        self, body_pose_rotmat: torch.Tensor, shape: torch.Tensor,
        vertex_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bx19x3x3 body-frame local rotations + Bx6 phenotypes -> (BxVx3, Bx20x3), body frame.

        The whole mesh goes through anny's own forward (NVIDIA Warp skinning); a vertex subset
        is skinned here in torch (`_skin_subset`): only those vertices' rest positions and
        blend weights are touched, which is what the refinement's guidance steps need."""
        deltas = self._bone_deltas(body_pose_rotmat)
        frame = self.anny_to_body
        if vertex_ids is None:
            out = self.model(pose_parameters=deltas, phenotype_kwargs=shape)
            vertices, bone_poses = out["vertices"], out["bone_poses"]
        else:
            vertices, bone_poses = self._skin_subset(deltas, shape, vertex_ids)
        joints = bone_poses[:, self.joint_bone_ids, :3, 3] @ frame.T
        return vertices @ frame.T, joints

    def _bone_deltas(self, body_pose_rotmat: torch.Tensor) -> torch.Tensor:
        """(B, 104, 4, 4) anny "local-ref" deltas: D_anny = C^T R_body C for every posed bone,
        identity for the others, zero translation."""
        batch = body_pose_rotmat.shape[0]
        local_anny = change_rotation_frame(body_pose_rotmat, self.anny_to_body.T)
        rotations = torch.eye(3, dtype=self.dtype, device=self.device).repeat(
            batch, self.num_bones, 1, 1)
        rotations = rotations.index_copy(1, self.pose_bone_ids, local_anny)
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=self.dtype, device=self.device)
        return torch.cat([
            torch.cat([rotations, torch.zeros_like(rotations[..., :1])], dim=-1),
            bottom.expand(batch, self.num_bones, 1, 4),
        ], dim=-2)

    def _skin_subset(self, deltas: torch.Tensor, shape: torch.Tensor, vertex_ids: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """anny's forward for the vertices `vertex_ids` only: the same phenotype blendshapes,
        rest bone poses ("cached" bone orientation: Procrustes of blended cross-covariances),
        forward kinematics and linear blend skinning, in anny's frame. Returns
        ((B, K, 3) vertices, (B, 104, 4, 4) bone poses)."""
        m = self.model
        template, blendshapes, weights = self._subset_tables(vertex_ids)
        _, phenotypes, local_changes, actions = m.get_tensor_inputs(deltas, shape, None, None)
        coeffs = m._get_phenotype_blendshape_coefficients(phenotypes, local_changes, actions)
        heads = m.template_bone_heads[None] + torch.einsum(
            "cpd,bc->bpd", m.bone_heads_blendshapes, coeffs)
        cov = m.bone_template_orientation_matrices[None] + torch.einsum(
            "ba,akij->bkij", coeffs, m.bone_orientation_blendshapes)
        # SVD rather than roma's default (Horn) for 3x3: the same rotations (to 1e-6) at ~1/8
        # of the CPU time forward + backward for one body's 104 bones (Horn pays off at large
        # batches); this runs at every guided step
        orientation = roma.special_procrustes(cov, method="svd")
        rest_bone_poses = roma.Rigid(linear=orientation, translation=heads).to_homogeneous()
        transforms, bone_poses = m.get_bone_transforms(deltas, rest_bone_poses)
        rest = template[None] + torch.einsum("bc,cpd->bpd", coeffs, blendshapes)
        # linear blend skinning: blend each vertex's bone transforms, then apply them
        blended = torch.einsum("kj,bjrc->bkrc", weights, transforms[..., :3, :])  # (B, K, 3, 4)
        vertices = (blended[..., :3] @ rest[..., None])[..., 0] + blended[..., 3]
        return vertices, bone_poses

    def _subset_tables(self, vertex_ids: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rest template (K, 3), blendshapes (C, K, 3) and dense skinning weights (K, 104) of
        the vertices `vertex_ids`, built once per distinct subset and kept by this body."""
        key = ("subset", str(self.device), vertex_ids.cpu().numpy().tobytes())

        def build() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            m = self.model
            dense = torch.zeros(len(vertex_ids), self.num_bones, dtype=self.dtype,
                                device=self.device)
            dense.scatter_add_(1, m.vertex_bone_indices[vertex_ids].long(),
                               m.vertex_bone_weights[vertex_ids].to(self.dtype))
            return (m.template_vertices[vertex_ids].clone(),
                    m.blendshapes[:, vertex_ids].clone(), dense)

        return self.derived(key, build)
