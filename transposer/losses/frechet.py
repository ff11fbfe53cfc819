"""Differentiable Frechet distance between Gaussian fits of VGG feature vectors (the "FID loss").

Frechet distance between N(mu1, C1) and N(mu2, C2) (Dowson & Landau 1982; as FID: Heusel et al.,
"GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017):
|mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr sqrt(C1 C2). The samples are the H*W feature vectors of ONE
image at one VGG layer, so each output is compared with its own target texture.

tr sqrt(C1 C2) = tr sqrt(S C1 S) with S = sqrt(C2), a symmetric positive definite matrix whose
square root comes from the coupled Newton-Schulz iteration (Higham, "Functions of Matrices", 2008,
eq. 6.35): batched matrix products only, because batched `eigh` of 256-512 wide matrices runs as a
slow per-matrix loop on CUDA. The iteration also yields M^{-1/2}, which is exactly the gradient of
tr sqrt(M) (1/2 M^{-1/2}), so the backward pass costs one product, not a replay of 30 iterations.

Covariances of ReLU features are rank deficient (fewer positions than channels at relu5_1), so both
get the same ridge `ridge * mean target variance * I` (the distance between the Gaussians smoothed by
a little isotropic noise: still zero if and only if the statistics match), and the square roots
run in float64, where the iteration is stable for the resulting condition numbers.
"""
from __future__ import annotations

import torch

from ._common import flat_features, full_precision, reduce


def feature_stats(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> mean (B, C), unbiased covariance (B, C, C) over the H*W positions."""
    x = flat_features(f)
    mu = x.mean(dim=2)
    xc = x - mu[..., None]
    cov = xc @ xc.transpose(1, 2) / max(x.shape[2] - 1, 1)
    return mu, cov


def sqrtm_newton_schulz(a: torch.Tensor, max_iters: int = 60, tol: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor]:
    """(sqrt(A), A^{-1/2}) of symmetric positive definite (B, C, C) matrices, no autograd."""
    with torch.no_grad():
        norm = a.norm(dim=(-2, -1), keepdim=True).clamp_min(1e-300)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand_as(a)
        y, z = a / norm, eye.clone()  # y -> sqrt(A/n), z -> (A/n)^{-1/2}; eigenvalues in (0, 1]
        for i in range(max_iters):
            t = 0.5 * (3.0 * eye - z @ y)
            y, z = y @ t, t @ z
            if i % 5 == 4 and float((z @ y - eye).abs().amax()) < tol:
                break
        return y * norm.sqrt(), z / norm.sqrt()


class _TraceSqrtm(torch.autograd.Function):
    """tr sqrt(M) for symmetric positive definite M; d/dM = 1/2 M^{-1/2}."""

    @staticmethod
    def forward(ctx, m):
        root, inv_root = sqrtm_newton_schulz(m)
        ctx.save_for_backward(inv_root)
        return root.diagonal(dim1=-2, dim2=-1).sum(-1)

    @staticmethod
    def backward(ctx, grad):
        (inv_root,) = ctx.saved_tensors
        return 0.5 * grad[:, None, None] * inv_root


def frechet_distance(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor, ridge: float = 1e-3
) -> torch.Tensor:
    """Batched: mu (B, C), cov (B, C, C) -> (B,) float32. Differentiable in mu1 and cov1; (mu2,
    cov2) is the reference. `ridge` (relative to the mean variance of cov2) may be 0 only when
    both covariances have full rank."""
    with full_precision(cov1):
        dtype = torch.float64
        mu1, cov1 = mu1.to(dtype), cov1.to(dtype)
        mu2, cov2 = mu2.detach().to(dtype), cov2.detach().to(dtype)
        if ridge > 0:
            eye = torch.eye(cov1.shape[-1], dtype=dtype, device=cov1.device)
            eps = ridge * cov2.diagonal(dim1=-2, dim2=-1).mean(-1) + 1e-8  # floor: a flat target
            cov1 = cov1 + eps[:, None, None] * eye
            cov2 = cov2 + eps[:, None, None] * eye
        s, _ = sqrtm_newton_schulz(cov2)
        m = s @ cov1 @ s
        m = 0.5 * (m + m.transpose(-1, -2))
        tr_sqrt = _TraceSqrtm.apply(m)
        tr1 = cov1.diagonal(dim1=-2, dim2=-1).sum(-1)
        tr2 = cov2.diagonal(dim1=-2, dim2=-1).sum(-1)
        return ((mu1 - mu2).pow(2).sum(-1) + tr1 + tr2 - 2.0 * tr_sqrt).float()


def frechet_loss(feats_out: list[torch.Tensor], feats_target: list[torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """Mean over layers of the per-image Frechet distance divided by the channel count (so that
    the 64- and 512-channel layers weigh alike)."""
    with full_precision(feats_out[0]):  # covariances in bf16 are not even positive semi-definite
        per_image = 0.0
        for fo, ft in zip(feats_out, feats_target):
            mo, co = feature_stats(fo)
            mt, ct = feature_stats(ft.detach())
            per_image = per_image + frechet_distance(mo, co, mt, ct) / fo.shape[1]
    return reduce(per_image / len(feats_out), reduction)
