"""Image files: bit depths survive a round trip, EXIF orientation, atomic writes, clear errors."""

import os

import numpy as np
import pytest
from PIL import Image

from transposer.runtime.imageio import ImageFileError, default_bit_depth, read_image, write_image


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

    monkeypatch.setattr(Image.Image, "save", broken)
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
