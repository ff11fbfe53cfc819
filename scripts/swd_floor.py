"""What limits patch SWD on the validation split: the shipped model beside diagnostic variants.

    python scripts/swd_floor.py [--data ../shared/corpus/val] [--limit N]

Same protocol as `transposer eval` (256 px centre crops, the model gets the 128 px centre, the
centre of every output is the input). Rows:
  model          the shipped model (runtime, CPU)
  mirror, wrap   the padding baselines
  oracle-mean    the model's output with the ring's mean colour moved to the ground truth ring's:
                 NOT a method (it reads the answer); it measures how much of the distance is the
                 ring's overall colour, which the input does not determine
  trend          the model run on the input minus its least-squares colour plane, the plane then
                 extrapolated over the ring: can the ring's colour be predicted from a gradient?
  vary-N         the ring's brightness modulated by smooth noise, N x the input's own low-frequency
                 variation: does a broader distribution help on average?
Prints one JSON object (mean patch SWD and ring SSIM per row).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

S = 256                      # ground-truth side, as the committed evaluation
C0, C1 = S // 4, S // 4 + S // 2


def plane(coef: np.ndarray, side: int, offset: float, scale: float) -> np.ndarray:
    """The colour plane a + b*y + c*x over a side x side canvas, coordinates in input units."""
    t = (np.arange(side, dtype=np.float32) - offset + 0.5) / scale - 0.5
    return coef[0] + t[:, None, None] * coef[1] + t[None, :, None] * coef[2]


def fit_plane(img: np.ndarray) -> np.ndarray:
    h = img.shape[0]
    t = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    yy, xx = np.meshgrid(t, t, indexing="ij")
    a = np.stack([np.ones(h * h), yy.ravel(), xx.ravel()], 1)
    return np.linalg.lstsq(a, img.reshape(-1, 3), rcond=None)[0]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "corpus" / "val")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    from transposer.eval import baselines, metrics
    from transposer.runtime import Expander

    ex = Expander(model="default", device="cpu")
    files = sorted(p for p in args.data.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    files = files[: args.limit or None]
    rows: dict[str, list[tuple[float, float]]] = {}
    rng = np.random.default_rng(0)
    ring = metrics.ring_mask(S, S)
    for path in files:
        im = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        h, w, _ = im.shape
        if min(h, w) < S:
            continue
        y, x = (h - S) // 2, (w - S) // 2
        gt = im[y:y + S, x:x + S]
        given = gt[C0:C1, C0:C1]
        out = ex.expand(given, scale=2.0).image
        coef = fit_plane(given)
        flat = np.clip(given - plane(coef, S // 2, 0, S // 2) + coef[0], 0, 1)
        trend = ex.expand(flat, scale=2.0).image + plane(coef, S, C0, S // 2) - coef[0]
        oracle = out.copy()
        oracle[ring] += gt[ring].mean(0) - out[ring].mean(0)
        noise = gaussian_filter(rng.standard_normal((S, S)), 32)
        noise /= noise.std()
        low = gaussian_filter(given.mean(2), 16)
        rel = low.std() / max(low.mean(), 1e-3)
        cands = {"model": out, "mirror": baselines.mirror(given), "wrap": baselines.wrap(given),
                 "oracle-mean": oracle, "trend": trend}
        for n in (1, 2):
            cands[f"vary-{n}"] = out * (1 + n * rel * noise[..., None])
        for name, img in cands.items():
            img = np.clip(img, 0, 1)
            img[C0:C1, C0:C1] = given
            rows.setdefault(name, []).append((metrics.patch_swd(img, gt), metrics.ssim_ring(img, gt)))
    result = {"data": str(args.data), "cases": len(rows["model"]), "size": S,
              "rows": {k: {"patch_swd": round(float(np.mean([a for a, _ in v])), 4),
                           "ring_ssim": round(float(np.mean([b for _, b in v])), 3)} for k, v in rows.items()}}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
