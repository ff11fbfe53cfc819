"""Image files: bit depths survive a round trip, EXIF orientation, atomic writes, clear errors, the pixel
limit from the header of every format, the strip writers."""

import os

import numpy as np
import pytest
from PIL import Image

from transposer.runtime import imageio
from transposer.runtime.imageio import (ImageFileError, default_bit_depth, read_image, read_info, write_image,
                                         write_bytes_estimate)


def ramp(h, w, c, levels):
    """Values on the grid of `levels` steps that an 8-bit file cannot hold (when levels > 256)."""
    return ((np.arange(h * w * c).reshape(h, w, c) * 37) % levels / (levels - 1)).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png16_round_trip_keeps_16_bits(tmp_path, channels):
    pixels = ramp(9, 11, channels, 65536)
    write_image(tmp_path / "a.png", pixels, bit_depth=16)
    data = read_image(tmp_path / "a.png")
    assert data.bit_depth == 16 and data.pixels.shape == (9, 11, channels)
    np.testing.assert_allclose(data.pixels, pixels, atol=0.5 / 65535)
    assert len(np.unique(np.round(data.pixels * 255))) < len(np.unique(data.pixels))  # more than 8 bits


@pytest.mark.parametrize("depth,levels", [(8, 256), (16, 65536), (32, None)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_tiff_round_trip(tmp_path, depth, levels, channels):
    pixels = ramp(7, 5, channels, levels) if levels else np.random.default_rng(0).random((7, 5, channels)).astype(
        np.float32) * 50  # float TIFF keeps HDR values
    write_image(tmp_path / "a.tif", pixels, bit_depth=depth)
    data = read_image(tmp_path / "a.tif")
    assert data.bit_depth == depth and data.pixels.shape == (7, 5, channels)
    np.testing.assert_allclose(data.pixels, pixels, atol=0.5 / (levels - 1) if levels else 0)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png8_round_trip(tmp_path, channels):
    pixels = ramp(6, 8, channels, 256)
    write_image(tmp_path / "a.png", pixels)
    data = read_image(tmp_path / "a.png")
    assert data.bit_depth == 8
    np.testing.assert_allclose(data.pixels, pixels, atol=1e-6)


def test_exr_round_trip_keeps_hdr(tmp_path):
    pytest.importorskip("OpenEXR")
    pixels = np.random.default_rng(1).random((6, 9, 4)).astype(np.float32) * 20
    write_image(tmp_path / "a.exr", pixels)
    data = read_image(tmp_path / "a.exr")
    assert data.bit_depth == 32
    np.testing.assert_array_equal(data.pixels, pixels)
    write_image(tmp_path / "h.exr", pixels[:, :, :1], bit_depth=16)
    np.testing.assert_allclose(read_image(tmp_path / "h.exr").pixels, pixels[:, :, :1], rtol=1e-3)


def test_pillow_formats_and_sixteen_bit_grey_png(tmp_path):
    grey16 = (np.arange(40 * 30) * 50 % 65536).astype(np.uint16).reshape(30, 40)
    Image.fromarray(grey16).save(tmp_path / "g.png")
    data = read_image(tmp_path / "g.png")
    assert data.bit_depth == 16
    np.testing.assert_allclose(data.pixels[:, :, 0], grey16 / 65535, atol=1e-7)
    write_image(tmp_path / "a.jpg", ramp(16, 16, 3, 256))
    assert read_image(tmp_path / "a.jpg").pixels.shape == (16, 16, 3)


@pytest.mark.parametrize("orientation,expected", [(1, lambda a: a), (3, lambda a: a[::-1, ::-1]),
                                                  (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1))])
def test_exif_orientation_is_applied(tmp_path, orientation, expected):
    array = (np.arange(5 * 7 * 3) % 256).astype(np.uint8).reshape(5, 7, 3)
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    np.testing.assert_array_equal(read_image(tmp_path / "o.png").pixels, expected(array) / np.float32(255))


def test_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    write_image(target, np.zeros((4, 4, 3), np.float32))
    before = target.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("transposer.runtime.imageio._png_strip", broken)
    with pytest.raises(ImageFileError, match="cannot write .*keep.png: disk full"):
        write_image(target, np.ones((4, 4, 3), np.float32))
    assert target.read_bytes() == before  # the old file is untouched
    assert os.listdir(tmp_path) == ["keep.png"]  # and no temporary file is left


@pytest.mark.parametrize("content,message", [(b"", "empty"), (b"hello", "cannot identify"),
                                             (None, "truncated")])
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content is None:
        write_image(tmp_path / "good.png", np.random.default_rng(0).random((64, 64, 3)).astype(np.float32))
        content = (tmp_path / "good.png").read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(ImageFileError) as info:
        read_image(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_write_errors(tmp_path):
    with pytest.raises(ImageFileError, match="does not exist"):
        write_image(tmp_path / "missing" / "a.png", np.zeros((4, 4, 3)))
    with pytest.raises(ImageFileError, match="bit_depth for .png must be one of 8, 16; got 32"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3)), bit_depth=32)
    with pytest.raises(ImageFileError, match="extension"):
        write_image(tmp_path / "a.xyz", np.zeros((4, 4, 3)))
    with pytest.raises(ImageFileError, match="alpha"):
        write_image(tmp_path / "a.jpg", np.zeros((4, 4, 4)))
    assert os.listdir(tmp_path) == []


def test_default_bit_depth():
    assert default_bit_depth("a.png", 16) == 16
    assert default_bit_depth("a.png", 32) == 16
    assert default_bit_depth("a.jpg", 16) == 8
    assert default_bit_depth("a.exr", 8) == 16
    assert default_bit_depth("a.tif", 32) == 32


# --- the strip writers ---------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_writer_is_exact_for_other_readers_across_strip_edges(tmp_path, depth, channels):
    """130 rows: two full strips and a short one; Pillow and pypng decode what we encoded."""
    import png

    levels = 256 if depth == 8 else 65536
    pixels = np.random.default_rng(channels).integers(0, levels, (130, 37, channels)) / np.float32(levels - 1)
    write_image(tmp_path / "s.png", pixels.astype(np.float32), bit_depth=depth)
    width, height, rows, info = png.Reader(filename=str(tmp_path / "s.png")).asDirect()
    assert (width, height, info["bitdepth"], info["planes"]) == (37, 130, depth, channels)
    decoded = np.vstack([np.asarray(row) for row in rows]).reshape(130, 37, channels)
    np.testing.assert_array_equal(decoded, np.round(pixels * (levels - 1)))
    if depth == 8:
        array = np.asarray(Image.open(tmp_path / "s.png"))
        np.testing.assert_array_equal(array.reshape(decoded.shape), decoded)


@pytest.mark.parametrize("depth", [8, 16, 32])
def test_tiff_strips_are_exact(tmp_path, depth):
    import tifffile

    pixels = np.random.default_rng(depth).random((150, 21, 4)).astype(np.float32)
    write_image(tmp_path / "s.tif", pixels, bit_depth=depth)
    stored = tifffile.imread(tmp_path / "s.tif")
    expected = pixels if depth == 32 else np.round(pixels * ((1 << depth) - 1))
    np.testing.assert_array_equal(stored, expected)


def test_png_write_does_not_copy_the_image(tmp_path):
    """The strip writer's extra memory is a few strips, not the image again."""
    import tracemalloc

    pixels = np.random.default_rng(0).random((1024, 512, 3)).astype(np.float32)  # 6 MiB
    tracemalloc.start()
    write_image(tmp_path / "m.png", pixels)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.6 * pixels.nbytes, peak
    assert write_bytes_estimate(512, 1024, 3, ".png", 8) < pixels.nbytes


def test_new_files_follow_the_umask_and_overwrites_keep_the_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_image(tmp_path / "new.png", np.zeros((4, 4, 3)))
        write_image(tmp_path / "new.tif", np.zeros((4, 4, 3)))
    finally:
        os.umask(old)
    assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "new.tif").stat().st_mode & 0o777 == 0o640
    os.chmod(tmp_path / "new.png", 0o664)
    write_image(tmp_path / "new.png", np.ones((4, 4, 3)))
    assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o664


# --- the pixel limit, from the header ------------------------------------------------------------
def _patched_png(path, width, height, depth):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                     + chunk(b"IEND", b""))


def make_bomb(folder, kind):
    """A small file whose header declares 100000 x 100000 pixels (JPEG and TGA: 65500 x 65500)."""
    import struct

    path = folder / f"bomb.{kind.split('-')[0]}"
    if kind == "png-8":
        _patched_png(path, 100000, 100000, 8)
    elif kind == "png-16":
        _patched_png(path, 100000, 100000, 16)
    elif kind == "tif":
        import tifffile

        tifffile.imwrite(path, iter([b"\x78\x9c\x03\x00\x00\x00\x00\x01"] * 10), shape=(100000, 100000),
                         dtype=np.uint8, compression="zlib", rowsperstrip=10000)
    elif kind == "exr":
        def attr(name, kind_, data):
            return name.encode() + b"\0" + kind_.encode() + b"\0" + struct.pack("<i", len(data)) + data

        box = struct.pack("<iiii", 0, 0, 99999, 99999)
        header = b"\x76\x2f\x31\x01" + struct.pack("<I", 2)
        header += attr("channels", "chlist", b"R\0" + struct.pack("<iBBBBii", 2, 0, 0, 0, 0, 1, 1) + b"\0")
        header += attr("compression", "compression", b"\x03") + attr("dataWindow", "box2i", box)
        header += attr("displayWindow", "box2i", box) + attr("lineOrder", "lineOrder", b"\0")
        header += attr("pixelAspectRatio", "float", struct.pack("<f", 1))
        header += attr("screenWindowCenter", "v2f", struct.pack("<ff", 0, 0))
        header += attr("screenWindowWidth", "float", struct.pack("<f", 1)) + b"\0"
        path.write_bytes(header + b"\0" * 64)
    elif kind == "jpg":
        Image.new("RGB", (16, 16)).save(path, quality=90)
        data = bytearray(path.read_bytes())
        at = data.index(b"\xff\xc0")  # SOF0: length, precision, height, width
        data[at + 5:at + 9] = struct.pack(">HH", 65500, 65500)
        path.write_bytes(bytes(data))
    else:  # a tiny image whose header size fields are rewritten: (where, struct format, mode)
        at, layout, mode = {"bmp": (18, "<ii", "RGB"), "tga": (12, "<HH", "RGB"), "gif": (6, "<HH", "L")}[kind]
        Image.new(mode, (4, 4)).save(path)
        data = bytearray(path.read_bytes())
        side = 100000 if kind == "bmp" else 65500
        data[at:at + struct.calcsize(layout)] = struct.pack(layout, side, side)
        path.write_bytes(bytes(data))
    return path


BOMBS = ["png-8", "png-16", "tif", "exr", "jpg", "bmp", "tga", "gif"]


@pytest.mark.parametrize("kind", BOMBS)
def test_every_reader_refuses_a_bomb_from_its_header(tmp_path, kind):
    if kind == "exr":
        pytest.importorskip("OpenEXR")
    path = make_bomb(tmp_path, kind)
    for call in (read_info, read_image):
        with pytest.raises(ImageFileError) as info:
            call(path)
        message = str(info.value)
        assert "\n" not in message and "more than the limit of 268,435,456" in message, message
        assert ("100000 x 100000" in message or "65500 x 65500" in message) and "TRANSPOSER_MAX_PIXELS" in message


@pytest.mark.parametrize("suffix", [".png", ".webp", ".jpg", ".tif"])
def test_the_limit_is_raised_or_lowered_by_the_env_var_or_argument(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"a{suffix}"
    write_image(path, np.zeros((30, 40, 3)))
    assert read_info(path).pixels == 1200
    monkeypatch.setenv("TRANSPOSER_MAX_PIXELS", "1199")
    with pytest.raises(ImageFileError, match="40 x 30 = 1,200 pixels, more than the limit of 1,199"):
        read_image(path)
    assert read_image(path, max_pixels=1200).pixels.shape == (30, 40, 3)
    monkeypatch.setenv("TRANSPOSER_MAX_PIXELS", "lots")
    with pytest.raises(ImageFileError, match="TRANSPOSER_MAX_PIXELS must be a whole number"):
        read_image(path)


def test_header_info_matches_the_pixels(tmp_path):
    cases = {"g16.png": (np.zeros((5, 6, 1)), 16), "rgba.png": (np.zeros((5, 6, 4)), 8),
             "f.tif": (np.zeros((5, 6, 3)), 32), "la.tif": (np.zeros((5, 6, 2)), 16), "c.jpg": (np.zeros((5, 6, 3)), 8)}
    for name, (pixels, depth) in cases.items():
        write_image(tmp_path / name, pixels, bit_depth=depth)
        info, data = read_info(tmp_path / name), read_image(tmp_path / name)
        assert (info.height, info.width, info.channels) == data.pixels.shape, name
        assert info.bit_depth == data.bit_depth == depth, name


# --- EXIF orientation that is not 1-8 ----------------------------------------------------------
@pytest.mark.parametrize("value", [0, 9, 300])
def test_a_bad_exif_orientation_is_reported_not_swallowed(tmp_path, value):
    array = (np.arange(5 * 7 * 3) % 256).astype(np.uint8).reshape(5, 7, 3)
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = value
    image.save(tmp_path / "o.png", exif=exif)
    data = read_image(tmp_path / "o.png")
    np.testing.assert_array_equal(data.pixels, array / np.float32(255))  # read as stored
    assert data.warnings == [f"{tmp_path / 'o.png'}: EXIF orientation {value!r} is not one of 1-8; "
                             "read as stored (not rotated)"]
    good = Image.fromarray(array)
    good.save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").warnings == []


def test_a_bad_tiff_orientation_is_reported(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "o.tif", np.zeros((4, 5), np.uint8), extratags=[(274, 3, 1, 12, True)])
    data = read_image(tmp_path / "o.tif")
    assert data.pixels.shape == (4, 5, 1) and "EXIF orientation 12 is not one of 1-8" in data.warnings[0]


def test_png_writer_without_zlib_ng_falls_back_to_zlib(tmp_path, monkeypatch):
    import zlib

    monkeypatch.setattr(imageio, "_deflate", zlib)
    monkeypatch.setattr(imageio, "_PNG_LEVEL", 1)
    pixels = np.random.default_rng(5).integers(0, 256, (200, 33, 3)) / np.float32(255)
    write_image(tmp_path / "z.png", pixels.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "z.png")), np.round(pixels * 255))


def test_sixteen_bit_png_decodes_fast_and_exact_with_any_filter(tmp_path):
    """Our 16-bit files (Sub rows) decode with numpy; pypng's (None rows) too; Pillow's
    grey 16-bit (adaptive, Paeth rows) falls back to pypng; all give the same numbers."""
    import png

    values = np.random.default_rng(7).integers(0, 65536, (70, 45, 3)).astype(np.uint16)
    write_image(tmp_path / "ours.png", values / np.float32(65535), bit_depth=16)
    png.Writer(45, 70, greyscale=False, bitdepth=16).write(open(tmp_path / "pypng.png", "wb"),
                                                             values.reshape(70, 45 * 3))
    for name in ("ours.png", "pypng.png"):
        info = read_info(tmp_path / name)
        assert imageio._decode_png16_unfiltered(tmp_path / name, info) is not None, name
        np.testing.assert_array_equal(np.round(read_image(tmp_path / name).pixels * 65535), values)
    grey = np.tile(np.arange(0, 65536, 257, dtype=np.uint16)[None, :60], (50, 1))
    Image.fromarray(grey).save(tmp_path / "pillow.png")
    np.testing.assert_array_equal(np.round(read_image(tmp_path / "pillow.png").pixels[:, :, 0] * 65535), grey)
    with open(tmp_path / "ours.png", "rb") as handle:
        (tmp_path / "cut.png").write_bytes(handle.read(2000))
    with pytest.raises(ImageFileError, match="cannot read .*cut.png"):
        read_image(tmp_path / "cut.png")
