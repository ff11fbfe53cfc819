"""Reading and writing texture files, and naming what the app saves.

PROVISIONAL: reads/writes with Pillow until transposer.runtime.imageio lands; then it delegates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SAVE_SUFFIXES = (".png", ".tif", ".tiff", ".exr")
SAVE_FILTER = "PNG (*.png);;TIFF (*.tif *.tiff);;OpenEXR (*.exr)"
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.exr *.bmp *.tga *.webp);;All files (*)"


@dataclass
class ImageFile:
    pixels: np.ndarray  # (H, W, C) float32
    bit_depth: int  # 8, 16 or 32 (float)


def read(path: Path) -> ImageFile:
    with Image.open(path) as image:
        image.load()
        bits = 16 if image.mode in ("I;16", "I") else 8
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
    return ImageFile(pixels, bits)


def write(path: Path, pixels: np.ndarray, bit_depth: int) -> None:
    array = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)


def is_linear(path: Path) -> bool:
    """Float EXR files hold linear light by convention; PNG, TIFF and JPEG hold sRGB-encoded values."""
    return path.suffix.lower() == ".exr"


def save_suffix(source: Path, choice: str) -> str:
    """The extension to save a result of `source` with: the panel's choice, or the source's own
    when it is one we write (a JPEG source is saved as PNG: re-compressing loses detail)."""
    if choice != "source":
        return choice
    suffix = source.suffix.lower()
    return suffix if suffix in SAVE_SUFFIXES else ".png"


def save_depth(choice: int, source_depth: int) -> int:
    """8 or 16 for PNG/TIFF: the panel's choice, or like the source (float sources get 16)."""
    if choice in (8, 16):
        return choice
    return 8 if source_depth <= 8 else 16


def expanded_path(folder: Path, source: Path, suffix: str) -> Path:
    """`<folder>/<source name>_expanded<suffix>`, the name Save All uses."""
    return Path(folder) / f"{source.stem}_expanded{suffix}"


@dataclass(frozen=True)
class SaveRequest:
    path: Path
    pixels: np.ndarray  # (H, W, C) float32
    bit_depth: int  # 8 or 16 for PNG/TIFF; EXR is always float


def plan_saves(path: Path, image: np.ndarray, companions: list[tuple[Path, np.ndarray]],
               depth_choice: int, source_depths: list[int]) -> list[SaveRequest]:
    """The guide result at `path`; each companion result beside it as <its source name>_expanded
    with the same extension. `source_depths`: guide then companions."""
    depths = list(source_depths) + [8] * (1 + len(companions) - len(source_depths))
    requests = [SaveRequest(path, image, save_depth(depth_choice, depths[0]))]
    for (source, pixels), depth in zip(companions, depths[1:]):
        requests.append(SaveRequest(expanded_path(path.parent, source, path.suffix), pixels,
                                    save_depth(depth_choice, depth)))
    return requests


def write_atomically(request: SaveRequest) -> None:
    """Write to a hidden temporary file beside the target, then rename it into place, so a failed
    or interrupted write never leaves a half-written file under the artist's chosen name."""
    path = request.path
    temp = path.with_name(f".{path.stem}.saving-{os.getpid()}{path.suffix}")
    try:
        write(temp, request.pixels, request.bit_depth)
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()
