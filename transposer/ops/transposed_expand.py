"""The Transposer's core: a transposed convolution whose *filter is the feature map itself* and whose
*input is a placement map* (Liu et al. 2020, sec. 3.2).

Placement map entry M_g(ry + p, rx + q) weighs a copy of the filter K_g (a whole feature map of
size h x w) with its top-left corner at (h//2 + p, w//2 + q) of a 2h x 2w canvas; the zero shift
puts the copy at the centre. Summing the weighted copies is a full 2-D convolution of M with K
(a stride-1 transposed convolution), summed over the groups g.

On an axis that wraps (seamless output), the canvas is a torus of period 2h: whatever lands past
one edge re-enters at the other. Both cases come from one linear convolution of length 4h
(>= its support 2r + h - 1 for r < h): after rolling the canvas origin to index 0, the first 2h
entries are the plain canvas and entries 2h..4h are exactly what overhangs the edges, so

    canvas = full[:2h] + wrap * full[2h:4h].

`wrap` may be a tensor, so one exported graph serves plain and seamless output.

FFT (default, O(N log N)) and direct (grouped conv_transpose2d, O(N^2)) implementations agree
to float32 precision; the tests hold them together.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from transposer.ops.fft import at_least_fp32 as _at_least_fp32, irfft2



def _as_wrap(wrap, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(wrap, torch.Tensor):
        w = wrap.to(like.dtype)
        return w[0], w[1]
    wy, wx = wrap
    return (torch.tensor(float(wy), dtype=like.dtype, device=like.device),
            torch.tensor(float(wx), dtype=like.dtype, device=like.device))


def _canvas(full: torch.Tensor, h: int, w: int, ry: int, rx: int, wrap) -> torch.Tensor:
    """full: (..., 4h, 4w) linear convolution, zero beyond its support -> (..., 2h, 2w) canvas."""
    # Canvas row y is full-convolution row y + (ry - h//2): roll that origin to index 0.
    # narrow() and cat, not torch.roll or open-ended slices: roll by a symbolic amount does not
    # export to ONNX, and slices add min/max clamps that make the exporter's shape algebra explode.
    # The shift radius is at least h//2 (maps reach the canvas edges), so the offset is >= 0.
    oy, ox = ry - h // 2, rx - w // 2
    full = torch.cat([full.narrow(-2, oy, 4 * h - oy), full.narrow(-2, 0, oy)], dim=-2)
    full = torch.cat([full.narrow(-1, ox, 4 * w - ox), full.narrow(-1, 0, ox)], dim=-1)
    wy, wx = _as_wrap(wrap, full)
    rows = full.narrow(-2, 0, 2 * h) + wy * full.narrow(-2, 2 * h, 2 * h)
    return rows.narrow(-1, 0, 2 * w) + wx * rows.narrow(-1, 2 * w, 2 * w)


def transposed_expand_fft(maps: torch.Tensor, filters: torch.Tensor, wrap=(False, False)) -> torch.Tensor:
    """maps (B, G, 2ry+1, 2rx+1), filters (B, G, C, h, w) -> canvas (B, C, 2h, 2w), by FFT.

    Float32 inside whatever the autocast dtype (torch.fft has no bfloat16).
    """
    b, g, c, h, w = filters.shape
    ry, rx = (maps.shape[-2] - 1) // 2, (maps.shape[-1] - 1) // 2
    n = (4 * h, 4 * w)
    spec_m = torch.fft.rfft2(_at_least_fp32(maps), s=n)                       # (B, G, 4h, 2w+1)
    spec_k = torch.fft.rfft2(_at_least_fp32(filters), s=n)                    # (B, G, C, 4h, 2w+1)
    # Complex product summed over groups, written with real tensors (exports to ONNX cleanly).
    mr, mi = spec_m.real.unsqueeze(2), spec_m.imag.unsqueeze(2)
    kr, ki = spec_k.real, spec_k.imag
    re = (mr * kr - mi * ki).sum(1)
    im = (mr * ki + mi * kr).sum(1)
    full = irfft2(torch.complex(re, im), s=n)               # (B, C, 4h, 4w)
    return _canvas(full, h, w, ry, rx, wrap)


def transposed_expand_direct(maps: torch.Tensor, filters: torch.Tensor, wrap=(False, False)) -> torch.Tensor:
    """Reference implementation: per-sample grouped conv_transpose2d (each sample its own filter)."""
    b, g, c, h, w = filters.shape
    ry, rx = (maps.shape[-2] - 1) // 2, (maps.shape[-1] - 1) // 2
    inp = _at_least_fp32(maps).reshape(1, b * g, 2 * ry + 1, 2 * rx + 1)
    weight = _at_least_fp32(filters).reshape(b * g, c, h, w)
    full = F.conv_transpose2d(inp, weight, groups=b * g)              # (1, B*G*C, 2ry+h, 2rx+w)
    full = full.reshape(b, g, c, 2 * ry + h, 2 * rx + w).sum(1)
    full = F.pad(full, (0, 4 * w - (2 * rx + w), 0, 4 * h - (2 * ry + h)))
    return _canvas(full, h, w, ry, rx, wrap)


def transposed_expand(maps: torch.Tensor, filters: torch.Tensor, wrap=(False, False),
                      impl: str = "fft") -> torch.Tensor:
    """Place weighted copies of `filters` on a 2x canvas as `maps` says; impl 'fft' or 'direct'."""
    if not torch.compiler.is_compiling() and not torch.onnx.is_in_onnx_export():
        h, w = filters.shape[-2:]
        ry, rx = (maps.shape[-2] - 1) // 2, (maps.shape[-1] - 1) // 2
        if not (h // 2 <= ry < h and w // 2 <= rx < w):
            raise ValueError(f"placement radius ({ry}, {rx}) must be in [size//2, size-1] "
                             f"for filters of size ({h}, {w})")
    if impl == "fft":
        return transposed_expand_fft(maps, filters, wrap)
    if impl == "direct":
        return transposed_expand_direct(maps, filters, wrap)
    raise ValueError(f"impl must be 'fft' or 'direct', got {impl!r}")
