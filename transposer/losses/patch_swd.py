"""Multi-scale sliced Wasserstein loss on raw pixel patches: needs no pretrained network.

The patch-distribution view of texture of Efros & Leung (ICCV 1999) and of the multi-scale patch
matching of Kwatra et al. ("Texture Optimization for Example-based Synthesis", SIGGRAPH 2005), made
differentiable and cheap with random 1D projections (Rabin, Peyre, Delon & Bernot, "Wasserstein
Barycenter and its Application to Texture Mixing", SSVM 2011; Heitz et al., CVPR 2021).

A random projection of every k x k patch is one convolution with a random unit (3, k, k) filter, so
the unfolded patch tensor is never built.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import full_precision, reduce
from .swd import random_directions, sorted_projection_distance


def patch_sliced_wasserstein_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    patch_size: int = 5,
    scales: int = 3,
    n_directions: int | None = None,
    reduction: str = "mean",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """output, target: (B, 3, H, W) (sizes may differ) at scales 1, 1/2, 1/4, ...

    n_directions defaults to the patch dimension 3*k*k. Returns the mean over scales.
    """
    with full_precision(output):
        xo, xt = output.float(), target.float()
        c = xo.shape[1]
        n = n_directions or c * patch_size * patch_size
        per_image, used = 0.0, 0
        for s in range(scales):
            if s:
                xo, xt = F.avg_pool2d(xo, 2), F.avg_pool2d(xt, 2)
            if min(*xo.shape[-2:], *xt.shape[-2:]) < patch_size:
                break
            filters = random_directions(n, c * patch_size * patch_size, xo, generator).view(n, c, patch_size, patch_size)
            po = F.conv2d(xo, filters).flatten(2)  # (B, n, N_out)
            pt = F.conv2d(xt, filters).flatten(2)
            per_image = per_image + sorted_projection_distance(po, pt)
            used += 1
        if not used:
            raise ValueError(f"patch_swd: images of {tuple(output.shape[-2:])} are smaller than patch_size={patch_size}")
    return reduce(per_image / used, reduction)
