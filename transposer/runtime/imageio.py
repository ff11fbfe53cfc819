"""Reading and writing textures as (H, W, C) float32 without losing bits.

| format | read | write | library |
|---|---|---|---|
| PNG 8-bit, JPEG, BMP, TGA, WebP, GIF | yes | 8-bit (JPEG: no alpha) | Pillow |
| PNG 16-bit (grey, grey+alpha, RGB, RGBA) | yes | 16-bit | pypng (Pillow cuts 16-bit RGB to 8) |
| TIFF 8/16-bit, float16/32 | yes | 8, 16, 32 (float) | tifffile |
| OpenEXR half/float | yes | 16 (half), 32 (float) | OpenEXR (extra `exr`) |

Values: integers are scaled to [0, 1]; floats are kept as they are (HDR above 1 stays).
`bit_depth` is 8, 16 or 32 (= float). EXIF orientation is applied on read. Writes go to a
temporary file in the target folder and are moved into place with os.replace, so a failed or
interrupted write never leaves a half-written file or clobbers the old one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import ExpandError

READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".tga", ".webp", ".gif")
WRITE_DEPTHS = {".png": (8, 16), ".tif": (8, 16, 32), ".tiff": (8, 16, 32), ".exr": (16, 32),
                ".jpg": (8,), ".jpeg": (8,), ".bmp": (8,), ".tga": (8,), ".webp": (8,)}
_PILLOW_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tga": "TGA", ".webp": "WEBP"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXR_MAGIC = b"\x76\x2f\x31\x01"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class ImageFileError(ExpandError):
    """A file that cannot be read or written as an image (message: one line, names the file)."""


@dataclass
class ImageData:
    pixels: np.ndarray  # (H, W, C) float32, C in 1..4 (grey, grey+alpha, RGB, RGBA)
    bit_depth: int  # 8, 16 or 32 (float): what the file stored, the natural depth to save with


def is_image_path(path) -> bool:
    return Path(path).suffix.lower() in READ_SUFFIXES


def default_bit_depth(path, source_depth: int = 8) -> int:
    """The depth to write `path` with for a source of `source_depth` (8, 16, 32 = float): the
    source's own where the format stores it, else the closest the format has."""
    depths = WRITE_DEPTHS.get(Path(path).suffix.lower(), (8,))
    if source_depth in depths:
        return source_depth
    return max(depths) if source_depth > 8 else min(depths)


# --- reading -----------------------------------------------------------------------------------
def read_image(path) -> ImageData:
    """Read an image file. Raises ImageFileError with a one-line message on any failure."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except OSError as error:
        raise ImageFileError(f"cannot read {path}: {error.strerror or error}") from None
    if not head:
        raise ImageFileError(f"cannot read {path}: the file is empty")
    try:
        if head.startswith(_PNG_MAGIC) and len(head) >= 26 and head[24] == 16:  # IHDR bit depth
            data = _read_png16(path)
        elif head.startswith(_TIFF_MAGICS):
            data = _read_tiff(path)
        elif head.startswith(_EXR_MAGIC):
            data = _read_exr(path)
        else:
            data = _read_pillow(path)
    except ImageFileError:
        raise
    except Exception as error:  # each library has its own error classes; all mean "bad file"
        raise ImageFileError(f"cannot read {path}: {_one_line(error)}") from None
    pixels = data.pixels
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or 0 in pixels.shape:
        raise ImageFileError(f"cannot read {path}: unsupported pixel layout {pixels.shape}")
    data.pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    return data


def _read_pillow(path: Path) -> ImageData:
    with Image.open(path) as image:
        image.load()  # decode now: a truncated file fails here, inside our error handling
        image = ImageOps.exif_transpose(image)
        mode = image.mode
        if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            return ImageData(_scaled(np.asarray(image).astype(np.uint16))[:, :, None], 16)
        if mode == "I":
            array = np.asarray(image)
            depth = 16 if array.max(initial=0) <= 65535 and array.min(initial=0) >= 0 else 32
            scale = 65535.0 if depth == 16 else float(max(abs(array).max(), 1))
            return ImageData((array.astype(np.float32) / scale)[:, :, None], depth)
        if mode == "F":
            return ImageData(np.asarray(image, dtype=np.float32)[:, :, None], 32)
        if mode not in ("L", "LA", "RGB", "RGBA"):
            has_alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else ("L" if mode == "1" else "RGB"))
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[:, :, None]
        return ImageData(array.astype(np.float32) / 255.0, 8)


def _read_png16(path: Path) -> ImageData:
    import png  # pypng: Pillow reads 16-bit RGB(A) PNG as 8-bit

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    pixels = array.astype(np.float32) / float((1 << info["bitdepth"]) - 1)
    return ImageData(_orient(pixels, _exif_orientation(path)), info["bitdepth"])


def _read_tiff(path: Path) -> ImageData:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        array = page.asarray()
        orientation = int(page.tags["Orientation"].value) if "Orientation" in page.tags else 1
        planar_separate = getattr(page, "planarconfig", 1) == 2
    if array.ndim == 3 and planar_separate:
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ImageFileError(f"cannot read {path}: TIFF with shape {array.shape} is not a single image")
    array = array[:, :, :4]
    if array.dtype == np.uint8:
        pixels, depth = array.astype(np.float32) / 255.0, 8
    elif array.dtype == np.uint16:
        pixels, depth = array.astype(np.float32) / 65535.0, 16
    elif np.issubdtype(array.dtype, np.floating):
        pixels, depth = array.astype(np.float32), 32
    elif np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        pixels, depth = array.astype(np.float32) / float(info.max), 32
    elif array.dtype == bool:
        pixels, depth = array.astype(np.float32), 8
    else:
        raise ImageFileError(f"cannot read {path}: TIFF sample type {array.dtype} is not supported")
    return ImageData(_orient(pixels, orientation), depth)


def _read_exr(path: Path) -> ImageData:
    openexr = _import_openexr()
    channels = openexr.File(str(path), separate_channels=True).channels()
    names = {name.split(".")[-1].upper(): name for name in channels}  # "layer.R" -> "R"
    if {"R", "G", "B"} <= names.keys():
        order = ["R", "G", "B"] + (["A"] if "A" in names else [])
    elif "Y" in names:
        order = ["Y"] + (["A"] if "A" in names else [])
    elif len(channels) == 1:
        order = list(names)
    else:
        raise ImageFileError(f"cannot read {path}: EXR channels {sorted(channels)} are not RGB(A) or Y(A)")
    planes = [np.asarray(channels[names[key]].pixels, dtype=np.float32) for key in order]
    return ImageData(np.stack(planes, axis=2), 32)


def _import_openexr():
    try:
        import OpenEXR
    except ImportError:
        raise ImageFileError("EXR files need the OpenEXR package: pip install 'transposer[exr]'") from None
    return OpenEXR


def _exif_orientation(path: Path) -> int:
    try:
        with Image.open(path) as image:  # reads headers only
            return int(image.getexif().get(0x0112, 1))
    except Exception:
        return 1


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to (H, W, C), like ImageOps.exif_transpose."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 1)[::-1],
           8: lambda a: np.rot90(a, 1)}
    if orientation == 7:
        return np.ascontiguousarray(pixels.transpose(1, 0, 2)[::-1, ::-1])
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


def _scaled(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) / 65535.0


# --- writing -----------------------------------------------------------------------------------
def write_image(path, pixels: np.ndarray, bit_depth: int | None = None) -> Path:
    """Write (H, W[, C]) float32 to `path` (format by extension) atomically. bit_depth: 8, 16 or
    32 (float) as the format allows; None = 8, or 32 for EXR. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_DEPTHS:
        raise ImageFileError(f"cannot write {path}: the extension must be one of "
                             f"{', '.join(sorted(WRITE_DEPTHS))}; got {suffix or 'none'!r}")
    depth = bit_depth if bit_depth is not None else (32 if suffix == ".exr" else 8)
    if depth not in WRITE_DEPTHS[suffix]:
        raise ImageFileError(f"cannot write {path}: bit_depth for {suffix} must be one of "
                             f"{', '.join(map(str, WRITE_DEPTHS[suffix]))}; got {depth!r}")
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise ImageFileError(f"cannot write {path}: pixels must be (H, W, C) with C in 1..4; got {pixels.shape}")
    if suffix in (".jpg", ".jpeg") and pixels.shape[2] in (2, 4):
        raise ImageFileError(f"cannot write {path}: JPEG has no alpha channel; use .png, .tif or .exr")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageFileError(f"cannot write {path}: folder {folder} does not exist")
    if suffix == ".exr":
        _import_openexr()  # fail before creating anything
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=f".partial{suffix}")
    os.close(handle)
    try:
        if suffix == ".png" and depth == 16:
            _write_png16(temp, pixels)
        elif suffix in (".tif", ".tiff"):
            _write_tiff(temp, pixels, depth)
        elif suffix == ".exr":
            _write_exr(temp, pixels, depth)
        else:
            _write_pillow(temp, pixels, _PILLOW_FORMATS[suffix])
        os.replace(temp, path)
    except BaseException as error:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(error, (ImageFileError, KeyboardInterrupt, SystemExit)):
            raise
        raise ImageFileError(f"cannot write {path}: {_one_line(error)}") from None
    return path


def _quantise(pixels: np.ndarray, depth: int) -> np.ndarray:
    top = (1 << depth) - 1
    return np.round(np.clip(pixels, 0.0, 1.0) * top).astype(np.uint8 if depth == 8 else np.uint16)


def _write_pillow(temp: str, pixels: np.ndarray, fmt: str) -> None:
    array = _quantise(pixels, 8)
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)  # L, LA, RGB, RGBA
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    image.save(temp, format=fmt, **options)


def _write_png16(temp: str, pixels: np.ndarray) -> None:
    import png

    array = _quantise(pixels, 16)
    height, width, planes = array.shape
    writer = png.Writer(width, height, greyscale=planes in (1, 2), alpha=planes in (2, 4), bitdepth=16,
                        compression=6)
    with open(temp, "wb") as handle:
        writer.write(handle, array.reshape(height, width * planes))


def _write_tiff(temp: str, pixels: np.ndarray, depth: int) -> None:
    import tifffile

    array = pixels if depth == 32 else _quantise(pixels, depth)
    planes = array.shape[2]
    if planes == 1:
        array = array[:, :, 0]
    photometric = "rgb" if planes >= 3 else "minisblack"
    extrasamples = ("unassalpha",) if planes in (2, 4) else None
    tifffile.imwrite(temp, array, photometric=photometric, extrasamples=extrasamples, compression="zlib")


def _write_exr(temp: str, pixels: np.ndarray, depth: int) -> None:
    openexr = _import_openexr()
    array = pixels.astype(np.float16 if depth == 16 else np.float32)
    names = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}[array.shape[2]]
    channels = {name: np.ascontiguousarray(array[:, :, i]) for i, name in enumerate(names)}
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}
    openexr.File(header, channels).write(temp)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


__all__ = ["ImageData", "ImageFileError", "read_image", "write_image", "is_image_path", "default_bit_depth",
           "READ_SUFFIXES", "WRITE_DEPTHS"]
