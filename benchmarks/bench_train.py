"""Training throughput: samples/s and peak memory of Trainer.train_step, printed as JSON.

    python benchmarks/bench_train.py                          # default config, 128 -> 256, batch 32
    python benchmarks/bench_train.py --device cpu --batch-size 2 --steps 3 --warmup 1
    python benchmarks/bench_train.py --config tiny --size 16 --compile
    python benchmarks/bench_train.py --random-vgg              # no VGG weights file at hand

The steps run on a few pre-built batches (cycled), so the number is the model + losses +
optimizer cost alone; `--loader-batches N` also times the real input pipeline (procedural
textures, `num_workers` processes) to show whether it can keep up.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default", help="config name or .toml path (default: default)")
    ap.add_argument("--size", type=int, default=128, help="input size; the target is twice (default 128)")
    ap.add_argument("--batch-size", type=int, default=32, help="batch (default 32)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--precision", choices=["bf16", "fp16", "fp32"], default=None,
                    help="override train.precision (CUDA only)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--loader-batches", type=int, default=0,
                    help="also time this many batches of the real DataLoader (default 0 = skip)")
    ap.add_argument("--num-workers", type=int, default=None, help="override train.num_workers")
    ap.add_argument("--random-vgg", action="store_true",
                    help="VGG-19 loss network with random weights: the same cost as the real one, for "
                         "machines without the 80 MB weights file (the losses' values mean nothing)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.out and not Path(args.out).resolve().parent.is_dir():
        ap.error(f"--out folder {Path(args.out).resolve().parent} does not exist")
    return args


def _use_random_vgg() -> None:
    """The losses build their VGG through vgg.load_vgg19_features at Trainer construction; this
    one has the same layers and FLOPs, with random weights."""
    import transposer.model.vgg as vgg

    def random_vgg(weights=None, last_layer="relu5_1", outputs=None):
        net = vgg.VGGFeatures(last_layer, outputs)
        net.source = "random weights (--random-vgg)"
        return net

    vgg.load_vgg19_features = random_vgg


def _bench_config(args):
    """The named config on procedural data only, at the benchmark's size, batch and overrides."""
    from transposer.train.config import load_config

    cfg = load_config(args.config)
    cfg.data = dataclasses.replace(cfg.data, crop_size=2 * args.size, procedural_weight=1.0,
                                   folders=[], dtd=False,
                                   samples_per_epoch=max(cfg.data.samples_per_epoch, args.batch_size))
    cfg.batch_size = args.batch_size
    if args.precision:
        cfg.precision = args.precision
    if args.num_workers is not None:
        cfg.num_workers = args.num_workers
    return cfg


def _prebuilt_batches(trainer, args) -> list:
    import torch

    ds = trainer.data
    n_batches = min(4, args.steps + args.warmup)
    return [torch.utils.data.default_collate([ds[b * args.batch_size + i] for i in range(args.batch_size)])
            for b in range(n_batches)]


def _time_steps(trainer, batches, args, device) -> tuple[float, float, dict | None]:
    """(warm-up seconds, seconds of the timed steps, the last step's losses); the peak memory
    counter starts after the warm-up."""
    import torch

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    t0 = time.perf_counter()
    for i in range(args.warmup):
        trainer.train_step(batches[i % len(batches)])
    sync()
    warmup_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    last = None
    t0 = time.perf_counter()
    for i in range(args.steps):
        last, _ = trainer.train_step(batches[(args.warmup + i) % len(batches)])
    sync()
    return warmup_s, time.perf_counter() - t0, last


def _result(args, cfg, trainer, device, warmup_s: float, seconds: float, last: dict | None) -> dict:
    import torch

    result = {
        "benchmark": "train_step",
        "config": args.config,
        "input": [args.size, args.size],
        "target": [2 * args.size, 2 * args.size],
        "batch_size": args.batch_size,
        "steps": args.steps,
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"),
        "precision": cfg.precision if device.type == "cuda" else "fp32",
        "compile": args.compile,
        "vgg_weights": "random (timing only)" if args.random_vgg else "real",
        "samples_per_s": round(args.steps * args.batch_size / seconds, 2),
        "step_ms": round(1000 * seconds / max(args.steps, 1), 2),
        "warmup_s": round(warmup_s, 2),
        "skipped_steps": trainer.skipped_steps,
        "losses": {k: round(float(v), 5) for k, v in (last or {}).items()
                   if isinstance(v, torch.Tensor) and v.ndim == 0},
        "loss_weights": {k: v for k, v in dataclasses.asdict(cfg.loss).items()
                         if isinstance(v, float) and v},
        "parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    else:   # ru_maxrss is KiB on Linux: the whole process, model and data included
        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return result


def _time_loader(trainer, cfg, args) -> dict:
    """The real input pipeline (procedural textures, num_workers processes) for a few batches."""
    loader = trainer._epoch_loader(0, 0)
    t0, n = time.perf_counter(), 0
    for n, _ in enumerate(loader, 1):
        if n >= args.loader_batches:
            break
    return {"num_workers": cfg.num_workers, "batches": n,
            "samples_per_s": round(n * args.batch_size / (time.perf_counter() - t0), 2)}


def main(argv=None) -> dict:
    args = _parse_args(argv)

    import torch

    from transposer.train.distributed import DistInfo, resolve_device
    from transposer.train.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.random_vgg:
        _use_random_vgg()
    device = resolve_device(args.device)
    cfg = _bench_config(args)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, DistInfo(device=device), compile=args.compile,
                          tensorboard=False, progress=False)
        warmup_s, seconds, last = _time_steps(trainer, _prebuilt_batches(trainer, args), args, device)
        result = _result(args, cfg, trainer, device, warmup_s, seconds, last)
        if args.loader_batches:
            result["loader"] = _time_loader(trainer, cfg, args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:   # as bench_model.py: whole or not at all
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    return result


if __name__ == "__main__":
    main()
