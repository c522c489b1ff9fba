"""Body-model layer: one `BodyModel` interface, backends chosen by name.

    anny   free default (Apache-2.0 code, CC0 assets), 13 718 vertices, 20 posed joints, 6 phenotypes
    smplh  SMPL-H from the user's model file (52 joints, 10 betas); never shipped
    smplx  SMPL-X from the user's model file (55 joints, 10 betas); never shipped

All backends share the body frame (+Y up, +X the person's left, +Z forward, metres) and the
`StateLayout` of the HOI state vector. Heavy imports (anny, smplx) stay inside the backends.
"""

from __future__ import annotations

from typing import Any

from scorehoi_node.core.bodies.base import CONTACT_PART_BUDGET, BodyModel, BodyOutput
from scorehoi_node.core.bodies.functional import rot6d_to_rotmat, rotmat_to_rot6d
from scorehoi_node.core.bodies.layout import HOIStateParts, StateLayout

BODY_MODEL_NAMES: tuple[str, ...] = ("anny", "smplh", "smplx")

__all__ = [
    "BODY_MODEL_NAMES",
    "CONTACT_PART_BUDGET",
    "BodyModel",
    "BodyOutput",
    "HOIStateParts",
    "StateLayout",
    "make_body_model",
    "rot6d_to_rotmat",
    "rotmat_to_rot6d",
]


def make_body_model(name: str, **kwargs: Any) -> BodyModel:
    """Build the backend called `name` with its constructor's keyword arguments.

    anny: `dtype`, `skinning_method` (see `AnnyBody`). smplh / smplx: `model_path`, `gender`,
    `num_shape`, `dtype` (see `SMPLFamilyBody`). Unknown names raise ValueError listing the
    choices; unknown keywords raise TypeError; a missing SMPL file raises FileNotFoundError.
    """
    # backends are imported only when chosen: anny starts NVIDIA Warp, smplx reads user files
    if name == "anny":
        from scorehoi_node.core.bodies.anny_body import AnnyBody

        return AnnyBody(**kwargs)
    if name in ("smplh", "smplx"):
        from scorehoi_node.core.bodies.smplx_body import SMPLFamilyBody

        return SMPLFamilyBody(model_type=name, **kwargs)
    raise ValueError(f"unknown body model {name!r}; choices: {', '.join(BODY_MODEL_NAMES)}")
