"""The expansion handed out by blocks of rows (Expander.expand_rows) and written as the rows come
(imageio.write_image_rows, RowWriter): the same bytes as the whole image, nothing left behind
when the rows stop, and memory that does not hold the output whole."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from transposer.cli import cli  # noqa: E402
from transposer.commands.expand import job_memory  # noqa: E402
from transposer.runtime import Companion, ExpandCancelled, Expander, ExpandOptions  # noqa: E402
from transposer.runtime.imageio import (RowWriter, read_image, write_image, write_image_rows,  # noqa: E402
                                        writes_in_strips)
from transposer.runtime.synthetic import write_synthetic_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(write_synthetic_model(tmp_path_factory.mktemp("m") / "tile.onnx", "tile"))


@pytest.fixture(scope="module")
def expander(model):
    return Expander(model)


def texture(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """A smooth-plus-noise texture in [0, 1], float32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.5 + 0.3 * np.sin(x[:, :, None] / (3.0 + np.arange(channels)) + y[:, :, None] / 5.0)
    return np.clip(base + 0.15 * rng.random((height, width, channels), dtype=np.float32), 0, 1).astype(np.float32)


def assert_same_arrays(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit (NaN-free)


# --- the runtime: blocks of rows are exactly expand()'s result --------------------------------------
@pytest.mark.parametrize("kind", ["uint8", "uint16", "float32", "hdr", "grey-alpha-16", "float64-grey"])
def test_the_blocks_are_exactly_the_whole_result(expander, kind):
    rng = np.random.default_rng(1)
    colour = texture(40, 56, 3)
    pixels = {"uint8": np.round(colour * 255).astype(np.uint8),
              "uint16": np.round(colour * 65535).astype(np.uint16),
              "float32": colour,
              "hdr": colour * 6.0,
              "grey-alpha-16": np.round(texture(40, 56, 2) * 65535).astype(np.uint16),
              "float64-grey": colour[:, :, 0].astype(np.float64)}[kind]
    normal = np.round(rng.random((40, 56, 3)) * 255).astype(np.uint8)
    rough = rng.random((40, 56)).astype(np.float32)
    companions = [Companion(normal, normal=True), rough]
    options = ExpandOptions(size=(150, 600), seamless="x", seed=5)  # several blocks of rows
    whole = expander.expand(pixels, options, companions=companions)
    steps = []
    stream = expander.expand_rows(pixels, options, companions=companions,
                                  progress=lambda done, total: steps.append((done, total)))
    assert (stream.height, stream.width, stream.channels) == whole.image.shape
    assert stream.companion_channels == [3, 1]
    blocks = list(stream)
    assert [b.row for b in blocks] == [0, 256, 512]
    assert_same_arrays(np.concatenate([b.image for b in blocks]), whole.image)
    for i, expected in enumerate(whole.companions):
        assert_same_arrays(np.concatenate([b.companions[i] for b in blocks]), expected)
    total = steps[-1][1]
    assert steps[0] == (0, total) and steps[-1] == (total, total)
    assert [d for d, _ in steps] == list(range(total + 1))  # one step per block among them
    with pytest.raises(Exception, match="once"):
        list(stream)


def test_the_network_mode_by_blocks(expander):
    pixels = np.round(texture(40, 40, 4) * 255).astype(np.uint8)
    whole = expander.expand(pixels, ExpandOptions(scale=2, synthesis="network"))
    blocks = list(expander.expand_rows(pixels, ExpandOptions(scale=2, synthesis="network")))
    assert_same_arrays(np.concatenate([b.image for b in blocks]), whole.image)


@pytest.mark.parametrize("suffix,depth,channels", [(".png", 8, 3), (".png", 16, 1), (".tif", 16, 2)])
def test_native_reads_are_the_float_values(tmp_path, suffix, depth, channels):
    """The stack keeps 8 / 16-bit samples as uint8 / uint16 and divides by 255 / 65535 per block:
    the float32 values the reader returns otherwise."""
    path = tmp_path / f"n{suffix}"
    write_image(path, texture(33, 17, channels), bit_depth=depth)
    native = read_image(path, native=True).pixels
    assert native.dtype == (np.uint8 if depth == 8 else np.uint16)
    as_float = native.astype(np.float32) / (255.0 if depth == 8 else 65535.0)
    assert_same_arrays(as_float, read_image(path).pixels)
    every = np.arange(256 if depth == 8 else 65536).astype(np.uint8 if depth == 8 else np.uint16)
    scale = np.float32(255 if depth == 8 else 65535)
    expected = np.empty(every.shape, np.float32)
    np.divide(every, scale, out=expected, casting="unsafe")  # the reader's float conversion
    assert_same_arrays(every.astype(np.float32) / float(scale), expected)


# --- the writers: rows as they come, the same file ------------------------------------------------------
@pytest.mark.parametrize("suffix,depth,channels", [(".png", 8, 3), (".png", 16, 4), (".png", 8, 1), (".png", 16, 2),
                                                   (".tif", 8, 3), (".tif", 16, 1), (".tif", 32, 4),
                                                   (".jpg", 8, 3), (".webp", 8, 4)])
def test_rows_of_any_height_give_the_whole_image_file(tmp_path, suffix, depth, channels):
    pixels = texture(203, 37, channels)
    write_image(tmp_path / f"whole{suffix}", pixels, bit_depth=depth)
    cuts = [0, 1, 64, 65, 100, 190, 203]
    write_image_rows(tmp_path / f"rows{suffix}", (pixels[a:b] for a, b in zip(cuts[:-1], cuts[1:])), 37, 203,
                     channels, depth)
    with RowWriter(tmp_path / f"pushed{suffix}", 37, 203, channels, depth) as out:
        for y in range(0, 203, 7):
            out.write(pixels[y:y + 7])
    whole = (tmp_path / f"whole{suffix}").read_bytes()
    assert (tmp_path / f"rows{suffix}").read_bytes() == whole
    assert (tmp_path / f"pushed{suffix}").read_bytes() == whole
    assert writes_in_strips(tmp_path / f"x{suffix}") == (suffix in (".png", ".tif"))


def test_rows_that_stop_midway_leave_nothing(tmp_path, expander):
    target = tmp_path / "kept.png"
    target.write_bytes(b"the old file")

    def failing():
        yield texture(64, 32, 3)
        raise RuntimeError("the producer broke")

    with pytest.raises(RuntimeError, match="the producer broke"):  # its own error, not a write error
        write_image_rows(target, failing(), 32, 128, 3, 8)
    with pytest.raises(RuntimeError, match="the producer broke"):
        with RowWriter(target, 32, 128, 3, 8) as out:
            out.write(texture(64, 32, 3))
            raise RuntimeError("the producer broke")
    with pytest.raises(Exception, match="only 64 of the image's 128 rows"):
        write_image_rows(target, [texture(64, 32, 3)], 32, 128, 3, 8)

    # an expansion cancelled half-way through the blocks, while its rows are being written
    pixels = np.round(texture(40, 40, 3) * 255).astype(np.uint8)
    seen = []

    def cancel_late(done, total):
        seen.append(done)
        return done < total - 2

    stream = expander.expand_rows(pixels, ExpandOptions(size=(80, 800)), progress=cancel_late)
    with pytest.raises(ExpandCancelled):
        write_image_rows(target, (b.image for b in stream), stream.width, stream.height, 3, 8)
    assert target.read_bytes() == b"the old file"
    assert sorted(os.listdir(tmp_path)) == ["kept.png"]


# --- the CLI: streamed files equal the whole-image files ----------------------------------------------
CASES = {
    "png8": ("rgb.png", 8, []),
    "png16": ("rgb16.png", 16, []),
    "tiff": ("rgb.tif", 16, ["--bit-depth", "16"]),
    "rgba": ("rgba.png", 8, []),
    "grey": ("grey.png", 8, []),
    "seamless": ("rgb.png", 8, ["--seamless", "xy"]),
    "companions": ("rgb.png", 8, ["--with", "rock_normal.png", "--with", "rock_rough.png", "--seamless", "x"]),
}


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    write_image(tmp_path / "rgb.png", texture(40, 48, 3))
    write_image(tmp_path / "rgb16.png", texture(40, 48, 3, seed=1), bit_depth=16)
    write_image(tmp_path / "rgb.tif", texture(40, 48, 3, seed=2), bit_depth=16)
    write_image(tmp_path / "rgba.png", texture(40, 48, 4, seed=3))
    write_image(tmp_path / "grey.png", texture(40, 48, 1, seed=4))
    write_image(tmp_path / "rock_normal.png", texture(40, 48, 3, seed=5))
    write_image(tmp_path / "rock_rough.png", texture(40, 48, 1, seed=6))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRANSPOSER_MEMORY_LIMIT", raising=False)
    return tmp_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_cli_writes_what_the_whole_image_path_writes(inputs, model, expander, case):
    source, depth, flags = CASES[case]
    suffix = Path(source).suffix
    out = inputs / "out"
    out.mkdir()
    result = CliRunner().invoke(cli, ["expand", source, "-o", f"out/{case}{suffix}", "--size", "100x300",
                                      "--model", model, "--json", *flags])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["size"] == [100, 300] and records[0]["bit_depth"] == depth

    seamless = flags[flags.index("--seamless") + 1] if "--seamless" in flags else None
    names = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--with"]
    maps = [Companion(read_image(inputs / n).pixels, normal="normal" in n) for n in names]
    whole = expander.expand(read_image(inputs / source).pixels, ExpandOptions(size=(100, 300), seamless=seamless),
                            companions=maps)
    reference = inputs / "ref"
    reference.mkdir()
    write_image(reference / f"{case}{suffix}", whole.image, bit_depth=depth)
    assert (out / f"{case}{suffix}").read_bytes() == (reference / f"{case}{suffix}").read_bytes()
    for name, image in zip(names, whole.companions):
        write_image(reference / name, image, bit_depth=8)
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_the_memory_estimate_follows_the_path_a_job_takes(inputs, model, monkeypatch):
    """PNG and TIFF outputs are streamed, so a job needs far less than one writing JPEG (whole);
    a limit between the two refuses only the JPEG."""
    streamed = job_memory(4096, 4096, 8192, 8192, 3, [(".png", 8, 3)], input_bytes=3)
    whole = job_memory(4096, 4096, 8192, 8192, 3, [(".jpg", 8, 3)], input_bytes=3)
    network = job_memory(4096, 4096, 8192, 8192, 3, [(".png", 8, 3)], input_bytes=3, synthesis="network")
    assert streamed < 2 << 30 < whole and streamed < network
    assert job_memory(1024, 1024, 2048, 2048, 3, [(".png", 8, 3)], input_bytes=3) < 1 << 30
    assert job_memory(12000, 12000, 24000, 24000, 3, [(".png", 8, 3)], input_bytes=3) < 8 << 30
    big = job_memory(40, 48, 3000, 3000, 3, [(".jpg", 8, 3)], input_bytes=3)
    small = job_memory(40, 48, 3000, 3000, 3, [(".png", 8, 3)], input_bytes=3)
    monkeypatch.setenv("TRANSPOSER_MEMORY_LIMIT", str((big + small) // 2))
    result = CliRunner().invoke(cli, ["expand", "rgb.png", "-o", "big.jpg", "--size", "3000x3000", "--model", model])
    assert result.exit_code == 1 and "needs about" in result.stderr, result.output
    assert not (inputs / "big.jpg").exists()
    result = CliRunner().invoke(cli, ["expand", "rgb.png", "-o", "small.png", "--size", "100x100", "--model", model])
    assert result.exit_code == 0, result.output


# --- memory: the output is never whole -----------------------------------------------------------------
PEAK = """
import sys, tracemalloc
import numpy as np
from transposer.runtime import Expander, ExpandOptions
from transposer.runtime.imageio import write_image, write_image_rows
from transposer.runtime.synthetic import write_synthetic_model

side, mode, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
expander = Expander(str(write_synthetic_model(folder + "/tile.onnx", "tile")))
rng = np.random.default_rng(0)
pixels = (rng.random((side, side, 3)) * 255).astype(np.uint8)
options = ExpandOptions(scale=2)
tracemalloc.start()
if mode == "stream":
    stream = expander.expand_rows(pixels, options)
    write_image_rows(folder + "/out.png", (b.image for b in stream), stream.width, stream.height, 3, 8)
else:
    write_image(folder + "/out.png", expander.expand(pixels, options).image)
print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.slow
def test_a_streamed_expansion_never_holds_the_output(tmp_path):
    side = 1024
    env = dict(os.environ, PYTHONPATH=str(REPO))
    peaks = {}
    for mode in ("stream", "whole"):
        done = subprocess.run([sys.executable, "-c", PEAK, str(side), mode, str(tmp_path)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        peaks[mode] = int(done.stdout.split()[-1])
    output = (2 * side) ** 2 * 3 * 4  # the float32 output, 48 MiB
    # the whole path's peak holds the output on top of the synthesis stage's own arrays; the
    # streamed one holds a few blocks of rows instead (one block: 6 MiB)
    assert peaks["whole"] - peaks["stream"] > 0.9 * output, peaks
