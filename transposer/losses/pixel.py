"""Pixel reconstruction loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error. L1 rather than L2 keeps edges sharper (Zhao et al., "Loss Functions for
    Image Restoration with Neural Networks", IEEE TCI 2017), but on its own it still averages the
    many plausible expansions into blur: the texture losses below are what fix that."""
    return F.l1_loss(output.float(), target.float())
