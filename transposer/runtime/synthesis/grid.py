"""The cell grid the ring is filled by, the order the cells are filled in, and their windows.

The canvas is 2h x 2w with the source (h x w) at (h // 2, w // 2). Grid lines run along the
source's edges, so the centre is a block of whole cells that never changes; the ring around it
is cut into cells about `min(h, w) / pieces` on a side. Every cell is filled with one piece of
the source (a translation), placed over a window that reaches `overlap` pixels beyond the cell,
so it overlaps whatever was filled before it and a minimum-error cut (cuts.py) can hide the seam.

Order: ring after ring outward from the centre (Chebyshev distance in cells), so every cell is
matched against known texture on the side facing the centre. Inside a ring, cells are split into
"waves" whose windows cannot touch (no two cells of a wave are neighbours, diagonals included,
modulo the canvas on a seamless axis): a whole wave is searched and cut in one batch of numpy
work, and the result does not depend on the order inside a wave.

The grid has the same cells at every level of the pyramid (only their pixel edges scale), so a
cell's piece at one level is the starting point of the same cell at the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cell:
    index: int  # label of this cell's piece (0 is the centre, so cells count from 1)
    rows: tuple[int, int]  # [start, stop) on the canvas
    cols: tuple[int, int]


@dataclass(frozen=True)
class Grid:
    source: tuple[int, int]  # (h, w) of the source at this level
    canvas: tuple[int, int]  # (2h, 2w)
    overlap: int  # pixels a window reaches beyond its cell
    context: int  # pixels further out that a piece is matched on (not placed)
    wrap: tuple[bool, bool]
    waves: tuple[tuple[Cell, ...], ...]  # in fill order

    @property
    def centre(self) -> tuple[int, int]:
        """Canvas position of the source's top-left pixel: the centre piece's offset."""
        return self.source[0] // 2, self.source[1] // 2

    def window(self, cell: Cell, grow: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Canvas row and column indices of the cell's window (the cell and `overlap` + `grow`
        pixels around it): clipped to the canvas on an ordinary axis, wrapped around it on a
        seamless one."""
        return self._span(0, cell.rows, grow), self._span(1, cell.cols, grow)

    def window_origin(self, cell: Cell, grow: int = 0) -> tuple[int, int]:
        """Unwrapped canvas position of that window's first pixel (negative when it wraps)."""
        reach = self.overlap + grow
        out = []
        for axis, (start, _) in ((0, cell.rows), (1, cell.cols)):
            out.append(start - reach if self.wrap[axis] else max(0, start - reach))
        return out[0], out[1]

    def _span(self, axis: int, span: tuple[int, int], grow: int) -> np.ndarray:
        size = self.canvas[axis]
        start, stop = span[0] - self.overlap - grow, span[1] + self.overlap + grow
        if self.wrap[axis]:
            return np.arange(start, stop) % size
        return np.arange(max(0, start), min(size, stop))


def axis_cells(n: int, count: int) -> list[tuple[int, int]]:
    """Spans of one canvas axis (2n long, the source at n // 2): `count` cells across the source,
    `count // 2` across each side of the ring, in order."""
    before, after = n // 2, n - n // 2
    ring_cells = max(1, count // 2)
    centre_cells = max(1, count)

    def split(start: int, length: int, parts: int) -> list[tuple[int, int]]:
        parts = max(1, min(parts, length))
        edges = [start + round(i * length / parts) for i in range(parts + 1)]
        return [(edges[i], edges[i + 1]) for i in range(parts)]

    return split(0, before, ring_cells) + split(before, n, centre_cells) + split(before + n, after, ring_cells)


def cell_counts(source: tuple[int, int], pieces: int) -> tuple[int, int]:
    """Cells across the source on each axis: `pieces` on the shorter side, the same cell size on
    the longer one; always even so that the ring has the same number of cells on both sides."""
    short = min(source)
    side = short / pieces
    return tuple(max(2, 2 * round(n / side / 2)) for n in source)


def build_grid(source: tuple[int, int], counts: tuple[int, int], overlap_fraction: float,
               context_fraction: float, wrap: tuple[bool, bool]) -> Grid:
    """The grid of one pyramid level: cells, overlap and the waves in fill order."""
    h, w = source
    spans = [axis_cells(h, counts[0]), axis_cells(w, counts[1])]
    ring = [len(spans[a]) - counts[a] for a in (0, 1)]  # ring cells on both sides together
    lo = [r // 2 for r in ring]
    hi = [lo[a] + counts[a] - 1 for a in (0, 1)]  # centre cell index range, inclusive
    smallest = min(b - a for axis in spans for a, b in axis)
    overlap = max(1, int(round(smallest * overlap_fraction)))
    context = int(round(smallest * context_fraction))
    shape = (len(spans[0]), len(spans[1]))

    def distance(iy: int, ix: int) -> int:
        dy = max(lo[0] - iy, iy - hi[0], 0)
        dx = max(lo[1] - ix, ix - hi[1], 0)
        return max(dy, dx)

    rings: dict[int, list[tuple[int, int]]] = {}
    for iy in range(shape[0]):
        for ix in range(shape[1]):
            d = distance(iy, ix)
            if d:
                rings.setdefault(d, []).append((iy, ix))
    centre_y, centre_x = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
    labels = {}
    waves = []
    for d in sorted(rings):
        members = sorted(rings[d], key=lambda c: np.arctan2(c[0] - centre_y, c[1] - centre_x))
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
    canvas = (spans[0][-1][1], spans[1][-1][1])
    return Grid((h, w), canvas, overlap, context, tuple(wrap), tuple(waves))


def _touch(a, b, shape, wrap) -> bool:
    for axis in (0, 1):
        d = abs(a[axis] - b[axis])
        if wrap[axis]:
            d = min(d, shape[axis] - d)
        if d > 1:
            return False
    return True
