"""Minimum-error boundary cuts between a new piece and what its window already holds.

Image quilting (Efros and Freeman 2001): where a new piece overlaps pixels placed before, the
seam between them should run where the two agree, not along the window's straight edge. Each
side of a window that holds earlier pixels is a *strip* (up to `depth` pixels deep, along the
whole side); in every row of a strip the cut keeps the earlier pixels in front of it (the
first `t` from the outside) and takes the new piece behind it. `t` is found by dynamic
programming along the strip, minimising the summed squared difference between old and new at
the cut, with |t(i) - t(i - 1)| <= 1 so the seam is a connected path. A pixel is taken from the
new piece only where every strip's cut says so (the corners of an L or U shape).

Two constraints keep the result valid: pixels that hold nothing yet must be taken from the new
piece, and the fixed centre (the user's input) must be kept. They enter the programme as large
costs (not hard walls, so a path always exists) and are enforced exactly afterwards.

All strips of a wave are solved together: one numpy step per position along the strips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SIDES = ("top", "bottom", "left", "right")


@dataclass
class Strip:
    side: str
    error: np.ndarray  # (L, D) squared difference old - new, depth 0 = the window's outer edge
    t_min: np.ndarray  # (L,) the cut must keep at least this many pixels (fixed ones)
    t_max: np.ndarray  # (L,) ... and at most this many (up to the first empty pixel)


def _oriented(a: np.ndarray, side: str, depth: int) -> np.ndarray:
    """(H, W) window array -> (L, D) strip: positions along the side, depth inward."""
    if side == "top":
        return a[:depth].T
    if side == "bottom":
        return a[::-1][:depth].T
    if side == "left":
        return a[:, :depth]
    return a[:, ::-1][:, :depth]


def strips_of(error: np.ndarray, filled: np.ndarray, fixed: np.ndarray, depth: int) -> list[Strip]:
    """The strips of one window (H, W) that hold earlier pixels."""
    height, width = filled.shape
    out = []
    for side in _SIDES:
        d = min(depth, (height if side in ("top", "bottom") else width) // 2)
        if d <= 0:
            continue
        f = _oriented(filled, side, d)
        if not f.any():
            continue
        x = _oriented(fixed, side, d)
        empty = ~f
        t_max = np.where(empty.any(axis=1), empty.argmax(axis=1), d)
        t_min = np.where(x.any(axis=1), d - x[:, ::-1].argmax(axis=1), 0)
        out.append(Strip(side, _oriented(error, side, d), t_min, t_max))
    return out


BATCH_CELLS = 64 * 1024 * 1024  # elements of one batch's cost table (bounds memory at any size)


def solve(strips: list[Strip]) -> list[np.ndarray]:
    """The cut t (L,) of every strip: strips of similar size solved together, in batches."""
    out: list = [None] * len(strips)
    order = sorted(range(len(strips)), key=lambda k: strips[k].error.size)
    batch: list[int] = []
    for k in order + [None]:
        if k is not None:
            L, D = strips[k].error.shape
            if not batch or (len(batch) + 1) * L * (D + 1) <= BATCH_CELLS:
                batch.append(k)
                continue
        for index, cut in zip(batch, _solve_batch([strips[i] for i in batch])):
            out[index] = cut
        batch = [k] if k is not None else []
    return out


def _solve_batch(strips: list[Strip]) -> list[np.ndarray]:
    """One dynamic programme over every strip in the batch at once."""
    if not strips:
        return []
    n = len(strips)
    length = max(s.error.shape[0] for s in strips)
    depth = max(s.error.shape[1] for s in strips)
    cost = np.zeros((n, length, depth + 1), np.float32)
    scale = max(float(max(s.error.max() for s in strips)), 1e-6)
    big = 10.0 * scale * (length + 1)  # more than any legal path costs
    ts = np.arange(depth + 1)
    for k, s in enumerate(strips):
        L, D = s.error.shape
        # cost of cutting before depth t: the error of the first new pixel (the last old one at D)
        cost[k, :L, :D] = s.error
        cost[k, :L, D] = s.error[:, D - 1]
        bad = (ts[None, :] < s.t_min[:, None]) | (ts[None, :] > s.t_max[:, None])
        cost[k, :L][bad] += big
        cost[k, :L, D + 1:] = big  # deeper than this strip
    back = np.zeros((n, length, depth + 1), np.int8)
    acc = cost[:, 0].astype(np.float64)
    best = np.empty_like(acc)
    for i in range(1, length):
        # from t - 1, t or t + 1 in the row before: the cheapest, and which it was
        best[:] = acc
        step = back[:, i]
        from_below = acc[:, :-1] < best[:, 1:]
        best[:, 1:][from_below] = acc[:, :-1][from_below]
        step[:, 1:][from_below] = -1
        from_above = acc[:, 1:] < best[:, :-1]
        best[:, :-1][from_above] = acc[:, 1:][from_above]
        step[:, :-1][from_above] = 1
        acc = cost[:, i] + best
    t = np.empty((n, length), np.int64)
    t[:, -1] = acc.argmin(axis=1)
    rows = np.arange(n)
    for i in range(length - 1, 0, -1):
        t[:, i - 1] = t[:, i] + back[rows, i, t[:, i]]
    return [t[k, :s.error.shape[0]] for k, s in enumerate(strips)]


def take_new(shape: tuple[int, int], strips: list[Strip], cuts: list[np.ndarray], filled: np.ndarray,
             fixed: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the new piece is taken, given the window's strips and their cuts."""
    new = np.ones(shape, bool)
    for s, t in zip(strips, cuts):
        d = s.error.shape[1]
        old = np.arange(d)[None, :] < t[:, None]  # (L, D)
        view = _oriented(new, s.side, d)  # a view into `new`, oriented like the strip
        view[old] = False
    new &= ~fixed
    new |= ~filled
    return new
