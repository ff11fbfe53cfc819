"""Blender images <-> numpy arrays, on the main thread only.

Blender stores pixel rows bottom-up; the runtime, like every image file, works top-down, so
rows are flipped on the way out and back. Pixels stay float32 throughout: 16-bit and float
sources lose nothing, and float (HDR) values above 1 pass through.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy
import numpy as np

IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".hdr", ".tga", ".bmp", ".webp", ".dpx", ".cin", ".jp2",
}


class ImageDataError(Exception):
    """A one-line message for the artist (missing file, empty image...)."""


@dataclass(frozen=True)
class ImageFormat:
    """What the new image copies from its source, captured as plain values on the main thread
    so nothing refers to a datablock the artist may delete while the worker runs."""

    name: str
    colorspace: str  # e.g. "sRGB"; "Non-Color" for normal/roughness maps stays "Non-Color"
    is_float: bool  # float and 16-bit sources give a float image
    alpha_mode: str


def read_pixels(image: bpy.types.Image) -> np.ndarray:
    """The image as an (H, W, C) float32 array, rows top-down; a copy, safe to hand to a thread."""
    width, height = image.size  # reading the size loads the file if Blender has not yet
    if width == 0 or height == 0:
        where = bpy.path.abspath(image.filepath) if image.filepath else "no file"
        raise ImageDataError(f"Image '{image.name}' has no pixels to read ({where}); is its file missing?")
    channels = image.channels
    buffer = np.empty(width * height * channels, dtype=np.float32)
    image.pixels.foreach_get(buffer)
    return np.ascontiguousarray(buffer.reshape(height, width, channels)[::-1])


def image_format(image: bpy.types.Image) -> ImageFormat:
    return ImageFormat(
        name=image.name,
        colorspace=image.colorspace_settings.name,
        is_float=bool(image.is_float),
        alpha_mode=image.alpha_mode,
    )


def expanded_name(source_name: str) -> str:
    """`bricks.png` -> `bricks_expanded` (Blender adds .001 etc. if the name is taken)."""
    stem, extension = os.path.splitext(source_name)
    if extension.lower() not in IMAGE_EXTENSIONS:
        stem = source_name
    return f"{stem}_expanded"


def to_rgba(pixels: np.ndarray) -> np.ndarray:
    """Blender's new images always have 4 channels: grey is copied to RGB, missing alpha is 1."""
    height, width, channels = pixels.shape
    if channels == 4:
        return pixels
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., :3] = pixels[..., :1] if channels in (1, 2) else pixels[..., :3]
    if channels == 2:
        rgba[..., 3] = pixels[..., 1]
    return rgba


def create_image(fmt: ImageFormat, pixels: np.ndarray, name: str | None = None) -> bpy.types.Image:
    """A new image datablock holding `pixels` (H, W, C top-down), in the source's colour space,
    float when the source is. It is packed into the .blend file: a generated image's pixels
    would otherwise be lost on save."""
    pixels = to_rgba(np.asarray(pixels, dtype=np.float32))
    height, width = pixels.shape[:2]
    if not fmt.is_float:
        # A byte image would wrap out-of-range values; float sources keep theirs.
        pixels = np.clip(pixels, 0.0, 1.0)
    image = bpy.data.images.new(
        name or expanded_name(fmt.name), width=width, height=height, alpha=True, float_buffer=fmt.is_float,
    )
    image.colorspace_settings.name = fmt.colorspace
    image.alpha_mode = fmt.alpha_mode
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1]).ravel())
    image.file_format = "OPEN_EXR" if fmt.is_float else "PNG"
    image.update()
    image.pack()
    return image
