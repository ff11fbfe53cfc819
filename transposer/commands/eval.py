"""`transposer eval`: score a model against ground truth and the naive baselines; blind comparisons.

    transposer eval --model M --data DIR ...     metrics (transposer.eval.run_eval)
    transposer eval pairs --a SPEC --b SPEC ...  blind left/right sheets and their key (eval.blind_sheets)
    transposer eval score --key KEY --answers F  a judge's answers against the key (eval.blind_score)

Thin layer: options are parsed here, validated in transposer.eval (once, before anything is loaded),
and every failure the user can cause ends as one line and a non-zero exit.
"""
from __future__ import annotations

import json

import click

METRIC_OPTIONS = ("model", "data", "size", "crop", "seed", "limit", "json_path", "report_dir", "overwrite", "device")


@click.group("eval", invoke_without_command=True, subcommand_metavar="[pairs|score] [ARGS]...")
@click.option("--model", "model", default="default", show_default=True, metavar="MODEL",
              help="Registry name, .onnx file, or training snapshot (.safetensors file or folder).")
@click.option("--data", "data", multiple=True, metavar="DIR",
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
@click.pass_context
def command(ctx, model, data, size, crop, seed, limit, json_path, report_dir, overwrite, device):
    """Expand the centre of each ground-truth crop 2x and compare with the crop, beside the
    bicubic, wrap and mirror baselines. Prints the markdown table at the end.

    `pairs` and `score` run a blind side-by-side comparison instead (docs/blind_comparison.md)."""
    if ctx.invoked_subcommand is not None:
        given = [name for name in METRIC_OPTIONS
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            option = "--" + given[0].replace("_path", "").replace("_dir", "")
            raise click.UsageError(f"{option} is an option of the metric evaluation, not of "
                                   f"`transposer eval {ctx.invoked_subcommand}`, whose options follow its name")
        return
    if not data:
        raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "data"))
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


def _fail_on_eval_error(run):
    from transposer.eval import EvalError

    try:
        return run()
    except EvalError as exc:
        raise click.ClickException(str(exc)) from None


@command.command("pairs")
@click.option("--a", "a", required=True, metavar="SPEC",
              help="Method A: folder:DIR (DIR/STEM.png per image), baseline:mirror|wrap|bicubic, or "
                   "model:NAME[,synthesis=coherent|network][,seed=N] (NAME: registry name or .onnx file).")
@click.option("--b", "b", required=True, metavar="SPEC", help="Method B, as --a.")
@click.option("--data", "data", multiple=True, required=True, metavar="DIR",
              help="Folder of images (recursive; repeat for several), e.g. the validation split.")
@click.option("--size", default=256, show_default=True, type=int, metavar="S",
              help="Output side in px, a multiple of 4 in [16, 2048]; the input is the S/2 centre of the "
                   "S x S centre crop, as in `transposer eval`.")
@click.option("--n", "n", default=40, show_default=True, type=int, metavar="N",
              help="Pairs per comparison (>= 1; the protocol asks for at least 40).")
@click.option("--seed", default=0, show_default=True, type=int, metavar="N",
              help="Seed (>= 0) of the choice of images and of each judge's order and sides.")
@click.option("--judges", default=2, show_default=True, type=int, metavar="K",
              help="Judge folders (>= 1): each gets all N sheets, independently ordered and flipped.")
@click.option("--sheets", "sheets", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Where the sheets go: DIR/judge1/001.png ... (handed to the judges).")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The key (JSON), written outside --sheets; keep it from the judges.")
@click.option("--renders", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="Cache of rendered outputs (model, baseline), reused by later runs "
                   "[default: renders/ beside --key].")
@click.option("--rerender", is_flag=True, help="Render again even where the cache has the outputs "
                                                 "(needed after the runtime's code changed).")
@click.option("--overwrite", is_flag=True, help="Replace an existing key and earlier sheets in --sheets.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda (the runtime's names).")
def pairs(a, b, data, size, n, seed, judges, sheets, key, renders, rerender, overwrite, device):
    """Blind left/right sheets of methods A and B, and their key.

    Each sheet shows the input on top and the two outputs below, LEFT and RIGHT, enlarged 2x."""
    from pathlib import Path

    from transposer.eval.blind_sheets import make_pairs

    if renders is None:
        renders = str(Path(key).expanduser().parent / "renders")

    def progress(done: int, total: int) -> None:
        click.echo(f"\r[{done}/{total}]", err=True, nl=(done == total))

    result = _fail_on_eval_error(lambda: make_pairs(
        a, b, list(data), sheets, key, size=size, n=n, seed=seed, judges=judges, renders=renders,
        rerender=rerender, overwrite=overwrite, device=device, progress=progress,
        warn=lambda message: click.echo(f"warning: {message}", err=True)))
    for name, entry in result["sets"].items():
        click.echo(f"{name}: {len(entry['sheets'])} sheets in {entry['folder']}")
    click.echo(f"key: {key} (keep it from the judges)")


@command.command("score")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The key written by `transposer eval pairs`.")
@click.option("--answers", "answers", multiple=True, required=True, metavar="[JUDGE=]FILE",
              help="One judge's answers (lines `ID left|right|same [reason]`); repeat per judge. JUDGE "
                   "names the sheet folder judged (judge1, judge2, ...), needed when the key has several.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), metavar="OUT",
              help="Write the scores as JSON here ('-': print the JSON instead of the summary).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --json file.")
def score(key, answers, json_path, overwrite):
    """Score judges' answers against the key.

    Per judge and pooled: wins, losses, ties, preference rate, sign-test p-value and Wilson 95%
    interval per method; agreement between judges on the same cases."""
    from pathlib import Path

    from transposer.eval.blind_score import markdown, score as run_score
    from transposer.eval.report import write_text_atomic

    if json_path not in (None, "-"):
        out = Path(json_path).expanduser()
        if out.exists() and not overwrite:
            raise click.ClickException(f"--json: {out} exists (pass --overwrite to replace it)")
        if not out.parent.is_dir():
            raise click.ClickException(f"--json: folder does not exist: {out.parent}")
    result = _fail_on_eval_error(lambda: run_score(key, list(answers)))
    text = json.dumps(result, indent=1) + "\n"
    if json_path == "-":
        click.echo(text, nl=False)
        return
    if json_path is not None:
        try:
            write_text_atomic(Path(json_path).expanduser(), text)
        except OSError as exc:
            raise click.ClickException(f"--json: cannot write {json_path}: {exc}") from None
    click.echo(markdown(result), nl=False)
