"""The evaluation protocol (the Transposer paper's): from each image an S x S ground-truth crop,
the model's input is that crop's centre S/2 x S/2, and the 2x output is compared with the crop.

An image that already is exactly S x S is used whole (folders of prepared ground truths); an
image smaller than S on either side is skipped with a warning, as is a file Pillow cannot read.
Crops are deterministic: the centre, or a random position drawn from a generator seeded by the run
seed and the file's name, so the same image gets the same crop whatever --limit or folder order.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from transposer.runtime.files import PILLOW_SUFFIXES as IMAGE_SUFFIXES  # the one list (these are read with Pillow)

CROPS = ("center", "random")


class EvalError(ValueError):
    """Bad settings or data: the message is one line that names the parameter and the value."""


@dataclass
class Case:
    name: str                 # file path relative to its --data folder
    path: str
    target: np.ndarray        # (S, S, 3) float32 in [0, 1]: the ground truth
    given: np.ndarray         # (S/2, S/2, 3): the model's input, target's centre quarter
    offset: tuple[int, int]   # (y, x) of the crop in the source image
    whole: bool               # the image was used whole (already S x S)


def list_images(data_dirs: Sequence[str | Path]) -> list[tuple[Path, Path]]:
    """(folder, file) pairs of every image under the folders, recursively, in sorted order."""
    if not data_dirs:
        raise EvalError("--data: give at least one folder of images")
    found = []
    for folder in data_dirs:
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise EvalError(f"--data: not a folder: {folder}")
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        found.extend((root, p) for p in files)
    if not found:
        raise EvalError(f"--data: no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, data_dirs))}")
    return found


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit greyscale: keep the precision that convert("RGB") would throw away.
            grey = np.asarray(im, dtype=np.float32) / 65535.0
            return np.repeat(grey[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def crop_offset(height: int, width: int, size: int, crop: str, seed: int, name: str) -> tuple[int, int]:
    if crop == "center":
        return (height - size) // 2, (width - size) // 2
    # Seeded by the name, not by the position in the listing, so --limit and extra folders never
    # move another image's crop.
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))


def iter_cases(
    files: Iterable[tuple[Path, Path]],
    size: int,
    crop: str = "center",
    seed: int = 0,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[Case]:
    """Yield one Case per usable image; report each unusable one through on_skip(path, reason)."""
    for root, path in files:
        name = path.relative_to(root).as_posix()
        try:
            image = _read_rgb(path)
        except (OSError, ValueError, SyntaxError) as exc:   # what Pillow raises on broken files
            if on_skip:
                on_skip(str(path), f"unreadable: {exc}")
            continue
        h, w = image.shape[:2]
        if h < size or w < size:
            if on_skip:
                on_skip(str(path), f"smaller than --size {size}: {w} x {h}")
            continue
        y, x = crop_offset(h, w, size, crop, seed, name)
        target = np.ascontiguousarray(image[y:y + size, x:x + size])
        q = size // 4
        given = np.ascontiguousarray(target[q:q + size // 2, q:q + size // 2])
        yield Case(name=name, path=str(path), target=target, given=given, offset=(y, x),
                   whole=(h == size and w == size))
