"""The synthesis stage: turn the network's copies into a coherent texture (torch-free).

The Transposer's coordinate map says, for every pixel of the 2x canvas, where in the input it
copies from; on its own that arrangement shows box seams, features repeated in a grid and
periodic structure broken at block edges. This stage builds the arrangement of the whole output
(any size: 2x, 4x or W x H, in one go, never by repeated passes) as a patchwork of pieces of the
input, coarse to fine, so that
- every piece continues what is already there (the centre first, then the ring outward), found
  by exhaustive search at the coarsest level and refined to the pixel at every finer level, so a
  periodic texture stays on its period;
- pieces meet along minimum-error cuts (image quilting, Efros and Freeman 2001), not straight
  lines, recomputed at every level up to full resolution so no seam appears when the result is
  scaled up;
- reuse of any source region is penalised (the occurrence penalty of Kaspar et al. 2015), so
  nothing repeats in a grid;
- the network's proposal for each cell wins among near-equal choices (search.py), and the seed
  draws among the near-best, so another seed gives another variation.

The result is again a coordinate map (`PieceMap.coords`), so alpha, companion maps, 16-bit and
HDR values follow the colour exactly, and the centre copies the input exactly; two narrow soft
bands, around the input and along the cuts, blend in a second copy of the input with the same
weights in every layer (`PieceMap.blends`, feather.py).
On a seamless axis the canvas is a cylinder: pieces wrap around it and are cut in there too.

    pieces = synthesize(guide, (2 * h, 2 * w), wrap=(False, True), rng=np.random.default_rng(seed),
                        proposal=fn)
    rows = warp.gather(layers, *pieces.coords(r0, r1), wrap)
    for index, sy, sx, weight in pieces.blends(r0, r1):
        ...  # rows at index move by weight towards layers[sy, sx]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import axes, features, lattice
from .feather import Feather, across_cuts
from .grid import Layout, build_grid
from .quilt import Level
from .search import Settings

PIECES = 5  # cells across the input's shorter side: pieces are about a fifth of the input
COARSE_SIDE = 128  # the coarsest level's shorter side, where the exhaustive search runs
OVERLAP = 0.25  # a window reaches this fraction of a cell beyond it
CONTEXT = 1.0  # ... and is matched on this fraction of a cell further out

# canvas positions (y, x) (arrays) -> the network's source positions (y, x), full resolution
Proposal = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class PieceMap:
    """Which piece every canvas pixel copies, and where the pieces come from."""

    labels: np.ndarray  # (H, W) int16 (int32 above 32766 pieces) over the canvas, 0 = the source itself
    offsets: np.ndarray  # (pieces + 1, 2) int64: canvas position - source position
    source: tuple[int, int]
    wrap: tuple[bool, bool]
    feather: Optional[Feather] = None  # the soft bands (feather.py); None: the copy alone

    @property
    def canvas(self) -> tuple[int, int]:
        return self.labels.shape

    def coords(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Source (y, x) of canvas rows [r0, r1), whole pixels (warp.CoordsFn)."""
        H, W = self.labels.shape
        lab = self.labels[r0:r1]
        ys = np.arange(r0, r1)[:, None] - self.offsets[lab, 0]
        xs = np.arange(W)[None, :] - self.offsets[lab, 1]
        if self.wrap[0]:
            ys %= H
        if self.wrap[1]:
            xs %= W
        return ys.astype(np.float32), xs.astype(np.float32)

    def blends(self, r0: int, r1: int):
        """What canvas rows [r0, r1) blend in after the copy, in order (a generator: one band's
        arrays at a time): (flat indices into the block, source y, source x, weight) each,
        across the cuts between pieces, then the edge around the input (feather.py)."""
        if self.feather is None:
            return
        band = across_cuts(self.labels, self.offsets, self.source, self.wrap, self.feather.width, r0, r1)
        if band is not None:
            yield band
        del band
        band = self.feather.rows(r0, r1)
        if band is not None:
            yield band


def level_factors(layout: Layout, coarse_side: int = COARSE_SIDE) -> list[float]:
    """Scales of the pyramid, coarsest first, each twice the one before, the last 1: halved
    while the source's shorter side stays at least `coarse_side` and every cell 6 pixels."""
    halvings = int(math.floor(math.log2(max(min(layout.source) / coarse_side, 1.0))))
    need = layout.smallest_factor(6)
    if need > 0:
        halvings = min(halvings, int(math.floor(math.log2(max(1.0 / need, 1.0)))))
    return [2.0 ** -k for k in range(max(0, halvings), -1, -1)]


def level_count(source: tuple[int, int], canvas: tuple[int, int]) -> int:
    """How many pyramid levels synthesize() runs for this output (one progress step each)."""
    return len(level_factors(plan(source, canvas)))


def plan(source: tuple[int, int], canvas: tuple[int, int], origin=None, pieces: int = PIECES) -> Layout:
    """The cells of a synthesis of `canvas` around `source` (centred unless `origin` is given)."""
    if origin is None:
        origin = ((canvas[0] - source[0]) // 2, (canvas[1] - source[1]) // 2)
    return Layout.plan(source, canvas, origin, min(source) / pieces)


def synthesize(guide: np.ndarray, canvas: tuple[int, int], origin=None, wrap=(False, False),
               rng: Optional[np.random.Generator] = None, proposal: Optional[Proposal] = None,
               pieces: int = PIECES, settings: Settings = Settings(),
               on_level: Optional[Callable[[], None]] = None, coarse_side: int = COARSE_SIDE) -> PieceMap:
    """guide (h, w, 3): the colour the pieces are matched on (the input), uint8, uint16 or
    float32 in [0, 1].
    Returns the arrangement of a `canvas` = (H, W) output with the guide at `origin` (default:
    centred) and copied exactly there."""
    rng = np.random.default_rng(0) if rng is None else rng
    height, width = guide.shape[:2]
    wrap = (bool(wrap[0]), bool(wrap[1]))
    layout = plan((height, width), tuple(canvas), origin, pieces)
    level, previous, period, axis_plan = None, None, None, None  # previous: the coarser level's (source size, offsets)
    for factor in level_factors(layout, coarse_side):
        grid = build_grid(layout, factor, OVERLAP, CONTEXT, wrap)
        level = None  # the coarser level's labels and features go before this level's are made
        source = features.features(guide if grid.source == (height, width) else features.resize(guide, grid.source))
        level = Level(grid, source)
        if previous is None:
            usage = np.zeros(grid.source, np.float64)
            period = lattice.detect(source, grid.origin) if settings.periodic else None
            locks = axes.detect_in(guide) if settings.axes else (False, False)
            if any(locks):
                axis_plan = axes.AxisPlan.choose(source, grid, locks, settings, rng, level.variance)
            level.fill(_proposals(grid, layout, proposal), None, settings, rng, usage, layout.expected_use, period,
                       axis_plan)
        else:
            (h0, w0), offsets = previous
            ratio = (grid.source[0] / h0, grid.source[1] / w0)
            starts = {k: (int(round(dy * ratio[0])), int(round(dx * ratio[1])))
                      for k, (dy, dx) in enumerate(offsets) if k > 0}
            if axis_plan is not None:
                axis_plan = axis_plan.refined(source, grid, ratio, settings, level.variance)
            level.fill(None, starts, settings, rng, None, layout.expected_use, axes=axis_plan)
        previous = grid.source, level.offsets
        del source
        if on_level is not None:
            on_level()
    # on a period the input's reflection would be off the period: only the cuts are softened
    soft = None if not settings.feather else Feather.around(
        (height, width), layout.origin, tuple(canvas), wrap, min(height, width) / pieces, edge=period is None)
    return PieceMap(level.labels, level.offsets, (height, width), wrap, soft)


def _proposals(grid, layout: Layout, proposal: Optional[Proposal]) -> Optional[dict]:
    """The network's offset for every cell of the coarsest grid, in that grid's pixels; cells
    the network has no opinion on (NaN: outside its canvas) get none."""
    if proposal is None:
        return None
    scale = (layout.canvas[0] / grid.canvas[0], layout.canvas[1] / grid.canvas[1])
    cells = grid.cells
    cy = np.array([(c.rows[0] + c.rows[1] - 1) / 2 for c in cells])
    cx = np.array([(c.cols[0] + c.cols[1] - 1) / 2 for c in cells])
    sy, sx = proposal(cy * scale[0], cx * scale[1])
    return {c.index: (float(cy[i] - sy[i] / scale[0]), float(cx[i] - sx[i] / scale[1]))
            for i, c in enumerate(cells) if np.isfinite(sy[i]) and np.isfinite(sx[i])}


__all__ = ["PieceMap", "Settings", "synthesize", "plan", "level_factors", "level_count", "PIECES"]
