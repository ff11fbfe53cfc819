"""Expansion training pairs: target = an S x S texture crop, input = its centre S/2 x S/2.

The input is cut out of the target at the same resolution, so the network learns to grow a texture
outwards (expansion), not to add detail to a downscaled copy (upscaling: the mistake of the 2023
re-implementation, whose inputs were resized targets).

Every item is a pure function of (seed, epoch, index): reproducible, and fresh each epoch once the
trainer calls `set_epoch`. The epoch lives in shared memory so that DataLoader workers, persistent
ones included, see the update.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from . import procedural
from .folder import ImagePool


def random_crop(src: np.ndarray, size: int, rng: np.random.Generator, rescale: tuple[float, float]) -> np.ndarray:
    """(size, size, 3) float32 crop of uint8 `src` after a random rescale by a factor in `rescale`.

    The factor is raised to size / short side when the source would otherwise be smaller than
    the crop, so small images are upscaled just enough to fit.
    """
    h, w = src.shape[:2]
    s = max(rng.uniform(*rescale), size / min(h, w))
    win = min(size / s, h, w)  # source pixels the crop covers
    y0, x0 = rng.uniform(0, h - win), rng.uniform(0, w - win)
    if abs(win - size) < 1e-6:  # no resampling: keep the pixels exactly
        yi, xi = int(y0), int(x0)
        crop = src[yi:yi + size, xi:xi + size]
    else:
        iy, ix = int(y0), int(x0)
        iy1, ix1 = min(h, math.ceil(y0 + win) + 1), min(w, math.ceil(x0 + win) + 1)
        region = Image.fromarray(np.ascontiguousarray(src[iy:iy1, ix:ix1]))
        box = (x0 - ix, y0 - iy, x0 - ix + win, y0 - iy + win)
        crop = np.asarray(region.resize((size, size), Image.Resampling.BICUBIC, box=box))
    return crop.astype(np.float32) * np.float32(1.0 / 255.0)


def augment(img: np.ndarray, rng: np.random.Generator, flips: bool, rot90: bool, jitter: float) -> np.ndarray:
    """Dihedral transforms (textures have no up) and a mild colour jitter, result in [0, 1]."""
    if flips:
        if rng.random() < 0.5:
            img = img[:, ::-1]
        if rng.random() < 0.5:
            img = img[::-1]
    if rot90:
        img = np.rot90(img, int(rng.integers(4)))
    img = np.ascontiguousarray(img, dtype=np.float32)
    if jitter > 0:
        mean = img.mean(axis=(0, 1), dtype=np.float32)
        contrast = np.float32(1.0 + rng.uniform(-jitter, jitter))
        gain = (1.0 + rng.uniform(-jitter, jitter, 3)).astype(np.float32)  # white balance
        offset = np.float32(rng.uniform(-jitter, jitter))  # brightness
        img = ((img - mean) * contrast + mean) * gain + offset
    return np.clip(img, 0.0, 1.0)


def make_pair(target: np.ndarray) -> dict[str, torch.Tensor]:
    """(S, S, 3) float32 -> {"input": (3, S/2, S/2), "target": (3, S, S)}, input = exact centre."""
    s = target.shape[0]
    t = torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))
    q = s // 4
    return {"input": t[:, q:q + s // 2, q:q + s // 2].clone(), "target": t}


class ExpansionDataset(Dataset):
    """`samples_per_epoch` random expansion pairs from real images and/or procedural textures."""

    def __init__(self, cfg, pool: ImagePool | None, seed: int = 0):
        self.cfg = cfg
        self.pool = pool if pool is not None and len(pool) else None
        self.seed = int(seed)
        self.procedural_weight = 1.0 if self.pool is None else float(cfg.procedural_weight)
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return self.cfg.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch's iteration: items are fixed per (seed, epoch, index)."""
        self._epoch[0] = int(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def is_procedural(self, index: int) -> bool:
        """Whether item `index` of the current epoch comes from the procedural generator."""
        return bool(self._rng(index).random() < self.procedural_weight)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        cfg, rng = self.cfg, self._rng(index)
        if rng.random() < self.procedural_weight:  # same first draw as is_procedural()
            img = procedural.generate(cfg.crop_size, rng)
        else:
            src = self.pool.get(int(rng.integers(len(self.pool))))
            img = random_crop(src, cfg.crop_size, rng, cfg.rescale)
        img = augment(img, rng, cfg.flips, cfg.rot90, cfg.color_jitter)
        return make_pair(img)
