"""Ship a trained snapshot as a named model inside the package.

    python -m export.ship --run runs/default-cpu [--name default] [--provisional]

Exports RUN/snapshot.safetensors to transposer/runtime/models/NAME.onnx (parity-checked by
export.onnx), copies the snapshot next to it for fine-tuning (models/NAME.safetensors), and records
file, sha256, size and the training history (RUN/runs.jsonl: steps, wall time, device per run;
for a fine-tuning run also the runs behind its train.init snapshot) in
transposer/runtime/models/registry.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from export import run_command

MODELS_DIR = Path(__file__).resolve().parent.parent / "transposer" / "runtime" / "models"
MAX_BYTES = 16 * 1024 * 1024   # the package and the Blender zips carry the model


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


def ship(run: Path, name: str, provisional: bool, description: str) -> dict:
    from export.onnx import export
    from transposer.model import load_snapshot

    snapshot = run / "snapshot.safetensors"
    if not snapshot.is_file():
        raise FileNotFoundError(f"no snapshot at {snapshot}")
    model = load_snapshot(snapshot)
    onnx_path = MODELS_DIR / f"{name}.onnx"
    report = export(model, onnx_path, name=name)
    if report["bytes"] > MAX_BYTES:
        onnx_path.unlink()
        raise ValueError(f"{onnx_path.name} is {report['bytes']} bytes, over the {MAX_BYTES} limit")
    tmp = MODELS_DIR / f".{name}.safetensors.tmp"
    shutil.copyfile(snapshot, tmp)
    tmp.replace(MODELS_DIR / f"{name}.safetensors")
    history, snapshot_step = _lineage(run)
    registry_path = MODELS_DIR / "registry.json"
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
    registry[name] = {
        "file": onnx_path.name,
        "sha256": report["sha256"],
        "bytes": report["bytes"],
        "description": description,
        "provisional": provisional,
        "config": model.config.name,
        "snapshot": f"{name}.safetensors",
        "training": {
            "runs": len(history),
            "steps": snapshot_step,
            "wall_seconds": round(sum(h.get("wall_seconds") or 0 for h in history), 1),
            "devices": sorted({str(h.get("device")) for h in history}),
        },
        "parity": {k: v for k, v in report.items() if k not in ("sha256", "bytes")},
    }
    tmp = registry_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    tmp.replace(registry_path)
    return registry[name]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.ship", description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="training run folder (holds snapshot.safetensors)")
    ap.add_argument("--name", default="default", help="registry name (default: default)")
    ap.add_argument("--provisional", action="store_true", help="mark the model provisional")
    ap.add_argument("--description", default="Transposer, paper encoder, 2x expansion")
    args = ap.parse_args(argv)
    return run_command(lambda: ship(Path(args.run), args.name, args.provisional, args.description))


if __name__ == "__main__":
    sys.exit(main())
