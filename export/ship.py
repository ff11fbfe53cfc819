"""Ship a trained snapshot as a named model inside the package.

    python -m export.ship --run checkpoints/default-cpu-finetune [--name default] [--provisional]

Exports RUN/snapshot.safetensors to transposer/runtime/models/NAME.onnx (parity-checked by
export.onnx) and records in transposer/runtime/models/registry.json the file, its sha256 and size,
the snapshot it came from (path and sha256: the weights themselves stay in the run folder) and the
training history (RUN/runs.jsonl: steps, wall time, device per run; for a fine-tuning run also the
runs behind its train.init snapshot).

All or nothing. The runtime refuses a registry entry whose file is missing or has another sha256,
so NAME.onnx and registry.json must never disagree, even if the process is killed. The new model
is exported and verified beside the old one as .NAME.staged.onnx, then installed in four steps,
each ending in one atomic rename, and the registry is consistent after every one of them:

  1. registry.json names the staged file (the commit point: before it, the old model is shipped;
     after it, the new one);
  2. NAME.onnx is replaced by a copy of the staged file;
  3. registry.json names NAME.onnx again;
  4. the staged file is deleted.

A ship interrupted after step 1 is finished by the next ship (or `--recover`); one interrupted
before it leaves only a staged file, which the next ship deletes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

from export import run_command

MODELS_DIR = Path(__file__).resolve().parent.parent / "transposer" / "runtime" / "models"
REPO = MODELS_DIR.parents[2]
MAX_BYTES = 16 * 1024 * 1024   # the package and the Blender zips carry the model
REGISTRY_FILE = "registry.json"
# Test hook: when set to one of STEPS, the process SIGKILLs itself right after that step, so a
# test can check that a real kill at that point leaves a registry the runtime accepts.
KILL_ENV = "TRANSPOSER_SHIP_KILL_AT"
STEPS = ("staged", "registry-names-staged", "model-replaced", "registry-final")
DESCRIPTION = "Transposer, paper encoder, 2x expansion"   # the registry description by default


def _staged_name(name: str) -> str:
    return f".{name}.staged.onnx"


def _step_done(step: str) -> None:
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


# ---------------------------------------------------------------------------- training record

def _training_history(run: Path) -> list[dict]:
    path = run / "runs.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _base_run(run: Path) -> Path | None:
    """The run folder whose snapshot this run started from (train.init), if it has one."""
    from transposer.train.config import load_config

    config = run / "config.toml"
    init = load_config(config).init if config.is_file() else ""
    if not init:
        return None
    base = Path(init).parent
    return base if (base / "runs.jsonl").is_file() else None


def _lineage(run: Path) -> tuple[list[dict], int]:
    """Every training run behind this snapshot (fine-tuning runs follow train.init back to the
    run they started from) and the total optimizer steps."""
    from transposer.model.snapshot import read_snapshot_metadata

    history, steps, seen = [], 0, set()
    while run is not None and run.resolve() not in seen:
        seen.add(run.resolve())
        history = _training_history(run) + history
        snap = run / "snapshot.safetensors"
        steps += int(read_snapshot_metadata(snap).get("step", 0) or 0) if snap.is_file() else 0
        run = _base_run(run)
    return history, steps


def _display_path(path: Path) -> str:
    """`path` relative to the repository when it lies inside it (the registry is committed)."""
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path.resolve())


# ---------------------------------------------------------------------------- files

def _sha256(path: Path) -> str:
    from transposer.runtime.session import sha256

    return sha256(path)


def _replace_durably(tmp: Path, target: Path) -> None:
    """fsync `tmp`, rename it over `target` (atomic), fsync the folder where the OS allows."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(target.parent, os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_registry(models_dir: Path) -> dict:
    path = models_dir / REGISTRY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _write_registry(models_dir: Path, registry: dict) -> None:
    tmp = models_dir / f".{REGISTRY_FILE}.tmp"
    tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _replace_durably(tmp, models_dir / REGISTRY_FILE)


def verify_model_file(path: Path, sha256: str) -> None:
    """The file the registry is about to name: its sha256 as recorded, and onnxruntime opens it
    with the runtime's inputs and outputs. Raises ValueError otherwise."""
    from transposer.runtime.session import INPUTS, OUTPUTS, import_onnxruntime

    digest = _sha256(path)
    if digest != sha256:
        raise ValueError(f"{path.name} has sha256 {digest[:12]}..., expected {sha256[:12]}...")
    ort = import_onnxruntime()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = tuple(i.name for i in session.get_inputs())
    outputs = tuple(o.name for o in session.get_outputs())
    if inputs != INPUTS or outputs != OUTPUTS:
        raise ValueError(f"{path.name}: inputs {inputs} / outputs {outputs}, the runtime needs "
                         f"{INPUTS} / {OUTPUTS}")


# ---------------------------------------------------------------------------- installing

def install(models_dir: Path, name: str, entry: dict) -> dict:
    """Swap the verified staged file (models_dir/.NAME.staged.onnx, sha256 in entry) in as
    NAME.onnx with `entry` as its registry record; the module docstring gives the steps."""
    staged, final = models_dir / _staged_name(name), models_dir / f"{name}.onnx"
    registry = _read_registry(models_dir)
    registry[name] = {**entry, "file": staged.name}
    _write_registry(models_dir, registry)                      # 1: the commit point
    _step_done("registry-names-staged")
    tmp = models_dir / f".{name}.onnx.tmp"
    shutil.copyfile(staged, tmp)
    _replace_durably(tmp, final)                               # 2
    _step_done("model-replaced")
    if _sha256(final) != entry["sha256"]:
        raise ValueError(f"{final} does not match the staged model after copying (disk error?)")
    registry[name] = {**entry, "file": final.name}
    _write_registry(models_dir, registry)                      # 3
    _step_done("registry-final")
    staged.unlink()                                            # 4
    return registry[name]


def recover(models_dir: Path) -> list[str]:
    """Finish every ship interrupted after its commit point and delete what interrupted ones
    left before it. Returns the names whose install was finished."""
    finished = []
    for name, entry in sorted(_read_registry(models_dir).items()):
        if entry.get("file") == _staged_name(name):
            install(models_dir, name, entry)
            finished.append(name)
    for leftover in models_dir.glob(".*.staged.onnx"):
        leftover.unlink()
    for leftover in models_dir.glob(".*.tmp"):
        leftover.unlink()
    return finished


def ship(run: Path, name: str, provisional: bool, description: str,
         models_dir: Path | None = None) -> dict:
    """Export run/snapshot.safetensors and install it as NAME in models_dir (default: the
    package's); returns the new registry entry."""
    from export.onnx import export
    from transposer.model import load_snapshot

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ValueError(f"--name must be letters, digits, '-' or '_' (it names a file); got {name!r}")
    snapshot = run / "snapshot.safetensors"
    if not snapshot.is_file():
        raise FileNotFoundError(f"no snapshot at {snapshot}")
    models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
    if not models_dir.is_dir():
        raise FileNotFoundError(f"models folder {models_dir} does not exist")
    recover(models_dir)
    model = load_snapshot(snapshot)
    staged = models_dir / _staged_name(name)
    try:
        report = export(model, staged, name=name)
        if report["bytes"] > MAX_BYTES:
            raise ValueError(f"{name}.onnx would be {report['bytes']} bytes, over the {MAX_BYTES} limit")
        verify_model_file(staged, report["sha256"])
    except BaseException:
        staged.unlink(missing_ok=True)     # the shipped model was never touched
        raise
    _step_done("staged")
    history, snapshot_step = _lineage(run)
    entry = {
        "sha256": report["sha256"],
        "bytes": report["bytes"],
        "description": description,
        "provisional": provisional,
        "config": model.config.name,
        "snapshot": _display_path(snapshot),
        "snapshot_sha256": _sha256(snapshot),
        "training": {
            "runs": len(history),
            "steps": snapshot_step,
            "wall_seconds": round(sum(h.get("wall_seconds") or 0 for h in history), 1),
            "devices": sorted({str(h.get("device")) for h in history}),
        },
        "parity": {k: v for k, v in report.items() if k not in ("sha256", "bytes")},
    }
    return install(models_dir, name, entry)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.ship", description=__doc__.split("\n")[0])
    ap.add_argument("--run", help="training run folder (holds snapshot.safetensors)")
    ap.add_argument("--name", default="default", help="registry name (default: default)")
    ap.add_argument("--provisional", action="store_true", help="mark the model provisional")
    ap.add_argument("--description", default=DESCRIPTION, help=f"registry description (default: {DESCRIPTION!r})")
    ap.add_argument("--models-dir", default=None,
                    help="folder holding registry.json (default: the package's transposer/runtime/models)")
    ap.add_argument("--recover", action="store_true",
                    help="only finish or clean up an interrupted ship, then exit")
    args = ap.parse_args(argv)
    models_dir = Path(args.models_dir) if args.models_dir else MODELS_DIR
    if args.recover:
        return run_command(lambda: {"finished": recover(models_dir)})
    if not args.run:
        ap.error("--run is required (or --recover)")
    return run_command(lambda: ship(Path(args.run), args.name, args.provisional, args.description,
                                    models_dir))


if __name__ == "__main__":
    sys.exit(main())
