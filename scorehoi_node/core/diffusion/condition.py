"""Observation features c that condition the denoiser.

ScoreHOI conditions on ResNet image features; a robot trained on synthetic data is better served
by features that a real detector reproduces exactly (DESIGN section 2, "going further"):

    keypoints    MediaPipe-33 landmarks, centred on the person's box and divided by its size,
                 times their visibility; plus the visibilities          33*2 + 33
    person box   box centre and size as a camera ray (pixels -> normalised image coordinates) 3
    object       box in the person's box frame + presence flag; template one-hot           5 + M
    initial      the initial estimate's normalised state + presence flag                   D + 1

Missing parts are zeros with their flag 0; training drops each part at random so the
denoiser works with any subset (and unconditionally, for the "unguided prior" ablation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NUM_KEYPOINTS = 33
MIN_SCORE = 0.3


@dataclass(frozen=True)
class ConditionSpec:
    """Sizes of the condition vector.

    Attributes:
        template_ids: object templates the one-hot covers (library order).
        state_dim: D, size of the state vector.
    """

    template_ids: tuple[str, ...]
    state_dim: int

    @property
    def dim(self) -> int:
        return NUM_KEYPOINTS * 3 + 3 + 5 + len(self.template_ids) + self.state_dim + 1

    def template_index(self, template_id: str | None) -> int:
        """Index of `template_id` in the one-hot, -1 when unknown or None."""
        return self.template_ids.index(template_id) if template_id in self.template_ids else -1


def person_frame(keypoints_2d: torch.Tensor, scores: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 33, 2) px + (B, 33) -> box centre (B, 2) px and size (B,) px of the visible keypoints."""
    vis = scores >= MIN_SCORE
    big = torch.finfo(keypoints_2d.dtype).max
    lo = torch.where(vis[..., None], keypoints_2d, torch.full_like(keypoints_2d, big)).amin(1)
    hi = torch.where(vis[..., None], keypoints_2d, torch.full_like(keypoints_2d, -big)).amax(1)
    ok = vis.any(1)
    lo = torch.where(ok[:, None], lo, torch.zeros_like(lo))
    hi = torch.where(ok[:, None], hi, torch.ones_like(hi))
    centre = 0.5 * (lo + hi)
    size = (hi - lo).amax(1).clamp_min(1.0)
    return centre, size


def condition_features(spec: ConditionSpec, camera_K: torch.Tensor, keypoints_2d: torch.Tensor,
                       keypoint_scores: torch.Tensor, object_box: torch.Tensor | None = None,
                       template_index: torch.Tensor | None = None,
                       initial_state: torch.Tensor | None = None) -> torch.Tensor:
    """Batch of condition vectors (B, spec.dim).

    Args:
        spec: sizes.
        camera_K: (B, 3, 3) or (3, 3) intrinsics [px].
        keypoints_2d: (B, 33, 2) MediaPipe-33 landmarks [px] (non-finite = invisible).
        keypoint_scores: (B, 33) visibility in [0, 1].
        object_box: (B, 4) [u0, v0, u1, v1] px of the object, NaN rows = no object; or None.
        template_index: (B,) long template index (-1 = unknown); or None.
        initial_state: (B, D) normalised state of the initial estimate (NaN rows = none); or None.
    Returns:
        (B, spec.dim) float32 on the device of `keypoints_2d` (the other inputs are moved there).
    """
    kp = keypoints_2d.float()
    B, device = kp.shape[0], kp.device
    keypoint_scores, camera_K = keypoint_scores.to(device), camera_K.to(device)
    finite = torch.isfinite(kp).all(-1)
    scores = torch.where(finite, keypoint_scores.float(), torch.zeros_like(keypoint_scores.float()))
    kp = torch.where(finite[..., None], kp, torch.zeros_like(kp))
    centre, size = person_frame(kp, scores)
    kp_n = (kp - centre[:, None]) / size[:, None, None] * (scores[..., None] >= MIN_SCORE)
    K = camera_K.float().expand(B, 3, 3) if camera_K.ndim == 2 else camera_K.float()
    f = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    ray = torch.stack([(centre[:, 0] - K[:, 0, 2]) / f, (centre[:, 1] - K[:, 1, 2]) / f,
                       size / f], dim=1)
    obj = torch.zeros(B, 5, device=device)
    if object_box is not None:
        box = object_box.to(device).float().reshape(B, 4)
        has = torch.isfinite(box).all(1)
        rel = (box.reshape(B, 2, 2) - centre[:, None]) / size[:, None, None]
        rel = rel.reshape(B, 4)
        obj = torch.cat([torch.where(has[:, None], rel, torch.zeros_like(rel)),
                         has.float()[:, None]], dim=1)
    onehot = torch.zeros(B, len(spec.template_ids), device=device)
    if template_index is not None:
        idx = template_index.to(device).long().reshape(B)
        known = idx >= 0
        onehot[known, idx[known]] = 1.0
    init = torch.zeros(B, spec.state_dim + 1, device=device)
    if initial_state is not None:
        x = initial_state.to(device).float().reshape(B, spec.state_dim)
        has = torch.isfinite(x).all(1)
        init = torch.cat([torch.where(has[:, None], x, torch.zeros_like(x)),
                          has.float()[:, None]], dim=1)
    return torch.cat([kp_n.reshape(B, -1), scores, ray, obj, onehot, init], dim=1)
