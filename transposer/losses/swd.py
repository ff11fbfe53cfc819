"""Sliced Wasserstein loss on VGG features.

Heitz, Vanhoey, Chambon & Belcour, "A Sliced Wasserstein Loss for Neural Texture Synthesis",
CVPR 2021. For each layer the activations of an image are a point cloud of H*W feature vectors;
project both clouds on as many random unit directions as there are channels (redrawn on every call,
so over training the whole distribution is matched, not a fixed set of marginals), sort the
projections and compare them by squared error: the 1D optimal transport between the marginals.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import flat_features, full_precision, reduce


def random_directions(n: int, dim: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, dim) rows of unit length, uniformly distributed on the sphere."""
    d = torch.randn(n, dim, device=like.device, dtype=torch.float32, generator=generator)
    return d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sorted_projection_distance(proj_out: torch.Tensor, proj_target: torch.Tensor) -> torch.Tensor:
    """proj_*: (B, P, N_out) and (B, P, N_target) -> (B,) mean squared distance of sorted values.

    When the pixel counts differ, the target's sorted projections (its quantile function) are
    linearly resampled to N_out points.
    """
    so = proj_out.sort(dim=-1).values
    st = proj_target.sort(dim=-1).values
    if st.shape[-1] != so.shape[-1]:
        st = F.interpolate(st, size=so.shape[-1], mode="linear", align_corners=False)
    return (so - st).pow(2).mean(dim=(1, 2))


def sliced_wasserstein_loss(
    feats_out: list[torch.Tensor],
    feats_target: list[torch.Tensor],
    reduction: str = "mean",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean over layers of the per-image sliced Wasserstein distance; (B,) with reduction="none"."""
    with full_precision(feats_out[0]):
        per_image = 0.0
        for fo, ft in zip(feats_out, feats_target):
            xo, xt = flat_features(fo), flat_features(ft)  # (B, C, N)
            v = random_directions(xo.shape[1], xo.shape[1], xo, generator)  # (C, C)
            per_image = per_image + sorted_projection_distance(v @ xo, v @ xt)
        per_image = per_image / len(feats_out)
    return reduce(per_image, reduction)
