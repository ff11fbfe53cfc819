"""Runtime benchmark: wall time and peak memory of `Expander.expand` on CPU onnxruntime.

    python benchmarks/bench_runtime.py                       # default model, 256, 1024, 4096
    python benchmarks/bench_runtime.py --synthesis network   # the raw network (repeated passes)
    python benchmarks/bench_runtime.py --synthesis network --large tiles --analysis-size 1024
    python benchmarks/bench_runtime.py --sizes 256 --threads 2 --model path/to/model.onnx

Each size runs in its own subprocess so its peak RSS (getrusage ru_maxrss) is its own. Prints one
JSON object: per case the input and output side, the best wall time of the timed runs (model
loading and a small warm-up run excluded), the session build time, the peak RSS in MiB, the
number of network calls (tiles), and the targets for a 2-core CPU machine with the synthesis
stage on: 256 -> 512 <= 0.6 s, 1024 -> 2048 <= 3 s, 4096 -> 8192 peak <= 4 GB. The comparison
with the peer programs on the same images is benchmarks/bench_peers.py. Never run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

TARGETS = {256: {"seconds": 0.6}, 1024: {"seconds": 3.0}, 4096: {"peak_rss_mb": 4 * 1024}}


def child(args) -> None:
    """One size, in this process: build, warm up, time, report."""
    import resource

    import numpy as np

    from transposer.runtime import Expander
    from transposer.runtime.tiling import count_tiles

    if args.synthetic:
        from transposer.runtime.synthetic import write_synthetic_model

        model = write_synthetic_model(Path(args.workdir) / "synthetic.onnx", args.synthetic)
    else:
        model = args.model
    start = time.perf_counter()
    expander = Expander(model, device=args.device, threads=args.threads, analysis_size=args.analysis_size,
                        large=args.large)
    build = time.perf_counter() - start
    # a real texture, tiled to the size with flips and colour shifts: not periodic, like most
    # photos (a periodic input takes the cheaper path of the period search, without soft bands)
    from texture_input import varied_tiling

    pixels = (varied_tiling(args.size) * 255.0 + 0.5).astype(np.uint8)
    expander.expand(pixels[:64, :64], synthesis=args.synthesis)  # warm-up: first-run allocations
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = expander.expand(pixels, scale=2, synthesis=args.synthesis)
        times.append(time.perf_counter() - start)
    side = args.size
    if side <= expander.analysis_size or args.large == "warp" or args.synthesis == "coherent":
        calls = 1
    else:
        calls = count_tiles(side, side, expander.analysis_size, multiple=expander.input_multiple)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"input": side, "output": int(result.image.shape[0]), "seconds": round(min(times), 3),
                      "all_seconds": [round(t, 3) for t in times], "build_seconds": round(build, 3),
                      "peak_rss_mb": round(peak_kib / 1024, 1), "network_calls": calls,
                      "analysis_size": expander.analysis_size, "large": args.large, "synthesis": args.synthesis,
                      "provider": result.provider,
                      "model": str(expander.model.path.name)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="registry name or .onnx path (default: default)")
    parser.add_argument("--synthetic", choices=("edge", "tile"), default=None,
                        help="benchmark a synthetic graph instead (tests the harness; needs onnx)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--device", default="cpu", choices=("cpu", "auto", "cuda"))
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    parser.add_argument("--analysis-size", type=int, default=512, help="Expander analysis_size (default 512)")
    parser.add_argument("--large", choices=("warp", "tiles"), default="warp",
                        help="how passes above analysis_size run (default warp)")
    parser.add_argument("--synthesis", choices=("coherent", "network"), default="coherent",
                        help="the synthesis stage (default) or the raw network")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per size (default 3, 1 above 1024)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per size before giving up")
    parser.add_argument("--child-size", dest="size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size is not None:
        child(args)
        return

    import tempfile

    cases = []
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes:
            repeat = args.repeat or (3 if size <= 1024 else 1)
            command = [sys.executable, __file__, "--child-size", str(size), "--workdir", workdir,
                       "--model", args.model, "--device", args.device, "--analysis-size", str(args.analysis_size),
                       "--large", args.large, "--synthesis", args.synthesis,
                       "--repeat", str(repeat)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            if args.synthetic:
                command += ["--synthetic", args.synthetic]
            try:
                run = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                cases.append({"input": size, "error": f"timed out after {args.timeout:g} s"})
                continue
            if run.returncode != 0:
                lines = (run.stderr.strip().splitlines() or ["(no output)"])
                cases.append({"input": size, "error": lines[-1]})
                continue
            case = json.loads(run.stdout.strip().splitlines()[-1])
            target = TARGETS.get(size)
            if target and args.synthesis == "coherent":
                case["target"] = target
                case["meets_target"] = all(case[key] <= value for key, value in target.items())
            cases.append(case)
    print(json.dumps({"benchmark": "runtime", "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                          "platform": platform.platform()},
                      "threads": args.threads, "cases": cases}, indent=2))


if __name__ == "__main__":
    main()
