"""The package's weight files: safetensors with a format tag, a version, the model's config and a
training report (`extra`) as metadata. One writer and one reader for every network that ships
(the diffusion prior, the object recogniser); each failure is one line in the caller's error
type, naming the file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def save_weights(path: str | Path, module: torch.nn.Module, fmt: str, version: int, config,
                 extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write `module`'s state (cast to `dtype` when given) with `config` (a dataclass) and
    `extra` as metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": fmt, "version": str(version), "config": json.dumps(asdict(config)),
            "extra": json.dumps(extra or {}, sort_keys=True)}
    state = {k: (v.detach().cpu() if dtype is None else v.detach().cpu().to(dtype)).contiguous()
             for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata=meta)
    return path


def read_weights(path: str | Path, error: type[Exception], what: str
                 ) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(metadata, tensors) of `path`; `error` ("<what> <path> does not exist" / "... is not a
    readable safetensors file (...)") otherwise."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for truncated / garbage files
        raise error(f"{what} {path} is not a readable safetensors file "
                    f"({type(e).__name__}: {e})") from None
    return meta, tensors


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: str | Path,
               error: type[Exception]) -> None:
    """Load `tensors` into `module`; `error` when they do not match it or are not finite."""
    missing, unexpected = module.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise error(f"{path}: weights do not match the config (missing "
                    f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    if not all(torch.isfinite(v).all() for v in tensors.values()):
        raise error(f"{path}: weights contain NaN or inf")
