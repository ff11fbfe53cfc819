"""The file helpers every front end shares (torch-free, numpy-free): atomic writes, the one-line
error text, the list of image suffixes, the normal-map name rule, and the memory a machine has.

Atomic writes: the data goes to a hidden temporary file in the target's folder, is flushed to
disk (fsync), then renamed over the target (os.replace, atomic on POSIX and Windows). The
temporary file is created with mode 0666 so the umask applies as to any new file; an overwrite
keeps the target's mode. A failure, Ctrl-C, or SIGTERM / SIGHUP (where the
front end turns them into Terminated, as `transposer` does) removes the temporary file: the target is either the old
file or the whole new one.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import stat
import threading
from pathlib import Path
from typing import Callable

# Every suffix the runtime reads (transposer.runtime.imageio decodes them all). Front ends that
# list, filter or accept images use this one tuple.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".tga", ".webp", ".gif")
# The ones Pillow decodes on its own (no OpenEXR): for code that reads with Pillow (training data, eval).
PILLOW_SUFFIXES = tuple(suffix for suffix in IMAGE_SUFFIXES if suffix != ".exr")

# Normal maps by name, as texture libraries and artists spell them: a word `normal`/`normals`
# (bricks_normal, Bricks001_NormalGL), `nrm`, `norm`, `nor` (Poly Haven's brick_nor_gl_2k) or a lone `n`
# (rock_n, rock-n-2k) between separators. Case-insensitive; camel case (wallNormal) counts.
_NORMAL_WORD = re.compile(r"normal", re.IGNORECASE)
_SEPARATED = re.compile(r"(?:^|[_\-. ])(?:nrm|norm|nor|n)(?:gl|dx)?(?=$|[_\-. ])", re.IGNORECASE)


def is_normal_map_name(name: str | os.PathLike) -> bool:
    """Whether a file or image name names a tangent-space normal map: it contains `normal`
    (any case), or `nrm`, `norm`, `nor` or `n` stands alone between separators (`_ - . space`), also
    with a `gl`/`dx` tail: `bricks_normal.png`, `Bricks001_2K_NormalGL.jpg`, `brick_nor_gl_2k.png`,
    `rock_n.png`, `wall-nrm.tif`. Not: `north.png`, `rock_ao.png`, `sand_n1.png`."""
    stem = Path(os.fspath(name)).name
    for suffix in IMAGE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return bool(_NORMAL_WORD.search(stem) or _SEPARATED.search(stem))


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's text; its class name when it has none.
    OSErrors read `strerror: filename` (no `[Errno N]`)."""
    if isinstance(error, OSError) and error.strerror:
        where = error.filename if error.filename is not None else ""
        return f"{error.strerror}: {where}" if where != "" else error.strerror
    for line in str(error).strip().splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


# --- atomic writes -------------------------------------------------------------------------------
_LIVE_TEMPS: set[str] = set()  # temporary files being written, removed on SIGTERM / SIGHUP too
_LIVE_LOCK = threading.Lock()


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (raised by a front end's signal handler): unwinds like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def temp_path_for(path: str | os.PathLike) -> Path:
    """A hidden name beside `path` that no other writer uses; keeps the suffix (some libraries
    pick the format by it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.partial{path.suffix}")


def stale_temps(path: str | os.PathLike) -> list[Path]:
    """Temporary files that writes of `path` killed half-way (kill -9) left beside it."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.stem}.*.partial{path.suffix}"))


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(temp)` with the path of a fresh, empty temporary file beside `path` (write
    may reopen or truncate it), then fsync it and rename it over `path`. Raises what `write`
    or the file system raised (OSError names the path); nothing is left behind on failure."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    temp = str(temp_path_for(path))
    # mode 0666 & ~umask, like any new file; an existing target lends its own mode
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    with _LIVE_LOCK:
        _LIVE_TEMPS.add(temp)
    try:
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        if mode is None:  # what the umask makes of 0666; a writer that re-creates the file
            mode = stat.S_IMODE(os.stat(temp).st_mode)  # (safetensors does) may make it private
        write(temp)
        os.chmod(temp, mode)
        with open(temp, "rb") as handle:  # the data must be on disk before the rename is (a 0444 mode is fine)
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_folder(folder)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE_TEMPS.discard(temp)
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    def write(temp: str) -> None:
        with open(temp, "wb") as handle:
            handle.write(data)

    return atomic_write(path, write)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort: not every platform opens folders."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def remove_live_temps() -> None:
    with _LIVE_LOCK:
        temps = list(_LIVE_TEMPS)
    for temp in temps:
        try:
            os.unlink(temp)
        except OSError:
            pass


def check_folder_writable(folder: str | os.PathLike) -> None:
    """Raise OSError (naming the folder) unless a file can be created in `folder`: a read-only
    mount, an immutable folder, missing permissions. Creates and removes a hidden probe file,
    which is the only test that sees every cause (os.access misses immutable folders and ACLs)."""
    folder = Path(folder) if str(folder) else Path(".")
    probe = folder / f".transposer-probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        handle = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(folder)) from None
    os.close(handle)
    os.unlink(probe)


# --- memory --------------------------------------------------------------------------------------
def available_memory() -> int | None:
    """Bytes this process may still allocate: Linux MemAvailable, capped by a cgroup limit;
    None where the platform does not say."""
    found = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            room = max(int(limit) - usage, 0)
            found = room if found is None else min(found, room)
        break
    if found is None and hasattr(os, "sysconf"):
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            pass
    return found


def format_bytes(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


def parse_bytes(text: str) -> int:
    """`8G`, `512M`, `1.5GiB`, `1000000` -> bytes. Raises ValueError."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size in bytes: {text!r}")
    factor = 1024 ** " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * factor)


__all__ = ["IMAGE_SUFFIXES", "PILLOW_SUFFIXES", "is_normal_map_name", "first_line", "atomic_write", "write_bytes_atomic",
           "write_text_atomic", "remove_live_temps", "Terminated", "check_folder_writable", "available_memory",
           "format_bytes", "parse_bytes", "temp_path_for"]
