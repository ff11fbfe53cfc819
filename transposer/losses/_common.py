"""Shared helpers for the losses: full precision for statistics, per-image reductions."""
from __future__ import annotations

import contextlib

import torch


def full_precision(t: torch.Tensor) -> contextlib.AbstractContextManager:
    """Disable autocast: Gram matrices, sorts and eigenvalues are unreliable in bf16/fp16."""
    return torch.autocast(t.device.type, enabled=False)


def flat_features(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) activations -> (B, C, H*W) float32."""
    return f.float().flatten(2)


def reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    """per_image: (B,). "mean" -> scalar, "none" -> (B,)."""
    if reduction == "mean":
        return per_image.mean()
    if reduction == "none":
        return per_image
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
