"""Where in the source a cell's piece comes from: exhaustive at the coarsest level, local above.

Coarsest level: for every possible placement of the window in the source at once, the masked
sum of squared differences to the pixels the window already holds,

    SSD(c) = sum M (O - S(c + .))^2 = sum M O^2 - 2 sum (M O) S(c + .) + sum M S(c + .)^2,

is two cross-correlations, computed for a whole wave of cells with one batch of FFTs (the
correlation theorem). The cost that picks a piece adds to it (all relative to the source's
variance, so they mean the same on any texture):
- an occurrence penalty (Kaspar et al. 2015, "Self Tuning Texture Optimization"): how often the
  source pixels under the placement are already used, so that no region is repeated in a grid;
- the network's proposal: the Transposer's coordinate map suggests a placement per cell; near it
  the matching error counts a little less, so the network decides among near-equal choices.
Among the placements within a tolerance of the best, one is drawn from the seed (image
quilting's randomness): another seed, another texture.

Finer levels: the coarse choice is scaled up and only the placements within `radius` pixels of
it are tried, by direct differences on a bounded sample of the overlap: the cost there does not
grow with the image.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..warp import rows_at

try:  # scipy's pocketfft runs these batched 2-D transforms 2-3x faster than numpy's
    from scipy import fft
except ImportError:  # the same transforms, slower (e.g. inside Blender, which has no scipy)
    from numpy import fft

WORKERS = max(1, min(4, os.cpu_count() or 1))  # threads for the coarse search's FFTs


@dataclass(frozen=True)
class Settings:
    tolerance: float = 0.15  # pick among placements within (1 + tolerance) x the best cost
    choices: int = 6  # ... and among at most this many of them
    occurrence: float = 0.1  # weight of the reuse penalty (x source variance per expected use)
    network: float = 0.15  # share of the matching error forgiven near the network's proposal
    network_radius: int = 2  # coarse pixels
    radius: int = 1  # local search radius at finer levels, in that level's pixels
    samples: int = 1500  # context pixels compared per candidate at finer levels
    periodic: bool = True  # a periodic source is continued on its period (lattice.py)
    feather: bool = True  # soft bands along the cuts and around the input (feather.py)
    axes: bool = True  # structure crossing the whole input keeps its rows (columns) throughout (axes.py)


@dataclass
class Query:
    """One cell at this level: its placement window and the wider context it is matched on."""

    origin: tuple[int, int]  # unwrapped canvas position of the placement window's first pixel
    shape: tuple[int, int]  # (h, w) of the placement window
    context_origin: tuple[int, int]  # ... of the context window (the placement window grown)
    filled: np.ndarray  # (hc, wc) bool: what the context window already holds
    old: np.ndarray  # (hc, wc, C) their features (zero elsewhere)
    weight: np.ndarray  # (hc, wc) float32: how much each held pixel counts in the match
    proposal: tuple[float, float] | None = None  # the network's offset for this cell
    reach: tuple[int, int, int, int] = (0, 0, 0, 0)  # how far the window may pass the source's
    #   top, bottom, left and right edges (its margins beyond the cell: others cover them)
    fixed: tuple | None = None  # (dy or None, dx or None): the offset a locked axis prescribes (axes.py)


@dataclass
class Sample:
    """A sample of one cell's held context pixels, for the local search at finer levels."""

    origin: tuple[int, int]  # unwrapped canvas position of the placement window's first pixel
    shape: tuple[int, int]  # (h, w) of the placement window
    positions: np.ndarray  # (P, 2) unwrapped canvas positions of the sampled pixels
    old: np.ndarray  # (P, C) their features
    weight: np.ndarray  # (P,) how much each counts
    reach: tuple[int, int, int, int] = (0, 0, 0, 0)  # as Query.reach
    fixed: tuple | None = None  # as Query.fixed


class SourceSpectra:
    """The source's FFTs, zero-padded by `margin` so a context may reach past its edges, and a
    placement window by `reach` (its pixels outside the source are then not placed)."""

    def __init__(self, source: np.ndarray, context: int, reach: int, variance: float):
        self.shape = source.shape[:2]
        self.reach = reach
        self.margin = margin = context + reach
        # zero padding to at least H + 2 margin, rounded up to a size pocketfft is fast at
        pad = [(margin, _fast_length(n + 2 * margin) - n - margin) for n in self.shape]
        planes = np.stack([np.pad(source[:, :, c], pad) for c in range(source.shape[2])])
        inside = np.pad(np.ones(self.shape, np.float32), pad)
        self.padded = planes.shape[1:]
        self.colour = fft.rfft2(planes)  # (C, Hp, Wp//2+1)
        self.energy = fft.rfft2((planes * planes).sum(axis=0))
        self.inside = fft.rfft2(inside)
        self.variance = variance  # channel_variance(source)


_POOL: list = []


def _pool() -> ThreadPoolExecutor:
    """One pool for the process, made on first use (threads are not free to start)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(WORKERS, thread_name_prefix="transposer-fft"))
    return _POOL[0]


def _fast_length(n: int) -> int:
    """The smallest m >= n with no prime factor above 5."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def exhaustive(spectra: SourceSpectra, queries: list[Query], usage: np.ndarray, expected_use: float,
               settings: Settings, rng: np.random.Generator, period=None) -> list[tuple[int, int]]:
    """Choose an offset (canvas - source) for every query by full search over the source.

    The masked, weighted difference over the part of the context that falls inside the source:
        sum w V (O - S)^2 = corr(w O^2, V) - 2 corr(w O, S) + corr(w, S^2),   count = corr(w, V)
    with V the source's indicator (the source is zero outside it); correlation index c = the
    placement window's source corner. Exact: the sum is a small difference of large terms, so
    no term may be approximated. period: a lattice.Lattice; only placements on it are
    considered (where any of them is possible)."""
    H, W = spectra.shape
    Hp, Wp = spectra.padded
    A = spectra.reach  # correlation index i is the placement corner c = i - A
    m = spectra.margin - A
    n = len(queries)
    C = spectra.colour.shape[0]

    def masked_sums(part: list[Query]) -> np.ndarray:
        kernels = np.zeros((len(part), C + 2, Hp, Wp), np.float32)
        for k, q in enumerate(part):
            hc, wc = q.filled.shape
            y0 = m - (q.origin[0] - q.context_origin[0])
            x0 = m - (q.origin[1] - q.context_origin[1])
            w = q.weight
            kernels[k, 0, y0:y0 + hc, x0:x0 + wc] = w
            kernels[k, 1:C + 1, y0:y0 + hc, x0:x0 + wc] = (q.old * w[:, :, None]).transpose(2, 0, 1)
            kernels[k, C + 1, y0:y0 + hc, x0:x0 + wc] = (q.old * q.old).sum(axis=2) * w
        spectrum = np.conj(fft.rfft2(kernels))  # (k, C + 2, Hp, Wp//2+1)
        sums = np.stack([spectrum[:, C + 1] * spectra.inside[None] + spectrum[:, 0] * spectra.energy[None]
                         - 2.0 * (spectrum[:, 1:C + 1] * spectra.colour[None]).sum(axis=1),
                         spectrum[:, 0] * spectra.inside[None]], axis=1)
        return fft.irfft2(sums, s=(Hp, Wp))  # (k, 2, Hp, Wp): ssd, count

    # pocketfft releases the GIL: the cells of a wave are split over the cores
    parts = [queries[i::WORKERS] for i in range(min(WORKERS, n))]
    results = list(_pool().map(masked_sums, parts)) if len(parts) > 1 else [masked_sums(queries)]
    both = np.empty((n, 2, Hp, Wp), np.float32)
    for i, result in enumerate(results):
        both[i::WORKERS] = result
    ssd, count = both[:, 0], both[:, 1]
    integral = np.pad(usage, ((A + 1, A), (A + 1, A))).cumsum(axis=0).cumsum(axis=1)
    chosen = []
    for k, q in enumerate(queries):
        h, w = q.shape
        ny, nx = H - h + 1 + 2 * A, W - w + 1 + 2 * A
        weight_sum = float(q.weight.sum())
        counted = count[k, :ny, :nx]
        # held pixels whose match falls outside the source count as a poor match (twice the
        # variance): a placement is not better for seeing less
        unseen = np.maximum(weight_sum - counted, 0.0) * (2.0 * spectra.variance)
        error = (np.maximum(ssd[k, :ny, :nx], 0.0) / C + unseen) / max(weight_sum, 1e-6)
        error[counted < 0.3 * weight_sum] = np.inf  # too little of the context lies in the source
        top, bottom, left, right = q.reach  # placements past the source only by the window's margins
        error[:A - top] = np.inf
        error[H - h + A + bottom + 1:] = np.inf
        error[:, :A - left] = np.inf
        error[:, W - w + A + right + 1:] = np.inf
        if q.proposal is not None:  # near the proposal the error counts less; ties go to it
            near = _disc(q.origin, q.proposal, settings.network_radius, ny, nx, A)
            bonus = np.full(error.shape, 1e-6 * (1.0 + spectra.variance))
            bonus[near] = 0.0
            error = error + bonus
            error[near] *= 1.0 - settings.network
        use = (integral[h:h + ny, w:w + nx] - integral[:ny, w:w + nx] - integral[h:h + ny, :nx]
               + integral[:ny, :nx]) / (h * w)
        cost = error + settings.occurrence * spectra.variance * use / max(expected_use, 1e-6)
        dy = q.origin[0] - (np.arange(ny)[:, None] - A)  # the offset of every placement
        dx = q.origin[1] - (np.arange(nx)[None, :] - A)
        if q.fixed is not None:  # a locked axis: only its offset (axes.py)
            cost = _only(cost, (dy == q.fixed[0]) if q.fixed[0] is not None else True,
                         (dx == q.fixed[1]) if q.fixed[1] is not None else True)
        if period is not None:  # a periodic texture: only placements on its period
            cost = _only(cost, period.allowed(dy, dx))
        chosen.append(_pick(cost, q.origin, settings, rng, A))
    return chosen


def _only(cost: np.ndarray, *masks) -> np.ndarray:
    """The cost with everything outside the masks (broadcast) excluded, unless that excludes
    every possible placement."""
    on = np.ones(cost.shape, bool)
    for mask in masks:
        on &= mask
    return np.where(on, cost, np.inf) if np.isfinite(cost[on]).any() else cost


def _disc(origin, offset, radius: int, ny: int, nx: int, reach: int) -> tuple[slice, slice]:
    """The placements (indices: source corner + reach) within `radius` of the one `offset` implies."""
    cy, cx = origin[0] - offset[0] + reach, origin[1] - offset[1] + reach
    y0, x0 = int(round(cy)) - radius, int(round(cx)) - radius
    return (slice(min(max(y0, 0), ny), min(max(y0 + 2 * radius + 1, 0), ny)),
            slice(min(max(x0, 0), nx), min(max(x0 + 2 * radius + 1, 0), nx)))


def draw(cost: np.ndarray, settings: Settings, rng: np.random.Generator) -> int:
    """Index of a choice drawn by the seed among the (at most settings.choices) ones within
    settings.tolerance of the best cost (image quilting's randomness)."""
    flat = cost.ravel()
    best = float(flat.min())
    limit = best * (1.0 + settings.tolerance) + 1e-9
    k = min(settings.choices, flat.size)
    top = np.argpartition(flat, k - 1)[:k]
    top = top[flat[top] <= limit]
    return int(top[rng.integers(len(top))]) if len(top) else int(flat.argmin())


def _pick(cost: np.ndarray, origin, settings: Settings, rng: np.random.Generator, reach: int) -> tuple[int, int]:
    sy, sx = divmod(draw(cost, settings, rng), cost.shape[1])
    return origin[0] - (sy - reach), origin[1] - (sx - reach)


def local(source: np.ndarray, sample: "Sample", start: tuple[int, int], settings: Settings,
          variance: float) -> tuple[int, int]:
    """The best offset within `radius` of `start` for one cell, on a sample of its context; the
    placement window may pass the source's edges by `sample.reach`. `variance`: the source's
    per-channel variance (what an unseen pixel costs is relative to it)."""
    H, W = source.shape[:2]
    top, bottom, left, right = sample.reach
    h, w = sample.shape
    r = settings.radius
    steps = np.arange(-r, r + 1)
    fixed = sample.fixed or (None, None)  # a locked axis keeps the offset axes.py gives it
    along_y = steps + start[0] if fixed[0] is None else np.array([fixed[0]])
    along_x = steps + start[1] if fixed[1] is None else np.array([fixed[1]])
    dy = np.repeat(along_y, len(along_x))  # (K,) candidate offsets
    dx = np.tile(along_x, len(along_y))
    sy, sx = sample.origin[0] - dy, sample.origin[1] - dx  # the placement window's source corner
    allowed = (sy >= -top) & (sy <= H - h + bottom) & (sx >= -left) & (sx <= W - w + right)
    if not allowed.any():  # rounding pushed every candidate out: clamp the start inside
        sy0 = min(max(sample.origin[0] - start[0], -top), H - h + bottom)
        sx0 = min(max(sample.origin[1] - start[1], -left), W - w + right)
        return sample.origin[0] - sy0, sample.origin[1] - sx0
    dy, dx = dy[allowed], dx[allowed]
    py = sample.positions[None, :, 0] - dy[:, None]  # (K, P) source positions under each candidate
    px = sample.positions[None, :, 1] - dx[:, None]
    inside = (py >= 0) & (py < H) & (px >= 0) & (px < W)
    under = rows_at(source.reshape(H * W, -1), np.clip(py, 0, H - 1) * W + np.clip(px, 0, W - 1))
    diff = under - sample.old[None]  # (K, P, C)
    counted = sample.weight[None, :] * inside
    unseen = (sample.weight[None, :] * ~inside).sum(axis=1) * 2.0 * variance  # as in exhaustive
    cost = (np.einsum("kpc,kpc,kp->k", diff, diff, counted) / diff.shape[2] + unseen) / max(float(sample.weight.sum()), 1e-6)
    best = int(cost.argmin())
    return int(dy[best]), int(dx[best])
