"""Resume state (`state.pt`) and the RNG bookkeeping that makes a resumed run exact.

`state.pt` holds what continuing needs and inference does not: generator, EMA and discriminator
weights, both optimizers, both GradScalers, the step, the data position, counters and the RNG
state of every rank. It is written atomically (temp file + rename, see model/snapshot.py) and
read with `weights_only=True`, so loading a checkpoint never runs pickled code; that is why
numpy's RNG state is stored as a tensor rather than as the ndarray numpy hands out.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from transposer.model.snapshot import write_atomic

STATE_FILE = "state.pt"
SNAPSHOT_FILE = "snapshot.safetensors"
CONFIG_FILE = "config.toml"
STATE_VERSION = 1


class CheckpointError(RuntimeError):
    """A resume state that cannot be used (missing, torn, another format)."""


def capture_rng(device: torch.device) -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict, device: torch.device) -> None:
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _as_tuples(x):
    # random.setstate wants the nested tuples it produced; a checkpoint may hand back lists.
    return tuple(_as_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_state(run_dir: str | Path, state: dict) -> Path:
    path = Path(run_dir) / STATE_FILE
    payload = dict(state, version=STATE_VERSION)
    write_atomic(path, lambda tmp: torch.save(payload, tmp))
    return path


def load_state(run_dir: str | Path) -> dict:
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torn or foreign file: say which file, not a traceback
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path} is not a transposer resume state (version {STATE_VERSION})")
    return state
