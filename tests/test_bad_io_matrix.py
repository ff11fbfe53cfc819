"""`transposer expand` against bad and extreme inputs and outputs, as a new user meets them.

Every case asserts: the exit code, exactly one `Error: ...` line on stderr (with the words that
say what was wrong), no traceback, no file left behind, and every file that was there before
byte-for-byte and mode-for-mode unchanged. Bombs are small files whose headers declare huge
images: refusing them from the header is what makes them cost nothing.
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tests.test_runtime_imageio import make_bomb  # noqa: E402
from transposer.cli import cli  # noqa: E402
from transposer.runtime import imageio  # noqa: E402
from transposer.runtime.imageio import write_image  # noqa: E402
from transposer.runtime.synthetic import write_synthetic_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(write_synthetic_model(tmp_path_factory.mktemp("m") / "tile.onnx", "tile"))


@pytest.fixture
def work(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "good.png", rng.random((64, 64, 3)).astype(np.float32))
    write_image(tmp_path / "alpha.png", rng.random((64, 64, 4)).astype(np.float32))
    write_image(tmp_path / "small.png", rng.random((64, 48, 3)).astype(np.float32))
    (tmp_path / "old.png").write_bytes(b"the artist's old file")
    os.chmod(tmp_path / "old.png", 0o664)
    (tmp_path / "out").mkdir()
    (tmp_path / "empty_folder").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRANSPOSER_MAX_PIXELS", raising=False)
    monkeypatch.delenv("TRANSPOSER_MEMORY_LIMIT", raising=False)
    return tmp_path


def state(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
            for p in sorted(folder.rglob("*"))}


def check_refused(folder, args, words, code=1, model=None):
    before = state(folder)
    extra = ["--model", model] if model else []
    result = CliRunner().invoke(cli, ["expand", *map(str, args), *extra])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, (result.exit_code, result.output)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.output and result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert state(folder) == before  # nothing left behind, nothing changed
    return lines[0]


BOMB_KINDS = ["png-16", "png-8", "tif", "exr", "jpg", "bmp", "gif", "tga"]


@pytest.mark.parametrize("kind", BOMB_KINDS)
def test_a_decompression_bomb_is_refused_from_its_header(work, model, kind):
    if kind == "exr":
        pytest.importorskip("OpenEXR")
    bomb = make_bomb(work, kind)
    started = time.perf_counter()
    check_refused(work, [bomb, "-o", "out/x.png"], ["pixels, more than the limit of 268,435,456", "--max-pixels",
                                                      "TRANSPOSER_MAX_PIXELS"], model=model)
    assert time.perf_counter() - started < 5  # no pixel decoded


def test_a_bomb_as_a_companion_map_is_refused(work, model):
    bomb = make_bomb(work, "png-16")
    check_refused(work, ["good.png", "--with", bomb, "-o", "out/x.png"], ["bomb.png", "100000 x 100000"], model=model)


def test_the_pixel_limit_flag_and_env_var(work, model, monkeypatch):
    check_refused(work, ["good.png", "-o", "out/x.png", "--max-pixels", "4000"],
                  ["good.png is 64 x 64 = 4,096 pixels, more than the limit of 4,000"], model=model)
    check_refused(work, ["good.png", "-o", "out/x.png", "--max-pixels", "0"], ["--max-pixels must be"], model=model)
    monkeypatch.setenv("TRANSPOSER_MAX_PIXELS", "4000")
    check_refused(work, ["good.png", "-o", "out/x.png"], ["more than the limit of 4,000"], model=model)
    monkeypatch.setenv("TRANSPOSER_MAX_PIXELS", "many")
    check_refused(work, ["good.png", "-o", "out/x.png"], ["TRANSPOSER_MAX_PIXELS must be a whole number"], model=model)


def test_a_job_larger_than_the_memory_is_refused_before_reading_pixels(work, model, monkeypatch):
    line = check_refused(work, ["good.png", "-o", "out/x.png", "--size", "65536x65536"],
                         ["to 65536 x 65536 needs about", "GiB of memory", "available"], model=model)
    assert "this machine has" in line
    monkeypatch.setenv("TRANSPOSER_MEMORY_LIMIT", "100M")
    check_refused(work, ["good.png", "-o", "out/x.png"], ["TRANSPOSER_MEMORY_LIMIT allows 100.0 MiB"], model=model)
    monkeypatch.setenv("TRANSPOSER_MEMORY_LIMIT", "plenty")
    check_refused(work, ["good.png", "-o", "out/x.png"], ["TRANSPOSER_MEMORY_LIMIT must be a size"], model=model)


def _deny_writes_under(monkeypatch, folder: Path, code: int):
    """The file system refuses new files in `folder` (a read-only mount, EROFS; a full disk...).
    Tests run as root here, where chmod denies nothing."""
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if Path(os.path.abspath(path)).parent == folder and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)


def _never_expand(monkeypatch):
    from transposer.runtime import Expander

    def fail(*args, **kwargs):
        raise AssertionError("the expansion ran although the output could not be written")

    monkeypatch.setattr(Expander, "expand", fail)
    monkeypatch.setattr(Expander, "expand_rows", fail)


def test_a_read_only_output_folder_fails_before_the_expansion(work, model, monkeypatch):
    _deny_writes_under(monkeypatch, work / "out", errno.EROFS)
    _never_expand(monkeypatch)
    check_refused(work, ["good.png", "-o", "out/x.png"], ["cannot write to folder out", "Read-only file system"],
                  model=model)


def test_an_immutable_output_folder_fails_before_the_expansion(work, model, monkeypatch):
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(work / "out")], capture_output=True).returncode:
        pytest.skip("chattr +i is not allowed here (needs root)")
    try:
        _never_expand(monkeypatch)
        check_refused(work, ["good.png", "-o", "out/x.png"], ["cannot write to folder out", "Operation not permitted"],
                      model=model)
    finally:
        subprocess.run([chattr, "-i", str(work / "out")], check=True)


def test_a_folder_to_create_in_a_read_only_parent(work, model, monkeypatch):
    _deny_writes_under(monkeypatch, work, errno.EROFS)
    _never_expand(monkeypatch)
    check_refused(work, ["good.png", "small.png", "-o", "new_folder/"], ["cannot write to folder", "Read-only"],
                  model=model)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_full_disk_during_the_write_leaves_the_old_file_and_no_partial(work, model, monkeypatch, overwrite):
    def full(pixels, y, depth):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(imageio, "_png_strip", full)
    target = "old.png" if overwrite else "out/x.png"
    check_refused(work, ["good.png", "-o", target, *(["--overwrite"] if overwrite else [])],
                  [f"cannot write {target}: No space left on device"], model=model)


def test_an_os_error_elsewhere_is_one_line_naming_the_path(work, model, monkeypatch):
    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    check_refused(work, ["good.png", "small.png", "-o", "made/"], ["Permission denied", "made"], model=model)


def test_other_bad_inputs_and_outputs(work, model):
    (work / "notes.png").write_text("not an image")
    (work / "truncated16.png").write_bytes(_png16(work)[:300])
    bad = [
        (["alpha.png", "-o", "out/x.jpg"], ["JPEG has no alpha channel"]),
        (["good.png", "-o", "out/x.gif"], ["the extension must be one of"]),
        (["good.png", "-o", "good.png/x.png"], ["folder good.png does not exist"]),
        (["empty_folder", "-o", "out"], ["holds no image files"]),
        (["good.png", "--with", "small.png", "-o", "out/x.png"], ["--with small.png is 48 x 64", "must match"]),
        (["notes.png", "-o", "out/x.png"], ["cannot read notes.png"]),
        (["truncated16.png", "-o", "out/x.png"], ["cannot read truncated16.png"]),
        (["good.png", "-o", "old.png"], ["exists; pass --overwrite"]),
        (["good.png", "-o", "out/x.png", "--threads", "0"], ["--threads must be an integer in [1, 1024]; got 0"]),
        (["good.png", "-o", "out/x.png", "--analysis-size", "1"], ["--analysis-size must be an integer in [64,"]),
    ]
    for args, words in bad:
        check_refused(work, args, words, model=model)


def _png16(folder):
    write_image(folder / "deep.png", np.random.default_rng(1).random((64, 64, 3)).astype(np.float32), bit_depth=16)
    data = (folder / "deep.png").read_bytes()
    (folder / "deep.png").unlink()
    return data


def test_outputs_take_the_umask_and_overwrites_keep_the_mode(work, model):
    old = os.umask(0o002)
    try:
        result = CliRunner().invoke(cli, ["expand", "good.png", "-o", "out/x.png", "--model", model])
        assert result.exit_code == 0, result.output
        assert (work / "out" / "x.png").stat().st_mode & 0o777 == 0o664
        os.chmod(work / "old.png", 0o640)
        result = CliRunner().invoke(cli, ["expand", "good.png", "-o", "old.png", "--model", model, "--overwrite"])
        assert result.exit_code == 0, result.output
        assert (work / "old.png").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []


def test_a_bad_exif_orientation_is_a_warning_line_and_the_run_succeeds(work, model):
    from PIL import Image

    image = Image.fromarray((np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8))
    exif = image.getexif()
    exif[0x0112] = 9
    image.save(work / "photo.jpg", exif=exif)
    result = CliRunner().invoke(cli, ["expand", "photo.jpg", "-o", "out/p.png", "--model", model])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == ("Warning: photo.jpg: EXIF orientation 9 is not one of 1-8; "
                                             "read as stored (not rotated)")


# --- signals, in a real process ------------------------------------------------------------------
SLOW_WRITE = """
import sys, time
from transposer.runtime import imageio
real = imageio._png_strip

def slow(pixels, y, depth):
    if y == 0:
        print("writing", flush=True)
    time.sleep(0.5)
    return real(pixels, y, depth)

imageio._png_strip = slow
from transposer.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("signame,code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_signal_during_the_write_leaves_no_partial_file(work, model, signame, code):
    before = state(work)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, "expand", "good.png", "-o", "old.png",
                                "--overwrite", "--model", model, "--size", "64x640", "--json"],
                               cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    process.send_signal(getattr(signal, signame))
    out, err = process.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert process.returncode == code, err
    assert len(lines) == 1 and lines[0].startswith("Error: interrupted"), err
    assert "Traceback" not in err and out == ""
    assert state(work) == before  # the old file as it was, no hidden .partial file
