"""`transposer expand` end to end through click, with a synthetic ONNX model."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from transposer.cli import COMMANDS, cli  # noqa: E402
from transposer.runtime.imageio import read_image, write_image  # noqa: E402
from transposer.runtime.synthetic import write_synthetic_model  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(write_synthetic_model(tmp_path_factory.mktemp("m") / "tile.onnx", "tile"))


@pytest.fixture
def work(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "tex.png", rng.random((32, 48, 3)).astype(np.float32))
    return tmp_path


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_expand_one_file_with_json(work, model):
    result = run("expand", work / "tex.png", "-o", work / "out.png", "--model", model, "--json", "--threads", 1)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip())
    assert record["path"] == str(work / "out.png") and (record["width"], record["height"]) == (96, 64)
    assert record["provider"] == "CPUExecutionProvider" and record["seconds"] >= 0
    out = read_image(work / "out.png").pixels
    np.testing.assert_array_equal(out[16:48, 24:72], read_image(work / "tex.png").pixels)


def test_size_scale_and_sixteen_bit(work, model):
    pixels = ((np.arange(32 * 32 * 3) * 41) % 65536 / 65535).astype(np.float32).reshape(32, 32, 3)
    write_image(work / "deep.png", pixels, bit_depth=16)
    assert run("expand", work / "deep.png", "-o", work / "wide.png", "--model", model, "--size", "100x40").exit_code == 0
    data = read_image(work / "wide.png")
    assert data.pixels.shape == (40, 100, 3) and data.bit_depth == 16  # 16-bit in -> 16-bit out
    np.testing.assert_allclose(data.pixels[4:36, 34:66], pixels, atol=0.5 / 65535)
    assert run("expand", work / "deep.png", "-o", work / "x3.tif", "--model", model, "--scale", 3).exit_code == 0
    assert read_image(work / "x3.tif").pixels.shape == (96, 96, 3)


def test_folder_in_folder_out(work, model):
    (work / "in").mkdir()
    for name in ("a.png", "b.jpg"):
        write_image(work / "in" / name, np.random.default_rng(1).random((16, 24, 3)).astype(np.float32))
    result = run("expand", work / "in", "-o", work / "out", "--model", model, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(work / "out")) == ["a.png", "b.jpg"]
    assert len(result.stdout.strip().splitlines()) == 2
    assert Image.open(work / "out" / "b.jpg").size == (48, 32)


def test_companions_are_written_beside_and_normals_renormalised(work, model):
    rng = np.random.default_rng(2)
    write_image(work / "rough.png", rng.random((32, 48, 1)).astype(np.float32))
    normal = np.dstack([rng.random((32, 48, 2)), np.ones((32, 48, 1))]).astype(np.float32)
    write_image(work / "wall_normal.png", normal)
    (work / "out").mkdir()
    result = run("expand", work / "tex.png", "--with", work / "rough.png", "--with", work / "wall_normal.png",
                 "-o", work / "out" / "tex_big.png", "--model", model, "--json", "--synthesis", "network")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(work / "out")) == ["rough.png", "tex_big.png", "wall_normal.png"]
    assert len(result.stdout.strip().splitlines()) == 3
    rough_in, rough_out = read_image(work / "rough.png").pixels, read_image(work / "out" / "rough.png").pixels
    np.testing.assert_allclose(rough_out[:16, :24], rough_in[16:, 24:], atol=1 / 255)  # same arrangement as colour
    vectors = read_image(work / "out" / "wall_normal.png").pixels * 2 - 1
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=2), 1.0, atol=0.02)


def test_overwrite_replaces_outputs_but_never_inputs(work, model):
    (work / "out.png").write_bytes(b"old")
    assert run("expand", work / "tex.png", "-o", work / "out.png", "--model", model, "--overwrite").exit_code == 0
    assert read_image(work / "out.png").pixels.shape == (64, 96, 3)


def make_bad_inputs(folder):
    write_image(folder / "good.png", np.random.default_rng(3).random((64, 64, 3)).astype(np.float32))
    (folder / "text.png").write_text("not an image")
    (folder / "truncated.png").write_bytes((folder / "good.png").read_bytes()[:1500])
    Image.new("RGB", (8, 8)).save(folder / "tiny.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "exists.png").write_bytes(b"keep me")


BAD = [
    (["text.png", "-o", "o.png"], "cannot identify"),
    (["truncated.png", "-o", "o.png"], "truncated"),
    (["tiny.png", "-o", "o.png"], "8 x 8"),
    (["empty.png", "-o", "o.png"], "empty"),
    (["missing.png", "-o", "o.png"], "does not exist"),
    (["good.png", "-o", "nofolder/o.png"], "nofolder does not exist"),
    (["good.png", "-o", "exists.png"], "--overwrite"),
    (["good.png", "-o", "good.png", "--overwrite"], "is an input"),
    (["good.png", "-o", "o.png", "--scale", "0"], "--scale must be a number in (1, 16]; got 0"),
    (["good.png", "-o", "o.png", "--scale", "abc"], "'abc' is not a valid float"),
    (["good.png", "-o", "o.png", "--size", "abc"], "--size must be WIDTHxHEIGHT"),
    (["good.png", "-o", "o.png", "--size", "0x100"], "--size sides must be in [1, 65536]"),
    (["good.png", "-o", "o.png", "--size", "32x32"], "size must be at least the input's 64 x 64"),
    (["good.png", "-o", "o.png", "--scale", "2", "--size", "128x128"], "not both"),
    (["good.png", "-o", "o.png", "--bit-depth", "32"], "--bit-depth 32"),
    (["good.png", "-o", "o.xyz"], "extension"),
    (["good.png", "exists.png", "--with", "good.png", "-o", "out"], "--with needs exactly one INPUT"),
    (["good.png", "-o", "o.png", "--threads", "0"], "threads must be an integer in [1, 1024]; got 0"),
    (["good.png", "-o", "o.png", "--variation", "3"], "--variation"),
    (["-o", "o.png"], "at least one INPUT"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_gives_one_line_error_and_writes_nothing(tmp_path, model, args, message, monkeypatch):
    make_bad_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = run("expand", *args, "--model", model)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert snapshot(tmp_path) == before  # nothing written, nothing changed


def test_help_lists_every_command_and_every_flag_states_its_default():
    result = run("--help")
    assert result.exit_code == 0
    import importlib

    import click

    for name in COMMANDS:
        assert name in result.output
        # really imported (no stand-in): every listed command has its module and click command
        listed = importlib.import_module(f"transposer.commands.{name}").command
        assert isinstance(listed, click.Command) and listed.name == name
    from transposer.commands.expand import command

    for param in command.params:
        if param.name != "inputs":
            assert "Default" in param.help or "Required" in param.help, param.name


def test_version_and_missing_command_module(monkeypatch):
    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"transposer {__import__('transposer').__version__}"
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name == "transposer.commands.export":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real(name, *args)

    monkeypatch.setattr("transposer.cli.importlib.import_module", fake)
    result = run("export", "--anything")
    assert result.exit_code != 0
    assert result.stderr.strip() == ("Error: `transposer export` needs the Python package 'torch': "
                                     "pip install 'transposer[train]'")


def test_a_bare_transposer_prints_its_help_and_succeeds():
    result = run()
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: ") and "Commands:" in result.stdout and "expand" in result.stdout


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Terminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def _estimates(step_seconds):
    """The estimates the bar shows after each step, and the true time left then."""
    from transposer.commands.expand import ProgressBar

    bar, clock = ProgressBar("x", stream=_Terminal()), _Clock()
    bar.clock, bar.start = clock, 0.0
    total, shown = len(step_seconds), []
    bar(0, total)
    for done, seconds in enumerate(step_seconds, 1):
        clock.now += seconds
        shown.append((bar.estimate(done, total, clock.now), sum(step_seconds[done:])))
    return shown


MEASURED_STEPS = {  # seconds per runtime step, 1024 -> 2048 and 4x on 2 cores, two pipelines
    "network, 2x": [7.3, 0.5, 0.23, 0.2, 0.28, 0.27, 0.37, 0.24, 0.35],
    "synthesis, 2x": [0.7, 1.1, 0.6, 1.9, 5.6] + [0.01] * 8,
    "synthesis, 4x": [0.3, 3.2, 2.8, 8.4, 27.5] + [0.02] * 16,
}


@pytest.mark.parametrize("name", MEASURED_STEPS)
def test_the_progress_estimate_is_honest_on_measured_runs(name):
    """Where an estimate is shown it is within a factor of two of the truth (plus half a
    second); after a long step followed by short ones (click's bar promised 58 s for 2 s left,
    a plain mean 167 s for 1 s) nothing is shown until the steps agree again."""
    shown = _estimates(MEASURED_STEPS[name])
    assert shown[0][0] is None and shown[-1] == (0.0, 0)
    for estimate, truth in shown[:-1]:
        assert estimate is None or truth / 2 - 0.5 <= estimate <= truth * 2 + 0.5, (estimate, truth)
    assert any(estimate is not None for estimate, _ in shown[:-1])


def test_the_progress_bar_draws_on_a_terminal_only():
    from transposer.commands.expand import ProgressBar

    terminal = _Terminal()
    bar = ProgressBar("expanding a.png", stream=terminal)
    assert bar(0, 8) is True and bar(1, 8) and bar(2, 8)
    assert "expanding a.png [######------------------] 2/8 0:00" in terminal.text and "left" not in terminal.text
    bar(3, 8)
    bar(4, 8)
    bar.close()
    assert "expanding a.png [############------------] 4/8 0:00, about 0:00 left" in terminal.text
    assert terminal.text.endswith("\n")
    quiet = ProgressBar("x", stream=__import__("io").StringIO())
    quiet(1, 2)
    quiet.close()
    assert quiet.stream.getvalue() == ""
