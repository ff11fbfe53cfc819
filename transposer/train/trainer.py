"""The training loop: one Trainer per process, DDP when launched by torchrun.

One step = one batch: forward (bf16 autocast on CUDA), the criterion, a discriminator hinge step
when the config has an adversarial weight, EMA update. A step whose loss is not finite is
skipped (no optimizer step) but still consumes its batch, so the data order and the learning
rate stay a function of the step alone; that, plus saving every RNG, is what makes
"interrupted + resumed" equal "uninterrupted".
"""
from __future__ import annotations

import copy
import math
import os
import random
import signal
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from transposer.model.snapshot import save_snapshot, write_atomic
from transposer.runtime.files import stale_temps

from .checkpoint import (CONFIG_FILE, SNAPSHOT_FILE, STATE_FILE, capture_rng, load_state, restore_rng,
                         save_state)
from .config import TrainConfig, dump_config
from .distributed import (DistInfo, all_gather_objects, all_reduce_, average_gradients_, barrier,
                          broadcast_module_)
from .logging import RunLog, append_run_record, git_commit


class TrainingAborted(RuntimeError):
    """The run cannot go on (e.g. losses keep being NaN); the message is one line for the user."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class SeededItems(Dataset):
    """dataset[i] with the global RNGs seeded from (seed, epoch, i) and restored afterwards.

    Data augmentation then depends only on which item is drawn in which epoch, not on which
    worker process draws it or on what the training step consumed before: the same batches come
    back after a resume with any num_workers, and the training RNG stream is left untouched.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        s = hash((self.seed, self.epoch, int(index))) % 2**62
        saved = random.getstate(), np.random.get_state(), torch.default_generator.get_state()
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.default_generator.manual_seed(s)   # CPU only: never touch the CUDA training RNG
        try:
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.default_generator.set_state(saved[2])


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C / SIGTERM to the main process, which saves and shuts them
    down; a worker killed by the signal would make the last batch fetch fail instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, dist: DistInfo | None = None, *,
                 resume: bool = False, compile: bool = False, model: nn.Module | None = None,
                 criterion: nn.Module | None = None, dataset: Dataset | None = None,
                 tensorboard: bool = True, progress: bool = True):
        """`model`, `criterion` and `dataset` default to the ones the config describes; tests and
        benchmarks pass their own. The steps run in this order on purpose: the RNG draws of
        building, and the seeding after it, are what makes runs (and resumed runs) repeatable."""
        self.cfg = cfg.validate()
        self.run_dir = Path(run_dir)
        self.dist = dist or DistInfo()
        self.device = self.dist.device
        self.progress, self.tensorboard = progress, tensorboard
        self._plan_batches()
        model, criterion, dataset = self._build_parts(model, criterion, dataset)
        self._prepare_weights(model, resume)
        self._place(model, criterion, dataset)
        self._make_optimizers()
        self._reset_counters()
        if resume:
            self._resume()
        elif self.dist.is_main:
            self._write_config()
        if self.disc is not None:
            broadcast_module_(self.disc, self.dist)
        self._wrap_for_forward(compile)
        self._seed_training_rng()

    # ------------------------------------------------------------------------------------------
    # the steps of __init__

    def _plan_batches(self) -> None:
        cfg = self.cfg
        self.world = self.dist.world_size
        if cfg.batch_size % self.world:
            raise ValueError(f"train.batch_size ({cfg.batch_size}) must be divisible by the number of "
                             f"processes ({self.world})")
        self.local_batch = cfg.batch_size // self.world
        self.steps_per_epoch = cfg.steps_per_epoch()
        self.total_steps = cfg.total_steps()

    def _build_parts(self, model, criterion, dataset):
        """The model, criterion and dataset the config describes (unless given), and an epoch no
        longer than the dataset allows."""
        cfg = self.cfg
        # Same seed on every rank before building: identical initial weights everywhere.
        seed_everything(cfg.seed)
        if model is None:
            from transposer.model import build_model
            model = build_model(cfg.model)
        if criterion is None:
            from transposer.losses import build_criterion
            criterion = build_criterion(cfg.loss)
        if dataset is None:
            from transposer.data import build_dataset
            dataset = build_dataset(cfg.data, seed=cfg.seed)
        if len(dataset) < cfg.batch_size:
            raise ValueError(f"the dataset has {len(dataset)} samples, fewer than train.batch_size "
                             f"({cfg.batch_size})")
        self.steps_per_epoch = min(self.steps_per_epoch, len(dataset) // cfg.batch_size)
        return model, criterion, dataset

    def _prepare_weights(self, model: nn.Module, resume: bool) -> None:
        """train.init (a new run only: a resumed run's state.pt rules) and train.freeze."""
        cfg = self.cfg
        if cfg.init and not resume:
            _load_init(model, cfg)
        if cfg.freeze:
            frozen = [p for n, p in model.named_parameters() if n.startswith(tuple(cfg.freeze))]
            if not frozen:
                raise ValueError(f"train.freeze {list(cfg.freeze)} matches no parameter of the model")
            for p in frozen:
                p.requires_grad_(False)

    def _place(self, model: nn.Module, criterion: nn.Module, dataset: Dataset) -> None:
        """Model and criterion on the device, the EMA copy, the seeded dataset."""
        self.model = model.to(self.device)
        self.criterion = criterion.to(self.device)
        self.disc = getattr(criterion, "discriminator", None)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.data = SeededItems(dataset, self.cfg.seed)
        # Frozen parameters (a VGG encoder) never change: only trained ones are averaged.
        pairs = [(e, p) for e, p in zip(self.ema.parameters(), self.model.parameters())
                 if p.requires_grad]
        self._ema_pairs = ([e for e, _ in pairs], [p for _, p in pairs])

    def _make_optimizers(self) -> None:
        """Optimizers of the generator and discriminator, autocast dtype and grad scalers."""
        cfg = self.cfg
        self.gen_params = [p for p in self.model.parameters() if p.requires_grad]
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.opt = opt_cls(self.gen_params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.d_opt = (torch.optim.Adam(self.disc.parameters(), lr=cfg.disc_lr, betas=cfg.disc_betas)
                      if self.disc is not None else None)
        cuda = self.device.type == "cuda"
        self.amp_dtype = ({"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
                          if cuda else None)
        # GradScaler only matters for fp16; disabled scalers still save/load their (empty) state.
        fp16 = self.amp_dtype is torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.d_scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)

    def _reset_counters(self) -> None:
        self.step = 0
        self.skipped_steps = 0
        self.bad_in_row = 0
        self.train_seconds = 0.0          # summed over every invocation of this run
        self._stop_reason: str | None = None
        self._acc: dict[str, torch.Tensor] = {}
        self._acc_steps = 0
        self._rng_to_restore = None

    def _resume(self) -> None:
        self._load(load_state(self.run_dir))
        if self.dist.is_main:   # temp files of a save that was killed half-way
            for name in (STATE_FILE, SNAPSHOT_FILE, CONFIG_FILE):
                for stale in stale_temps(self.run_dir / name):
                    stale.unlink(missing_ok=True)

    def _write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = dump_config(self.cfg, header="Resolved config of this run (written by transposer train).")
        write_atomic(self.run_dir / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))

    def _wrap_for_forward(self, compile: bool) -> None:
        """The module the training step calls: DDP across processes, torch.compile on request."""
        self.forward_model: nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP
            cuda = self.device.type == "cuda"
            self.forward_model = DDP(self.model, device_ids=[self.device.index] if cuda else None)
        if compile:
            self.forward_model = torch.compile(self.forward_model)

    def _seed_training_rng(self) -> None:
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore, self.device)
        else:   # distinct streams per rank from here on (losses draw random projections)
            seed_everything(self.cfg.seed + 7919 * (self.dist.rank + 1))

    # ------------------------------------------------------------------------------------------
    # data

    def _epoch_loader(self, epoch: int, start_batch: int) -> DataLoader:
        sampler = DistributedSampler(self.data, num_replicas=self.world, rank=self.dist.rank,
                                     shuffle=True, seed=self.cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
        b = self.local_batch
        indices = list(sampler)[start_batch * b: self.steps_per_epoch * b]
        self.data.epoch = epoch
        if hasattr(self.data.dataset, "set_epoch"):
            self.data.dataset.set_epoch(epoch)
        # An explicit generator: the loader would otherwise draw its worker seed from the global
        # RNG when iterated, at a different moment in a resumed run than in an uninterrupted one.
        gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        # No more workers than this process's share of the CPUs (more only thrash); items do not
        # depend on the worker count, so this changes speed, never results.
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = min(self.cfg.num_workers, max(1, cpus // self.world))
        return DataLoader(self.data, batch_size=b, sampler=indices, num_workers=workers,
                          drop_last=True, generator=gen, pin_memory=self.device.type == "cuda",
                          persistent_workers=False, prefetch_factor=4 if workers else None,
                          worker_init_fn=_ignore_stop_signals if workers else None)

    def _batches(self):
        while True:
            epoch, start = divmod(self.step, self.steps_per_epoch)
            yield from self._epoch_loader(epoch, start)

    # ------------------------------------------------------------------------------------------
    # one step

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _set_lr(self) -> float:
        lr = self.cfg.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        if self.d_opt is not None:
            for group in self.d_opt.param_groups:
                group["lr"] = self.cfg.disc_lr * lr / self.cfg.lr   # same schedule shape
        return lr

    def train_step(self, batch: dict, want_stop: bool = False) -> tuple[dict | None, bool]:
        """Run one step on `batch`. Returns (the step's tensors or None if skipped, stop), where
        stop is True when any rank asked to stop (every rank must stop at the same step)."""
        x = batch["input"].to(self.device, non_blocking=True)     # (B, 3, S/2, S/2)
        y = batch["target"].to(self.device, non_blocking=True)    # (B, 3, S, S)
        lr = self._set_lr()
        self.model.train()
        disc = self.disc
        if disc is not None:
            disc.requires_grad_(False)    # the generator's adversarial term must not train D
        with self._autocast():
            out = self.forward_model(x)                            # (B, 3, S, S)
            total, terms = self.criterion(out, y, x)
        d_loss = None
        if disc is not None:
            disc.requires_grad_(True)
            with self._autocast():
                d_loss = self.criterion.discriminator_loss(out.detach(), y)

        # One collective per step: did any rank see a non-finite loss, does any rank want to stop.
        bad = ~torch.isfinite(total.detach().float())
        if d_loss is not None:
            bad = bad | ~torch.isfinite(d_loss.detach().float())
        flags = torch.stack([bad.float(), torch.tensor(float(want_stop), device=bad.device)])
        bad_any, stop_any = (v > 0 for v in all_reduce_(flags, self.dist, "max").tolist())
        self.step += 1
        if bad_any:
            return self._skip(total, terms), stop_any

        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.opt)
        gnorm = torch.nn.utils.clip_grad_norm_(self.gen_params, self.cfg.grad_clip or math.inf)
        if not self.scaler.is_enabled() and not torch.isfinite(gnorm):
            return self._skip(total, terms), stop_any       # DDP averaged grads: same on all ranks
        self.scaler.step(self.opt)
        self.scaler.update()
        self._update_ema()

        if disc is not None:
            self.d_opt.zero_grad(set_to_none=True)
            self.d_scaler.scale(d_loss).backward()
            average_gradients_(disc.parameters(), self.dist)
            self.d_scaler.step(self.d_opt)
            self.d_scaler.update()
        self.bad_in_row = 0

        values = {"loss": total.detach(), **{k: v.detach() for k, v in terms.items()},
                  "grad_norm": gnorm.detach()}
        if d_loss is not None:
            values["d_loss"] = d_loss.detach()
        self._accumulate(values)
        return {"lr": lr, "input": x, "output": out.detach(), "target": y, **values}, stop_any

    def _skip(self, total, terms) -> None:
        self.skipped_steps += 1
        self.bad_in_row += 1
        if self.bad_in_row >= self.cfg.max_bad_steps:
            shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in {"loss": total, **terms}.items())
            raise TrainingAborted(
                f"training aborted at step {self.step}: {self.bad_in_row} non-finite losses in a row "
                f"(train.max_bad_steps = {self.cfg.max_bad_steps}; last: {shown}); lower train.lr or "
                f"check the data")
        return None

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Short warm-up of the decay so early snapshots are not dominated by the random init.
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        torch._foreach_lerp_(self._ema_pairs[0], self._ema_pairs[1], 1.0 - decay)
        for eb, b in zip(self.ema.buffers(), self.model.buffers()):
            eb.copy_(b)

    def _accumulate(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():    # kept on the device: no sync until the log step
            v = v.float()
            self._acc[k] = self._acc[k] + v if k in self._acc else v
        self._acc_steps += 1

    def _take_means(self) -> dict[str, float]:
        if not self._acc_steps:
            return {}
        keys = sorted(self._acc)
        stacked = torch.stack([self._acc[k] for k in keys]) / self._acc_steps
        means = all_reduce_(stacked, self.dist, "mean").tolist()
        self._acc, self._acc_steps = {}, 0
        return dict(zip(keys, means))

    # ------------------------------------------------------------------------------------------
    # state

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "batch_in_epoch": self.step % self.steps_per_epoch,
            "skipped_steps": self.skipped_steps,
            "bad_in_row": self.bad_in_row,
            "train_seconds": self.train_seconds,
            "world_size": self.world,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "discriminator": self.disc.state_dict() if self.disc is not None else None,
            "disc_optimizer": self.d_opt.state_dict() if self.d_opt is not None else None,
            "disc_scaler": self.d_scaler.state_dict(),
            "lr": self.cfg.lr_at(self.step),
            "config": dump_config(self.cfg),
        }

    def _load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.d_scaler.load_state_dict(state["disc_scaler"])
        if (state["discriminator"] is None) != (self.disc is None):
            raise ValueError("the checkpoint and the config disagree on the discriminator "
                             "(loss.adversarial)")
        if self.disc is not None:
            self.disc.load_state_dict(state["discriminator"])
            self.d_opt.load_state_dict(state["disc_optimizer"])
        self.step = int(state["step"])
        self.skipped_steps = int(state["skipped_steps"])
        self.bad_in_row = int(state["bad_in_row"])
        self.train_seconds = float(state["train_seconds"])
        rngs = state["rng"]
        if state["world_size"] != self.world and self.dist.is_main:
            print(f"warning: resuming a {state['world_size']}-process run with {self.world} "
                  "processes: data order and randomness will differ from an uninterrupted run",
                  file=sys.stderr)
        if self.dist.rank < len(rngs):
            self._rng_to_restore = rngs[self.dist.rank]

    def save(self) -> None:
        """state.pt + snapshot.safetensors, atomically, by rank 0 (every rank must call this)."""
        rngs = all_gather_objects(capture_rng(self.device), self.dist)
        if self.dist.is_main:
            save_state(self.run_dir, {**self.state_dict(), "rng": rngs})
            save_snapshot(self.run_dir / SNAPSHOT_FILE, self.ema, self.cfg.model,
                          metadata={"step": self.step, "weights": "ema"})
        barrier(self.dist)

    # ------------------------------------------------------------------------------------------
    # the loop

    def _on_signal(self, signum, frame) -> None:
        if self._stop_reason is not None and self._stop_reason.startswith("signal"):
            raise KeyboardInterrupt   # second signal: the user insists, stop without saving
        self._stop_reason = f"signal {signal.Signals(signum).name}"

    def fit(self, max_steps: int | None = None, deadline: float | None = None) -> str:
        """Train until the end of the schedule, `max_steps` (an absolute step), a signal, or the
        `deadline` (time.monotonic() value). Saves before returning; returns why it stopped."""
        stop_at = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        start_step = self.step
        t_invocation = t_start = time.monotonic()
        log = RunLog(self.run_dir, self.step, self.tensorboard) if self.dist.is_main else None
        bar = None
        if self.progress and self.dist.is_main:
            from tqdm import tqdm
            bar = tqdm(total=stop_at, initial=self.step, unit="step", dynamic_ncols=True)
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        status = "error"
        step_seconds, save_seconds, t_log, steps_logged = 0.0, 0.0, time.monotonic(), 0
        try:
            if self.step >= stop_at:
                status = "finished" if self.step >= self.total_steps else "max_steps"
                return status
            for batch in self._batches():
                t0 = time.monotonic()
                want_stop = self._stop_reason is not None
                if deadline is not None and t0 + 1.5 * step_seconds + save_seconds > deadline:
                    want_stop, self._stop_reason = True, self._stop_reason or "time_budget"
                result, stop = self.train_step(batch, want_stop)
                # Alone, a process can stop right after the step it was signalled in; under DDP
                # the ranks agree one step later, through the flags of train_step.
                stop = stop or (not self.dist.enabled and self._stop_reason is not None)
                step_seconds = time.monotonic() - t0
                steps_logged += 1
                if bar is not None:
                    bar.update(1)
                if self.step % self.cfg.log_every == 0 or stop or self.step >= stop_at:
                    self._log(log, bar, steps_logged, time.monotonic() - t_log,
                              self.train_seconds + time.monotonic() - t_start)
                    t_log, steps_logged = time.monotonic(), 0
                if log is not None and result is not None and self.step % self.cfg.image_every == 0:
                    log.images(self.step, result["input"], result["output"], result["target"])
                done = self.step >= stop_at
                if self.step % self.cfg.save_every == 0 or stop or done:
                    t_save = time.monotonic()
                    self.train_seconds += time.monotonic() - t_start
                    t_start = time.monotonic()
                    self.save()
                    save_seconds = time.monotonic() - t_save
                if stop or done:
                    status = ((self._stop_reason or "stopped by another process") if stop
                              else "finished" if self.step >= self.total_steps else "max_steps")
                    return status
        except TrainingAborted:
            status = "aborted"
            raise
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
                append_run_record(self.run_dir, {
                    "status": status, "start_step": start_step, "end_step": self.step,
                    "wall_seconds": round(time.monotonic() - t_invocation, 3),
                    "device": _device_name(self.device), "processes": self.world,
                    "git_commit": git_commit(),
                })
        return status

    def _log(self, log: RunLog | None, bar, steps: int, seconds: float, wall: float) -> None:
        means = self._take_means()
        if log is None:
            return
        record = {**means, "lr": self.cfg.lr_at(self.step - 1),
                  "samples_per_s": steps * self.cfg.batch_size / max(seconds, 1e-9),
                  "skipped_steps": self.skipped_steps, "wall_time": wall}
        log.scalars(self.step, record)
        if bar is not None and "loss" in means:
            bar.set_postfix(loss=f"{means['loss']:.4f}", refresh=False)


def _load_init(model: nn.Module, cfg: TrainConfig) -> None:
    """Start from a snapshot's weights (fine-tuning): its architecture must be the config's."""
    from transposer.model import load_snapshot

    try:
        source = load_snapshot(cfg.init)
    except Exception as exc:
        raise ValueError(f"train.init: cannot load snapshot {cfg.init}: {type(exc).__name__}: {exc}") from None
    mine, theirs = model.state_dict(), source.state_dict()
    if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
        raise ValueError(f"train.init: {cfg.init} holds another architecture than model "
                         f"{cfg.model.name!r} of this config")
    model.load_state_dict(theirs)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
