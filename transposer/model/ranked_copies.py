"""Ranked copy choice: every canvas cell copies from exactly one shifted copy of the input.

Why (measured on the corpus validation split): with the soft placement every canvas position takes
a softmax over *all* the copies that reach it. On a stochastic texture the placement logits are
nearly flat over large shifts, so a ring position averages many copies' source coordinates: the
average of a sliding window of shifts is a source point that moves far slower than the output
position (or not at all), and the ring fills with streaks stretched 2-5x from a few input rows.
No temperature fixes that, because the logits there differ only by noise.

Here the logits only *rank* copies:
1. the G groups' logits are combined (logsumexp) into one score per shift;
2. only local maxima within `spacing` x `spacing` shifts are candidates, so no two candidates are
   near-duplicates (a copy one cell beside a higher-ranked one would add a 1-cell strip of its
   edge: a streak again);
3. the `count` best candidates, plus four fallback copies at (+-h/2, +-w/2) that tile the whole
   canvas (moved by a quarter on a wrapping axis), are painted lowest rank first; each covers an
   input-sized box of the canvas (on a wrapping axis the box continues across the edge), so a
   cell ends up copying from the highest-ranked copy that reaches it.

The zero shift is always the most similar copy, so the centre is the input itself; the ring is
made of whole pieces of the input, regions bounded by copy edges, which the decoder blends.
Everything is comparisons, top-k and gathers of a fixed count: cheap at any size, and it exports to
ONNX with dynamic sizes. The choice has no gradient of its own; in training the caller passes the
soft coordinates through (straight-through) so the placement logits still learn.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from transposer.ops import overlap_fraction

_TWIN_BIAS = 1e-3   # nats: far above float rounding of the logits (~1e-5), far below real differences


def local_maxima(scores: torch.Tensor, spacing: int) -> torch.Tensor:
    """scores with every entry that is not the largest in its spacing x spacing block set to -inf."""
    if spacing <= 1:
        return scores
    peak = F.max_pool2d(scores, spacing, stride=1, padding=spacing // 2)
    return torch.where(scores >= peak, scores, torch.full_like(scores, float("-inf")))


def _cover(size: int, shift: torch.Tensor, wrap: torch.Tensor, like: torch.Tensor):
    """For each canvas index on one axis (2*size of them), the source index under each shift and
    whether it lies on the input. shift: (B, K) -> src, ok: (B, K, 2*size)."""
    pos = torch.arange(2 * size, device=like.device, dtype=like.dtype)
    src = pos[None, None, :] - size // 2 - shift[..., None].to(like.dtype)
    # On a wrapping axis the canvas is a torus of period 2*size.
    src = src + wrap * (torch.remainder(src, 2 * size) - src)
    return src, (src >= 0) & (src < size)


def ranked_copy_canvas(logits: torch.Tensor, h: int, w: int, stride: int, wrap: torch.Tensor,
                       count: int, spacing: int, min_overlap: float = 0.0) -> torch.Tensor:
    """Placement logits (B, G, 2ry+1, 2rx+1) over shifts of an h x w feature grid with the given
    stride -> (B, 2, 2h, 2w): the input-pixel (y, x) each canvas cell copies from (cell centres)."""
    b = logits.shape[0]
    ny, nx = logits.shape[-2:]
    ry, rx = (ny - 1) // 2, (nx - 1) // 2
    scores = torch.logsumexp(logits.float(), dim=1, keepdim=True)
    # Self-similarity is symmetric (S(p) = S(-p)), so every candidate has an equally scored twin
    # and rounding would decide between them differently in PyTorch and onnxruntime. A small
    # preference for one half-plane of shifts makes the choice deterministic everywhere.
    sy = torch.arange(ny, device=scores.device)[:, None] - ry
    sx = torch.arange(nx, device=scores.device)[None, :] - rx
    scores = scores + _TWIN_BIAS * ((sy > 0) | ((sy == 0) & (sx > 0))).to(scores.dtype)
    if min_overlap > 0:
        overlap = overlap_fraction(h, w, ry, rx, scores)
        scores = torch.where(overlap >= min_overlap, scores, torch.full_like(scores, float("-inf")))
    scores = local_maxima(scores, spacing).reshape(b, ny * nx)
    k = min(count, ny * nx)
    best, idx = torch.topk(scores, k, dim=1)                                # best first
    # Fewer local maxima than `count`: the rest of the top k are suppressed (-inf) shifts in an
    # arbitrary order (it differs between PyTorch and onnxruntime); they must not paint.
    real = torch.cat([best > float("-inf"), best.new_ones(b, 4, dtype=torch.bool)], dim=1)
    py = torch.div(idx, nx, rounding_mode="floor") - ry
    px = idx - (py + ry) * nx - rx
    # Fallback copies (lowest rank): a 2 x 2 tiling of the canvas, so every cell is covered even
    # where no candidate reaches (e.g. few distinct maxima on a flat texture).
    # Signs times the half size, not torch.tensor([...h//2...]): that would bake the example's
    # size into an exported graph.
    # On a wrapping axis the tiling moves by a quarter: its cuts would otherwise fall exactly on
    # the wrap edge (rows 0 | 2h-1 would hold source rows 0 | h-1), making the tile border the
    # one place where fallback regions always show a cut.
    qy = (wrap[0] * (h // 4)).round().to(idx.dtype)
    qx = (wrap[1] * (w // 4)).round().to(idx.dtype)
    fy = (torch.tensor([-1, -1, 1, 1], device=idx.device, dtype=idx.dtype) * (h // 2) + qy).expand(b, 4)
    fx = (torch.tensor([-1, 1, -1, 1], device=idx.device, dtype=idx.dtype) * (w // 2) + qx).expand(b, 4)
    py, px = torch.cat([py, fy], 1), torch.cat([px, fx], 1)
    like = logits.new_zeros((), dtype=torch.float32)
    sy, oky = _cover(h, py, wrap[0].float(), like)                          # (B, K+4, 2h)
    sx, okx = _cover(w, px, wrap[1].float(), like)                          # (B, K+4, 2w)
    src_y = torch.zeros(b, 2 * h, 2 * w, device=logits.device)
    src_x = torch.zeros_like(src_y)
    for i in range(k + 3, -1, -1):                                          # paint lowest rank first
        ok = oky[:, i, :, None] & okx[:, i, None, :] & real[:, i, None, None]
        src_y = torch.where(ok, sy[:, i, :, None].expand_as(src_y), src_y)
        src_x = torch.where(ok, sx[:, i, None, :].expand_as(src_x), src_x)
    # Feature cell index -> input-pixel coordinate of the cell's centre.
    return torch.stack([src_y, src_x], dim=1) * stride + (stride - 1) / 2.0
