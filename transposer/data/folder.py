"""Image sources for training: every readable image under some folders, optionally decoded once.

`ImagePool` holds a list of files whose headers were checked (unreadable or too small files are
skipped with one `SkippedImageWarning` each, never an exception) and, when they fit in the memory
budget, their decoded uint8 pixels: on a 2-core machine JPEG decoding, not the model, is the
bottleneck of a data loader. DataLoader workers created by fork share the cache copy-on-write.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from transposer.runtime.files import PILLOW_SUFFIXES

IMAGE_EXTENSIONS = frozenset(PILLOW_SUFFIXES)  # the runtime's one list of what Pillow reads


class SkippedImageWarning(UserWarning):
    """A file under a data folder could not be used (corrupt, unsupported or too small)."""


class DataError(ValueError):
    """Bad data configuration: missing folder, no usable image, DTD unavailable."""


def _skip(path: Path, reason: str) -> None:
    warnings.warn(f"skipping {path}: {reason}", SkippedImageWarning, stacklevel=3)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """All files with an image extension under `folder` (recursive), sorted for reproducibility."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"folders: {root} is not a directory")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def decode_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8, EXIF orientation applied; 16-bit and float images scaled, alpha dropped."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            a = np.asarray(im, dtype=np.float32)
            if im.mode == "F":
                scale = 255.0  # float images are taken to be in [0, 1]
            else:  # 16-bit PNG/TIFF (mode "I" also holds 8-bit data sometimes)
                scale = 255.0 / 65535.0 if im.mode != "I" or a.max() > 255 else 1.0
            a = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
            return np.repeat(a[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"))


class ImagePool:
    """Usable images from some paths, optionally cached in memory as uint8 arrays."""

    def __init__(self, paths: list[Path], min_size: int, cache: bool = True, cache_max_bytes: int = 2 << 30):
        self.min_size = min_size
        self.paths: list[Path] = []
        self.sizes: list[tuple[int, int]] = []  # (W, H)
        for p in paths:
            try:
                with Image.open(p) as im:
                    size = im.size
            except Exception as exc:  # PIL raises many types for corrupt or foreign files
                _skip(p, f"not a readable image ({type(exc).__name__})")
                continue
            if min(size) < min_size:
                _skip(p, f"{size[0]}x{size[1]} is smaller than min_image_size={min_size}")
                continue
            self.paths.append(p)
            self.sizes.append(size)
        self.cache: list[np.ndarray] | None = None
        self._bad: set[int] = set()
        total = sum(w * h * 3 for w, h in self.sizes)
        if cache and total <= cache_max_bytes and self.paths:
            self._fill_cache()

    def _fill_cache(self) -> None:
        # Pillow releases the GIL while decoding, so threads use every core.
        def load(p):
            try:
                return decode_rgb(p)
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(load, self.paths))
        keep = [i for i, r in enumerate(results) if isinstance(r, np.ndarray)]
        for i, r in enumerate(results):
            if not isinstance(r, np.ndarray):
                _skip(self.paths[i], f"cannot be decoded ({type(r).__name__}: {r})")
        self.paths = [self.paths[i] for i in keep]
        self.sizes = [self.sizes[i] for i in keep]
        self.cache = [results[i] for i in keep]

    @property
    def cached_bytes(self) -> int:
        return sum(a.nbytes for a in self.cache) if self.cache is not None else 0

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, index: int) -> np.ndarray:
        """Pixels of image `index`; a file that fails to decode (uncached pool only) is warned
        about once in this process and replaced by the next usable one."""
        if self.cache is not None:
            return self.cache[index]
        n = len(self.paths)
        for k in range(n):
            i = (index + k) % n
            if i in self._bad:
                continue
            try:
                return decode_rgb(self.paths[i])
            except Exception as exc:
                self._bad.add(i)
                _skip(self.paths[i], f"cannot be decoded ({type(exc).__name__}: {exc})")
        raise DataError("no image in the data folders can be decoded")
