"""`transposer train`: train (or resume) a Transposer model into a run folder.

Single process:  transposer train --config tiny --out runs/tiny --max-steps 200
Several GPUs:    torchrun --nproc_per_node 4 -m transposer train --config default --out runs/a
Continue:        transposer train --out runs/a --resume [--time-budget 60]

torch is imported only when the command runs, so `transposer --help` stays fast.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from transposer.runtime.files import first_line


def _user_errors() -> tuple[type[BaseException], ...]:
    from transposer.train.checkpoint import CheckpointError
    from transposer.train.config import ConfigError
    from transposer.train.trainer import TrainingAborted

    # ValueError / FileNotFoundError: bad options found while building data, model or losses
    # (an empty image folder, missing VGG weights); each carries a one-line message.
    return (ConfigError, CheckpointError, TrainingAborted, ValueError, FileNotFoundError)


def resolve_run_config(run_dir: Path, config: str | None, resume: bool, data: tuple[str, ...] = (),
                       batch_size: int | None = None):
    """The config this invocation trains with. A new run needs --config and an --out that holds no
    run yet (never overwrite); a resumed run keeps its stored config, and any --config or
    override given with --resume must agree with it."""
    import dataclasses

    from transposer.train.checkpoint import CONFIG_FILE, STATE_FILE
    from transposer.train.config import ConfigError, config_diff, load_config

    stored_path = run_dir / CONFIG_FILE
    if resume:
        if not (run_dir / STATE_FILE).is_file():
            raise ConfigError(f"--resume: {run_dir / STATE_FILE} does not exist (no run to continue)")
        stored = load_config(stored_path)
        cfg = load_config(config) if config else dataclasses.replace(stored)
    else:
        if (run_dir / STATE_FILE).exists():
            raise ConfigError(f"--out {run_dir} already holds a training run; pass --resume to continue "
                              "it or choose another folder")
        if stored_path.exists():
            raise ConfigError(f"--out {run_dir} holds a run that never saved a checkpoint ({CONFIG_FILE} "
                              f"but no {STATE_FILE}); delete that folder or choose another")
        if not config:
            raise ConfigError("--config is required for a new run (a name in configs/ or a .toml path)")
        cfg = load_config(config)
    if data:
        cfg.data = dataclasses.replace(cfg.data, folders=[str(Path(d)) for d in data])
    if batch_size is not None:
        cfg.batch_size = batch_size
    cfg.validate()
    if resume:
        differs = config_diff(stored, cfg)
        if differs:
            raise ConfigError(f"--resume: the run was started with another config ({', '.join(differs)} "
                              f"differ from {stored_path}); resume without --config/overrides")
    return cfg


def run_training(out: str | Path, config: str | None = None, *, data: tuple[str, ...] = (),
                 resume: bool = False, max_steps: int | None = None, time_budget: float | None = None,
                 device: str = "auto", batch_size: int | None = None, threads: int | None = None,
                 compile: bool = False, progress: bool = True) -> str:
    """The whole command without click (tests and torch.multiprocessing call this). Returns the
    reason training stopped; raises the errors listed in _user_errors() for bad input."""
    started = time.monotonic()
    import torch

    from transposer.train.distributed import barrier, init_distributed, shutdown
    from transposer.train.trainer import Trainer

    if threads is not None:
        torch.set_num_threads(threads)
    run_dir = Path(out)
    info = init_distributed(device)
    try:
        cfg = resolve_run_config(run_dir, config, resume, data, batch_size)
        barrier(info)            # every rank checked --out before rank 0 writes into it
        trainer = Trainer(cfg, run_dir, info, resume=resume, compile=compile, progress=progress)
        deadline = started + time_budget * 60 if time_budget is not None else None
        status = trainer.fit(max_steps=max_steps, deadline=deadline)
        if info.is_main:
            where = f"step {trainer.step}/{trainer.total_steps}, {trainer.skipped_steps} skipped"
            if status == "finished":
                click.echo(f"finished ({where}); snapshot: {run_dir}/snapshot.safetensors")
            else:
                click.echo(f"stopped: {status} ({where}); snapshot: {run_dir}/snapshot.safetensors; "
                           f"continue with: transposer train --out {run_dir} --resume")
        return status
    finally:
        shutdown(info)


@click.command("train")
@click.option("--config", "config", metavar="NAME|PATH",
              help="Training config: a name in configs/ (tiny, default, paper, vgg-gram, ...) or a "
                   ".toml path. Required for a new run; a resumed run uses its stored config.")
@click.option("--data", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Image folder (repeatable); replaces data.folders of the config.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Run folder: config.toml, state.pt, snapshot.safetensors, metrics.jsonl, runs.jsonl.")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop (after saving) at this global step; default: the end of the schedule.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="MINUTES", help="Stop (after saving) before this many minutes have passed.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto = CUDA when available.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Override train.batch_size (global, split across processes).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the generator (slow start).")
def command(config, data, out, resume, max_steps, time_budget, device, batch_size, threads, compile_):
    """Train a Transposer model (Ctrl-C saves and exits; --resume continues)."""
    try:
        run_training(out, config, data=data, resume=resume, max_steps=max_steps,
                     time_budget=time_budget, device=device, batch_size=batch_size,
                     threads=threads, compile=compile_)
    except _user_errors() as exc:
        raise click.ClickException(first_line(exc))
