"""`transposer export`: a training snapshot to the ONNX model the runtime uses.

To a file:        transposer export --checkpoint runs/a --out a.onnx [--fp16] [--opset 18]
Into the package: transposer export --checkpoint checkpoints/default-cpu-finetune --ship default

The first is `python -m export.onnx`, the second `python -m export.ship` (all or nothing: the
registry and the model file are swapped in together). Both check ONNX against PyTorch before
anything is kept, print the parity report as JSON and report any failure in one line. torch is
imported only when the command runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from export.ship import DESCRIPTION   # stdlib-only at import: --help stays fast


@click.command("export")
@click.option("--checkpoint", required=True, type=click.Path(exists=True),
              help="Required. An inference snapshot (.safetensors) or a run folder holding "
                   "snapshot.safetensors (--ship needs the run folder: it records the training history).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the model to this .onnx file. Default: none; give --out or --ship.")
@click.option("--ship", "ship_name", metavar="NAME",
              help="Install the model in the package registry under NAME (e.g. default), replacing "
                   "that entry. Default: none; give --out or --ship.")
@click.option("--provisional", is_flag=True,
              help="With --ship: mark the model provisional in the registry. Default: off.")
@click.option("--description", default=DESCRIPTION,
              help=f"With --ship: the registry description. Default: {DESCRIPTION!r}.")
@click.option("--fp16", is_flag=True,
              help="With --out: store the weights in float16 (needs onnxconverter-common). Default: off (float32).")
@click.option("--opset", type=click.IntRange(min=18), default=18,
              help="With --out: ONNX opset, >= 18 (the FFT needs DFT). Default: 18.")
def command(checkpoint, out, ship_name, provisional, description, fp16, opset):
    """Export a trained checkpoint to ONNX (a file, or the package's model registry)."""
    if (out is None) == (ship_name is None):
        raise click.UsageError("give exactly one of --out FILE.onnx or --ship NAME")
    if ship_name is not None and (fp16 or opset != 18):
        raise click.UsageError("--fp16 and --opset apply to --out only (a shipped model is float32, opset 18)")
    if out is not None and (provisional or description != DESCRIPTION):
        raise click.UsageError("--provisional and --description apply to --ship only")
    try:
        if out is not None:
            from export.onnx import export_checkpoint

            report = export_checkpoint(checkpoint, out, opset=opset, fp16=fp16)
        else:
            from export.ship import ship

            run = Path(checkpoint)
            if not run.is_dir():
                raise ValueError(f"--ship needs a run folder (it records runs.jsonl and config.toml); "
                                 f"got the file {run}")
            report = ship(run, ship_name, provisional, description)
    except Exception as exc:   # exporter, parity and file errors: one line, never a traceback
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise click.ClickException(message) from None
    click.echo(json.dumps(report, indent=2))
