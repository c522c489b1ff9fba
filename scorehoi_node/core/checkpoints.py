"""Safetensors checkpoints of the package's networks (denoiser, contact net, object recogniser).

A checkpoint is one safetensors file: the module's weights and buffers as tensors, and as JSON
metadata a format name, a version, the model config and a free-form report (`extra`). Nothing is
pickled, so loading never runs code. Every failure to use a file raises `CheckpointError` with
one line naming the file and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

T = TypeVar("T")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (missing, corrupt, or of another model)."""


def save_weights(path: str | Path, module: nn.Module, fmt: str, version: int, config,
                 extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write `module`'s state (cast to `dtype` when given) to `path` (parents created) with
    format, version, `config` (a dataclass) and `extra` as metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": fmt, "version": str(version), "config": json.dumps(asdict(config)),
            "extra": json.dumps(extra or {}, sort_keys=True)}
    state = {k: (v.detach().cpu() if dtype is None else v.detach().cpu().to(dtype)).contiguous()
             for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata=meta)
    return path


def read_weights(path: str | Path, error: type[Exception] | None = None, what: str = "checkpoint"
                 ) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(metadata, tensors) of `path`; `error` (default `CheckpointError`): "<what> <path> does
    not exist" / "... is not a readable safetensors file (...)" otherwise."""
    error = error or CheckpointError
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for truncated/garbage files
        raise error(f"{what} {path} is not a readable safetensors file "
                    f"({type(e).__name__}: {' '.join(str(e).split())})") from None
    return meta, tensors


def load_state(module: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path,
               error: type[Exception] | None = None) -> None:
    """Load `tensors` into `module`; `error` (default `CheckpointError`) when they do not
    match it or are not finite."""
    error = error or CheckpointError
    try:
        missing, unexpected = module.load_state_dict(tensors, strict=False)
    except RuntimeError as e:  # tensors of other shapes
        raise error(f"{path}: weights do not match the config "
                    f"({' '.join(str(e).split())[:160]})") from None
    if missing or unexpected:
        raise error(f"{path}: weights do not match the config (missing "
                    f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    if not all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point()):
        raise error(f"{path}: weights contain NaN or inf")


def load_checkpoint(path: str | Path, fmt: str, version: int, what: str,
                    build: Callable[[dict], T]) -> tuple[T, dict]:
    """Read a checkpoint written by `save_weights`: `build(config dict)` makes the module
    (a ValueError, TypeError or KeyError there means an unreadable config), whose weights are
    then loaded strictly. Returns (module, extra). `what` names the model in messages.

    Raises:
        CheckpointError: missing or unreadable file, another format or version, an unreadable
            config, weights that do not match it, or NaN / inf weights.
    """
    meta, tensors = read_weights(path, CheckpointError, f"{what} checkpoint")
    if meta.get("format") != fmt:
        raise CheckpointError(f"{path} is not a ScoreHOI {what} checkpoint "
                              f"(format {meta.get('format')!r})")
    if meta.get("version") != str(version):
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} is not "
                              f"supported (expected {version})")
    try:
        module = build(json.loads(meta["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable model config ({e})") from None
    load_state(module, tensors, path, CheckpointError)
    return module, json.loads(meta.get("extra", "{}"))


class Checkpointed:
    """`save` / `load` for an `nn.Module` built from one frozen dataclass `config` (JSON lists
    come back as tuples). Subclasses set `checkpoint_format`, `checkpoint_version`,
    `checkpoint_name` (for messages) and `config_class`; `load` sets `extra` (the report)."""

    checkpoint_format: str
    checkpoint_version: int
    checkpoint_name: str
    config_class: type

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """Write a safetensors checkpoint (weights + buffers; config and `extra` as metadata)."""
        return save_weights(path, self, self.checkpoint_format, self.checkpoint_version,
                            self.config, extra)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu"):
        """Read a checkpoint written by `save`; `CheckpointError` with the reason otherwise."""
        def build(raw: dict):
            return cls(cls.config_class(**{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in raw.items()}))

        model, extra = load_checkpoint(path, cls.checkpoint_format, cls.checkpoint_version,
                                       cls.checkpoint_name, build)
        model.extra = extra
        return model.to(device).eval()
