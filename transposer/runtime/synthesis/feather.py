"""Soft bands: where the copy would step, the layers fade from one copy of the input to another.

- Around the input (Feather): the input is kept exactly, so the cut between it and the pieces
  around it is its own straight edge, and where a piece differs from the input in shading that
  edge reads as a pasted square (the judges' most frequent complaint). Just outside the input
  its mirror image continues it without any step (mirror padding's one strength); the band
  fades from that reflection into the pieces.
- Along the cuts between pieces (across_cuts): each side fades towards what the other piece
  holds there, half and half at the cut, so two pieces meet in a short transition.

A band takes in the other copy's shading (its mean over a few pixels) whole, and only a share
of its fine detail: blending two copies whose lines, grains or bars do not align would double
them into faint ghosts and wash out the contrast, while a step in brightness is what the eye
sees as a seam (mix). Both copies are of the input, so every layer (colour, alpha, companions,
16-bit and HDR values) is blended by the same rule with the same weights, and a companion equal
to the colour comes out equal to it. Inside the input the weight is 0: the centre is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..warp import bilinear, rows_at

WIDTH = 0.25  # the band's width, as a fraction of a cell (a piece's side)
CUT_CHUNK = 512  # columns (a quarter as many rows) whose nearest cuts are found at once
FULL_SHADING_BYTES = 1 << 20  # the shading kept per pixel (Shading), every s-th pixel where it would not fit
STRIDE_SHARE = 4  # ... with s at most a quarter of the block size (the shading changes over a block)
STRIP_ROWS = 256
DETAIL_SHARE = 0.25  # of the other copy's fine detail the band takes in (of its shading: all)


@dataclass(frozen=True)
class Feather:
    """The soft bands of one arrangement: their width, and the band around the input (rows);
    the band along the cuts is across_cuts, which also needs the labels."""

    source: tuple[int, int]  # (h, w) of the input
    origin: tuple[int, int]  # where the input sits on the canvas
    canvas: tuple[int, int]
    wrap: tuple[bool, bool]
    width: int  # pixels of the band; 0: none
    edge: bool = True  # the band around the input (off on a period: its reflection is off the period)

    @property
    def low(self) -> int:
        """The shading a band blends in whole is the layers' mean over blocks this many pixels
        on a side (read back bilinearly): about half the band's width."""
        return max(1, int(round(self.width / 2)))

    @staticmethod
    def around(source, origin, canvas, wrap, cell: float, edge: bool = True) -> "Feather":
        return Feather(tuple(source), tuple(origin), tuple(canvas), tuple(wrap), int(round(WIDTH * cell)), edge)

    def rows(self, r0: int, r1: int) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """For canvas rows [r0, r1): the band's pixels (flat indices into the (r1 - r0, W)
        block), their mirror positions in the source (y, x) and their weights; None where no
        pixel of these rows is in the band."""
        if self.width <= 0 or not self.edge:
            return None
        ty, ey = self._axis(np.arange(r0, r1), 0)
        tx, ex = self._axis(np.arange(self.canvas[1]), 1)
        distance = np.maximum(ey[:, None], ex[None, :]).astype(np.int32)
        index = np.flatnonzero((distance > 0) & (distance <= self.width))
        if index.size == 0:
            return None
        iy, ix = np.divmod(index, self.canvas[1])
        return _compact(index, ty[iy], tx[ix], 1.0 - distance.ravel()[index] / (self.width + 1.0))

    def _axis(self, positions: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Mirror source position and distance outside the input along one axis (the nearest
        image of the input on a seamless axis)."""
        n, o, size = self.source[axis], self.origin[axis], self.canvas[axis]
        u = positions - o
        if self.wrap[axis]:
            images = np.stack([u - size, u, u + size])
            outside = np.maximum(np.maximum(-images, images - (n - 1)), 0)
            u = np.take_along_axis(images, np.argmin(outside, axis=0)[None], axis=0)[0]
        distance = np.maximum(np.maximum(-u, u - (n - 1)), 0)
        mirror = np.where(u < 0, -u - 1, np.where(u >= n, 2 * n - 1 - u, u))
        return np.clip(mirror, 0, n - 1), distance


def across_cuts(labels: np.ndarray, offsets: np.ndarray, source: tuple[int, int], wrap: tuple[bool, bool],
                width: int, r0: int, r1: int) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The band along the cuts between pieces, for canvas rows [r0, r1): each pixel within
    `width` of another piece is blended towards what that piece holds there (where it holds
    the source), half and half at the cut and less further in, so the two sides meet in a short
    transition rather than a step. The input (label 0) is never blended, and a cut against it
    is the edge band's (Feather.rows). Same return as Feather.rows."""
    if width <= 0:
        return None
    H, W = labels.shape
    rows = np.arange(r0 - width, r1 + width)
    rows = rows % H if wrap[0] else np.clip(rows, 0, H - 1)
    block = labels[rows]
    if wrap[1]:
        block = np.concatenate([block[:, W - width:], block, block[:, :width]], axis=1)
        left = width
    else:
        left = 0
    rows_of_block = slice(width, width + r1 - r0)
    me = block[rows_of_block, left:left + W]
    distance = np.full(me.shape, np.inf, np.float32)
    other = np.zeros(me.shape, block.dtype)

    def nearer(gap, beyond, rows, cols):
        """Keep, for the pixels [rows, cols] of `me`, the nearer of what they hold and (gap, beyond)."""
        closer = (gap < distance[rows, cols]) & (gap < width)
        distance[rows, cols] = np.where(closer, gap, distance[rows, cols])
        other[rows, cols] = np.where(closer, beyond, other[rows, cols])

    # the nearest change of label up and down (columns are independent: a few at a time), then
    # left and right (rows are independent), so what is held beside the block stays small
    for c0 in range(0, W, CUT_CHUNK):
        c1 = min(c0 + CUT_CHUNK, W)
        for flip in (False, True):
            gap, beyond = _nearest_change(block[:, left + c0:left + c1], 0, flip)
            nearer(gap[rows_of_block], beyond[rows_of_block], slice(None), slice(c0, c1))
    for q0 in range(0, r1 - r0, max(1, CUT_CHUNK // 4)):
        q1 = min(q0 + max(1, CUT_CHUNK // 4), r1 - r0)
        for flip in (False, True):
            gap, beyond = _nearest_change(block[width + q0:width + q1], 1, flip)
            nearer(gap[:, left:left + W], beyond[:, left:left + W], slice(q0, q1), slice(None))
    band = (me > 0) & (other > 0) & (other != me) & np.isfinite(distance)
    index = np.flatnonzero(band).astype(np.int32)
    del band
    if index.size == 0:
        return None
    lab = other.ravel()[index]
    gap = distance.ravel()[index]
    del other, distance
    iy, ix = np.divmod(index, np.int32(W))
    sy = (iy + np.int32(r0)) - offsets[:, 0].astype(np.int32)[lab]
    sx = ix - offsets[:, 1].astype(np.int32)[lab]
    del iy, ix, lab
    if wrap[0]:
        sy %= H
    if wrap[1]:
        sx %= W
    holds = (sy >= 0) & (sy < source[0]) & (sx >= 0) & (sx < source[1])
    weight = (0.5 * (1.0 - gap[holds] / width)).astype(np.float32)
    return index[holds], sy[holds], sx[holds], weight


def _nearest_change(lines: np.ndarray, axis: int, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel of `lines` (2-D labels), looking back along `axis` (forward if `flip`):
    how far the nearest change of label is (from the pixel to the cut between two pixels;
    infinite where there is none) and the label beyond it. A running maximum of the positions
    of changes: linear in the pixels, whatever the distance."""
    view = np.flip(lines, axis=axis) if flip else lines
    change = np.zeros(view.shape, bool)
    if axis == 0:
        change[1:] = view[1:] != view[:-1]
    else:
        change[:, 1:] = view[:, 1:] != view[:, :-1]
    steps = np.arange(view.shape[axis], dtype=np.int32).reshape((-1, 1) if axis == 0 else (1, -1))
    last = np.maximum.accumulate(np.where(change, steps, np.int32(-(1 << 30))), axis=axis)
    del change
    beyond = np.take_along_axis(view, np.clip(last - 1, 0, view.shape[axis] - 1), axis=axis)
    gap = (steps - last).astype(np.float32) + 0.5
    if flip:
        gap, beyond = np.flip(gap, axis=axis), np.flip(beyond, axis=axis)
    return gap, beyond


def _compact(index, sy, sx, weight):
    """A band as int32 positions and float32 weights (several copies of them exist while it is blended)."""
    return index.astype(np.int32), sy.astype(np.int32), sx.astype(np.int32), weight.astype(np.float32)


def mix(own: np.ndarray, other: np.ndarray, own_low: np.ndarray, other_low: np.ndarray,
        weight: np.ndarray) -> np.ndarray:
    """Band pixels (n, C): their own copy moved by `weight` towards the other copy, all of the
    shading (the `_low` values, see lowpass) and DETAIL_SHARE of the fine detail; never beyond
    the two copies' values, so alpha, masks and every layer's range stay as the input's."""
    w = weight[:, None]
    moved = own + w * (DETAIL_SHARE * (other - own) + (1.0 - DETAIL_SHARE) * (other_low - own_low))
    return np.clip(moved, np.minimum(own, other), np.maximum(own, other))


def lowpass(values: np.ndarray, k: int) -> np.ndarray:
    """(h, w, C) float32 -> (ceil(h / k), ceil(w / k), C): the mean of every k x k block (edges
    repeated to fill the last ones)."""
    h, w, c = values.shape
    hh, ww = -(-h // k), -(-w // k)
    padded = np.pad(values, ((0, hh * k - h), (0, ww * k - w), (0, 0)), mode="edge")
    return padded.reshape(hh, k, ww, k, c).mean(axis=(1, 3), dtype=np.float32)


class Shading:
    """The layers' shading at any source position: their block means (lowpass by k) read back
    bilinearly. It is read back once, for every source pixel or, where that would pass
    FULL_SHADING_BYTES (float32, made by strips of rows), for every s-th pixel each way, and
    then only looked up, several times cheaper per band pixel than reading it back where asked
    (counted in the CLI's memory estimate). A block mean changes over k pixels, so a lookup up
    to s/2 pixels away (s at most k / STRIDE_SHARE) differs from the exact read by at most an
    eighth of the step between two blocks; where even that does not fit it is read back where
    asked, with no second full-size copy of its layers."""

    def __init__(self, low: np.ndarray, k: int, source: tuple[int, int]):
        self.low, self.k, self.full = low, k, None
        h, w = source
        self.stride = shading_stride(h, w, low.shape[2])
        if self.stride and self.stride <= max(1, k // STRIDE_SHARE):
            s = self.stride
            hs, ws = _strided(h, w, s)
            self.full = np.empty((hs, ws, low.shape[2]), np.float32)
            xs = np.arange(ws)[None, :] * s + (s - 1) / 2  # each stride block's centre
            for r0 in range(0, hs, STRIP_ROWS):
                ys = np.arange(r0, min(r0 + STRIP_ROWS, hs))[:, None] * s + (s - 1) / 2
                self.full[r0:r0 + len(ys)] = sample_low(low, np.broadcast_to(ys, (len(ys), ws)),
                                                        np.broadcast_to(xs, (len(ys), ws)), k)

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        if self.full is None:
            return sample_low(self.low, ys, xs, self.k)
        s, width = self.stride, self.full.shape[1]
        flat = self.full.reshape(-1, self.full.shape[2])
        return rows_at(flat, ys * width + xs if s == 1 else (ys // s) * width + xs // s)


def shading_stride(height: int, width: int, channels: int) -> int:
    """The smallest s whose every-s-th-pixel shading fits in FULL_SHADING_BYTES, 0 if none does."""
    if FULL_SHADING_BYTES <= 0:
        return 0
    s = 1
    while np.prod(_strided(height, width, s)) * channels * 4 > FULL_SHADING_BYTES:
        s += 1
    return s


def _strided(height: int, width: int, s: int) -> tuple[int, int]:
    """The shape of every s-th pixel each way of a (height, width) source."""
    return -(-height // s), -(-width // s)


def shading_bytes(height: int, width: int, channels: int) -> int:
    """What Shading keeps for this source at most: its bytes, or 0 where it reads back as asked."""
    s = shading_stride(height, width, channels)
    return int(np.prod(_strided(height, width, s))) * channels * 4 if s else 0


def sample_low(low: np.ndarray, ys: np.ndarray, xs: np.ndarray, k: int) -> np.ndarray:
    """The block means `low` (lowpass by k) read bilinearly at full-resolution source positions."""
    return bilinear(low, (ys + 0.5) / k - 0.5, (xs + 0.5) / k - 0.5)
