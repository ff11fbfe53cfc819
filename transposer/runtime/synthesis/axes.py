"""Structure that runs across the whole input along an axis: bars, bands, stripes, grout lines, a horizon.

A piece a fifth of the input carries only a fragment of a line that crosses the whole input, and
the piece beside it, matched on its own window, need not continue it: bars step, bands end after
one piece, grout lines stop. Mirror padding never does this, because every output row of it
copies one whole input row. This module gives the arrangement that property where the input
needs it: on a *locked* axis every cell of a cell row takes the same vertical offset (on the
other axis, every cell of a cell column the same horizontal one), so each output row copies one
source row throughout; only the other coordinate is searched per cell.

Which axes: how much of the luminance detail (features.py: the fine structure, not the shading)
the row means explain. Rows are locked when they explain at least LINE_SHARE of its variance
(bars, stripes, edges that cross the input), or when one row's mean detail stands out from the
detail's spread by LINE_CONTRAST (a single thin line: grout, a seam, a bar's edge); columns
alike. Both axes lock only where the lines of each hold along their whole length (a grid of
tiles): a running bond's joints are dashes, one course in two, and with both axes locked they
would be continued off their course, straight through the bricks; there only the axis whose
lines hold (the courses) locks. Shading alone (a gradient, a horizon, a band of grass over
gravel) does not lock: judged head to head, those inputs came out with full-width seams
between the cell rows. Textures without such structure (most: on the validation split row
shares below 0.05, contrasts below 1) keep both axes free.

The offsets of a locked axis are chosen outward from the source, one cell row at a time (a 1-D
image quilting of the input's rows): a cell row's offset is the one whose source rows best match
the rows already known around it, with the occurrence penalty on source rows and the seed's draw
among the near-best, as search.py does for cells. Rows are compared by their mean and spread per
channel, not pixel by pixel: two rows of grass match wherever along them they are taken, and
which pixels line up is the cells' business. Rows inside the source keep their own offset (the
identity), so the rows beside the input continue it exactly. Pieces of different cell rows meet
at the cells' edge (quilt.py), not along a cut that wanders into the next row: a line near the
edge of a cell row would otherwise be cut off where the next row's piece takes over. Finer
levels refine each offset within a pixel, the centre staying exact.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import features
from .grid import Grid
from .search import Settings, draw

LINE_SHARE = 0.15  # share of the detail's variance the row (column) means explain: lock rows (columns)
LINE_CONTRAST = 1.5  # one row's mean detail against the detail's spread: a line crossing the input
GRID = 0.6  # both axes lock only where each one's lines hold along their whole length (persistence)
DETECT_SIDE = 512  # the structure is measured with the input's shorter side at most this
SAMPLE_COLUMNS = 256  # a row's mean and spread are taken over at most this many evenly spaced columns
CONTEXT_WEIGHT = 0.3  # weight of the lines beyond a span's window, falling to 0.3 of that at the edge
PAIR_CHUNK = 1 << 15  # row pairs compared at once

Offsets = list  # per span of one axis (in canvas order): the offset (canvas - source), None if free


def detect_in(guide: np.ndarray) -> tuple[bool, bool]:
    """(rows locked, columns locked) for an (h, w, 3) guide, measured with its shorter side at
    most DETECT_SIDE: the coarsest level can be too coarse to hold a thin line at all."""
    h, w = guide.shape[:2]
    scale = min(1.0, DETECT_SIDE / min(h, w))
    if scale < 1.0:
        guide = features.resize(guide, (max(1, round(h * scale)), max(1, round(w * scale))))
    return detect(features.features(guide))


def detect(values: np.ndarray) -> tuple[bool, bool]:
    """(rows locked, columns locked) for (h, w, C) features whose last channel is the detail."""
    detail = values[:, :, -1].astype(np.float64)
    detail = detail - detail.mean()
    spread = float(detail.std())
    locks = []
    for along in (1, 0):  # rows: means along x (axis 1); columns: along y
        means = detail.mean(axis=along)
        share = float((means * means).mean()) / max(spread * spread, 1e-12)
        contrast = float(np.abs(means).max()) / max(spread, 1e-12)
        locks.append(spread > 1e-5 and (share >= LINE_SHARE or contrast >= LINE_CONTRAST))
    if all(locks):
        held = (persistence(detail, 1), persistence(detail, 0))
        if min(held) < GRID:  # lines one way, dashes the other: keep the lines
            locks[int(held[0] >= held[1])] = False
    return locks[0], locks[1]


def persistence(detail: np.ndarray, along: int) -> float:
    """How fully the strongest rows (along=1; columns: 0) hold their line along their length: the
    squared mean over the mean square, on the rows whose mean is at least half the strongest.
    About 1 for a line across the whole input; the share of its length for dashes, such as the
    joints of a running bond (each lies in every other course)."""
    means = detail.mean(axis=along)
    squares = (detail * detail).mean(axis=along)
    strong = np.abs(means) >= 0.5 * float(np.abs(means).max())
    return float((means[strong] ** 2).sum()) / max(float(squares[strong].sum()), 1e-12)


class AxisPlan:
    """The offsets of the locked axes for one level: `fixed(cell)` -> (dy or None, dx or None)."""

    def __init__(self, grid: Grid, offsets: tuple[Optional[Offsets], Optional[Offsets]]):
        self.spans = (_spans(grid, 0), _spans(grid, 1))
        self.offsets = offsets

    @property
    def locked(self) -> tuple[bool, bool]:
        return self.offsets[0] is not None, self.offsets[1] is not None

    def fixed(self, cell) -> Optional[tuple]:
        out = []
        for axis, span in ((0, cell.rows), (1, cell.cols)):
            table = self.offsets[axis]
            out.append(None if table is None else table[self.spans[axis].index(span)])
        return None if out == [None, None] else tuple(out)

    @staticmethod
    def choose(source: np.ndarray, grid: Grid, locks: tuple[bool, bool], settings: Settings,
               rng: np.random.Generator, variance: float) -> "AxisPlan":
        """The coarsest level: every locked axis planned outward from the source."""
        offsets = []
        for axis in (0, 1):
            if not locks[axis]:
                offsets.append(None)
                continue
            offsets.append(_Axis(source, grid, axis, variance).choose(settings, rng))
        return AxisPlan(grid, tuple(offsets))

    def refined(self, source: np.ndarray, grid: Grid, ratio: tuple[float, float], settings: Settings,
                variance: float) -> "AxisPlan":
        """The same plan at a finer level: each offset scaled and refined within settings.radius."""
        offsets = []
        for axis in (0, 1):
            table = self.offsets[axis]
            if table is None:
                offsets.append(None)
                continue
            starts = [None if o is None else int(round(o * ratio[axis])) for o in table]
            offsets.append(_Axis(source, grid, axis, variance).refine(starts, settings.radius))
        return AxisPlan(grid, tuple(offsets))


def _spans(grid: Grid, axis: int) -> list[tuple[int, int]]:
    """The distinct cell spans of an axis, in canvas order."""
    return sorted({c.rows if axis == 0 else c.cols for c in grid.cells})


class _Axis:
    """One locked axis at one level, seen as rows (columns are handled as the rows of the
    transposed source)."""

    def __init__(self, source: np.ndarray, grid: Grid, axis: int, variance: float):
        self.n = grid.source[axis]
        self.length = grid.canvas[axis]
        self.origin = grid.origin[axis]
        self.wrap = grid.wrap[axis]
        self.overlap, self.context = grid.overlap, grid.context
        self.variance = variance
        self.spans = _spans(grid, axis)
        lines = source if axis == 0 else source.transpose(1, 0, 2)
        across = lines.shape[1]
        pick = np.unique(np.linspace(0, across - 1, min(across, SAMPLE_COLUMNS)).round().astype(np.intp))
        sampled = lines[:, pick].astype(np.float32)
        # a line is described by its mean and spread per channel: lines of one texture match
        # wherever they are taken along their length, a line across it (grout, a bar) does not
        self.lines = np.concatenate([sampled.mean(axis=1), sampled.std(axis=1)], axis=1)
        self.known = np.full(self.length, -1, np.int64)  # canvas line -> source line, -1 not yet
        self.known[self.origin:self.origin + self.n] = np.arange(self.n)

    def _inside(self, span) -> bool:
        return span[0] >= self.origin and span[1] <= self.origin + self.n

    def _order(self) -> list[int]:
        """Spans outside the source, nearest first (on a seamless axis from both sides)."""
        def distance(span):
            before = self.origin - span[1]
            after = span[0] - (self.origin + self.n)
            if self.wrap:  # the nearer way round the canvas
                return min(before % self.length, after % self.length)
            return max(before, after, 0)
        outside = [i for i, s in enumerate(self.spans) if not self._inside(s)]
        return sorted(outside, key=lambda i: (distance(self.spans[i]), i))

    def _cost(self, span, candidates: np.ndarray) -> np.ndarray:
        """Matching error of each candidate offset for `span`: its source lines against the lines
        known around it (window and context, weighted 1 near the span and 0.3 at the context's
        edge), an unseen line counting twice the variance."""
        a, b = span
        reach = self.overlap + self.context
        unwrapped = np.arange(a - reach, b + reach)
        canvas = unwrapped % self.length if self.wrap else unwrapped
        valid = (canvas >= 0) & (canvas < self.length)
        unwrapped, canvas = unwrapped[valid], canvas[valid]
        held = self.known[canvas]
        unwrapped, held = unwrapped[held >= 0], held[held >= 0]
        outside = np.maximum(np.maximum((a - self.overlap) - unwrapped, unwrapped - (b - 1 + self.overlap)), 0)
        # the context only breaks ties (the phase of stripes): what the cell and its overlap put
        # next to the known lines decides, even where no candidate continues the context well
        weight = np.where(outside > 0, CONTEXT_WEIGHT * (1.0 - 0.7 * outside / max(self.context, 1)), 1.0)
        if len(held) == 0:
            return np.zeros(len(candidates))
        ours = unwrapped[None, :] - candidates[:, None]  # (K, R) source lines the candidates put there
        seen = (ours >= 0) & (ours < self.n)
        error = np.where(seen, self._distances(np.clip(ours, 0, self.n - 1), np.broadcast_to(held, ours.shape)),
                         2.0 * self.variance)
        return (error * weight[None, :]).sum(axis=1) / weight.sum()

    def _distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Squared difference of the mean and spread, per channel, between source lines a and b
        (broadcast)."""
        flat_a, flat_b = a.ravel(), b.ravel()
        out = np.empty(flat_a.shape, np.float32)
        for s in range(0, len(flat_a), PAIR_CHUNK):
            diff = self.lines[flat_a[s:s + PAIR_CHUNK]] - self.lines[flat_b[s:s + PAIR_CHUNK]]
            out[s:s + PAIR_CHUNK] = np.einsum("ij,ij->i", diff, diff) / (diff.shape[1] // 2)
        return out.reshape(a.shape)

    def _range(self, span) -> np.ndarray:
        """Offsets that put the whole span inside the source."""
        a, b = span
        return np.arange(b - self.n, a + 1)

    def _place(self, span, offset: int) -> None:
        a, b = span
        self.known[a:b] = np.arange(a, b) - offset

    def choose(self, settings: Settings, rng: np.random.Generator) -> Offsets:
        table: Offsets = [self.origin if self._inside(s) else None for s in self.spans]
        usage = np.zeros(self.n)
        expected = max((self.length - self.n) / self.n, 1e-6)
        for i in self._order():
            span = self.spans[i]
            candidates = self._range(span)
            if len(candidates) == 0:
                continue  # a span longer than the source: left free
            cost = self._cost(span, candidates)
            lines = np.arange(span[0], span[1])[None, :] - candidates[:, None]
            cost = cost + settings.occurrence * self.variance * usage[lines].mean(axis=1) / expected
            table[i] = int(candidates[draw(cost, settings, rng)])
            self._place(span, table[i])
            usage[np.arange(span[0], span[1]) - table[i]] += 1
        return table

    def refine(self, starts: Offsets, radius: int) -> Offsets:
        table: Offsets = [self.origin if self._inside(s) else None for s in self.spans]
        for i in self._order():
            span = self.spans[i]
            if starts[i] is None:
                continue
            allowed = self._range(span)
            if len(allowed) == 0:
                continue
            candidates = np.arange(starts[i] - radius, starts[i] + radius + 1)
            candidates = candidates[(candidates >= allowed[0]) & (candidates <= allowed[-1])]
            if len(candidates) == 0:
                candidates = np.array([min(max(starts[i], allowed[0]), allowed[-1])])
            table[i] = int(candidates[int(np.argmin(self._cost(span, candidates)))])
            self._place(span, table[i])
        return table
