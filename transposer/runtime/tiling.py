"""Tiled 2x expansion with bounded memory: grow the canvas outward, ring by ring.

Why not Real-ESRGAN-style tiles: the Transposer is global (its self-similarity and transposed
convolution are FFTs over the whole input), so its memory grows with the input, and cutting the
*input* into tiles and expanding each would place copies of each tile around that tile, inside
the known image. What 2x expansion must invent is only the frame around the input. So:

    canvas 2H x 2W, input pasted at (H//2, W//2)            <- the known region R, kept exactly
    repeat until R covers the canvas:
        R' = R grown by d on every side that is not finished
        for each side, cut the new band R' - R into segments along that side;
        for each segment take a window of T x T known pixels (T <= the tile size) at R's
            edge, centred on the segment, expand it (one network call, 2T x 2T out) and add its pixels
            over the segment, plus a feather of f pixels, with weight w, into an accumulator
        band = accumulator / sum of weights; R = R'

Geometry (per axis, window side T, feather f = max(1, T // 16)):
- the expansion of a window reaches T/2 beyond it on each side, so a ring grows by
  d = T/2 - f and every segment plus its feather lies inside its window's expansion;
- segments cut R's side into equal parts of at most T - 2f; each window is centred on its
  segment (clamped inside R at the ends), so it covers the segment and both feathers: every new
  pixel is synthesised straight outward from known pixels next to it, never from a window's
  diagonal corner, except in the four corner squares, which the top and bottom bands' end
  segments own (their windows sit flush in R's corners);
- w is a product of two 1-D ramps, 1/2 at the segment's own edges, 1 at f inside, 0 at f outside,
  so neighbouring segments cross-fade over 2f pixels and the weights of a grid of segments sum to
  1. Pixels of R are never written: the known centre (the input, then each finished ring) is
  preserved exactly.
- Seamless axis: the canvas is a cylinder (accumulation wraps modulo 2H). The two fronts that
  grow from the top and the bottom of the input meet exactly at the canvas edge (the input is
  centred), where they cross-fade over 2f rows, so the result tiles on that axis. The windows
  themselves are expanded without wrap (they are not periodic).

Each window is expanded independently, so a model whose output near a pixel depends only on
nearby input (a "local" model) gives exactly the untiled result; the tests check this with a
synthetic edge-replicating graph. For the real, global network the tiled result is a different
but equally valid expansion: every new pixel is synthesised from a T x T neighbourhood of known
texture. The tiling knows nothing about ONNX: it takes `run_tile(window) -> expansion`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Span = tuple[int, int]  # [start, stop) in canvas coordinates (may pass the edges on a wrapping axis)


@dataclass(frozen=True)
class Window:
    rows: Span  # the known T x T pixels that are expanded
    cols: Span
    own_rows: Span  # the part of the new band this window fills (before feathering)
    own_cols: Span


@dataclass(frozen=True)
class Ring:
    known: tuple[Span, Span]  # R before the ring
    grown: tuple[Span, Span]  # R' after it
    windows: tuple[Window, ...]


def feather(tile: int) -> int:
    return max(1, tile // 16)


def plan_growth(height: int, width: int, tile_size: int, wrap=(False, False), multiple: int = 8) -> list[Ring]:
    """The rings and windows that grow an H x W input to its 2H x 2W canvas."""
    canvas = (2 * height, 2 * width)
    known = [(height // 2, height // 2 + height), (width // 2, width // 2 + width)]
    rings: list[Ring] = []
    while any(known[a][1] - known[a][0] < canvas[a] for a in (0, 1)):
        tiles = [_window_side(known[a][1] - known[a][0], tile_size, multiple) for a in (0, 1)]
        grow = [_growth(known[a], canvas[a], tiles[a], wrap[a]) for a in (0, 1)]
        grown = [(known[a][0] - grow[a][0], known[a][1] + grow[a][1]) for a in (0, 1)]
        windows: list[Window] = []
        (y0, y1), (x0, x1) = known
        (gy0, gy1), (gx0, gx1) = grown
        ty, tx = tiles
        # top and bottom bands span the grown columns (corners included)
        for band_rows, win_rows in (((gy0, y0), (y0, y0 + ty)), ((y1, gy1), (y1 - ty, y1))):
            if band_rows[0] < band_rows[1]:
                for seg, own in _segments((x0, x1), (gx0, gx1), tx):
                    windows.append(Window(win_rows, _centred(seg, tx, (x0, x1)), band_rows, own))
        # left and right bands span the known rows only
        for band_cols, win_cols in (((gx0, x0), (x0, x0 + tx)), ((x1, gx1), (x1 - tx, x1))):
            if band_cols[0] < band_cols[1]:
                for seg, own in _segments((y0, y1), (y0, y1), ty):
                    windows.append(Window(_centred(seg, ty, (y0, y1)), win_cols, own, band_cols))
        rings.append(Ring((known[0], known[1]), (grown[0], grown[1]), tuple(windows)))
        known = grown
    return rings


def count_tiles(height: int, width: int, tile_size: int, wrap=(False, False), multiple: int = 8) -> int:
    return sum(len(ring.windows) for ring in plan_growth(height, width, tile_size, wrap, multiple))


def grow_canvas(layers: np.ndarray, run_tile: Callable[[np.ndarray], np.ndarray], tile_size: int,
                wrap=(False, False), multiple: int = 8,
                on_tile: Callable[[], None] | None = None) -> np.ndarray:
    """Expand (H, W, C) float32 to (2H, 2W, C) with windows of at most tile_size per side.

    run_tile(window (t, s, C)) must return the window's 2x expansion (2t, 2s, C) with the window
    at (t//2, s//2). on_tile() is called after each window (progress / cancellation).
    """
    height, width, channels = layers.shape
    size = (2 * height, 2 * width)
    canvas = np.zeros((size[0], size[1], channels), np.float32)
    canvas[height // 2: height // 2 + height, width // 2: width // 2 + width] = layers
    weights = np.zeros(size, np.float32)
    for ring in plan_growth(height, width, tile_size, wrap, multiple):
        for window in ring.windows:
            (r0, r1), (c0, c1) = window.rows, window.cols
            tile = np.ascontiguousarray(canvas[r0:r1, c0:c1])  # inside R: known pixels only
            out = run_tile(tile)
            th, tw = r1 - r0, c1 - c0
            if out.shape[:2] != (2 * th, 2 * tw):
                raise ValueError(f"run_tile returned {out.shape[:2]} for a {th} x {tw} window")
            _accumulate(canvas, weights, out, (r0 - th // 2, c0 - tw // 2), window, ring, wrap,
                        (feather(th), feather(tw)))
            if on_tile is not None:
                on_tile()
        _normalise_frame(canvas, weights, ring, wrap)
    return canvas


def _accumulate(canvas, weights, out, origin, window: Window, ring: Ring, wrap, feathers) -> None:
    """Add out * w over the window's own segment (+ feather) where it lies in R' - R."""
    axes = []
    for a, (own, f) in enumerate(zip((window.own_rows, window.own_cols), feathers)):
        n = canvas.shape[a]
        lo, hi = own[0] - f, own[1] + f
        lo, hi = max(lo, origin[a]), min(hi, origin[a] + out.shape[a])  # inside the expansion
        coords = np.arange(lo, hi)
        ramp = np.clip(0.5 + (np.minimum(coords - own[0] + 0.5, own[1] - 0.5 - coords)) / (2 * f), 0.0, 1.0)
        if wrap[a]:
            idx = coords % n
        else:
            keep = (coords >= 0) & (coords < n)
            coords, ramp, idx = coords[keep], ramp[keep], coords[keep]
        inside_new = _in_span(idx, ring.grown[a], n) & ~_in_span(idx, ring.known[a], n)
        inside_grown = _in_span(idx, ring.grown[a], n)
        axes.append((coords - origin[a], idx, ramp.astype(np.float32), inside_new, inside_grown))
    (sy, iy, wy, newy, gy), (sx, ix, wx, newx, gx) = axes
    # a pixel is new when it lies in R' on both axes and outside R on at least one
    mask = (gy[:, None] & gx[None, :]) & (newy[:, None] | newx[None, :])
    w = (wy[:, None] * wx[None, :]) * mask
    rows, cols = np.ix_(iy, ix)
    # np.add.at, not +=: on a wrapping axis a long feather may fold onto itself
    if len(np.unique(iy)) == len(iy) and len(np.unique(ix)) == len(ix):
        canvas[rows, cols] += out[np.ix_(sy, sx)] * w[:, :, None]
        weights[rows, cols] += w
    else:  # pragma: no cover - only for canvases narrower than a feathered segment
        np.add.at(canvas, (rows, cols), out[np.ix_(sy, sx)] * w[:, :, None])
        np.add.at(weights, (rows, cols), w)


def _normalise_frame(canvas, weights, ring: Ring, wrap) -> None:
    """Divide the new ring's accumulated pixels by their weight; leave R untouched."""
    n = canvas.shape[:2]
    masks = []
    for a in (0, 1):
        idx = np.arange(n[a])
        masks.append((_in_span(idx, ring.grown[a], n[a]), _in_span(idx, ring.known[a], n[a])))
    (gy, ky), (gx, kx) = masks
    new = (gy[:, None] & gx[None, :]) & ~(ky[:, None] & kx[None, :])
    if not np.all(weights[new] > 0):
        raise AssertionError("tiling plan left pixels of a ring uncovered")  # a bug, not bad input
    canvas[new] /= weights[new][:, None]
    weights[new] = 0.0


def _in_span(idx: np.ndarray, span: Span, n: int) -> np.ndarray:
    """Membership of canvas indices in a span read cyclically (a span may cover the whole axis)."""
    length = span[1] - span[0]
    if length >= n:
        return np.ones(idx.shape, bool)
    return (idx - span[0]) % n < length


def _window_side(known_length: int, tile_size: int, multiple: int) -> int:
    """The largest multiple of `multiple` that is <= tile_size and fits in the known length."""
    side = min(tile_size, known_length) // multiple * multiple
    if side < 2 * multiple:
        raise ValueError(f"known length {known_length} is below two input multiples ({2 * multiple})")
    return side


def _growth(known: Span, canvas: int, tile: int, wrap: bool) -> tuple[int, int]:
    """How far this ring grows before and after the known span on one axis."""
    step = tile // 2 - feather(tile)
    if wrap:  # the two fronts meet at the canvas edge
        gap = canvas - (known[1] - known[0])
        if gap <= 2 * step:
            return gap // 2, gap - gap // 2
        return step, step
    return min(step, known[0]), min(step, canvas - known[1])


def _segments(known: Span, band: Span, tile: int) -> list[tuple[Span, Span]]:
    """Cut the known span into equal segments of at most tile - 2f, so that a window centred on
    a segment covers it and its feathers; the first and last segments' own spans reach out to
    the band's ends (the corners). Returns (segment, own span) pairs."""
    length = known[1] - known[0]
    count = max(1, math.ceil(length / (tile - 2 * feather(tile))))
    edges = [known[0] + (length * i) // count for i in range(count + 1)]
    segments = [(edges[i], edges[i + 1]) for i in range(count)]
    owns = list(segments)
    owns[0] = (band[0], owns[0][1])
    owns[-1] = (owns[-1][0], band[1])
    return list(zip(segments, owns))


def _centred(segment: Span, tile: int, known: Span) -> Span:
    """A window of `tile` centred on the segment, clamped inside the known span."""
    start = (segment[0] + segment[1]) // 2 - tile // 2
    start = max(known[0], min(start, known[1] - tile))
    return (start, start + tile)
