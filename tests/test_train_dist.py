"""Two CPU processes (gloo) through the same entry point torchrun uses: DDP keeps the ranks in
step, a NaN on one rank makes both skip, and only rank 0 writes the run folder."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

from transposer.train.checkpoint import load_state
from transposer.train.config import dump_config, load_config
from transposer.train.logging import read_metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, run: str, cfg_path: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import transposer.losses
    from transposer.commands.train import run_training
    from transposer.train.trainer import Trainer

    real = transposer.losses.build_criterion
    if rank == 1:        # this rank alone sees a NaN loss at its 2nd step
        class NaNOnce(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner, self.calls, self.discriminator = inner, 0, None

            def forward(self, *args):
                self.calls += 1
                total, terms = self.inner(*args)
                return (total * float("nan") if self.calls == 2 else total), terms
        transposer.losses.build_criterion = lambda cfg: NaNOnce(real(cfg))

    seen = {}
    fit = Trainer.fit

    def keep(self, *a, **k):
        seen["trainer"] = self
        return fit(self, *a, **k)
    Trainer.fit = keep
    status = run_training(run, cfg_path, max_steps=4, device="cpu", threads=1, progress=False)
    t = seen["trainer"]
    torch.save({"status": status, "model": t.model.state_dict(), "skipped": t.skipped_steps},
               os.path.join(out, f"rank{rank}.pt"))


def test_two_process_gloo_run(tmp_path):
    cfg = load_config("tiny")
    cfg.batch_size, cfg.log_every, cfg.num_workers = 4, 1, 0
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(dump_config(cfg))
    run = tmp_path / "run"
    ctx = mp.start_processes(_rank_main, args=(2, _free_port(), str(run), str(cfg_path), str(tmp_path)),
                             nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + 150
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            raise AssertionError("the 2-process run hung")

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["status"] for r in ranks] == ["max_steps", "max_steps"]
    assert [r["skipped"] for r in ranks] == [1, 1]          # both skipped rank 1's NaN step
    for k, v in ranks[0]["model"].items():                  # DDP kept the replicas identical
        assert torch.equal(v, ranks[1]["model"][k]), k
    state = load_state(run)
    assert state["step"] == 4 and state["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
    for k, v in state["model"].items():
        assert torch.equal(v, ranks[0]["model"][k]), k
    # written once: one invocation record, each logged step once, no stray files
    assert len((run / "runs.jsonl").read_text().splitlines()) == 1
    assert json.loads((run / "runs.jsonl").read_text())["processes"] == 2
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3, 4]
    assert sorted(p.name for p in Path(run).iterdir()) == [
        "config.toml", "metrics.jsonl", "runs.jsonl", "snapshot.safetensors", "state.pt", "tensorboard"]
    assert len(list((run / "tensorboard").iterdir())) == 1
