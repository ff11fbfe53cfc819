"""Padding to the model's input multiple, and resampling that keeps a seamless axis periodic.

The network wants H and W to be multiples of `input_multiple`. On an ordinary axis the runtime
reflect-pads the input (no hard edge for the network to copy) and crops the padding's share of
the 2x canvas off again, so the input stays exactly where the contract puts it. On a seamless
axis padding would break the period (the padded strip repeats one edge next to the other), so
there the layers are resampled periodically to the next multiple and back instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class AxisFit:
    """How one axis of length `size` becomes `padded` for the network, and back."""

    size: int
    padded: int
    before: int  # rows/columns of reflect padding before the input (0 when resampled)
    resample: bool  # True: periodic resample size -> padded (seamless axis, not a multiple)

    def canvas_crop(self) -> slice:
        """The 2*size window of the 2*padded canvas that has the input at size // 2."""
        if self.resample:
            return slice(0, 2 * self.padded)
        start = self.padded // 2 + self.before - self.size // 2
        return slice(start, start + 2 * self.size)


def fit_axis(size: int, multiple: int, wrap: bool) -> AxisFit:
    padded = math.ceil(size / multiple) * multiple
    if padded == size:
        return AxisFit(size, size, 0, False)
    if wrap:
        return AxisFit(size, padded, 0, True)
    return AxisFit(size, padded, (padded - size) // 2, False)


def pad_layers(values: np.ndarray, fits: tuple[AxisFit, AxisFit]) -> np.ndarray:
    """(H, W, C) -> (Hp, Wp, C): reflect padding or periodic resampling per axis."""
    fy, fx = fits
    out = values
    if fy.resample or fx.resample:
        out = periodic_resize(out, fy.padded if fy.resample else fy.size,
                              fx.padded if fx.resample else fx.size, (fy.resample, fx.resample))
    widths = [(0, 0), (0, 0), (0, 0)]
    for axis, fit in enumerate(fits):
        if not fit.resample:
            widths[axis] = (fit.before, fit.padded - fit.size - fit.before)
    if any(w != (0, 0) for w in widths):
        out = np.pad(out, widths, mode="reflect")
    return out


def unpad_canvas(canvas: np.ndarray, fits: tuple[AxisFit, AxisFit]) -> np.ndarray:
    """(2Hp, 2Wp, C) -> (2H, 2W, C): crop on padded axes, periodic resample on resampled ones."""
    fy, fx = fits
    out = canvas[fy.canvas_crop(), fx.canvas_crop()]
    if fy.resample or fx.resample:
        out = periodic_resize(out, 2 * fy.size, 2 * fx.size, (fy.resample, fx.resample))
    return out


def periodic_resize(values: np.ndarray, height: int, width: int, wrap=(True, True)) -> np.ndarray:
    """Resample (H, W, C) float32 to (height, width, C) with bicubic filtering whose support wraps
    around on the `wrap` axes (so a tileable image stays tileable) and clamps on the others."""
    values = np.asarray(values, dtype=np.float32)
    src_h, src_w = values.shape[:2]
    if (src_h, src_w) == (height, width):
        return values
    margin = 4  # > the bicubic support at the largest downscale factor we use (2x)
    my = min(margin * max(1, math.ceil(src_h / height)), src_h)
    mx = min(margin * max(1, math.ceil(src_w / width)), src_w)
    padded = np.pad(values, [(my, my), (0, 0), (0, 0)], mode="wrap" if wrap[0] else "edge")
    padded = np.pad(padded, [(0, 0), (mx, mx), (0, 0)], mode="wrap" if wrap[1] else "edge")
    box = (mx, my, mx + src_w, my + src_h)  # the original image inside the padding
    out = np.empty((height, width, values.shape[2]), np.float32)
    for c in range(values.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(padded[:, :, c]))  # float32 -> mode "F"
        out[:, :, c] = np.asarray(plane.resize((width, height), Image.Resampling.BICUBIC, box=box))
    return out
