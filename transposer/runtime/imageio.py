"""Reading and writing textures as (H, W, C) float32 without losing bits.

| format | read | write | library |
|---|---|---|---|
| PNG 8/16-bit (grey, grey+alpha, RGB, RGBA) | yes (16-bit: numpy for None/Sub/Up rows, else pypng; Pillow cuts it to 8) | 8, 16 | own strip writer (zlib) |
| JPEG, BMP, TGA, WebP, GIF | yes | 8-bit (JPEG: no alpha; GIF: not written) | Pillow |
| TIFF 8/16-bit, float16/32 | yes | 8, 16, 32 (float), zlib strips | tifffile |
| OpenEXR half/float | yes | 16 (half), 32 (float) | OpenEXR (extra `exr`) |

Values: integers are scaled to [0, 1]; floats are kept as they are (HDR above 1 stays).
`bit_depth` is 8, 16 or 32 (= float). EXIF orientation is applied on read; a bad one is read
unrotated and reported in `ImageData.warnings`.

Size limit: every reader checks the pixel count in the file's header before any pixel is
decoded (a decompression bomb costs nothing): at most `max_pixels()`, 16384 x 16384 by default,
raised with the environment variable TRANSPOSER_MAX_PIXELS (or `transposer expand --max-pixels`).

Writes are atomic (runtime/files.py): a temporary file beside the target, fsync, os.replace; new
files get the umask's permissions, an overwrite keeps the target's mode. PNG and TIFF are encoded
in strips of rows as the rows come: `write_image_rows` (an iterable of blocks of rows) and
`RowWriter` (blocks pushed, for several images made together) write the same file write_image
makes of the whole array, holding a few strips, never the image; the other formats take the
image whole (the rows are assembled first).
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ExpandError
from .files import IMAGE_SUFFIXES, atomic_write, first_line

try:  # zlib-ng deflates PNG strips about 1.5x faster than zlib at the same size; zlib where it is absent
    from zlib_ng import zlib_ng as _deflate
    _PNG_LEVEL = 2  # zlib-ng's level 1 is a faster, 20% larger "quick" mode
except ImportError:  # pragma: no cover - e.g. a runtime vendored without it
    _deflate = zlib
    _PNG_LEVEL = 1

READ_SUFFIXES = IMAGE_SUFFIXES
WRITE_DEPTHS = {".png": (8, 16), ".tif": (8, 16, 32), ".tiff": (8, 16, 32), ".exr": (16, 32),
                ".jpg": (8,), ".jpeg": (8,), ".bmp": (8,), ".tga": (8,), ".webp": (8,)}
_PILLOW_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tga": "TGA", ".webp": "WEBP"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXR_MAGIC = b"\x76\x2f\x31\x01"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

MAX_PIXELS_ENV = "TRANSPOSER_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 16384 * 16384  # 268 million: an 8K photo is 33-67 million
_ROWS_PER_STRIP = 64


class ImageFileError(ExpandError):
    """A file that cannot be read or written as an image (message: one line, names the file)."""


@dataclass
class ImageData:
    pixels: np.ndarray  # (H, W, C) float32 (read_image(native=True): uint8 / uint16 for 8 / 16 bits), C in 1..4
    bit_depth: int  # 8, 16 or 32 (float): what the file stored, the natural depth to save with
    warnings: list = field(default_factory=list)  # one-line notes, e.g. an unusable EXIF orientation


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says, read without decoding a pixel."""

    width: int
    height: int
    channels: int  # as read_image will return them (1..4)
    bit_depth: int  # 8, 16 or 32 (float)
    format: str  # "PNG", "TIFF", "EXR", or Pillow's format name

    @property
    def pixels(self) -> int:
        return self.width * self.height


def is_image_path(path) -> bool:
    return Path(path).suffix.lower() in READ_SUFFIXES


def default_bit_depth(path, source_depth: int = 8) -> int:
    """The depth to write `path` with for a source of `source_depth` (8, 16, 32 = float): the
    source's own where the format stores it, else the closest the format has."""
    depths = WRITE_DEPTHS.get(Path(path).suffix.lower(), (8,))
    if source_depth in depths:
        return source_depth
    return max(depths) if source_depth > 8 else min(depths)


def max_pixels() -> int:
    """The pixel limit of every reader: TRANSPOSER_MAX_PIXELS (a whole number, e.g. 400000000)
    if set, else DEFAULT_MAX_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ImageFileError(f"{MAX_PIXELS_ENV} must be a whole number of pixels >= 1; got {text!r}")
    return value


def check_pixel_limit(path, width: int, height: int, limit: int | None = None) -> None:
    limit = max_pixels() if limit is None else limit
    if width * height > limit:
        raise ImageFileError(
            f"{path} is {width} x {height} = {width * height:,} pixels, more than the limit of {limit:,}; "
            f"raise it with --max-pixels or {MAX_PIXELS_ENV} if the machine has the memory")


# --- headers -------------------------------------------------------------------------------------
def read_info(path, max_pixels: int | None = None) -> ImageInfo:
    """The size, channels and depth from the header; checks the pixel limit. Decodes no pixel.
    Raises ImageFileError with a one-line message."""
    path = Path(path)
    head = _head(path)
    try:
        if head.startswith(_PNG_MAGIC):
            info = _png_info(path, head)
        elif head.startswith(_TIFF_MAGICS):
            info = _tiff_info(path)
        elif head.startswith(_EXR_MAGIC):
            info = _exr_info(path)
        else:
            info = _pillow_info(path)
    except ImageFileError:
        raise
    except Exception as error:  # each library has its own error classes; all mean "bad file"
        raise ImageFileError(f"cannot read {path}: {first_line(error)}") from None
    if info.width < 1 or info.height < 1:
        raise ImageFileError(f"cannot read {path}: the header gives a size of {info.width} x {info.height}")
    check_pixel_limit(path, info.width, info.height, max_pixels)
    return info


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise ImageFileError(f"cannot read {path}: {error.strerror or error}") from None
    if not head:
        raise ImageFileError(f"cannot read {path}: the file is empty")
    return head


def _png_info(path: Path, head: bytes) -> ImageInfo:
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise ImageFileError(f"cannot read {path}: truncated PNG header")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    if channels is None:
        raise ImageFileError(f"cannot read {path}: PNG colour type {colour} is not valid")
    return ImageInfo(width, height, channels, 16 if depth == 16 else 8, "PNG")


def _tiff_info(path: Path) -> ImageInfo:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        width, height = int(page.imagewidth), int(page.imagelength)
        samples = int(page.samplesperpixel)
        dtype = page.dtype
    depth = 8 if dtype is None or dtype.itemsize == 1 else 16 if dtype == np.uint16 else 32
    return ImageInfo(width, height, min(samples, 4), depth, "TIFF")


def _exr_info(path: Path) -> ImageInfo:
    openexr = _import_openexr()
    header = openexr.File(str(path), header_only=True).header()
    (x0, y0), (x1, y1) = header["dataWindow"]
    names = {str(getattr(c, "name", c)).split(".")[-1].upper() for c in header.get("channels", [])}
    channels = (3 if {"R", "G", "B"} <= names else 1) + ("A" in names)
    return ImageInfo(int(x1) - int(x0) + 1, int(y1) - int(y0) + 1, channels, 32, "EXR")


_PILLOW_LIMIT_LOCK = threading.Lock()


def _open_pillow(path: Path) -> Image.Image:
    """Image.open without Pillow's own bomb check: ours, from the same header, replaces it for
    every format (Pillow's misses 16-bit PNG and TIFF)."""
    with _PILLOW_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _pillow_info(path: Path) -> ImageInfo:
    with _open_pillow(path) as image:
        width, height = image.size
        mode = image.mode
        bands = len(image.getbands())
        alpha = "A" in image.getbands() or "transparency" in image.info
    if mode.startswith("I;16"):
        return ImageInfo(width, height, 1, 16, image.format or "?")
    if mode in ("I", "F"):
        return ImageInfo(width, height, 1, 32, image.format or "?")
    if mode in ("L", "LA", "RGB", "RGBA"):
        return ImageInfo(width, height, bands, 8, image.format or "?")
    return ImageInfo(width, height, (4 if alpha else 3) if mode != "1" else 1, 8, image.format or "?")


# --- reading -------------------------------------------------------------------------------------
def read_image(path, max_pixels: int | None = None, native: bool = False) -> ImageData:
    """Read an image file: the header first (size limit), then the pixels. Raises ImageFileError
    with a one-line message on any failure. native: 8- and 16-bit samples come as uint8 /
    uint16 (a quarter or half of float32's memory; divided by 255 / 65535 they are the float32
    values), everything else as float32."""
    path = Path(path)
    info = read_info(path, max_pixels)
    notes: list[str] = []
    try:
        if info.format == "PNG" and info.bit_depth == 16:
            data = _read_png16(path, info, notes, native)
        elif info.format == "TIFF":
            data = _read_tiff(path, notes, native)
        elif info.format == "EXR":
            data = _read_exr(path)
        else:
            data = _read_pillow(path, notes, native)
    except ImageFileError:
        raise
    except MemoryError:
        raise ImageFileError(f"cannot read {path}: not enough memory for {info.width} x {info.height} pixels") from None
    except Exception as error:
        raise ImageFileError(f"cannot read {path}: {first_line(error)}") from None
    pixels = data.pixels
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or 0 in pixels.shape:
        raise ImageFileError(f"cannot read {path}: unsupported pixel layout {pixels.shape}")
    native_dtype = native and pixels.dtype in (np.uint8, np.uint16)
    data.pixels = np.ascontiguousarray(pixels, dtype=None if native_dtype else np.float32)
    data.warnings = [f"{path}: {note}" for note in notes]
    return data


def _to_float(array: np.ndarray, scale: float) -> np.ndarray:
    """array / scale as float32 in one allocation (no float64 or second float32 copy)."""
    out = np.empty(array.shape, np.float32)
    np.divide(array, np.float32(scale), out=out, casting="unsafe")
    return out


def _scaled(array: np.ndarray, scale: float, native: bool) -> np.ndarray:
    """_to_float, or the array itself where `native` and it is uint8 / 255 or uint16 / 65535."""
    if native and (array.dtype, scale) in ((np.uint8, 255.0), (np.uint16, 65535.0)):
        return array
    return _to_float(array, scale)


def _read_pillow(path: Path, notes: list, native: bool = False) -> ImageData:
    with _open_pillow(path) as image:
        image.load()  # decode now: a truncated file fails here, inside our error handling
        orientation = _orientation_from(image, notes)
        mode = image.mode
        if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            array = np.asarray(image).astype(np.uint16, copy=False)
            return ImageData(_orient(_scaled(array, 65535.0, native)[:, :, None], orientation), 16)
        if mode == "I":
            array = np.asarray(image)
            depth = 16 if array.max(initial=0) <= 65535 and array.min(initial=0) >= 0 else 32
            scale = 65535.0 if depth == 16 else float(max(abs(array).max(), 1))
            return ImageData(_orient(_to_float(array, scale)[:, :, None], orientation), depth)
        if mode == "F":
            return ImageData(_orient(np.asarray(image, dtype=np.float32)[:, :, None], orientation), 32)
        if mode not in ("L", "LA", "RGB", "RGBA"):
            has_alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else ("L" if mode == "1" else "RGB"))
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    return ImageData(_orient(_scaled(array, 255.0, native), orientation), 8)


def _read_png16(path: Path, info: ImageInfo, notes: list, native: bool = False) -> ImageData:
    array = _decode_png16_unfiltered(path, info)
    if array is not None:
        pixels = _scaled(array.reshape(info.height, info.width, info.channels), 65535.0, native)
        del array
        return ImageData(_orient(pixels, _exif_orientation(path, notes)), 16)
    import png  # pypng: Pillow reads 16-bit RGB(A) PNG as 8-bit; pure Python, so the slow path

    width, height, rows, meta = png.Reader(filename=str(path)).asDirect()
    planes = meta["planes"]
    array = np.empty((height, width * planes), np.uint16)  # filled row by row: no list of rows
    count = 0
    for y, row in enumerate(rows):
        array[y] = row
        count = y + 1
    if count != height:
        raise ImageFileError(f"cannot read {path}: truncated PNG ({count} of {height} rows)")
    pixels = _scaled(array.reshape(height, width, planes), float((1 << meta["bitdepth"]) - 1), native)
    del array
    return ImageData(_orient(pixels, _exif_orientation(path, notes)), meta["bitdepth"])


def _decode_png16_unfiltered(path: Path, info: ImageInfo):
    """A 16-bit, non-interlaced, non-palette PNG whose rows use the None, Sub or Up filter (what
    _write_png writes at 16 bits) decoded with numpy, row by row from a streaming inflate: about
    50x faster than pypng. Returns (H, W * C) uint16, or None where pypng must do it (an
    Average or Paeth row, interlacing, other chunks it must interpret)."""
    with open(path, "rb") as handle:
        data = handle.read(33)
        _, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
        if depth != 16 or interlace != 0 or colour not in (0, 2, 4, 6):
            return None
        if any(kind in (b"tRNS", b"sBIT") for kind, _ in _png_chunks(handle, stop=b"IDAT")):
            return None  # transparency keys and significant bits: pypng applies them
        handle.seek(33)
        bpp = info.channels * 2
        stride = info.width * bpp
        out = np.empty((info.height, stride), np.uint8)
        inflate = zlib.decompressobj()
        pending = b""
        y = 0
        previous = np.zeros(stride, np.uint8)
        for piece in _inflated(handle, inflate):
            pending += piece
            rows = min(len(pending) // (stride + 1), info.height - y)
            if rows == 0:
                continue
            block = np.frombuffer(pending, np.uint8, rows * (stride + 1)).reshape(rows, stride + 1)
            pending = pending[rows * (stride + 1):]
            for kind_byte, row in zip(block[:, 0], block[:, 1:]):
                if kind_byte == 0:
                    out[y] = row
                elif kind_byte == 1:  # Sub: running sum of bytes bpp apart, mod 256
                    out[y] = np.cumsum(row.reshape(info.width, bpp), axis=0, dtype=np.uint8).reshape(stride)
                elif kind_byte == 2:  # Up
                    np.add(row, previous, out=out[y])
                else:
                    return None
                previous = out[y]
                y += 1
    if y != info.height:
        raise ImageFileError(f"cannot read {path}: truncated PNG ({y} of {info.height} rows)")
    return out.view(">u2").astype(np.uint16)


def _inflated(handle, inflate, piece: int = 1 << 22):
    """The IDAT stream inflated in pieces of at most `piece` bytes (memory stays bounded even
    for a file with one huge IDAT chunk)."""
    for kind, body in _png_chunks(handle, stop=b"IEND", bodies=True):
        if kind != b"IDAT":
            continue
        while body:
            yield inflate.decompress(body, piece)
            body = inflate.unconsumed_tail
    yield inflate.flush()


def _png_chunks(handle, stop: bytes, bodies: bool = False):
    """(type, body or None) of the chunks from the handle's position up to `stop` (included)."""
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        if bodies or kind == stop:
            body = handle.read(length)
            handle.seek(4, os.SEEK_CUR)
        else:
            body = None
            handle.seek(length + 4, os.SEEK_CUR)
        yield kind, body
        if kind == stop:
            return


def _read_tiff(path: Path, notes: list, native: bool = False) -> ImageData:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        array = page.asarray()
        orientation = _checked_orientation(page.tags["Orientation"].value, notes) \
            if "Orientation" in page.tags else 1
        planar_separate = getattr(page, "planarconfig", 1) == 2
    if array.ndim == 3 and planar_separate:
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ImageFileError(f"cannot read {path}: TIFF with shape {array.shape} is not a single image")
    array = array[:, :, :4]
    if array.dtype == np.uint8:
        pixels, depth = _scaled(array, 255.0, native), 8
    elif array.dtype == np.uint16:
        pixels, depth = _scaled(array, 65535.0, native), 16
    elif np.issubdtype(array.dtype, np.floating):
        pixels, depth = array.astype(np.float32, copy=False), 32
    elif np.issubdtype(array.dtype, np.integer):
        pixels, depth = _to_float(array, float(np.iinfo(array.dtype).max)), 32
    elif array.dtype == bool:
        pixels, depth = array.astype(np.float32), 8
    else:
        raise ImageFileError(f"cannot read {path}: TIFF sample type {array.dtype} is not supported")
    del array
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
    first = channels[names[order[0]]].pixels
    pixels = np.empty((*first.shape, len(order)), np.float32)
    for i, key in enumerate(order):
        pixels[:, :, i] = channels[names[key]].pixels
    return ImageData(pixels, 32)


def _import_openexr():
    try:
        import OpenEXR
    except ImportError:
        raise ImageFileError("EXR files need the OpenEXR package: pip install 'transposer[exr]'") from None
    return OpenEXR


def _checked_orientation(value, notes: list) -> int:
    """EXIF orientation 1-8 as an int; anything else is noted and read as 1 (as stored)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, float) and value != number or not 1 <= number <= 8:
        notes.append(f"EXIF orientation {value!r} is not one of 1-8; read as stored (not rotated)")
        return 1
    return number


def _orientation_from(image: Image.Image, notes: list) -> int:
    try:
        value = image.getexif().get(0x0112)
    except Exception as error:
        notes.append(f"EXIF data cannot be read ({first_line(error)}); orientation not applied")
        return 1
    return 1 if value is None else _checked_orientation(value, notes)


def _exif_orientation(path: Path, notes: list) -> int:
    try:
        with _open_pillow(path) as image:  # reads headers only
            return _orientation_from(image, notes)
    except Exception as error:
        notes.append(f"EXIF data cannot be read ({first_line(error)}); orientation not applied")
        return 1


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to (H, W, C), like ImageOps.exif_transpose."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


# --- writing -------------------------------------------------------------------------------------
def check_writable_path(path, bit_depth: int | None = None, channels: int | None = None) -> tuple[Path, int]:
    """The checks write_image makes before it creates anything: extension, depth, channels,
    folder. Returns (path, depth). Front ends call it to fail before the expansion runs."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_DEPTHS:
        raise ImageFileError(f"cannot write {path}: the extension must be one of "
                             f"{', '.join(sorted(WRITE_DEPTHS))}; got {suffix or 'none'!r}")
    depth = bit_depth if bit_depth is not None else (32 if suffix == ".exr" else 8)
    if depth not in WRITE_DEPTHS[suffix]:
        raise ImageFileError(f"cannot write {path}: bit_depth for {suffix} must be one of "
                             f"{', '.join(map(str, WRITE_DEPTHS[suffix]))}; got {depth!r}")
    if channels is not None and suffix in (".jpg", ".jpeg") and channels in (2, 4):
        raise ImageFileError(f"cannot write {path}: JPEG has no alpha channel; use .png, .tif or .exr")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageFileError(f"cannot write {path}: folder {folder} does not exist")
    if suffix == ".exr":
        _import_openexr()
    return path, depth


STRIP_SUFFIXES = (".png", ".tif", ".tiff")  # formats written strip by strip, from rows as they come


def writes_in_strips(path) -> bool:
    """Whether `path`'s format is written strip by strip (write_image_rows, RowWriter then need a
    few strips of memory, not the image); the others are assembled whole first."""
    return Path(path).suffix.lower() in STRIP_SUFFIXES


def write_image(path, pixels: np.ndarray, bit_depth: int | None = None) -> Path:
    """Write (H, W[, C]) float32 to `path` (format by extension) atomically. bit_depth: 8, 16 or
    32 (float) as the format allows; None = 8, or 32 for EXR. Returns the path."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or 0 in pixels.shape:
        raise ImageFileError(f"cannot write {path}: pixels must be (H, W, C) with C in 1..4; got {pixels.shape}")
    path, depth = check_writable_path(path, bit_depth, pixels.shape[2])
    return _write_atomic(path, lambda temp: _encode(temp, path.suffix.lower(), [pixels], pixels.shape, depth, pixels))


def write_image_rows(path, blocks, width: int, height: int, channels: int, bit_depth: int | None = None) -> Path:
    """write_image for an image given as an iterable of blocks of rows, top to bottom, each
    (rows, width[, channels]) float32, any number of rows: PNG and TIFF are encoded strip by
    strip as the rows come (the file is the one write_image makes of the whole image); other
    formats get the rows assembled first. Atomic like write_image: if `blocks` raises, its
    error comes out unchanged and nothing is left behind. Returns the path."""
    if channels not in (1, 2, 3, 4) or width < 1 or height < 1:
        raise ImageFileError(f"cannot write {path}: the image must be W x H x C with C in 1..4; "
                             f"got {width} x {height} x {channels}")
    path, depth = check_writable_path(path, bit_depth, channels)
    return _write_rows(path, blocks, (height, width, channels), depth)


def _write_rows(path: Path, blocks, shape: tuple, depth: int, cancel: threading.Event | None = None) -> Path:
    def write(temp: str) -> None:
        _encode(temp, path.suffix.lower(), _guarded(blocks), shape, depth)
        if cancel is not None and cancel.is_set():  # stopped while finishing: no rename
            raise _Aborted()

    return _write_atomic(path, write)


class RowWriter:
    """write_image_rows fed by calls instead of an iterator, for several images produced
    together (an expansion and its companion maps): a thread encodes while rows are pushed.

        with RowWriter(path, width, height, channels, bit_depth) as out:
            for block in blocks:
                out.write(block)  # (rows, width[, channels]) float32, top to bottom

    The file is renamed into place when the block ends without an error (or at close()); an
    error, Ctrl-C or SIGTERM before that leaves nothing behind. At most QUEUED blocks wait for
    the encoder."""

    QUEUED = 2

    def __init__(self, path, width: int, height: int, channels: int, bit_depth: int | None = None):
        import queue

        self.path, self._depth = check_writable_path(path, bit_depth, channels)
        self._shape = (height, width, channels)
        self._queue: queue.Queue = queue.Queue(self.QUEUED)
        self._cancel = threading.Event()
        # the encoder's end, waited on instead of Thread.join: a join interrupted by Ctrl-C can
        # leave a running thread marked as stopped (CPython 3.11)
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._open = True  # rows may still come

    def __enter__(self) -> "RowWriter":
        self._thread = threading.Thread(target=self._run, name=f"write {self.path.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            _write_rows(self.path, self._rows(), self._shape, self._depth, self._cancel)
        except _Aborted:
            pass
        except BaseException as error:  # handed to the producing thread
            self._error = error
        finally:
            self._done.set()

    def _rows(self):
        while True:
            item = self._queue.get()
            if item is _ABORT or self._cancel.is_set():
                raise _Aborted()
            if item is _END:
                return
            yield item

    def _put(self, item) -> None:
        import queue

        while True:
            if self._error is not None:
                raise self._error
            if self._done.is_set():
                raise ImageFileError(f"cannot write {self.path}: the writer stopped")
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def write(self, block: np.ndarray) -> None:
        if not self._open:
            raise ImageFileError(f"cannot write {self.path}: the writer is closed")
        self._put(block)

    def close(self) -> Path:
        """Finish the file (all rows given) and rename it into place; raises the writer's error.
        Interrupted (Ctrl-C) while finishing, it leaves no file."""
        try:
            if self._open:
                self._open = False
                self._put(_END)
            self._join()
        except BaseException:
            self.abort()
            raise
        if self._error is not None:
            raise self._error
        return self.path

    def abort(self) -> None:
        """Stop without a file (the temporary one is removed)."""
        self._cancel.set()
        if self._thread is None or self._done.is_set():
            return
        if self._open:
            self._open = False
            try:
                self._queue.put_nowait(_ABORT)  # wakes an encoder waiting for rows
            except Exception:  # full: the encoder sees the cancel flag at its next block
                pass
        self._join()

    def _join(self) -> None:
        while not self._done.wait(0.05):
            pass

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


_END, _ABORT = object(), object()


class _Aborted(BaseException):
    """A RowWriter stopped on purpose."""


class _SourceError(BaseException):
    """An error raised by the rows' producer, carried through the encoder unchanged."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


def _guarded(blocks):
    """The blocks, with an error of their producer wrapped as _SourceError (not reported as a
    write error)."""
    iterator = iter(blocks)
    while True:
        try:
            block = next(iterator)
        except StopIteration:
            return
        except BaseException as error:
            raise _SourceError(error) from None
        yield block


def _write_atomic(path: Path, write) -> Path:
    try:
        atomic_write(path, write)
    except _SourceError as wrapped:  # the producer's own error, as it raised it
        raise wrapped.error.with_traceback(wrapped.error.__traceback__) from None
    except (ImageFileError, KeyboardInterrupt, SystemExit, _Aborted):
        raise
    except MemoryError:
        raise ImageFileError(f"cannot write {path}: not enough memory") from None
    except Exception as error:
        if isinstance(error, OSError) and error.strerror:
            raise ImageFileError(f"cannot write {path}: {error.strerror}") from None
        raise ImageFileError(f"cannot write {path}: {first_line(error)}") from None
    return path


def _encode(temp: str, suffix: str, blocks, shape: tuple, depth: int, whole: np.ndarray | None = None) -> None:
    """Write the rows `blocks` of an image of `shape` (H, W, C) to `temp`; `whole`: the same
    image as one array, where the caller has it."""
    if suffix == ".png":
        _write_png(temp, blocks, shape, depth)
    elif suffix in (".tif", ".tiff"):
        _write_tiff(temp, blocks, shape, depth)
    else:
        pixels = whole if whole is not None else _assemble(blocks, shape)
        if suffix == ".exr":
            _write_exr(temp, pixels, depth)
        else:
            _write_pillow(temp, pixels, _PILLOW_FORMATS[suffix])


def _assemble(blocks, shape: tuple) -> np.ndarray:
    """The rows of `blocks` as one (H, W, C) float32 array."""
    pixels = np.empty(shape, np.float32)
    y = 0
    for block in blocks:
        block = _checked_block(block, shape, y)
        pixels[y:y + block.shape[0]] = block
        y += block.shape[0]
    _check_rows(y, shape)
    return pixels


def _checked_block(block, shape: tuple, y: int) -> np.ndarray:
    """A block of rows as (rows, W, C), checked against the image's shape and the rows so far."""
    height, width, planes = shape
    block = np.asarray(block)
    if block.ndim == 2:
        block = block[:, :, None]
    if block.ndim != 3 or block.shape[1:] != (width, planes):
        raise ImageFileError(f"a block of rows must be (rows, {width}, {planes}); got {block.shape}")
    if y + block.shape[0] > height:
        raise ImageFileError(f"more than the image's {height} rows were given")
    return block


def _check_rows(y: int, shape: tuple) -> None:
    if y != shape[0]:
        raise ImageFileError(f"only {y} of the image's {shape[0]} rows were given")


def _bands(blocks, shape: tuple, rows: int = _ROWS_PER_STRIP, above: int = 0):
    """(y, band) for consecutive strips of `rows` rows from y (the last may be shorter), from
    blocks of any number of rows; a band starts with the `above` rows before y where there are
    (a filter's context). Within a block a band is a view, so the whole image given as one
    block is sliced, never copied. Checks every block's width and channels, and that the rows
    add up to the height."""
    height = shape[0]
    buffer: list = []
    buffered = 0  # rows in buffer, the `kept` context rows first
    kept = 0
    y = 0
    for block in blocks:
        block = _checked_block(block, shape, y + buffered - kept)
        if block.shape[0] == 0:
            continue
        buffer.append(block)
        buffered += block.shape[0]
        while buffered - kept >= rows or (buffered > kept and y + buffered - kept == height):
            band = buffer[0] if len(buffer) == 1 else np.concatenate(buffer)
            take = min(rows, buffered - kept)
            yield y, band[:kept + take]
            y += take
            rest = band[kept + take - min(above, kept + take):]
            kept = min(above, kept + take)
            buffer, buffered = [rest], rest.shape[0]
    _check_rows(y, shape)


def _strips(pixels: np.ndarray, depth: int, rows: int = _ROWS_PER_STRIP):
    """(y0, quantised strip) for bands of `rows` rows: the full image is never copied at once."""
    top = float((1 << depth) - 1)
    dtype = np.uint8 if depth == 8 else np.uint16
    for y in range(0, pixels.shape[0], rows):
        band = np.clip(pixels[y:y + rows], 0.0, 1.0, dtype=np.float32)
        band *= top
        np.rint(band, out=band)
        yield y, band.astype(dtype)


def _quantise(pixels: np.ndarray, depth: int) -> np.ndarray:
    out = np.empty(pixels.shape, np.uint8 if depth == 8 else np.uint16)
    for y, strip in _strips(pixels, depth):
        out[y:y + strip.shape[0]] = strip
    return out


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _write_png(temp: str, blocks, shape: tuple, depth: int) -> None:
    """PNG by strips of rows, each quantised, filtered (Average at 8 bits, Sub at 16: vectorised,
    since encoding sees only raw bytes) and deflated (zlib-ng level 2, or zlib level 1) on its
    own, in parallel: the pieces end with a sync flush, so they join into one zlib stream (as
    pigz does). 3-6x faster than Pillow's default on a 2048 x 2048 texture, and no larger (a
    noisy texture gains nothing from level 6). The rows come as blocks of any height; a strip
    is encoded once its rows are there."""
    height, width, planes = shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[planes]
    workers = max(1, min(4, os.cpu_count() or 1))
    with open(temp, "wb") as handle, ThreadPoolExecutor(workers) as pool:
        handle.write(_PNG_MAGIC)
        handle.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)))
        handle.write(_png_chunk(b"IDAT", b"\x78\x01"))  # zlib header: deflate, 32 KiB window
        adler = 1
        pending: deque = deque()

        def drain(keep: int, checksum: int) -> int:
            while len(pending) > keep:
                raw, data = pending.popleft().result()
                checksum = zlib.adler32(raw, checksum)  # of the uncompressed stream, in order
                handle.write(_png_chunk(b"IDAT", data))
            return checksum

        for y, band in _bands(blocks, shape, above=1):  # the row above: the Average filter's "up"
            pending.append(pool.submit(_png_strip, band, y, depth))
            adler = drain(2 * workers, adler)  # bounded: a few strips in flight
        adler = drain(0, adler)
        tail = _deflate.compressobj(1, _deflate.DEFLATED, -15).flush(_deflate.Z_FINISH)  # an empty final block
        handle.write(_png_chunk(b"IDAT", tail + struct.pack(">I", adler)))
        handle.write(_png_chunk(b"IEND", b""))


def _png_strip(band: np.ndarray, y: int, depth: int) -> tuple[bytes, bytes]:
    """(filtered bytes, their raw deflate ending in a sync flush) for the strip of rows from y:
    `band` is the strip, with the row above it first unless y is 0."""
    width, planes = band.shape[1], band.shape[2]
    bpp = planes * (depth // 8)  # bytes per pixel: the filter's "left" distance
    _, band = next(_strips(band, depth, rows=band.shape[0]))
    raw = (band.astype(">u2") if depth == 16 else band).view(np.uint8).reshape(band.shape[0], width * bpp)
    if y == 0:
        up = np.zeros_like(raw)
        up[1:] = raw[:-1]
    else:
        up, raw = raw[:-1], raw[1:]
    left = np.zeros_like(raw)
    left[:, bpp:] = raw[:, :-bpp]
    filtered = np.empty((raw.shape[0], width * bpp + 1), np.uint8)
    if depth == 16:  # Sub: our own 16-bit files then decode with numpy (_decode_png16_unfiltered)
        filtered[:, 0] = 1
        np.subtract(raw, left, out=filtered[:, 1:])
    else:  # Average, the smaller; Pillow decodes 8-bit PNG in C whatever the filter
        # floor((left + up) / 2) without overflow: (l >> 1) + (u >> 1) + (l & u & 1)
        predicted = (left >> 1) + (up >> 1) + (left & up & 1)
        filtered[:, 0] = 3
        np.subtract(raw, predicted, out=filtered[:, 1:])
    data = filtered.tobytes()
    compressor = _deflate.compressobj(_PNG_LEVEL, _deflate.DEFLATED, -15, 9)
    return data, compressor.compress(data) + compressor.flush(_deflate.Z_SYNC_FLUSH)


def _write_tiff(temp: str, blocks, shape: tuple, depth: int) -> None:
    """zlib-compressed strips, encoded one at a time as the rows come (tifffile takes them as
    bytes)."""
    import tifffile

    height, width, planes = shape
    dtype = np.dtype(np.uint8 if depth == 8 else np.uint16 if depth == 16 else np.float32)

    def strips():
        for _, band in _bands(blocks, shape):
            if depth == 32:
                strip = np.ascontiguousarray(band, dtype=np.float32)
            else:
                _, strip = next(_strips(band, depth, rows=band.shape[0]))
            yield _deflate.compress(strip.astype(dtype.newbyteorder("<"), copy=False).tobytes(), 6)

    stored = (height, width) if planes == 1 else (height, width, planes)
    photometric = "rgb" if planes >= 3 else "minisblack"
    extrasamples = ("unassalpha",) if planes in (2, 4) else None
    tifffile.imwrite(temp, strips(), shape=stored, dtype=dtype, byteorder="<", photometric=photometric,
                     extrasamples=extrasamples, compression="zlib", rowsperstrip=_ROWS_PER_STRIP)


def _write_exr(temp: str, pixels: np.ndarray, depth: int) -> None:
    """OpenEXR's numpy API takes whole planes: one plane per channel (the image once over)."""
    openexr = _import_openexr()
    dtype = np.float16 if depth == 16 else np.float32
    names = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}[pixels.shape[2]]
    channels = {name: np.ascontiguousarray(pixels[:, :, i], dtype=dtype) for i, name in enumerate(names)}
    header = {"compression": openexr.ZIP_COMPRESSION, "type": openexr.scanlineimage}
    openexr.File(header, channels).write(temp)


def _write_pillow(temp: str, pixels: np.ndarray, fmt: str) -> None:
    array = _quantise(pixels, 8)
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)  # L, LA, RGB, RGBA
    del array
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    image.save(temp, format=fmt, **options)


def write_bytes_estimate(width: int, height: int, channels: int, suffix: str, depth: int) -> int:
    """Bytes write_image needs beyond the float image it is given: strips for PNG/TIFF, a
    quantised copy for Pillow formats, per-channel planes for EXR."""
    suffix = suffix.lower()
    if suffix in (".png", ".tif", ".tiff"):
        return 8 * _ROWS_PER_STRIP * width * channels * 4 + (1 << 20)
    if suffix == ".exr":
        return width * height * channels * (2 if depth == 16 else 4) * 2  # planes + the library's buffer
    return width * height * channels * 3  # uint8 copy + Pillow's own (4 bytes a pixel for RGB)


__all__ = ["ImageData", "ImageInfo", "ImageFileError", "read_image", "read_info", "write_image",
           "check_writable_path", "is_image_path", "default_bit_depth", "max_pixels", "check_pixel_limit",
           "write_bytes_estimate", "write_image_rows", "RowWriter", "writes_in_strips", "STRIP_SUFFIXES",
           "READ_SUFFIXES", "WRITE_DEPTHS", "MAX_PIXELS_ENV", "DEFAULT_MAX_PIXELS"]
