"""Texture files: reading and writing through the runtime's imageio (8/16-bit PNG, TIFF, float
EXR, grey, alpha, EXIF orientation), and how the app names and plans what it saves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transposer.runtime.imageio import ImageData, default_bit_depth, read_image, write_image

SAVE_SUFFIXES = (".png", ".tif", ".tiff", ".exr")
SAVE_FILTER = "PNG (*.png);;TIFF (*.tif *.tiff);;OpenEXR (*.exr)"
OPEN_FILTER = ("Images (*.png *.jpg *.jpeg *.tif *.tiff *.exr *.bmp *.tga *.webp *.gif);;"
               "All files (*)")


def read(path: Path) -> ImageData:
    """(H, W, C) float32 pixels and the file's bit depth (8, 16, 32 = float); raises the
    runtime's ImageFileError with a one-line message naming the file."""
    return read_image(path)


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


def save_depth(path: Path, choice: int, source_depth: int) -> int:
    """The bit depth to write `path` with. choice 0 = like the source (a float source gives a
    16-bit PNG, a float TIFF, a float EXR); 8 or 16 = integer bits for PNG and TIFF, and for EXR
    16 = half float, otherwise full float."""
    if path.suffix.lower() == ".exr":
        return 16 if choice == 16 else 32
    if choice in (8, 16):
        return choice
    return default_bit_depth(path, source_depth)


def expanded_path(folder: Path, source: Path, suffix: str) -> Path:
    """`<folder>/<source name>_expanded<suffix>`, the name Save All uses."""
    return Path(folder) / f"{source.stem}_expanded{suffix}"


@dataclass(frozen=True)
class SaveRequest:
    path: Path
    pixels: np.ndarray  # (H, W, C) float32
    bit_depth: int  # as save_depth() chose it for this path


def plan_saves(path: Path, image: np.ndarray, companions: list[tuple[Path, np.ndarray]],
               depth_choice: int, source_depths: list[int]) -> list[SaveRequest]:
    """The guide result at `path`; each companion result beside it as <its source name>_expanded
    with the same extension. `source_depths`: guide then companions."""
    depths = list(source_depths) + [8] * (1 + len(companions) - len(source_depths))
    requests = [SaveRequest(path, image, save_depth(path, depth_choice, depths[0]))]
    for (source, pixels), depth in zip(companions, depths[1:]):
        target = expanded_path(path.parent, source, path.suffix)
        requests.append(SaveRequest(target, pixels, save_depth(target, depth_choice, depth)))
    return requests


def write(request: SaveRequest) -> None:
    """Write one file. The runtime writes to a temporary file and renames it into place, so a
    failed write never leaves a half-written file or clobbers the old one."""
    write_image(request.path, request.pixels, request.bit_depth)
