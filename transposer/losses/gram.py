"""Gram-matrix style loss, computed per image.

Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015, and
"Image Style Transfer Using Convolutional Neural Networks", CVPR 2016; normalisation by C*H*W as in
Johnson et al., ECCV 2016.

Each image gets its own (C, C) Gram matrix: a texture's statistics are those of that texture. (The
2023 re-implementation flattened the batch into one (C, B*H*W) matrix, which mixes the textures of a
batch into one target.)
"""
from __future__ import annotations

import torch

from ._common import flat_features, full_precision, reduce


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C), normalised by C*H*W."""
    b, c, h, w = f.shape
    x = flat_features(f)  # (B, C, HW)
    return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def gram_loss(feats_out: list[torch.Tensor], feats_target: list[torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """Mean over layers of the mean squared Gram difference; per image with reduction="none"."""
    with full_precision(feats_out[0]):
        per_image = sum(
            (gram_matrix(fo) - gram_matrix(ft)).pow(2).mean(dim=(1, 2)) for fo, ft in zip(feats_out, feats_target)
        ) / len(feats_out)
    return reduce(per_image, reduction)
