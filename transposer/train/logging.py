"""What a run leaves behind besides weights: metrics.jsonl, TensorBoard, runs.jsonl.

Only rank 0 makes a RunLog. metrics.jsonl has one JSON object per logged step; on resume the
lines past the checkpoint's step are dropped (those steps run again), so the file always reads
as one uninterrupted curve. runs.jsonl gets one line per invocation, so several short runs that
add up to one training are all on record.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from transposer.model.snapshot import write_atomic

METRICS_FILE = "metrics.jsonl"
RUNS_FILE = "runs.jsonl"
TENSORBOARD_DIR = "tensorboard"


class RunLog:
    def __init__(self, run_dir: str | Path, resume_step: int = 0, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / METRICS_FILE
        if resume_step > 0:
            _truncate_after(self.metrics_path, resume_step)
        self._metrics = open(self.metrics_path, "a", encoding="utf-8")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:    # tensorboard is optional; metrics.jsonl is the record
                SummaryWriter = None
            if SummaryWriter is not None:
                # purge_step hides events past the checkpoint, written by the interrupted run.
                self.tb = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR),
                                        purge_step=resume_step if resume_step > 0 else None)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, **values}
        self._metrics.write(json.dumps(record) + "\n")
        self._metrics.flush()
        if self.tb is not None:
            for key, value in values.items():
                if key != "wall_time":
                    self.tb.add_scalar(key if "/" in key else f"train/{key}", value, step)

    def images(self, step: int, x: torch.Tensor, out: torch.Tensor, target: torch.Tensor,
               max_items: int = 4) -> None:
        """Grid rows of input (centred on a grey canvas of the output's size) | output | target."""
        if self.tb is None:
            return
        from torchvision.utils import make_grid

        n = min(max_items, x.shape[0])
        x, out, target = (t[:n].detach().float().cpu().clamp(0, 1) for t in (x, out, target))
        canvas = torch.full_like(target, 0.5)
        h, w = x.shape[-2:]
        top, left = (target.shape[-2] - h) // 2, (target.shape[-1] - w) // 2
        canvas[..., top:top + h, left:left + w] = x
        rows = torch.stack([canvas, out, target], dim=1).flatten(0, 1)   # (3n, 3, H, W)
        self.tb.add_image("samples/input|output|target", make_grid(rows, nrow=3, padding=2), step)

    def close(self) -> None:
        self._metrics.close()
        if self.tb is not None:
            self.tb.close()


def _truncate_after(path: Path, step: int) -> None:
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:   # a line torn by a kill: drop it
            continue
    text = "".join(line + "\n" for line in kept)
    write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def git_commit() -> str | None:
    """Commit of the source tree this code runs from (+ '-dirty' with local changes), or None."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def append_run_record(run_dir: str | Path, record: dict) -> None:
    """One line per invocation; appended with a single write so concurrent readers see whole lines."""
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record,
                       "argv": sys.argv, "pid": os.getpid()}) + "\n"
    with open(Path(run_dir) / RUNS_FILE, "a", encoding="utf-8") as f:
        f.write(line)
