"""The input's period, if it has one: tiles, grates, weaves, stripes.

A periodic texture is continued convincingly only by pieces placed on its period: a piece
shifted by anything else breaks the grout line, the bar or the thread where it meets the next
one. Matching alone finds the period most of the time; where the texture between the lines is
busier than the lines themselves it does not. So the period is measured once, at the coarsest
level, and the search there considers only placements on it (to within a pixel; the finer
levels refine to the pixel).

The measure is the Transposer's own self-similarity: for a shift p, the mean squared difference
between the features and themselves shifted by p, relative to twice their variance,

    r(p) = mean_overlap ||F(x) - F(x + p)||^2 / (2 var F)      (0: identical, ~1: unrelated),

over shifts of up to half the input (so at least two periods are seen). A period is a local
minimum with r(p) below PERIOD_MATCH that is a repeat rather than smoothness: half the shift
away the texture differs (r(p / 2) at least PERIOD_CONTRAST above r(p)). The best such shift
is the first lattice vector; the best one at least 30 degrees away from it, if any, the second
(a 2-D lattice; with one vector only, stripes, the placements are free along them). Most
textures have no period by this measure, and nothing changes for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .search import fft  # scipy's where it is installed, numpy's otherwise

PERIOD_MATCH = 0.35  # r(p) below this: the texture repeats at p
PERIOD_CONTRAST = 0.25  # ... and r(p / 2) is at least this much higher: a repeat, not smoothness
MIN_PERIOD = 4  # pixels of the level measured: shorter shifts are smoothness
TOLERANCE = 1.0  # pixels a placement may sit off the lattice


@dataclass(frozen=True)
class Lattice:
    vectors: tuple  # one or two (dy, dx) lattice vectors, in the measured level's pixels
    origin: tuple[int, int]  # the offset (canvas - source) of the source itself

    def allowed(self, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Which offsets (canvas - source, broadcast arrays) put a piece on the period."""
        ry, rx = np.broadcast_arrays(np.asarray(dy, np.float64) - self.origin[0],
                                     np.asarray(dx, np.float64) - self.origin[1])
        v1 = np.array(self.vectors[0], np.float64)
        if len(self.vectors) == 1:  # stripes: on the period across them, free along them
            t = (ry * v1[0] + rx * v1[1]) / (v1 @ v1)
            return np.abs(t - np.round(t)) * np.sqrt(v1 @ v1) <= TOLERANCE
        basis = np.array([self.vectors[0], self.vectors[1]], np.float64).T  # columns v1, v2
        a, b = np.linalg.solve(basis, np.stack([ry.ravel(), rx.ravel()]))
        a, b = np.round(a), np.round(b)
        off_y = ry.ravel() - (a * basis[0, 0] + b * basis[0, 1])
        off_x = rx.ravel() - (a * basis[1, 0] + b * basis[1, 1])
        return ((np.abs(off_y) <= TOLERANCE) & (np.abs(off_x) <= TOLERANCE)).reshape(np.shape(ry))


def similarity(features: np.ndarray) -> np.ndarray:
    """r(p) for shifts |py| <= h/2, |px| <= w/2: (h/2 * 2 + 1, w/2 * 2 + 1), zero shift in the centre."""
    h, w, channels = features.shape
    f = features.astype(np.float64) - features.reshape(-1, channels).mean(axis=0)
    variance = f.reshape(-1, channels).var(axis=0).sum()
    size = (2 * h, 2 * w)  # no shift aliases with another
    spectra = fft.rfft2(f.transpose(2, 0, 1), s=size)
    product = fft.irfft2((spectra * np.conj(spectra)).sum(axis=0), s=size)
    energy = fft.rfft2((f * f).sum(axis=2), s=size)
    ones = fft.rfft2(np.ones((h, w)), s=size)
    # sum over the overlap of e(x) + e(x + p) - 2 f(x) f(x + p), and the overlap's area
    ssd = fft.irfft2(energy * np.conj(ones) + ones * np.conj(energy), s=size) - 2.0 * product
    area = fft.irfft2(ones * np.conj(ones), s=size)
    ry, rx = h // 2, w // 2
    rows, cols = np.arange(-ry, ry + 1) % size[0], np.arange(-rx, rx + 1) % size[1]
    ssd, area = ssd[np.ix_(rows, cols)], area[np.ix_(rows, cols)]
    return np.maximum(ssd, 0.0) / np.maximum(area, 1.0) / (2.0 * variance + 1e-12)


def detect(features: np.ndarray, origin: tuple[int, int]) -> Optional[Lattice]:
    """The lattice the (h, w, C) features repeat on, or None."""
    if min(features.shape[:2]) < 4 * MIN_PERIOD:
        return None
    r = similarity(features)
    ry, rx = r.shape[0] // 2, r.shape[1] // 2
    py, px = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    padded = np.pad(r, 1, constant_values=np.inf)
    minimum = np.ones(r.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                minimum &= r <= padded[1 + dy:1 + dy + r.shape[0], 1 + dx:1 + dx + r.shape[1]]
    length = np.hypot(py, px)
    half = r[np.round(py / 2).astype(int) + ry, np.round(px / 2).astype(int) + rx]
    upper = (py > 0) | ((py == 0) & (px > 0))  # p and -p are one period
    found = minimum & upper & (length >= MIN_PERIOD) & (r < PERIOD_MATCH) & (half >= r + PERIOD_CONTRAST)
    ys, xs = np.nonzero(found)
    if len(ys) == 0:
        return None
    order = np.argsort(r[ys, xs] + 1e-3 * length[ys, xs])  # the best; of equals, the shorter
    candidates = [(int(py[ys[i], xs[i]]), int(px[ys[i], xs[i]])) for i in order]
    first = candidates[0]
    for v in candidates[1:]:
        sine = abs(first[0] * v[1] - first[1] * v[0]) / (np.hypot(*first) * np.hypot(*v))
        if sine >= 0.5:
            return Lattice((first, v), tuple(origin))
    return Lattice((first,), tuple(origin))
