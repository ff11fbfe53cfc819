"""What pieces are matched on: the guide's colour and its fine luminance detail.

The detail channel (luminance minus its local mean, weighted up) lets thin structure (grout,
cracks, threads) decide a match rather than broad shading. Features are computed by strips of
rows, each pixel from its own 5 x 5 neighbourhood only, so the result does not depend on the
strip height and the memory needed beside the result stays a few rows of the image; the guide
may be uint8, uint16 or float32 (converted per strip). Above LARGE_PIXELS the features are
stored in float16 (half the memory of the largest array the stage keeps); every difference is
still computed in float32 (Level reads them through float32).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DETAIL = 2.0  # weight of the detail channel against colour in every match
DETAIL_RADIUS = 2  # pixels: the detail channel is luminance minus its local mean
LARGE_PIXELS = 1 << 24  # source pixels above which the features are kept in float16
STRIP_ROWS = 512


def unit(values: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float values as float32 in their [0, 1] scale."""
    if values.dtype == np.uint8:
        return values.astype(np.float32) / 255.0
    if values.dtype == np.uint16:
        return values.astype(np.float32) / 65535.0
    return values.astype(np.float32, copy=False)


def features(guide: np.ndarray, strip_rows: int = STRIP_ROWS) -> np.ndarray:
    """(h, w, 3) guide -> (h, w, 4) features: colour, and DETAIL x luminance detail."""
    height, width = guide.shape[:2]
    dtype = np.float16 if height * width > LARGE_PIXELS else np.float32
    out = np.empty((height, width, 4), dtype)
    r = DETAIL_RADIUS
    for r0 in range(0, height, strip_rows):
        r1 = min(r0 + strip_rows, height)
        a0, a1 = max(r0 - r, 0), min(r1 + r, height)  # the strip and its halo
        colour = unit(guide[a0:a1])
        luminance = colour.mean(axis=2)
        blurred = _box_blur(luminance, r, (r0 - a0, a1 - r1))
        inner = slice(r0 - a0, r0 - a0 + (r1 - r0))
        out[r0:r1, :, :3] = colour[inner]
        out[r0:r1, :, 3] = DETAIL * (luminance[inner] - blurred)
    return out


def _box_blur(plane: np.ndarray, radius: int, halo: tuple[int, int]) -> np.ndarray:
    """Mean over a (2r+1)^2 box of the rows inside `halo` (rows above and below that are only
    read), edges clamped: a direct sum of shifted copies, so every output pixel depends on
    its neighbours' values alone."""
    n = 2 * radius + 1
    rows = plane.shape[0]
    padded = np.pad(plane.astype(np.float64), ((0, 0), (radius, radius)), mode="edge")
    across = sum(padded[:, k:k + plane.shape[1]] for k in range(n))
    top, bottom = halo
    # rows beyond the halo exist only at the image's own edges: clamp there
    across = np.pad(across, ((radius - top, radius - bottom), (0, 0)), mode="edge")
    inner = rows - top - bottom
    down = sum(across[k:k + inner] for k in range(n))
    return (down / (n * n)).astype(np.float32)


def resize(guide: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged downscale of the (h, w, 3) guide to size = (h', w'), float32 in [0, 1]."""
    out = np.empty((size[0], size[1], guide.shape[2]), np.float32)
    for c in range(guide.shape[2]):
        plane = Image.fromarray(unit(np.ascontiguousarray(guide[:, :, c])))
        out[:, :, c] = np.asarray(plane.resize((size[1], size[0]), Image.Resampling.BOX))
    return out


def channel_variance(source: np.ndarray, strip_rows: int = STRIP_ROWS) -> float:
    """The features' variance per channel, averaged: the unit every cost is measured in, so
    that the costs mean the same on any texture (float64 sums by strips: no full-size copy)."""
    channels = source.shape[2]
    total, squares, count = np.zeros(channels), np.zeros(channels), 0
    for r0 in range(0, source.shape[0], strip_rows):
        part = source[r0:r0 + strip_rows].reshape(-1, channels).astype(np.float64)
        total += part.sum(axis=0)
        squares += (part * part).sum(axis=0)
        count += part.shape[0]
    mean = total / count
    return float(np.maximum(squares / count - mean * mean, 0.0).mean()) + 1e-6
