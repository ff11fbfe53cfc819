"""The synthesis stage: turn the network's copies into a coherent texture (torch-free).

The Transposer's coordinate map says, for every pixel of the 2x canvas, where in the input it
copies from; on its own that arrangement shows box seams, features repeated in a grid and
periodic structure broken at block edges. This stage rebuilds the arrangement as a patchwork of
pieces of the input, coarse to fine, so that
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
HDR values follow the colour exactly (warp.sample), and the centre copies the input exactly.
On a seamless axis the canvas is a cylinder: pieces wrap around it and are cut in there too.

    pieces = synthesize(guide, wrap=(False, True), rng=np.random.default_rng(seed), proposal=fn)
    canvas = warp.sample(layers, pieces.coords, pieces.canvas, wrap)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from PIL import Image

from .grid import build_grid, cell_counts
from .quilt import Level
from .search import Settings

PIECES = 6  # cells across the input's shorter side: pieces are about a sixth of the input
COARSE_SIDE = 64  # the coarsest level's shorter side, where the exhaustive search runs
OVERLAP = 0.25  # a window reaches this fraction of a cell beyond it
CONTEXT = 0.5  # ... and is matched on this fraction of a cell further out

# canvas positions (y, x) (arrays) -> the network's source positions (y, x), full resolution
Proposal = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class PieceMap:
    """Which piece every canvas pixel copies, and where the pieces come from."""

    labels: np.ndarray  # (2h, 2w) int32, 0 = the centre
    offsets: np.ndarray  # (pieces + 1, 2) int64: canvas position - source position
    source: tuple[int, int]
    wrap: tuple[bool, bool]

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


def level_sizes(height: int, width: int, coarse_side: int = COARSE_SIDE) -> list[tuple[int, int]]:
    """Source sizes of the pyramid, coarsest first, each about twice the one before."""
    halvings = max(0, int(math.floor(math.log2(max(min(height, width) / coarse_side, 1.0)))))
    return [(max(1, round(height / 2 ** k)), max(1, round(width / 2 ** k))) for k in range(halvings, -1, -1)]


def synthesize(guide: np.ndarray, wrap=(False, False), rng: Optional[np.random.Generator] = None,
               proposal: Optional[Proposal] = None, pieces: int = PIECES,
               settings: Settings = Settings(), on_level: Optional[Callable[[], None]] = None,
               coarse_side: int = COARSE_SIDE) -> PieceMap:
    """guide (h, w, 3) float32: the colour the pieces are matched on (the pass's input).
    Returns the arrangement of the (2h, 2w) canvas with the guide at (h // 2, w // 2)."""
    rng = np.random.default_rng(0) if rng is None else rng
    height, width = guide.shape[:2]
    wrap = (bool(wrap[0]), bool(wrap[1]))
    counts = cell_counts((height, width), pieces)
    sizes = level_sizes(height, width, coarse_side)
    level, previous = None, None
    for index, size in enumerate(sizes):
        source = features(guide if size == (height, width) else _resize(guide, size))
        grid = build_grid(size, counts, OVERLAP, CONTEXT, wrap)
        level = Level(grid, source)
        if previous is None:
            usage = np.zeros(size, np.float64)
            proposals = _proposals(grid, (height, width), proposal)
            level.fill(proposals, None, settings, rng, usage, expected_use=3.0)
        else:
            ratio = (size[0] / previous.grid.source[0], size[1] / previous.grid.source[1])
            starts = {k: (int(round(dy * ratio[0])), int(round(dx * ratio[1])))
                      for k, (dy, dx) in enumerate(previous.offsets) if k > 0}
            level.fill(None, starts, settings, rng, None, 3.0)
        previous = level
        if on_level is not None:
            on_level()
    return PieceMap(level.labels, level.offsets, (height, width), wrap)


def _proposals(grid, full: tuple[int, int], proposal: Optional[Proposal]) -> Optional[dict]:
    """The network's offset for every cell of the coarsest grid, in that grid's pixels."""
    if proposal is None:
        return None
    scale = (full[0] / grid.source[0], full[1] / grid.source[1])
    cells = [c for wave in grid.waves for c in wave]
    cy = np.array([(c.rows[0] + c.rows[1] - 1) / 2 for c in cells])
    cx = np.array([(c.cols[0] + c.cols[1] - 1) / 2 for c in cells])
    sy, sx = proposal(cy * scale[0], cx * scale[1])
    return {c.index: (float(cy[i] - sy[i] / scale[0]), float(cx[i] - sx[i] / scale[1]))
            for i, c in enumerate(cells)}


DETAIL = 2.0  # weight of the detail channel against colour in every match
DETAIL_RADIUS = 2  # pixels: the detail channel is luminance minus its local mean


def features(colour: np.ndarray) -> np.ndarray:
    """What pieces are matched on: the colour, and its fine luminance detail weighted up, so that
    thin structure (grout, cracks, threads) decides the match rather than broad shading."""
    luminance = colour.mean(axis=2)
    detail = luminance - _box_blur(luminance, DETAIL_RADIUS)
    return np.concatenate([colour, DETAIL * detail[:, :, None]], axis=2).astype(np.float32)


def _box_blur(plane: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 box, edges clamped."""
    out = plane.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(out, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        c = padded.cumsum(axis=axis)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = (hi - lo) / (2 * radius + 1)
    return out


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged downscale of (h, w, C) float32 to size = (h', w')."""
    out = np.empty((size[0], size[1], image.shape[2]), np.float32)
    for c in range(image.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(image[:, :, c], dtype=np.float32))
        out[:, :, c] = np.asarray(plane.resize((size[1], size[0]), Image.Resampling.BOX))
    return out


__all__ = ["PieceMap", "Settings", "synthesize", "level_sizes", "PIECES"]
