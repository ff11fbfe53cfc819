"""Content (feature reconstruction / perceptual) loss on one VGG layer.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016;
Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016: mean squared difference of activations.
"""
from __future__ import annotations

import torch

from ._common import full_precision


def content_loss(feat_out: torch.Tensor, feat_target: torch.Tensor) -> torch.Tensor:
    """feat_*: (B, C, H, W) activations of the same layer -> scalar."""
    with full_precision(feat_out):
        return (feat_out.float() - feat_target.float()).pow(2).mean()
