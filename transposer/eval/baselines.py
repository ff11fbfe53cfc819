"""Naive baselines any expansion model must beat, computed in the same run as the model.

Each takes the (h, w, C) input in [0, 1] and returns a (2h, 2w, C) float32 image.
- bicubic: 2x upscaling of the input, i.e. what a network trained on "input = downscaled target"
  learns (upscaling, not expansion: same content, twice the size).
- wrap / mirror: the input at the centre, the ring filled by periodic or mirrored copies of it. They
  keep the centre exactly and show seams (wrap) or kaleidoscope symmetry (mirror).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image


def bicubic(given: np.ndarray) -> np.ndarray:
    h, w, _ = given.shape
    # Pillow's float mode ("F") resizes one channel at a time at full precision (no 8-bit rounding).
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(given[..., c], dtype=np.float32), mode="F")
                   .resize((2 * w, 2 * h), Image.Resampling.BICUBIC))
        for c in range(given.shape[2])
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(np.float32)


def _pad(given: np.ndarray, mode: str) -> np.ndarray:
    h, w, _ = given.shape
    top, left = h // 2, w // 2
    return np.pad(given, ((top, h - top), (left, w - left), (0, 0)), mode=mode).astype(np.float32)


def wrap(given: np.ndarray) -> np.ndarray:
    return _pad(given, "wrap")


def mirror(given: np.ndarray) -> np.ndarray:
    # "symmetric" repeats the edge pixel (abc|cba), the usual mirror tiling of textures.
    return _pad(given, "symmetric")


BASELINES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "bicubic": bicubic,
    "wrap": wrap,
    "mirror": mirror,
}
