"""Inference snapshots: one safetensors file holding the (EMA) weights and the ModelConfig.

A snapshot is all that export and evaluation need; it is separate from the trainer's resume state
(optimizer, RNG, step), so it stays small and loads without pickle (safetensors cannot run code).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from transposer.runtime.files import atomic_write

from .config import ModelConfig

FORMAT = "transposer-snapshot-1"
def write_atomic(path: str | Path, write: Callable[[str], None]) -> None:
    """Run `write(tmp_path)` on a temporary file beside `path`, then rename it over `path`
    (transposer.runtime.files.atomic_write: a crash or kill -9 leaves the old file or the new
    one, never a torn one); the folder is created first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def save_snapshot(path: str | Path, model: nn.Module, config: ModelConfig,
                  metadata: dict[str, str] | None = None) -> None:
    """Write `model`'s state dict and `config` to `path` (safetensors), atomically."""
    from safetensors.torch import save_file

    # clone(): safetensors refuses tensors that share storage; contiguous CPU copies are plain.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "transposer.name": config.name,
        "transposer.config": config.to_json(),
        "transposer.config_hash": config.hash(),
    }
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_snapshot_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"snapshot not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ValueError(f"{path} is not a safetensors file ({exc})") from None
    if "transposer.config" not in meta:
        raise ValueError(f"{path} is not a transposer snapshot (no transposer.config metadata)")
    return meta


def load_snapshot(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the network from the snapshot's config and load its weights; eval mode."""
    from safetensors.torch import load_file

    from . import build_model

    meta = read_snapshot_metadata(path)
    config = ModelConfig.from_dict(json.loads(meta["transposer.config"]))
    model = build_model(config)
    model.load_state_dict(load_file(str(path), device="cpu"), strict=True)
    return model.to(device).eval()
