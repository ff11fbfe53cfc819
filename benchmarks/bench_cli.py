"""Whole-process benchmark of `transposer expand`: wall time and peak memory, and the PNG writer.

    python benchmarks/bench_cli.py                         # 1024, 4096 and 12000 inputs at 2x
    python benchmarks/bench_cli.py --sizes 1024 --out benchmarks/results/cli.json

Each case runs `python -m transposer expand IN -o OUT --scale 2 --overwrite` as its own process
(imports, model loading, reading, expansion, writing: what a user waits for) and reads that
process's peak RSS from os.wait4. A case the CLI refuses up front (its memory estimate exceeds
what the machine has available) is reported with its one error line. The inputs are 8-bit PNG
textures made from the bundled example (tiled with a per-tile colour shift, so they do not
compress away), kept in --work between runs. Also times write_image on a 2048 x 2048 8-bit PNG
(best of 5) against Pillow's default encoder (what write_image used before), with file sizes.
Prints one JSON object. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_input(side: int, path: Path) -> Path:
    from texture_input import varied_tiling

    from transposer.runtime.imageio import write_image

    if not path.exists():
        write_image(path, varied_tiling(side))
    return path


def run_case(side: int, work: Path, extra: list[str]) -> dict:
    source = work / f"in_{side}.png"
    # made in its own process: a child's peak RSS counts what its parent held when it forked
    subprocess.run([sys.executable, __file__, "--make", str(side), str(source)], check=True, cwd=REPO)
    output = work / f"out_{side}.png"
    command = [sys.executable, "-m", "transposer", "expand", str(source), "-o", str(output), "--scale", "2",
               "--overwrite", "--json", *extra]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS (KiB on Linux)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    from transposer.commands.expand import job_memory

    estimate = job_memory(side, side, 2 * side, 2 * side, 3, [(".png", 8, 3)], input_bytes=3)  # 8-bit RGB
    case = {"input": side, "output": 2 * side, "exit_code": code, "wall_s": round(wall, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "estimated_mib": round(estimate / 2**20, 1)}
    if code == 0:
        record = json.loads(stdout.strip().splitlines()[-1])
        case["expand_s"] = record["seconds"]
        case["output_bytes"] = output.stat().st_size
    else:
        case["error"] = (stderr.strip().splitlines() or ["(no output)"])[-1]
    return case


def png_write(work: Path) -> dict:
    """write_image against Pillow's default PNG encoder on an expanded 2048 x 2048 texture."""
    import io

    import numpy as np
    from PIL import Image

    from transposer.runtime.imageio import read_image, write_image

    big = work / "out_1024.png"
    if not big.exists():
        subprocess.run([sys.executable, __file__, "--make", "2048", str(work / "in_2048.png")], check=True, cwd=REPO)
    pixels = read_image(big if big.exists() else work / "in_2048.png").pixels
    pixels = np.ascontiguousarray(pixels[:2048, :2048])
    times = []
    for _ in range(5):
        started = time.perf_counter()
        write_image(work / "w.png", pixels)
        times.append(time.perf_counter() - started)
    buffer = io.BytesIO()
    started = time.perf_counter()
    Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(buffer, "PNG")
    pillow = time.perf_counter() - started
    return {"size": list(pixels.shape[1::-1]), "write_image_s": round(min(times), 3),
            "write_image_median_s": round(sorted(times)[2], 3), "write_image_bytes": (work / "w.png").stat().st_size,
            "pillow_default_s": round(pillow, 3), "pillow_default_bytes": len(buffer.getvalue()),
            "size_ratio": round((work / "w.png").stat().st_size / len(buffer.getvalue()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 12000])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "transposer-bench-cli")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--make", nargs=2, metavar=("SIDE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help="more `transposer expand` flags, after --")
    args = parser.parse_args()
    if args.make:
        make_input(int(args.make[0]), Path(args.make[1]))
        return
    args.work.mkdir(parents=True, exist_ok=True)

    cases = []
    for side in args.sizes:
        case = run_case(side, args.work, args.extra)
        cases.append(case)
        print(json.dumps(case), file=sys.stderr)
    report = {"benchmark": "transposer expand, whole process, --scale 2", "machine": platform.machine(),
              "cpus": os.cpu_count(), "python": platform.python_version(), "cases": cases,
              "png_write_2048": png_write(args.work)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
