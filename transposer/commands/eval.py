"""`transposer eval`: score a model against ground truth and the naive baselines.

Thin layer over transposer.eval.run_eval: options are parsed here, validated there (once, before
anything is loaded), and every failure the user can cause ends as one line and a non-zero exit.
"""
from __future__ import annotations

import click


@click.command("eval")
@click.option("--model", "model", default="default", show_default=True, metavar="MODEL",
              help="Registry name, .onnx file, or training snapshot (.safetensors file or folder).")
@click.option("--data", "data", multiple=True, required=True, metavar="DIR",
              help="Folder of images (recursive); repeat for several. Images exactly SIZE x SIZE are used "
                   "whole, smaller ones are skipped with a warning.")
@click.option("--size", default=256, show_default=True, type=int, metavar="S",
              help="Ground-truth side in px, a multiple of 4 in [28, 4096]; the model gets the S/2 centre.")
@click.option("--crop", default="center", show_default=True, type=click.Choice(["center", "random"]),
              help="Where the ground truth is cut from each image (random: seeded by --seed and file name).")
@click.option("--seed", default=0, show_default=True, type=int, metavar="N", help="Seed of random crops, >= 0.")
@click.option("--limit", default=None, type=int, metavar="N", help="Evaluate at most N images (>= 1) [default: all].")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), metavar="OUT",
              help="Write the result (per case and aggregate) as JSON here.")
@click.option("--report", "report_dir", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="Write report.json, report.md, contact sheets and plots into this folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --json file or an earlier --report folder.")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu or cuda (ONNX: the runtime's device names; snapshots: a torch device).")
def command(model, data, size, crop, seed, limit, json_path, report_dir, overwrite, device):
    """Expand the centre of each ground-truth crop 2x and compare with the crop, beside the
    bicubic, wrap and mirror baselines. Prints the markdown table at the end."""
    from transposer.eval import EvalError, run_eval
    from transposer.eval.report import markdown

    shown = {"progress": False}

    def progress(done: int, total: int) -> None:
        click.echo(f"\r[{done}/{total}]", err=True, nl=False)
        shown["progress"] = True

    def warn(message: str) -> None:
        # Start on a fresh line when the progress counter is showing, so the two never interleave.
        click.echo(("\n" if shown["progress"] else "") + f"warning: {message}", err=True)
        shown["progress"] = False

    try:
        result = run_eval(model, list(data), size=size, crop=crop, seed=seed, limit=limit, device=device,
                          json_path=json_path, report_dir=report_dir, overwrite=overwrite,
                          progress=progress, warn=warn)
    except EvalError as exc:
        raise click.ClickException(str(exc)) from None
    if shown["progress"]:
        click.echo("", err=True)
    click.echo(markdown(result), nl=False)
