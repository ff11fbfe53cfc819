"""The shared file helpers: the normal-map name rule, the one-line error text, atomic writes
(permissions, nothing left behind), the writability probe, the memory figures."""

import os
import shutil
import subprocess

import pytest

from transposer.runtime import files
from transposer.runtime.files import (atomic_write, check_folder_writable, first_line, is_normal_map_name, parse_bytes,
                                      write_text_atomic)

NORMAL = ["brick_nor_gl_2k.png", "rock_n.png", "bricks_normal.png", "Bricks001_2K_NormalGL.jpg", "wall-nrm.tif",
          "rock_nrm", "ROCK_N.PNG", "wallNormal.exr", "stone_normals_4k.png", "tile_nor_dx.png", "moss n.png"]
NOT_NORMAL = ["north.png", "rock_ao.png", "sand_n1.png", "minor_detail.png", "rock_color.png", "tex.png",
              "brick_diff_2k.jpg", "snow.png", "banner.png", "ocean.png"]


@pytest.mark.parametrize("name", NORMAL)
def test_normal_map_names(name):
    assert is_normal_map_name(name)


@pytest.mark.parametrize("name", NOT_NORMAL)
def test_other_map_names(name):
    assert not is_normal_map_name(name)


def test_every_front_end_uses_the_one_rule():
    """The CLI and the desktop app call the runtime's rule (Blender is checked inside Blender)."""
    from pathlib import Path

    from transposer.commands.expand import is_normal_map

    for name in NORMAL + NOT_NORMAL:
        assert is_normal_map(Path(name)) == is_normal_map_name(name), name
    source = Path(files.__file__).parents[2]
    for front_end in ("plugin_blender/operators/task.py", "desktop_app/worker.py"):
        text = (source / front_end).read_text()
        if "is_normal_map_name" not in text:
            pytest.fail(f"{front_end} does not use transposer.runtime.files.is_normal_map_name")


def test_first_line():
    assert first_line(ValueError("bad value\nmore detail")) == "bad value"
    assert first_line(ValueError("\n  \nsecond")) == "second"
    assert first_line(RuntimeError()) == "RuntimeError"
    assert first_line(FileNotFoundError(2, "No such file or directory", "/x/y.png")) == \
        "No such file or directory: /x/y.png"
    assert first_line(PermissionError(13, "Permission denied")) == "Permission denied"


def test_atomic_write_follows_the_umask_keeps_modes_and_leaves_nothing(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "one")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    os.chmod(tmp_path / "a.txt", 0o600)
    write_text_atomic(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two" and (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o600
    os.chmod(tmp_path / "a.txt", 0o444)  # a read-only target keeps its mode too
    write_text_atomic(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o444
    os.chmod(tmp_path / "a.txt", 0o600)

    def fail(temp):
        with open(temp, "w") as handle:
            handle.write("half")
        raise OSError(28, "No space left on device", temp)

    with pytest.raises(OSError, match="No space left"):
        atomic_write(tmp_path / "a.txt", fail)
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "two"
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "b.txt", lambda temp: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert sorted(os.listdir(tmp_path)) == ["a.txt"] and not files._LIVE_TEMPS


def test_writability_probe(tmp_path):
    check_folder_writable(tmp_path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(OSError) as info:
        check_folder_writable(tmp_path / "missing")
    assert info.value.filename == str(tmp_path / "missing")
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(tmp_path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not allowed here (needs root and a file system with attributes)")
    try:
        with pytest.raises(OSError) as info:
            check_folder_writable(tmp_path)
        assert info.value.filename == str(tmp_path) and info.value.strerror == "Operation not permitted"
    finally:
        subprocess.run([chattr, "-i", str(tmp_path)], check=True)


def test_memory_figures():
    available = files.available_memory()
    assert available is None or available > 0
    assert parse_bytes("16G") == 16 << 30 and parse_bytes("512MiB") == 512 << 20 and parse_bytes("1000") == 1000
    assert parse_bytes("1.5k") == 1536
    with pytest.raises(ValueError):
        parse_bytes("lots")
    assert files.format_bytes(3 << 30) == "3.0 GiB"
