"""`transposer expand`: grow textures with the ONNX model (torch is never imported).

    transposer expand bricks.png -o bricks_2x.png
    transposer expand bricks_color.png --with bricks_normal.png --with bricks_rough.png -o out/ --scale 4
    transposer expand textures/ -o expanded/ --size 2048x1024 --seamless xy --json

Everything that can be checked is checked before the first output is written: the options,
every input (readable, large enough for the model, companions of the same size) and every
output path (its folder exists, it is no input, it does not exist unless --overwrite).
Outputs are written atomically, so a failure never leaves a partial file.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")
NORMAL_PATTERN = re.compile(r"normal|nrm|_n\.", re.IGNORECASE)


@dataclass
class Job:
    source: Path
    output: Path
    companions: list[tuple[Path, Path]] = field(default_factory=list)  # (source, output)


def is_normal_map(path: Path) -> bool:
    """Normal maps by name: *normal*, *nrm*, *_n.* (case-insensitive)."""
    return bool(NORMAL_PATTERN.search(path.name))


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
    from transposer.runtime.options import OPTION_SPECS

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
                   "*normal*, *nrm* or *_n.* are renormalised to unit vectors. Default: none.")
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
def command(inputs, output, scale, size_text, seamless, companions, model, device, threads, analysis_size, large,
            seed, variation, synthesis, bit_depth, overwrite, as_json):
    """Expand INPUT textures (files or folders of images) into larger textures of the same material."""
    from transposer.runtime import (Companion, ExpandCancelled, ExpandError, Expander, ExpandOptions, OptionError,
                                    SessionOptions)
    from transposer.runtime.imageio import default_bit_depth, read_image, write_image

    try:
        if not inputs:
            raise click.ClickException("give at least one INPUT image or folder")
        if scale is not None and size_text is not None:
            raise click.ClickException("give --scale or --size, not both")
        try:  # every option checked once, by the runtime's own types
            options = ExpandOptions(scale=scale, size=parse_size(size_text), seamless=seamless, seed=seed,
                                    variation=variation, synthesis=synthesis)
            session = SessionOptions(model=model, device=device, threads=threads, analysis_size=analysis_size,
                                     large=large)
        except OptionError as error:
            raise _option_error(error) from None
        files, had_folder = collect_inputs(inputs)
        jobs, to_create = plan_jobs(files, had_folder, output, companions, overwrite)
        if bit_depth != "auto":
            from transposer.runtime.imageio import WRITE_DEPTHS

            for job in jobs:
                for target in [job.output, *(o for _, o in job.companions)]:
                    allowed = WRITE_DEPTHS[target.suffix.lower()]
                    if int(bit_depth) not in allowed:
                        raise click.ClickException(f"--bit-depth {bit_depth} cannot be written to {target.name}; "
                                                   f"{target.suffix} takes {', '.join(map(str, allowed))}")
        expander = Expander(session)

        # read everything once before writing anything: a bad file fails the run up front
        depths = {}
        for job in jobs:
            for path in [job.source, *(c for c, _ in job.companions)]:
                data = read_image(path)
                height, width = data.pixels.shape[:2]
                if min(height, width) < expander.min_side:
                    raise click.ClickException(f"{path} is {width} x {height} pixels; the model needs at least "
                                               f"{expander.min_side} x {expander.min_side}")
                if path != job.source and (height, width) != source_shape:
                    raise click.ClickException(f"--with {path} is {width} x {height}; it must match {job.source} "
                                               f"({source_shape[1]} x {source_shape[0]})")
                if path == job.source:
                    source_shape = (height, width)
                    try:
                        options.target_size(width, height)
                    except ExpandError as error:
                        raise click.ClickException(f"{path}: {error}") from None
                depths[path] = data.bit_depth
                del data

        if to_create is not None:
            to_create.mkdir()
        for job in jobs:
            _run_job(job, expander, options, bit_depth, depths, as_json, read_image, write_image, default_bit_depth, Companion)
    except ExpandCancelled as error:
        raise click.ClickException(f"cancelled: {error}") from None
    except ExpandError as error:
        raise click.ClickException(str(error)) from None
    except MemoryError:
        raise click.ClickException("out of memory: use a smaller --analysis-size or a smaller output") from None


def _run_job(job: Job, expander, options, bit_depth: str, depths: dict, as_json: bool,
             read_image, write_image, default_bit_depth, Companion) -> None:
    pixels = read_image(job.source).pixels
    maps = [Companion(read_image(path).pixels, normal=is_normal_map(path)) for path, _ in job.companions]
    bar = {}

    def progress(done: int, total: int) -> bool:
        if as_json:
            return True
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label=f"expanding {job.source.name}", file=sys.stderr)
            bar["bar"].__enter__()
            bar["done"] = 0
        bar["bar"].update(done - bar["done"])
        bar["done"] = done
        return True

    try:
        result = expander.expand(pixels, options, progress=progress, companions=maps)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    outputs = [(job.output, result.image, job.source)]
    outputs += [(out, image, source) for (source, out), image in zip(job.companions, result.companions)]
    for out, image, source in outputs:
        depth = default_bit_depth(out, depths[source]) if bit_depth == "auto" else int(bit_depth)
        write_image(out, image, bit_depth=depth)
        if as_json:
            click.echo(json.dumps({"input": str(source), "path": str(out), "size": [int(image.shape[1]), int(image.shape[0])],
                                   "width": int(image.shape[1]),
                                   "height": int(image.shape[0]), "bit_depth": depth, "provider": result.provider,
                                   "seconds": round(result.seconds, 4)}))
        else:
            click.echo(f"wrote {out} ({image.shape[1]} x {image.shape[0]}, {result.provider}, "
                       f"{result.seconds:.2f} s)", err=True)
