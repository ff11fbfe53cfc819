"""`transposer expand`: grow textures with the ONNX model (torch is never imported).

    transposer expand bricks.png -o bricks_2x.png
    transposer expand bricks_color.png --with bricks_normal.png --with bricks_rough.png -o out/ --scale 4
    transposer expand textures/ -o expanded/ --size 2048x1024 --seamless xy --json

Everything that can be checked is checked before the expansion starts: the options, every
input's header (the pixel limit, --max-pixels / $TRANSPOSER_MAX_PIXELS; large enough for the
model; companions of the same size), the memory the job needs against what the machine has
available ($TRANSPOSER_MEMORY_LIMIT overrides), and every output path (its folder exists and
accepts a new file, it is no input, it does not exist unless --overwrite, its format takes the
image). Outputs are written atomically, so a failure, Ctrl-C, SIGTERM or SIGHUP never leaves a
partial file; new files get the umask's permissions, an overwrite keeps the old file's mode.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")


@dataclass
class Job:
    source: Path
    output: Path
    companions: list[tuple[Path, Path]] = field(default_factory=list)  # (source, output)


def is_normal_map(path: Path) -> bool:
    """Normal maps by name, by the rule the desktop app and Blender use too (runtime/files.py)."""
    from transposer.runtime.files import is_normal_map_name

    return is_normal_map_name(path.name)


def parse_size(text: str | None):
    if text is None:
        return None
    match = SIZE_PATTERN.match(text)
    if not match:
        raise click.ClickException(f"--size must be WIDTHxHEIGHT in whole pixels, e.g. 2048x1024; got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    from transposer.runtime import OPTION_SPECS

    low, high = OPTION_SPECS["size"].low, OPTION_SPECS["size"].high
    if not (low <= width <= high and low <= height <= high):
        raise click.ClickException(f"--size sides must be in [{low}, {high}]; got {width}x{height}")
    return width, height


def collect_inputs(inputs: tuple[str, ...]) -> tuple[list[Path], bool]:
    """The input files (folders expanded to the images inside, sorted); and whether any input
    was a folder."""
    from transposer.runtime.imageio import is_image_path

    files, had_folder = [], False
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            had_folder = True
            found = sorted(p for p in path.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith("."))
            if not found:
                raise click.ClickException(f"input folder {path} holds no image files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise click.ClickException(f"input {path} does not exist")
    return files, had_folder


def plan_jobs(files: list[Path], had_folder: bool, output: str, companions: tuple[str, ...],
              overwrite: bool) -> tuple[list[Job], Path | None]:
    """Map inputs to outputs and check every output path. Returns the jobs and the output folder
    to create (None when it exists or outputs are files)."""
    out = Path(output)
    to_create = None
    folder_mode = out.is_dir() or len(files) > 1 or had_folder or output.endswith(("/", "\\"))
    if companions and (len(files) != 1 or had_folder):
        raise click.ClickException("--with needs exactly one INPUT file (the colour map the companions follow)")
    if folder_mode:
        if out.exists() and not out.is_dir():
            raise click.ClickException(f"-o {out} must be a folder when expanding several images or a folder")
        if not out.exists():
            if not out.parent.is_dir():
                raise click.ClickException(f"-o {out}: folder {out.parent} does not exist")
            to_create = out
        jobs = [Job(f, out / f.name) for f in files]
        out_folder = out
    else:
        if not out.parent.is_dir():
            raise click.ClickException(f"-o {out}: folder {out.parent} does not exist")
        jobs = [Job(files[0], out)]
        out_folder = out.parent
    for text in companions:
        path = Path(text)
        if not path.is_file():
            raise click.ClickException(f"--with {path} does not exist")
        jobs[0].companions.append((path, out_folder / path.name))

    from transposer.runtime.imageio import WRITE_DEPTHS

    sources = {p.resolve() for job in jobs for p in [job.source, *(c for c, _ in job.companions)]}
    seen = set()
    for job in jobs:
        for target in [job.output, *(o for _, o in job.companions)]:
            resolved = target.resolve()
            if target.suffix.lower() not in WRITE_DEPTHS:
                raise click.ClickException(f"cannot write {target}: the extension must be one of "
                                           f"{', '.join(sorted(WRITE_DEPTHS))}")
            if resolved in sources:
                raise click.ClickException(f"output {target} is an input; choose another -o (inputs are never overwritten)")
            if resolved in seen:
                raise click.ClickException(f"two outputs would be written to {target}; rename one input")
            seen.add(resolved)
            if target.exists() and not overwrite:
                raise click.ClickException(f"output {target} exists; pass --overwrite to replace it")
    return jobs, to_create


def _spec_option(name: str, *declarations: str, **settings):
    """A click option whose help, default and choices come from the runtime's OPTION_SPECS (the
    table the desktop app and the Blender extension are built from too). Ranges are checked
    once, by ExpandOptions / SessionOptions, so the messages are the runtime's."""
    from transposer.runtime import OPTION_SPECS

    spec = OPTION_SPECS[name]
    settings.setdefault("help", spec.help_text())
    if spec.kind == "choice":
        settings.setdefault("type", click.Choice(spec.choices))
    elif spec.kind in ("int", "float"):
        settings.setdefault("type", int if spec.kind == "int" else float)
    settings.setdefault("default", spec.default)
    flag = "--" + name.replace("_", "-")
    return click.option(*(declarations or (flag,)), **settings)


def _option_error(error) -> click.ClickException:
    """The runtime's OptionError with the parameter written as the CLI's flag."""
    name = getattr(error, "name", "")
    text = str(error)
    if name and text.startswith(name):
        flag = "--size" if name.startswith("size") else "--" + name.replace("_", "-")
        text = flag + text[len(name.split(" ")[0]):]
    return click.ClickException(text)


@click.command("expand")
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("-o", "--output", required=True, metavar="OUT",
              help="Output file (one INPUT) or folder (several INPUTs or a folder; outputs keep the input "
                   "names; the folder is created if its parent exists). Required.")
@_spec_option("scale", default=None)
@_spec_option("size", "--size", "size_text", type=str, metavar="WxH")
@_spec_option("seamless")
@click.option("--with", "companions", multiple=True, metavar="MAP",
              help="A companion map of the same size as INPUT (normal, roughness, height, ...) arranged exactly "
                   "like it; repeatable; one INPUT only. Written beside the output under its own name. Maps named "
                   "*normal*, or with a separate nrm, nor or n (rock_n.png, brick_nor_gl_2k.png) are renormalised "
                   "to unit vectors. Default: none.")
@_spec_option("model")
@_spec_option("device")
@_spec_option("threads")
@_spec_option("analysis_size")
@_spec_option("large")
@_spec_option("seed")
@_spec_option("variation")
@_spec_option("synthesis")
@click.option("--bit-depth", type=click.Choice(["auto", "8", "16", "32"]), default="auto",
              help="Bits per channel of the outputs (32 = float; PNG 8/16, TIFF 8/16/32, EXR 16/32, JPEG 8). "
                   "Default: auto = the input's depth where the format stores it.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace existing output files (inputs are never replaced). Default: off.")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="Print one JSON object per written file (path, size, provider, seconds) instead of a "
                   "progress bar. Default: off.")
@click.option("--max-pixels", type=int, default=None, metavar="N",
              help="Refuse inputs of more than N pixels (width x height), checked from the file header before "
                   "decoding. Default: $TRANSPOSER_MAX_PIXELS if set, else 268435456 (16384 x 16384).")
def command(inputs, output, scale, size_text, seamless, companions, model, device, threads, analysis_size, large,
            seed, variation, synthesis, bit_depth, overwrite, as_json, max_pixels):
    """Expand INPUT textures (files or folders of images) into larger textures of the same material."""
    from transposer.runtime import Companion, ExpandCancelled, ExpandError, Expander
    from transposer.runtime.imageio import default_bit_depth, read_image, write_image

    try:
        options, session = options_from_flags(inputs, scale, size_text, seamless, seed, variation, synthesis, model,
                                              device, threads, analysis_size, large, max_pixels)
        files, had_folder = collect_inputs(inputs)
        jobs, to_create = plan_jobs(files, had_folder, output, companions, overwrite)
        check_bit_depth(jobs, bit_depth)
        # headers first (size, pixel limit; no pixel decoded), then the output folders
        infos = check_inputs(jobs, options, max_pixels)
        check_outputs(jobs, infos, bit_depth)
        check_output_folders(jobs, to_create)
        check_memory(jobs, infos, options, bit_depth)
        expander = Expander(session)
        check_min_side(infos, expander.min_side)
        if len(jobs) > 1:  # decode every input once before writing anything: a bad file fails up front
            for job in jobs:
                for path in [job.source, *(c for c, _ in job.companions)]:
                    del read_image(path, max_pixels, native=True).pixels
        depths = {path: info.bit_depth for path, info in infos.items()}

        if to_create is not None:
            to_create.mkdir()
        for job in jobs:
            _run_job(job, expander, options, bit_depth, depths, as_json, read_image, write_image, default_bit_depth,
                     Companion, max_pixels)
    except ExpandCancelled as error:
        raise click.ClickException(f"cancelled: {error}") from None
    except ExpandError as error:
        raise click.ClickException(str(error)) from None
    except MemoryError:
        raise click.ClickException("out of memory: use a smaller --analysis-size or a smaller output") from None
    except OSError as error:  # the file system said no (full disk, permissions...): one line naming the path
        from transposer.runtime.files import first_line

        raise click.ClickException(first_line(error)) from None


def options_from_flags(inputs, scale, size_text, seamless, seed, variation, synthesis, model, device, threads,
                       analysis_size, large, max_pixels):
    """The runtime's ExpandOptions and SessionOptions from the flags: every range is checked once,
    by the runtime's own types, and reported with the flag as the user typed it."""
    from transposer.runtime import ExpandOptions, OptionError, SessionOptions

    if max_pixels is not None and max_pixels < 1:
        raise click.ClickException(f"--max-pixels must be a whole number >= 1; got {max_pixels}")
    if not inputs:
        raise click.ClickException("give at least one INPUT image or folder")
    if scale is not None and size_text is not None:
        raise click.ClickException("give --scale or --size, not both")
    try:
        options = ExpandOptions(scale=scale, size=parse_size(size_text), seamless=seamless, seed=seed,
                                variation=variation, synthesis=synthesis)
        session = SessionOptions(model=model, device=device, threads=threads, analysis_size=analysis_size,
                                 large=large)
    except OptionError as error:
        raise _option_error(error) from None
    return options, session


def check_bit_depth(jobs: list[Job], bit_depth: str) -> None:
    """--bit-depth must be one every output's format can hold."""
    if bit_depth == "auto":
        return
    from transposer.runtime.imageio import WRITE_DEPTHS

    for job in jobs:
        for target in [job.output, *(o for _, o in job.companions)]:
            allowed = WRITE_DEPTHS[target.suffix.lower()]
            if int(bit_depth) not in allowed:
                raise click.ClickException(f"--bit-depth {bit_depth} cannot be written to {target.name}; "
                                           f"{target.suffix} takes {', '.join(map(str, allowed))}")


def check_inputs(jobs: list[Job], options, max_pixels: int | None) -> dict:
    """Every input's header (read_info: no pixel decoded): pixel limit, companions matching the
    colour map, an output size the options allow. Returns {path: ImageInfo}."""
    from transposer.runtime import ExpandError
    from transposer.runtime.imageio import read_info

    infos = {}
    for job in jobs:
        source = infos[job.source] = read_info(job.source, max_pixels)
        try:
            options.target_size(source.width, source.height)
        except ExpandError as error:
            raise click.ClickException(f"{job.source}: {error}") from None
        for path, _ in job.companions:
            info = infos[path] = read_info(path, max_pixels)
            if (info.width, info.height) != (source.width, source.height):
                raise click.ClickException(f"--with {path} is {info.width} x {info.height}; it must match "
                                           f"{job.source} ({source.width} x {source.height})")
    return infos


def check_outputs(jobs: list[Job], infos: dict, bit_depth: str) -> None:
    """What write_image would refuse (format, depth, alpha in JPEG), refused before the work."""
    from transposer.runtime.imageio import check_writable_path, default_bit_depth

    for job in jobs:
        for source, target in [(job.source, job.output), *job.companions]:
            info = infos[source]
            depth = default_bit_depth(target, info.bit_depth) if bit_depth == "auto" else int(bit_depth)
            if target.parent.is_dir():  # a folder still to be created is checked by check_output_folders
                check_writable_path(target, depth, info.channels)


def check_min_side(infos: dict, min_side: int) -> None:
    for path, info in infos.items():
        if min(info.width, info.height) < min_side:
            raise click.ClickException(f"{path} is {info.width} x {info.height} pixels; the model needs at least "
                                       f"{min_side} x {min_side}")


def check_output_folders(jobs: list[Job], to_create: Path | None) -> None:
    """Before any expansion runs: every output folder accepts a new file (read-only mounts and
    immutable folders fail here, not after minutes of work)."""
    from transposer.runtime.files import check_folder_writable

    folders = {to_create.parent if to_create is not None else target.parent
               for job in jobs for target in [job.output, *(o for _, o in job.companions)]}
    for folder in sorted(folders, key=str):
        try:
            check_folder_writable(folder)
        except OSError as error:
            raise click.ClickException(f"cannot write to folder {folder or '.'}: {error.strerror}") from None


# What `transposer expand` holds at its peak, fitted to benchmarks/bench_cli.py (whole process,
# 2 cores, 8-bit RGB PNG at 2x; the bench prints this estimate beside each measured peak:
# 232 MiB at 1024 -> 2048, 975 MiB at 4096 -> 8192, 3946 MiB at 12000 -> 24000; estimated 495,
# 1329 and 5633 MiB) with a margin of 35-45% at the large sizes: refusing is for jobs that cannot fit. Re-fit when the expansion pipeline changes.
# - always: the runtime, the model and onnxruntime's arenas (BASE_BYTES);
# - the synthesis stage (the default), streamed: the inputs in their own dtype and a guide copy
#   (at most as much again), the synthesis stage's arrays (its features of the input, float16
#   above 16 Mpx: SYNTHESIS_INPUT_BYTES; a label per output pixel and the like:
#   SYNTHESIS_OUTPUT_BYTES; the cells it arranges, pieces of 1 / synthesis.PIECES of the input's side:
#   SYNTHESIS_CELL_BYTES, 2-5 KiB each measured at 48 and 64 -> 2048, which dominates where a
#   small input grows hundreds of times) and a few float32 blocks of rows in flight (BLOCK_COPIES);
# - synthesis="network": float32 layers, INPUT_COPIES of the input and OUTPUT_COPIES of the output;
# - each output whose format is not written in strips (JPEG, WebP, EXR, ...): its float32 image,
#   assembled before it is written; and for every output what its writer adds
#   (imageio.write_bytes_estimate).
BASE_BYTES = 400 << 20
SYNTHESIS_INPUT_BYTES = (24, 12)  # per input pixel, up to / above LARGE_INPUT pixels
LARGE_INPUT = 1 << 24
SYNTHESIS_OUTPUT_BYTES = 4  # per output pixel
SYNTHESIS_CELL_BYTES = 8 << 10
BLOCK_COPIES = 6
INPUT_COPIES = 2.0
OUTPUT_COPIES = 2.5
MEMORY_ENV = "TRANSPOSER_MEMORY_LIMIT"


def job_memory(width: int, height: int, out_width: int, out_height: int, channels: int, writes,
               input_bytes: int | None = None, synthesis: str = "coherent") -> int:
    """Bytes one job needs at its peak: `channels` summed over the colour map and its companions,
    held in `input_bytes` bytes per pixel (default float32: 4 * channels); `writes`: the
    (suffix, depth, channels) of every file it writes; `synthesis`: the job's mode."""
    import math

    from transposer.runtime.imageio import STRIP_SUFFIXES, write_bytes_estimate
    from transposer.runtime.synthesis import PIECES
    from transposer.runtime.synthesis.feather import shading_bytes
    from transposer.runtime.warp import BLOCK_ROWS

    pixels, out_pixels = width * height, out_width * out_height
    held = 4 * channels if input_bytes is None else input_bytes
    if synthesis == "network":
        need = BASE_BYTES + INPUT_COPIES * pixels * 4 * channels + OUTPUT_COPIES * out_pixels * 4 * channels
    else:
        features = SYNTHESIS_INPUT_BYTES[pixels > LARGE_INPUT]
        cell = max(min(width, height) / PIECES, 1.0)
        cells = math.ceil(out_width / cell) * math.ceil(out_height / cell)
        need = (BASE_BYTES + pixels * (2 * held + features) + out_pixels * SYNTHESIS_OUTPUT_BYTES
                + cells * SYNTHESIS_CELL_BYTES + BLOCK_COPIES * BLOCK_ROWS * out_width * 4 * channels
                + shading_bytes(height, width, channels))  # the soft bands' shading
    for suffix, depth, c in writes:
        need += write_bytes_estimate(out_width, out_height, c, suffix, depth)
        if suffix.lower() not in STRIP_SUFFIXES:
            need += out_pixels * c * 4
    return int(need)


def check_memory(jobs: list[Job], infos: dict, options, bit_depth: str) -> None:
    """Refuse, before a pixel is decoded, a job that needs more memory than the machine has
    available (or than $TRANSPOSER_MEMORY_LIMIT, e.g. 16G, where set)."""
    import os

    from transposer.runtime.files import available_memory, format_bytes, parse_bytes
    from transposer.runtime.imageio import default_bit_depth

    limit_text = os.environ.get(MEMORY_ENV, "").strip()
    if limit_text:
        try:
            available, source = parse_bytes(limit_text), f"{MEMORY_ENV} allows"
        except ValueError:
            raise click.ClickException(f"{MEMORY_ENV} must be a size such as 16G or 512M; got {limit_text!r}") from None
    else:
        available, source = available_memory(), "this machine has"
    if available is None:
        return
    for job in jobs:
        info = infos[job.source]
        out_width, out_height = options.target_size(info.width, info.height)
        paths = [job.source, *(c for c, _ in job.companions)]
        targets = [job.output, *(o for _, o in job.companions)]
        writes = [(t.suffix, default_bit_depth(t, infos[p].bit_depth) if bit_depth == "auto" else int(bit_depth),
                   infos[p].channels) for p, t in zip(paths, targets)]
        held = sum(infos[p].channels * {8: 1, 16: 2}.get(infos[p].bit_depth, 4) for p in paths)  # read natively
        need = job_memory(info.width, info.height, out_width, out_height, sum(infos[p].channels for p in paths), writes,
                          input_bytes=held, synthesis=options.synthesis)
        if need > available:
            raise click.ClickException(
                f"expanding {job.source} ({info.width} x {info.height}) to {out_width} x {out_height} needs about "
                f"{format_bytes(need)} of memory; {source} {format_bytes(available)} available "
                f"(use a smaller --size or --scale, or set {MEMORY_ENV} to try anyway)")


def _read(path: Path, read_image, max_pixels):
    data = read_image(path, max_pixels, native=True)  # 8 / 16 bits as uint8 / uint16
    for warning in data.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return data.pixels


def _run_job(job: Job, expander, options, bit_depth: str, depths: dict, as_json: bool,
             read_image, write_image, default_bit_depth, Companion, max_pixels=None) -> None:
    """Read, expand and write one job. The expansion comes by blocks of rows (expand_rows) and
    every block goes straight to the writers (RowWriter): PNG and TIFF are encoded as the rows
    come, so no output exists whole in memory; other formats are assembled by their writer."""
    from contextlib import ExitStack

    from transposer.runtime.imageio import RowWriter

    pixels = _read(job.source, read_image, max_pixels)
    maps = [Companion(_read(path, read_image, max_pixels), normal=is_normal_map(path)) for path, _ in job.companions]
    bar = ProgressBar(f"expanding {job.source.name}", enabled=not as_json)
    try:
        stream = expander.expand_rows(pixels, options, progress=bar, companions=maps)
        del pixels, maps  # the stream holds them as long as it needs them
        targets = [(job.output, job.source, stream.channels)]
        targets += [(out, source, c) for (source, out), c in zip(job.companions, stream.companion_channels)]
        written = []
        with ExitStack() as writers:
            opened = []
            for out, source, channels in targets:
                depth = default_bit_depth(out, depths[source]) if bit_depth == "auto" else int(bit_depth)
                opened.append(writers.enter_context(RowWriter(out, stream.width, stream.height, channels, depth)))
                written.append((out, source, depth))
            for block in stream:
                for writer, part in zip(opened, [block.image, *block.companions]):
                    writer.write(part)
                del block
            for writer in opened:  # in order: the colour map first
                writer.close()
    finally:
        bar.close()
    for out, source, depth in written:
        if as_json:
            click.echo(json.dumps({"input": str(source), "path": str(out), "size": [stream.width, stream.height],
                                   "width": stream.width, "height": stream.height, "bit_depth": depth,
                                   "provider": stream.provider, "seconds": round(stream.seconds, 4)}))
        else:
            click.echo(f"wrote {out} ({stream.width} x {stream.height}, {stream.provider}, "
                       f"{stream.seconds:.2f} s)", err=True)


class ProgressBar:
    """The progress callback `(done, total) -> True` drawn on a terminal's stderr: a bar, the
    steps, the time so far and, when it can be trusted, an estimate of the time left.

    The runtime's steps differ in cost by 100x and more (measured at 1024 -> 2048 on 2 cores:
    five synthesis levels of 0.6-5.6 s, then eight network steps of 0.01 s; before that, a 7 s
    first step and 0.2-0.5 s ones), so a mean over all steps lies: click's bar promised 58 s
    where 2 s were left, and a mean without the first step still showed 167 s for 1 s. The
    estimate is therefore shown only while the last WINDOW steps took alike (the longest at
    most twice the shortest), as their mean times the steps left; otherwise the bar shows the
    time so far alone. Off a terminal, nothing is drawn."""

    WINDOW = 3

    def __init__(self, label: str, enabled: bool = True, stream=None):
        import time

        self.label, self.stream = label, stream or sys.stderr
        self.enabled = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.clock = time.monotonic
        self.start = self.clock()
        self.last: tuple[int, float] | None = None  # (done, when) at the previous call
        self.steps: list[float] = []  # seconds per step, most recent last
        self.drawn = False

    def estimate(self, done: int, total: int, now: float) -> float | None:
        if done >= total > 0:
            return 0.0
        if self.last is not None and done > self.last[0]:
            count = done - self.last[0]
            self.steps.extend([(now - self.last[1]) / count] * count)
            del self.steps[:-self.WINDOW]
        if self.last is None or done != self.last[0]:
            self.last = (done, now)
        recent = self.steps[-self.WINDOW:]
        if len(recent) < self.WINDOW or max(recent) > 2 * max(min(recent), 1e-3):
            return None
        return sum(recent) / len(recent) * (total - done)

    def __call__(self, done: int, total: int) -> bool:
        now = self.clock()
        left = self.estimate(done, total, now)
        if self.enabled and total > 0:
            width = 24
            filled = int(width * min(done, total) / total)
            text = (f"\r{self.label} [{'#' * filled}{'-' * (width - filled)}] {done}/{total} "
                    f"{_clock(now - self.start)}" + (f", about {_clock(left)} left" if left is not None else ""))
            self.stream.write(text.ljust(79))
            self.stream.flush()
            self.drawn = True
        return True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"
