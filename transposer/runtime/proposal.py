"""The network's coordinate map, read as a proposal for the synthesis stage.

The network runs on its own canvas: the input padded to the model's multiple (padding.py), or
a copy downscaled to the analysis size. The synthesis stage asks, in the pass's full-resolution
canvas (2h x 2w, input at (h // 2, w // 2)), "where would the network copy this pixel from?";
these functions answer in full-resolution input pixels, reading the nearest network pixel.
"""

from __future__ import annotations

import numpy as np

from .padding import AxisFit


def from_padded(coords: np.ndarray, fits: tuple[AxisFit, AxisFit]):
    """coords (2, 2Hp, 2Wp) of the padded (or periodically resampled) input."""
    starts, scales, befores = [], [], []
    for axis, fit in enumerate(fits):
        if fit.resample:  # the network canvas is the whole 2 * padded, resampled from 2 * size
            starts.append(0.0)
            scales.append(fit.padded / fit.size)
            befores.append(0.0)
        else:
            starts.append(float(fit.canvas_crop().start))
            scales.append(1.0)
            befores.append(float(fit.before))

    def proposal(ys: np.ndarray, xs: np.ndarray):
        out = []
        for axis, p in ((0, ys), (1, xs)):
            n = coords.shape[1 + axis]
            index = np.clip(np.round((p + 0.5) * scales[axis] - 0.5 + starts[axis]), 0, n - 1).astype(np.int64)
            out.append(index)
        sy = coords[0][out[0], out[1]]
        sx = coords[1][out[0], out[1]]
        return (sy + 0.5) / scales[0] - 0.5 - befores[0], (sx + 0.5) / scales[1] - 0.5 - befores[1]

    return proposal


def from_downscaled(coords: np.ndarray, size: tuple[int, int], small: tuple[int, int]):
    """coords (2, 2hs, 2ws) of a (hs, ws) copy of an (h, w) input."""
    ratio = (size[0] / small[0], size[1] / small[1])

    def proposal(ys: np.ndarray, xs: np.ndarray):
        iy = np.clip(np.round((ys + 0.5) / ratio[0] - 0.5), 0, coords.shape[1] - 1).astype(np.int64)
        ix = np.clip(np.round((xs + 0.5) / ratio[1] - 0.5), 0, coords.shape[2] - 1).astype(np.int64)
        return (coords[0][iy, ix] + 0.5) * ratio[0] - 0.5, (coords[1][iy, ix] + 0.5) * ratio[1] - 0.5

    return proposal


def on_canvas(network, size: tuple[int, int], origin: tuple[int, int]):
    """A proposal over an output canvas with the input at `origin`, from one over the network's
    2x canvas (input at (h // 2, w // 2)); NaN outside the network's canvas."""
    shift = (size[0] // 2 - origin[0], size[1] // 2 - origin[1])

    def proposal(ys: np.ndarray, xs: np.ndarray):
        qy, qx = ys + shift[0], xs + shift[1]
        inside = (qy >= 0) & (qy < 2 * size[0]) & (qx >= 0) & (qx < 2 * size[1])
        sy, sx = network(qy, qx)
        return np.where(inside, sy, np.nan), np.where(inside, sx, np.nan)

    return proposal
