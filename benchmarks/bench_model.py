"""Network benchmark: PyTorch forward time and peak memory of the Transposer, FFT vs direct ops.

    python benchmarks/bench_model.py                                  # default model, 128..1024, cpu (+cuda)
    python benchmarks/bench_model.py --sizes 128 256 512 --direct-max-size 256 --out benchmarks/results/x.json
    python benchmarks/bench_model.py --device cuda --model tiny --impl fft

Each case (device, impl, size) runs in its own subprocess, so its memory is its own: on CPU the
peak resident set during the timed forwards minus the resident set before them (Linux VmHWM, reset
through /proc/self/clear_refs; ru_maxrss when that is refused), on CUDA
torch.cuda.max_memory_allocated minus the memory allocated before them. Time: the median of the
timed forwards (batch 1, no_grad, eval; at least --repeat, more until --min-seconds) after one
warm-up forward of the same size; the fastest run is reported too (the least disturbed by other
work on a shared machine).

impl "direct" swaps the model's two core operations (self_similarity, transposed_expand) for their
O(N^2) convolution references -- the model is not changed; "core_seconds" is the time spent
inside those two operations during one forward. A direct case above --direct-max-size is not run,
and a case that runs past --case-timeout is stopped; both are listed with the reason, and the same
impl/device is not tried at larger sizes. Prints one JSON object (and writes it to --out).
Never run by the test suite.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ child process

def _rss_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0           # kB -> MiB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(args) -> dict:
    import functools
    import resource

    import torch
    import torch.nn.functional as F

    from transposer.model import build_model
    from transposer.model import network
    from transposer.ops import self_similarity, transposed_expand

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = build_model(args.model).eval().to(device)

    # Swap (and time) the model's core operations. network imported them by name.
    core = {"seconds": 0.0, "on": False}

    def timed(fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            if not core["on"]:
                return fn(*a, impl=args.impl, **k)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = fn(*a, impl=args.impl, **k)
            if device.type == "cuda":
                torch.cuda.synchronize()
            core["seconds"] += time.perf_counter() - start
            return out
        return wrapper

    network.self_similarity = timed(self_similarity)
    network.transposed_expand = timed(transposed_expand)

    g = torch.Generator().manual_seed(0)
    n = args.size
    # a smooth random texture (content does not change the cost, but keep it honest)
    x = F.interpolate(torch.rand(1, 3, n // 8 + 2, n // 8 + 2, generator=g), size=(n, n),
                      mode="bicubic", align_corners=False).clamp(0, 1).to(device)

    def forward():
        with torch.no_grad():
            y = net(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return y

    if device.type == "cuda":
        torch.cuda.synchronize()
        base_mb = torch.cuda.memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    else:
        base_mb = _rss_mib("VmRSS")
        hwm_reset = _reset_peak_rss()

    start = time.perf_counter()
    y = forward()                                              # warm-up (plans, allocator, caches)
    warmup = time.perf_counter() - start
    del y
    # At least --repeat timed forwards, more (up to 50) until they add up to --min-seconds, so a
    # load spike on a shared machine moves the median little; fewer when one forward is slow
    # (the direct ops), to stay within --case-seconds.
    most = max(1, min(50, int(args.case_seconds // max(warmup, 1e-6))))
    least = min(args.repeat, most)
    times = []
    core["on"] = device.type == "cpu"                          # on CPU the timers cost nothing
    core["seconds"] = 0.0
    while len(times) < least or (sum(times) < args.min_seconds and len(times) < most):
        start = time.perf_counter()
        y = forward()
        times.append(time.perf_counter() - start)
        del y
    core_seconds = core["seconds"] / len(times) if device.type == "cpu" else None

    result = {"device": args.device, "impl": args.impl, "input": n, "output": 2 * n,
              "seconds_median": round(statistics.median(times), 4), "seconds_min": round(min(times), 4),
              "runs": len(times), "warmup_seconds": round(warmup, 4)}
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        result["peak_allocated_mb"] = round(peak, 1)
        result["peak_delta_mb"] = round(peak - base_mb, 1)
        core["on"], core["seconds"] = True, 0.0                # one extra run, synchronised timers
        forward()
        core_seconds = core["seconds"]
    else:
        if hwm_reset:
            peak = _rss_mib("VmHWM")
            result["peak_rss_mb"] = round(peak, 1)
            result["peak_rss_delta_mb"] = round(peak - base_mb, 1)
        else:  # ru_maxrss includes the import peak: an upper bound
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            result["peak_rss_mb"] = round(peak, 1)
            result["peak_rss_delta_mb_upper_bound"] = round(peak - base_mb, 1)
    result["core_seconds"] = round(core_seconds, 4)
    result["core_share"] = round(core_seconds / statistics.median(times), 3)
    return result


# ------------------------------------------------------------------------------------- parent

def machine(devices: list[str]) -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_default_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if "cuda" in devices:
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def _git_state() -> str | None:
    """The commit measured, with "+dirty" when the model's own files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "transposer/model", "transposer/ops"],
                               cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def run_case(args, device: str, impl: str, size: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--device", device, "--impl", impl,
           "--sizes", str(size), "--model", args.model, "--repeat", str(args.repeat),
           "--case-seconds", str(args.case_seconds), "--min-seconds", str(args.min_seconds)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.case_timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"device": device, "impl": impl, "input": size,
                "skipped": f"ran past --case-timeout {args.case_timeout} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"device": device, "impl": impl, "input": size, "failed": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024],
                    help="input sides (square, multiples of 8; default 128 256 512 1024)")
    ap.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                    help="all: cpu, and cuda when present (default all)")
    ap.add_argument("--model", default="default", help="model preset (default: default)")
    ap.add_argument("--impl", nargs="+", choices=("fft", "direct"), default=["fft", "direct"])
    ap.add_argument("--repeat", type=int, default=3, help="timed forwards per case, 1-50 (default 3)")
    ap.add_argument("--case-seconds", type=float, default=60.0,
                    help="fewer timed forwards when they would take longer than this (default 60)")
    ap.add_argument("--min-seconds", type=float, default=2.0,
                    help="more timed forwards (up to 50) until they add up to this (default 2)")
    ap.add_argument("--case-timeout", type=float, default=300.0,
                    help="stop a case after this many seconds, warm-up included (default 300)")
    ap.add_argument("--direct-max-size", type=int, default=512,
                    help="largest input run with the direct ops (default 512)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--note", action="append", default=[], help="free text recorded in the JSON (repeatable)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    bad = [s for s in args.sizes if s < 16 or s % 8]
    if bad:
        ap.error(f"--sizes must be multiples of 8 and at least 16, got {bad}")
    if not 1 <= args.repeat <= 50:
        ap.error(f"--repeat must be in [1, 50], got {args.repeat}")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        ap.error(f"--out folder {Path(args.out).resolve().parent} does not exist")

    if args.child:
        args.size, args.impl = args.sizes[0], args.impl[0]
        print(json.dumps(child(args)))
        return 0

    import torch

    from transposer.model import PRESETS, build_model

    if args.model not in PRESETS:
        ap.error(f"--model must be one of {sorted(PRESETS)}, got {args.model!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available")
    devices = ["cpu", "cuda"] if args.device == "all" and torch.cuda.is_available() else \
        ["cpu"] if args.device == "all" else [args.device]
    try:  # the "vgg" model needs its weights: say so before any case runs
        params = sum(p.numel() for p in build_model(args.model).parameters())
    except Exception as exc:
        ap.error(f"--model {args.model}: {exc}")
    started = _dt.datetime.now(_dt.timezone.utc)
    report = {
        "benchmark": "bench_model",
        "command": shlex.join([Path(sys.executable).name, os.path.relpath(__file__, REPO)] + sys.argv[1:]),
        "date": started.isoformat(timespec="seconds"),
        "git": _git_state(),
        "machine": machine(devices),
        "model": args.model, "parameters": params, "batch": 1,
        "cases": [], "notes": list(args.note),
    }
    for device in devices:
        for impl in args.impl:
            gave_up = None
            for size in sorted(args.sizes):
                if gave_up:
                    report["cases"].append({"device": device, "impl": impl, "input": size,
                                            "skipped": f"not tried after {gave_up}"})
                elif impl == "direct" and size > args.direct_max_size:
                    report["cases"].append({"device": device, "impl": impl, "input": size,
                                            "skipped": f"above --direct-max-size {args.direct_max_size}"})
                else:
                    case = run_case(args, device, impl, size)
                    report["cases"].append(case)
                    if "skipped" in case or "failed" in case:
                        gave_up = f"{size}: " + case.get("skipped", case.get("failed", ""))
                print(json.dumps(report["cases"][-1]), file=sys.stderr, flush=True)
    for device in devices:
        fft = {c["input"]: c for c in report["cases"] if c["device"] == device and c["impl"] == "fft"}
        for c in report["cases"]:
            if c["device"] == device and c["impl"] == "direct" and "seconds_median" in c \
                    and "seconds_median" in fft.get(c["input"], {}):
                report["notes"].append(f"{device} {c['input']}: direct / fft forward = "
                                       f"{c['seconds_median'] / fft[c['input']]['seconds_median']:.1f}x")
    report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.threads:
        report["notes"].append(f"torch CPU threads set to {args.threads} in every case (--threads)")
    report["wall_seconds"] = round((_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(), 1)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
