"""Speed beside the peer programs, on the same images in the same run: the ring-fill task of
`transposer eval` (S x S canvas, the S/2 centre given), this package in-process against GIMP
Resynthesizer's engine and Embark's texture-synthesis, each single-threaded, one image at a time.

    python benchmarks/bench_peers.py --data ../shared/corpus/val --peers-bin ../shared/peers/bin
    python benchmarks/bench_peers.py --data DIR --size 256 --limit 5 --out result.json

This machine's speed drifts with its load, so the numbers that mean something are the ratios of
the peers' time to ours, measured in this same run, interleaved image by image. Our time is one
`Expander.expand` (session built and warmed up before); a peer's is its whole process (it has no
other way to run; its start-up is a few ms of its seconds). Target: Resynthesizer >= 10x ours
at S = 256. Prints one JSON object; never run by the test suite.
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

import numpy as np
from PIL import Image

PEERS = ("resynth", "embark")


def peer_command(peer: str, binary: Path, canvas: Path, keep: Path, fill: Path, out: Path, size: int) -> list:
    if peer == "resynth":  # GIMP's "Uncrop" parameters; the mask's white is synthesised
        return [str(binary / "resynth-fill"), str(canvas), str(fill), str(out)]
    return [str(binary / "texture-synthesis"), "--no-progress", "--seed", "1", "-t", "1", "--out-size", str(size),
            "--inpaint", str(keep), "-o", str(out), "generate", str(canvas)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of images (the validation split)")
    parser.add_argument("--peers-bin", default=str(Path(__file__).resolve().parents[2] / "shared" / "peers" / "bin"),
                        help="folder with resynth-fill and texture-synthesis")
    parser.add_argument("--size", type=int, default=256, help="output side S (input S/2); default 256")
    parser.add_argument("--limit", type=int, default=10, help="images (default 10)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()

    from transposer.eval.protocol import iter_cases, list_images
    from transposer.runtime import Expander

    binary = Path(args.peers_bin)
    peers = [p for p in PEERS if (binary / ("resynth-fill" if p == "resynth" else "texture-synthesis")).is_file()]
    cases = list(iter_cases(list_images([args.data]), args.size))[: args.limit]
    expander = Expander(args.model, device="cpu")
    expander.expand(cases[0].given, synthesis="coherent")  # warm-up
    seconds: dict[str, list[float]] = {"transposer": [], **{p: [] for p in peers}}
    s, q = args.size, args.size // 4
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        keep = np.zeros((s, s), np.uint8)
        keep[q:s - q, q:s - q] = 255
        Image.fromarray(keep).save(work / "keep.png")
        Image.fromarray(255 - keep).save(work / "fill.png")
        for case in cases:
            start = time.perf_counter()
            expander.expand(case.given, scale=2.0, synthesis="coherent")
            seconds["transposer"].append(time.perf_counter() - start)
            canvas = np.zeros((s, s, 3), np.uint8)
            canvas[q:s - q, q:s - q] = np.round(case.given * 255).astype(np.uint8)
            Image.fromarray(canvas).save(work / "canvas.png")
            for peer in peers:
                command = peer_command(peer, binary, work / "canvas.png", work / "keep.png", work / "fill.png",
                                       work / f"{peer}.png", s)
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                seconds[peer].append(time.perf_counter() - start)
    mean = {name: float(np.mean(values)) for name, values in seconds.items()}
    result = {
        "benchmark": "peers", "task": f"ring fill {s // 2} -> {s}", "images": len(cases),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "mean_seconds": {k: round(v, 3) for k, v in mean.items()},
        "median_seconds": {k: round(float(np.median(v)), 3) for k, v in seconds.items()},
        "times_faster_than": {p: round(mean[p] / mean["transposer"], 1) for p in peers},
        "target": {"resynth": ">= 10x (aim 30x)"},
        "missing_peers": [p for p in PEERS if p not in peers],
    }
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
