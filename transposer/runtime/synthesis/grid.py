"""The cell grid the ring is filled by, the order the cells are filled in, and their windows.

The canvas is the output (any size at least the source's), with the source at `origin`. Grid
lines run along the source's edges, so the source is a block of whole cells that never changes;
the ring around it is cut into cells about `cell` pixels on a side. Every cell is filled with
one piece of the source (a translation), placed over a window that reaches `overlap` pixels
beyond the cell, so it overlaps whatever was filled before it and a minimum-error cut (cuts.py)
can hide the seam; the piece is matched on a wider `context` around that window.

Order: ring after ring outward from the source (Chebyshev distance in cells), so every cell is
matched against known texture on the side facing the source. Inside a ring, cells are split
into "waves" whose windows cannot touch (no two cells of a wave are neighbours, diagonals
included, modulo the canvas on a seamless axis): a whole wave is searched and cut in one batch
of numpy work, and the result does not depend on the order inside a wave.

Every level of the pyramid has the same cells (`Layout` fixes how many per stretch of each axis;
only their pixel edges scale), so a cell's piece at one level starts the same cell at the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Spans = list[tuple[int, int]]


@dataclass(frozen=True)
class Cell:
    index: int  # label of this cell's piece (0 is the source itself, so cells count from 1)
    rows: tuple[int, int]  # [start, stop) on the canvas
    cols: tuple[int, int]


@dataclass(frozen=True)
class Layout:
    """Sizes at full resolution, and how many cells each stretch of an axis is cut into."""

    source: tuple[int, int]  # (h, w)
    canvas: tuple[int, int]  # (H, W)
    origin: tuple[int, int]  # the source's top-left on the canvas
    counts: tuple[tuple[int, int, int], tuple[int, int, int]]  # per axis: cells before, across, after

    @staticmethod
    def plan(source, canvas, origin, cell: float) -> "Layout":
        counts = []
        for n, total, start in zip(source, canvas, origin):
            before, after = start, total - start - n
            counts.append(tuple(0 if length <= 0 else max(1, round(length / cell)) for length in (before, n, after)))
        return Layout(tuple(source), tuple(canvas), tuple(origin), tuple(counts))

    def scaled(self, factor: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(source, canvas, origin) at a pyramid level `factor` times full resolution."""
        source = tuple(max(1, round(n * factor)) for n in self.source)
        origin = tuple(round(o * factor) for o in self.origin)
        after = [round((c - o - n) * factor) for c, o, n in zip(self.canvas, self.origin, self.source)]
        canvas = tuple(o + n + a for o, n, a in zip(origin, source, after))
        return source, canvas, origin

    def smallest_factor(self, min_cell: int) -> float:
        """The smallest scale at which every cell is still `min_cell` pixels long."""
        need = 0.0
        for n, total, start, counts in zip(self.source, self.canvas, self.origin, self.counts):
            for length, count in zip((start, n, total - start - n), counts):
                if count:
                    need = max(need, min_cell * count / length)
        return need

    @property
    def expected_use(self) -> float:
        """How often each source pixel is copied into the ring on average."""
        h, w = self.source
        return max(self.canvas[0] * self.canvas[1] - h * w, 1) / (h * w)


@dataclass(frozen=True)
class Grid:
    source: tuple[int, int]  # (h, w) of the source at this level
    canvas: tuple[int, int]
    origin: tuple[int, int]
    overlap: int  # pixels a window reaches beyond its cell
    context: int  # pixels further out that a piece is matched on (not placed)
    wrap: tuple[bool, bool]
    waves: tuple[tuple[Cell, ...], ...]  # in fill order

    @property
    def cells(self) -> list[Cell]:
        return [c for wave in self.waves for c in wave]

    def window(self, cell: Cell, grow: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Canvas row and column indices of the cell's window (the cell and `overlap` + `grow`
        pixels around it): clipped to the canvas on an ordinary axis, wrapped around it on a
        seamless one."""
        return self._span(0, cell.rows, grow), self._span(1, cell.cols, grow)

    def window_origin(self, cell: Cell, grow: int = 0) -> tuple[int, int]:
        """Unwrapped canvas position of that window's first pixel (negative when it wraps)."""
        out = []
        for axis, span in ((0, cell.rows), (1, cell.cols)):
            start = span[0] - self._reach(axis, span, grow)
            out.append(start if self.wrap[axis] else max(0, start))
        return out[0], out[1]

    def _reach(self, axis: int, span: tuple[int, int], grow: int) -> int:
        reach = self.overlap + grow
        if self.wrap[axis]:  # a window never wraps onto itself
            reach = min(reach, (self.canvas[axis] - (span[1] - span[0])) // 2)
        return reach

    def _span(self, axis: int, span: tuple[int, int], grow: int) -> np.ndarray:
        size = self.canvas[axis]
        reach = self._reach(axis, span, grow)
        start, stop = span[0] - reach, span[1] + reach
        if self.wrap[axis]:
            return np.arange(start, stop) % size
        return np.arange(max(0, start), min(size, stop))


def _split(start: int, length: int, parts: int) -> Spans:
    if parts <= 0:
        return []
    edges = [start + round(i * length / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


def build_grid(layout: Layout, factor: float, overlap_fraction: float, context_fraction: float,
               wrap: tuple[bool, bool]) -> Grid:
    """The grid of one pyramid level: cells, overlap, context and the waves in fill order."""
    source, canvas, origin = layout.scaled(factor)
    spans, centre_range = [], []
    for axis in (0, 1):
        before, across, after = layout.counts[axis]
        o, n, c = origin[axis], source[axis], canvas[axis]
        spans.append(_split(0, o, before) + _split(o, n, across) + _split(o + n, c - o - n, after))
        centre_range.append((before, before + across - 1))
    smallest = min(b - a for axis in spans for a, b in axis)
    overlap = max(1, int(round(smallest * overlap_fraction)))
    context = int(round(smallest * context_fraction))
    shape = (len(spans[0]), len(spans[1]))

    def distance(iy: int, ix: int) -> int:
        (ly, hy), (lx, hx) = centre_range
        return max(max(ly - iy, iy - hy, 0), max(lx - ix, ix - hx, 0))

    rings: dict[int, list[tuple[int, int]]] = {}
    for iy in range(shape[0]):
        for ix in range(shape[1]):
            d = distance(iy, ix)
            if d:
                rings.setdefault(d, []).append((iy, ix))
    mid_y, mid_x = (sum(centre_range[0]) / 2, sum(centre_range[1]) / 2)
    labels: dict[tuple[int, int], int] = {}
    waves = []
    for d in sorted(rings):
        members = sorted(rings[d], key=lambda c: math.atan2(c[0] - mid_y, c[1] - mid_x))
        colours: dict[tuple[int, int], int] = {}
        for cell in members:
            taken = {colours[o] for o in colours if _touch(cell, o, shape, wrap)}
            colours[cell] = next(c for c in range(len(members) + 1) if c not in taken)
        for colour in range(max(colours.values()) + 1):
            wave = []
            for iy, ix in members:
                if colours[(iy, ix)] == colour:
                    labels[(iy, ix)] = len(labels) + 1
                    wave.append(Cell(labels[(iy, ix)], spans[0][iy], spans[1][ix]))
            waves.append(tuple(wave))
    return Grid(source, canvas, origin, overlap, context, tuple(wrap), tuple(waves))


def _touch(a, b, shape, wrap) -> bool:
    for axis in (0, 1):
        d = abs(a[axis] - b[axis])
        if wrap[axis]:
            d = min(d, shape[axis] - d)
        if d > 1:
            return False
    return True
