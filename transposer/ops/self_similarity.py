"""Self-similarity maps of a feature map (Liu et al. 2020, eq. 1).

    S(p, q) = - sum_{m,n,c} ||F_c(m, n) - F_c(m - p, n - q)||^2 / sum_{m,n,c} ||F_c(m, n)||^2

for shifts |p| <= ry, |q| <= rx. Both sums run over the overlap of the map and its shifted copy
(outside the map there is nothing to compare).

Two normalisations:
- "plain": the paper's equation. A shift with a small overlap sums few terms, so large shifts look
  artificially similar (S near 0) whatever the content.
- "overlap": the distance is averaged over the overlap and divided by the features' mean energy
  *about their spatial mean*, so every shift is judged per pixel and the map's contrast does not
  depend on a constant offset of the features (which carries no similarity information but
  dominates the paper's denominator: with it, an untrained encoder's map is ~0 everywhere). Unrelated
  positions score about -2, the zero shift 0. This is the default (ModelConfig.ssm_norm).

The distance expands as D(s) = A(s) + A(-s) - 2 R(s), with R the autocorrelation of F (summed over
channels) and A(s) the energy ||F||^2 summed over the overlap. Both are correlations, so the FFT
implementation costs O(N log N); the reference implementation computes the same correlations by
direct convolution (O(N^2)), and the tests hold the two together.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from transposer.ops.fft import at_least_fp32 as _at_least_fp32, irfft2


_EPS = 1e-8


def shift_radius(size: int, fraction: float) -> int:
    """Largest shift used for a feature axis of `size`: fraction * size, at most size - 1.

    Works on symbolic sizes too (ONNX export with dynamic height/width): integer arithmetic only.
    """
    eighths = round(fraction * 8)
    if eighths >= 8:
        return size - 1
    return (size * eighths) // 8


def overlap_fraction(h: int, w: int, ry: int, rx: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, 2ry+1, 2rx+1): overlap area of the map with its (p, q)-shifted copy, over h*w."""
    py = torch.arange(-ry, ry + 1, device=like.device, dtype=like.dtype)
    px = torch.arange(-rx, rx + 1, device=like.device, dtype=like.dtype)
    fy = (h - py.abs()) / h
    fx = (w - px.abs()) / w
    return (fy[:, None] * fx[None, :])[None, None]


def _centre(feat: torch.Tensor, norm: str) -> torch.Tensor:
    # Distances are unchanged by removing the mean; only the "overlap" denominator uses it.
    return feat - feat.mean((2, 3), keepdim=True) if norm == "overlap" else feat


def _normalise(dist: torch.Tensor, energy: torch.Tensor, h: int, w: int, ry: int, rx: int,
               norm: str) -> torch.Tensor:
    # dist: (B, 1, 2ry+1, 2rx+1) summed squared distances; energy: (B, 1, 1, 1) total ||F||^2
    if norm == "plain":
        return -dist / (energy + _EPS)
    if norm == "overlap":
        frac = overlap_fraction(h, w, ry, rx, dist)
        return -(dist / frac) / (energy + _EPS)
    raise ValueError(f"norm must be 'overlap' or 'plain', got {norm!r}")


def _lags(x: torch.Tensor, ry: int, rx: int) -> torch.Tensor:
    """Reorder a circular correlation (..., Ny, Nx) so lags run -r..r along both axes."""
    # narrow(), not open-ended slices: keeps the exporter's symbolic shapes simple.
    x = torch.cat([x.narrow(-2, x.shape[-2] - ry, ry), x.narrow(-2, 0, ry + 1)], dim=-2)
    return torch.cat([x.narrow(-1, x.shape[-1] - rx, rx), x.narrow(-1, 0, rx + 1)], dim=-1)


def self_similarity_fft(feat: torch.Tensor, ry: int, rx: int, norm: str = "overlap") -> torch.Tensor:
    """(B, C, h, w) -> (B, 1, 2ry+1, 2rx+1) self-similarity map, by FFT correlation.

    Computed in float32 whatever the autocast dtype (torch.fft has no bfloat16).
    """
    b, _, h, w = feat.shape
    out_dtype = _at_least_fp32(feat).dtype
    # float64 inside: D = A + A - 2R cancels large terms, and the map's peaks are sharpened by a
    # large gain downstream, so float32 rounding (~1e-4 here) would move the chosen copies and
    # make PyTorch and onnxruntime disagree. The maps are small (a projection to few channels).
    feat = _centre(feat.double(), norm)
    # FFT length 2h: the largest lag read is r <= h - 1 and the correlation's support is
    # +-(h-1), so any length from h + r up leaves the lags we read unaliased; 2h rather than
    # h + r because onnxruntime's DFT is fast only at powers of two (h + r = 2h - 1 is odd).
    ny, nx = 2 * h, 2 * w
    spec = torch.fft.rfft2(feat, s=(ny, nx))                      # (B, C, ny, nx//2+1)
    power = (spec.real ** 2 + spec.imag ** 2).sum(1, keepdim=True)  # autocorrelation spectrum
    energy_map = (feat ** 2).sum(1, keepdim=True)                  # (B, 1, h, w)
    spec_e = torch.fft.rfft2(energy_map, s=(ny, nx))
    spec_o = torch.fft.rfft2(torch.ones_like(energy_map[:1]), s=(ny, nx))
    # A(s) + A(-s) has spectrum Fe conj(Fo) + conj(Fe) Fo = 2 Re(Fe conj(Fo)).
    both = 2.0 * (spec_e.real * spec_o.real + spec_e.imag * spec_o.imag)
    dist = irfft2(both - 2.0 * power, s=(ny, nx))       # (B, 1, ny, nx), lag-indexed
    dist = _lags(dist, ry, rx).clamp_min(0.0)
    energy = energy_map.sum((2, 3), keepdim=True)
    return _normalise(dist, energy, h, w, ry, rx, norm).to(out_dtype)


def self_similarity_direct(feat: torch.Tensor, ry: int, rx: int, norm: str = "overlap") -> torch.Tensor:
    """Reference implementation: the same correlations by direct (grouped) convolution."""
    b, c, h, w = feat.shape
    feat = _centre(_at_least_fp32(feat), norm)
    padded = F.pad(feat, (rx, rx, ry, ry)).reshape(1, b * c, h + 2 * ry, w + 2 * rx)
    # R(s): each sample's map correlated with itself; one group per sample.
    corr = F.conv2d(padded, feat, groups=b).reshape(b, 1, 2 * ry + 1, 2 * rx + 1)
    energy_map = (feat ** 2).sum(1, keepdim=True)
    e_pad = F.pad(energy_map, (rx, rx, ry, ry))
    ones = torch.ones(1, 1, h, w, dtype=feat.dtype, device=feat.device)
    area_energy = F.conv2d(e_pad, ones)                     # A(s)
    dist = area_energy + area_energy.flip(-1, -2) - 2.0 * corr
    dist = dist.clamp_min(0.0)
    energy = energy_map.sum((2, 3), keepdim=True)
    return _normalise(dist, energy, h, w, ry, rx, norm)


def self_similarity(feat: torch.Tensor, ry: int, rx: int, norm: str = "overlap",
                    impl: str = "fft") -> torch.Tensor:
    """Self-similarity map (B, 1, 2ry+1, 2rx+1) of features (B, C, h, w); impl 'fft' or 'direct'."""
    if impl == "fft":
        return self_similarity_fft(feat, ry, rx, norm)
    if impl == "direct":
        return self_similarity_direct(feat, ry, rx, norm)
    raise ValueError(f"impl must be 'fft' or 'direct', got {impl!r}")
