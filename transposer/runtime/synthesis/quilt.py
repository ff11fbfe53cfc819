"""One level of the pyramid: fill the ring cell by cell, each with a piece of the source.

State of a level: `labels` (canvas-sized, int16; int32 for more pieces): which piece every canvas pixel copies
(-1 nothing yet, 0 the source itself, k the piece of cell k), and `offsets[k]` = (dy, dx), the piece's
translation (canvas position - source position). Colours are never stored: a window's current
pixels are gathered from the source through labels and offsets when the window is visited.

A wave: for each of its cells, gather the window's current pixels; choose the piece
(search.exhaustive at the coarsest level, search.local around the coarser level's choice
above it); cut it in along minimum-error seams (cuts.py); write its label where it won.
"""

from __future__ import annotations

import numpy as np

from . import cuts, search
from .features import channel_variance
from .grid import Cell, Grid
from ..warp import rows_at

CUT_PIXELS = 1 << 24  # window pixels prepared for cutting at once (each holds ~10 bytes a pixel)
ERROR_ROWS = 256  # rows of a window whose features are compared at once


class Level:
    def __init__(self, grid: Grid, source: np.ndarray):
        self.grid = grid
        self.source = source  # (h, w, C) features at this level (float32, float16 when large)
        self.flat = source.reshape(-1, source.shape[2])
        self.variance = channel_variance(source)
        n_cells = sum(len(w) for w in grid.waves)
        # the largest array of a large expansion: as small an integer as holds every label
        self.labels = np.full(grid.canvas, -1, np.int16 if n_cells < np.iinfo(np.int16).max else np.int32)
        cy, cx = grid.origin
        h, w = grid.source
        self.labels[cy:cy + h, cx:cx + w] = 0
        self.offsets = np.zeros((n_cells + 1, 2), np.int64)
        self.offsets[0] = (cy, cx)
        # each piece's cell: (label, axis) -> [start, stop) on the canvas (the source: its own)
        self.spans = np.zeros((n_cells + 1, 2, 2), np.int64)
        self.spans[0] = ((cy, cy + h), (cx, cx + w))
        for cell in grid.cells:
            self.spans[cell.index] = (cell.rows, cell.cols)
        self.locked = (False, False)  # axes whose cells meet along straight lines (axes.py)

    # --- reading the canvas --------------------------------------------------------------
    def source_index(self, ys: np.ndarray, xs: np.ndarray, oy, ox) -> np.ndarray:
        """Flat source index of canvas positions (ys, xs) under translations (oy, ox), broadcast."""
        H, W = self.grid.canvas
        h, w = self.grid.source
        sy, sx = ys - oy, xs - ox
        if self.grid.wrap[0]:
            sy = sy % H
        if self.grid.wrap[1]:
            sx = sx % W
        return np.clip(sy, 0, h - 1) * w + np.clip(sx, 0, w - 1)

    def window_pixels(self, ys, xs, labels) -> np.ndarray:
        """(h, w, C) current features of a window (zero where nothing is placed)."""
        lab = np.maximum(labels, 0)
        out = self.read(self.source_index(ys[:, None], xs[None, :], self.offsets[lab, 0], self.offsets[lab, 1]))
        out[labels < 0] = 0.0
        return out

    def piece_pixels(self, ys, xs, offset) -> np.ndarray:
        return self.read(self.source_index(ys[:, None], xs[None, :], offset[0], offset[1]))

    def read(self, index: np.ndarray) -> np.ndarray:
        """Features at flat source indices, always float32 (every difference is)."""
        return rows_at(self.flat, index).astype(np.float32, copy=False)

    def _unwrapped(self, origin: tuple[int, int], shape: tuple[int, int]):
        """Window positions in unwrapped canvas coordinates."""
        return origin[0] + np.arange(shape[0]), origin[1] + np.arange(shape[1])

    def _context(self, cell: Cell):
        """The cell's context window: canvas indices, labels, and the matching weight (1 over
        the placement window, falling to 0.3 at the context's edge, 0 where nothing is held)."""
        grid = self.grid
        ys, xs = grid.window(cell, grid.context)
        labels = self.labels[np.ix_(ys, xs)]
        origin, context_origin = grid.window_origin(cell), grid.window_origin(cell, grid.context)
        h, w = (len(a) for a in grid.window(cell))
        weight = self._falloff(np.arange(len(ys))[:, None], np.arange(len(xs))[None, :], origin, context_origin,
                               (h, w)) * (labels >= 0)
        return ys, xs, labels, weight, origin, context_origin, (h, w)

    def _falloff(self, iy, ix, origin, context_origin, shape) -> np.ndarray:
        """Matching weight of context pixels (iy, ix) (broadcast): 1 over the placement window,
        falling linearly to 0.3 at the context's edge."""
        top, left = origin[0] - context_origin[0], origin[1] - context_origin[1]
        dy = np.maximum(np.maximum(top - iy, iy - (top + shape[0] - 1)), 0)
        dx = np.maximum(np.maximum(left - ix, ix - (left + shape[1] - 1)), 0)
        return (1.0 - 0.7 * np.maximum(dy, dx) / max(self.grid.context, 1)).astype(np.float32)

    def _query(self, cell: Cell, proposals: dict | None, fixed) -> search.Query:
        """The whole context, for the exhaustive search (the coarsest level only: small)."""
        ys, xs, labels, weight, origin, context_origin, shape = self._context(cell)
        return search.Query(origin, shape, context_origin, labels >= 0, self.window_pixels(ys, xs, labels),
                            weight, None if proposals is None else proposals.get(cell.index), self._reach(cell),
                            fixed)

    def _sample(self, cell: Cell, count: int, rng: np.random.Generator, fixed) -> search.Sample:
        """A random sample of the held context pixels, for the local search: its cost, and its
        memory, do not grow with the image."""
        grid = self.grid
        ys, xs = grid.window(cell, grid.context)
        origin, context_origin = grid.window_origin(cell), grid.window_origin(cell, grid.context)
        h, w = (len(a) for a in grid.window(cell))
        iy = rng.integers(0, len(ys), 3 * count)
        ix = rng.integers(0, len(xs), 3 * count)
        lab = self.labels[ys[iy], xs[ix]]
        held = lab >= 0
        iy, ix, lab = iy[held][:count], ix[held][:count], lab[held][:count]
        weight = self._falloff(iy, ix, origin, context_origin, (h, w))
        old = self.read(self.source_index(ys[iy], xs[ix], self.offsets[lab, 0], self.offsets[lab, 1]))
        positions = np.stack([iy + context_origin[0], ix + context_origin[1]], axis=1)
        return search.Sample(origin, (h, w), positions, old, weight, self._reach(cell), fixed)

    def _reach(self, cell: Cell) -> tuple[int, int, int, int]:
        """How far the cell's window reaches beyond the cell on each side (top, bottom, left,
        right): a piece may pass the source's edge by that much, never inside its own cell."""
        oy, ox = self.grid.window_origin(cell)
        h, w = (len(a) for a in self.grid.window(cell))
        return (cell.rows[0] - oy, oy + h - cell.rows[1], cell.cols[0] - ox, ox + w - cell.cols[1])

    # --- one wave --------------------------------------------------------------------------
    def fill(self, proposals: dict | None, starts: dict | None, settings: search.Settings,
             rng: np.random.Generator, usage: np.ndarray | None, expected_use: float, period=None,
             axes=None) -> None:
        """Fill every cell of the grid, wave by wave. starts: cell -> offset from the coarser
        level (local search); None: exhaustive search (the coarsest level), on the source's
        `period` (lattice.Lattice) if it has one. axes: the locked axes' offsets (axes.AxisPlan)."""
        fixed = (lambda cell: None) if axes is None else axes.fixed
        self.locked = (False, False) if axes is None else axes.locked
        reach = self.grid.overlap  # a piece may reach past the source by its overlap (not placed there)
        spectra = None if starts is not None else search.SourceSpectra(self.source, self.grid.context, reach,
                                                                       self.variance)
        for wave in self.grid.waves:
            if starts is None:
                queries = [self._query(cell, proposals, fixed(cell)) for cell in wave]
                chosen = search.exhaustive(spectra, queries, usage, expected_use, settings, rng, period)
            else:
                chosen = [search.local(self.source, self._sample(cell, settings.samples, rng, fixed(cell)),
                                       starts[cell.index], settings, self.variance) for cell in wave]
            # the windows of a wave never touch, so cutting them in a few at a time is the same
            # as all at once, and bounds what a large level holds at any moment
            for part in self._batches(wave, chosen):
                self._cut_in([self._prepare_cut(cell, offset) for cell, offset in part], usage)

    def _batches(self, wave, chosen):
        """(cell, offset) pairs in batches of at most CUT_PIXELS window pixels (at least one)."""
        batch, pixels = [], 0
        for cell, offset in zip(wave, chosen):
            ys, xs = self.grid.window(cell)
            if batch and pixels + len(ys) * len(xs) > CUT_PIXELS:
                yield batch
                batch, pixels = [], 0
            batch.append((cell, offset))
            pixels += len(ys) * len(xs)
        if batch:
            yield batch

    def _prepare_cut(self, cell: Cell, offset):
        """The placement window's strips: where it holds pixels, how they differ from the piece,
        and what must stay: the input, and held pixels the piece cannot cover because they map
        past the source's edge (a piece may reach past it, so that what runs along the input's
        edges can be continued; the cell beyond covers that margin)."""
        ys, xs = self.grid.window(cell)
        labels = self.labels[np.ix_(ys, xs)]
        filled = labels >= 0
        uy, ux = self._unwrapped(self.grid.window_origin(cell), labels.shape)
        h, w = self.grid.source
        sy, sx = uy - offset[0], ux - offset[1]
        covered = ((sy >= 0) & (sy < h))[:, None] & ((sx >= 0) & (sx < w))[None, :]
        keep = (labels == 0) | (filled & ~covered)
        for axis, span, at in ((0, cell.rows, ys[:, None]), (1, cell.cols, xs[None, :])):
            if self.locked[axis]:
                # a locked axis: pieces of different cell rows (columns) meet at the cells' edge,
                # so every output row (column) copies one source row (column) throughout
                own = (at >= span[0]) & (at < span[1])
                other = filled & (self.spans[np.maximum(labels, 0), axis, 0] != span[0])
                keep |= other & ~own
                filled = filled & ~(other & own & (labels != 0))
        error = np.empty(labels.shape, np.float32)
        for r0 in range(0, len(ys), ERROR_ROWS):  # by rows: no window-sized feature arrays
            r1 = min(r0 + ERROR_ROWS, len(ys))
            diff = self.piece_pixels(uy[r0:r1], ux, offset) - self.window_pixels(ys[r0:r1], xs, labels[r0:r1])
            error[r0:r1] = np.einsum("ijc,ijc->ij", diff, diff)
        error[~filled] = 0.0
        strips = cuts.strips_of(error, filled, keep, 2 * self.grid.overlap)
        return cell, offset, ys, xs, labels, filled, covered, keep, strips

    def _cut_in(self, prepared, usage) -> None:
        solved = cuts.solve([s for *_, strips in prepared for s in strips])
        at = 0
        for cell, offset, ys, xs, labels, filled, covered, keep, strips in prepared:
            take = cuts.take_new(labels.shape, strips, solved[at:at + len(strips)], filled, keep) & covered
            at += len(strips)
            self.offsets[cell.index] = offset
            self.labels[np.ix_(ys, xs)] = np.where(take, cell.index, labels)
            if usage is not None:
                uy, ux = self._unwrapped(self.grid.window_origin(cell), labels.shape)
                index = np.broadcast_to(self.source_index(uy[:, None], ux[None, :], offset[0], offset[1]), take.shape)
                usage += np.bincount(index[take], minlength=usage.size).reshape(usage.shape)
