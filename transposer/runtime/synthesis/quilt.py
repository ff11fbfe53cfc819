"""One level of the pyramid: fill the ring cell by cell, each with a piece of the source.

State of a level: `labels` (canvas-sized, int32): which piece every canvas pixel copies
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
from .grid import Cell, Grid


class Level:
    def __init__(self, grid: Grid, source: np.ndarray):
        self.grid = grid
        self.source = source  # (h, w, 3) float32 guide at this level
        n_cells = sum(len(w) for w in grid.waves)
        self.labels = np.full(grid.canvas, -1, np.int32)
        cy, cx = grid.origin
        h, w = grid.source
        self.labels[cy:cy + h, cx:cx + w] = 0
        self.offsets = np.zeros((n_cells + 1, 2), np.int64)
        self.offsets[0] = (cy, cx)

    # --- reading the canvas --------------------------------------------------------------
    def source_positions(self, ys: np.ndarray, xs: np.ndarray, offset) -> tuple[np.ndarray, np.ndarray]:
        """Source positions of canvas rows ys x columns xs under a translation (broadcast)."""
        H, W = self.grid.canvas
        sy, sx = ys - offset[0], xs - offset[1]
        if self.grid.wrap[0]:
            sy = sy % H
        if self.grid.wrap[1]:
            sx = sx % W
        sy, sx = np.broadcast_arrays(np.clip(sy, 0, self.grid.source[0] - 1), np.clip(sx, 0, self.grid.source[1] - 1))
        return sy, sx

    def window_pixels(self, ys, xs, labels) -> np.ndarray:
        """(h, w, 3) current colours of a window (zero where nothing is placed)."""
        lab = np.maximum(labels, 0)
        sy, sx = self.source_positions(ys[:, None], xs[None, :], (self.offsets[lab, 0], self.offsets[lab, 1]))
        out = self.source[sy, sx]
        out[labels < 0] = 0.0
        return out

    def piece_pixels(self, ys, xs, offset) -> np.ndarray:
        sy, sx = self.source_positions(ys[:, None], xs[None, :], offset)
        return self.source[sy, sx]

    def _unwrapped(self, origin: tuple[int, int], shape: tuple[int, int]):
        """Window positions in unwrapped canvas coordinates."""
        return origin[0] + np.arange(shape[0]), origin[1] + np.arange(shape[1])

    def _query(self, cell: Cell, proposals: dict | None) -> tuple[search.Query, tuple]:
        grid = self.grid
        ys, xs = grid.window(cell, grid.context)
        labels = self.labels[np.ix_(ys, xs)]
        filled = labels >= 0
        origin, context_origin = grid.window_origin(cell), grid.window_origin(cell, grid.context)
        py, px = grid.window(cell)
        top, left = origin[0] - context_origin[0], origin[1] - context_origin[1]
        # matching weight: 1 over the placement window, falling to 0.3 at the context's edge
        dy = np.maximum(np.maximum(top - np.arange(len(ys)), np.arange(len(ys)) - (top + len(py) - 1)), 0)
        dx = np.maximum(np.maximum(left - np.arange(len(xs)), np.arange(len(xs)) - (left + len(px) - 1)), 0)
        reach = max(grid.context, 1)
        weight = (1.0 - 0.7 * np.maximum(dy[:, None], dx[None, :]) / reach).astype(np.float32) * filled
        query = search.Query(origin, (len(py), len(px)), context_origin, filled,
                             self.window_pixels(ys, xs, labels), weight,
                             None if proposals is None else proposals.get(cell.index))
        inner = (slice(top, top + len(py)), slice(left, left + len(px)))
        return query, (cell, py, px, labels[inner], inner)

    # --- one wave --------------------------------------------------------------------------
    def fill(self, proposals: dict | None, starts: dict | None, settings: search.Settings,
             rng: np.random.Generator, usage: np.ndarray | None, expected_use: float) -> None:
        """Fill every cell of the grid, wave by wave. starts: cell -> offset from the coarser
        level (local search); None: exhaustive search (the coarsest level)."""
        spectra = search.SourceSpectra(self.source, self.grid.context) if starts is None else None
        for wave in self.grid.waves:
            pairs = [self._query(cell, proposals) for cell in wave]
            queries = [q for q, _ in pairs]
            windows = [w for _, w in pairs]
            if starts is None:
                chosen = search.exhaustive(spectra, queries, usage, expected_use, settings, rng)
            else:
                chosen = [search.local(self.source, q, starts[w[0].index], settings, rng)
                          for q, w in zip(queries, windows)]
            self._cut_in(windows, queries, chosen, usage)

    def _cut_in(self, windows, queries, chosen, usage) -> None:
        strips, per_window = [], []
        for k, ((cell, ys, xs, labels, inner), q, offset) in enumerate(zip(windows, queries, chosen)):
            uy, ux = self._unwrapped(q.origin, labels.shape)
            new = self.piece_pixels(uy, ux, offset)
            filled = q.filled[inner]
            diff = new - q.old[inner]
            error = np.einsum("ijc,ijc->ij", diff, diff)
            error[~filled] = 0.0
            fixed = labels == 0
            mine = cuts.strips_of(k, error, filled, fixed, 2 * self.grid.overlap)
            strips.extend(mine)
            per_window.append((mine, filled, fixed))
        solved = cuts.solve(strips)
        at = 0
        for (cell, ys, xs, labels, inner), q, offset, (mine, filled, fixed) in zip(windows, queries, chosen, per_window):
            take = cuts.take_new(labels.shape, mine, solved[at:at + len(mine)], filled, fixed)
            at += len(mine)
            self.offsets[cell.index] = offset
            self.labels[np.ix_(ys, xs)] = np.where(take, cell.index, labels)
            if usage is not None:
                uy, ux = self._unwrapped(q.origin, labels.shape)
                sy, sx = self.source_positions(uy[:, None], ux[None, :], offset)
                usage += np.bincount(sy[take] * usage.shape[1] + sx[take],
                                     minlength=usage.size).reshape(usage.shape)
