"""Pack the training data and the VGG weights into one small folder to copy to a GPU machine.

    python scripts/pack_data.py [--corpus ../shared/corpus] [--side 256] [--out runs/pack]

A GPU machine that lacks the corpus or the VGG-19 weights needs only this folder (besides the
repository); one that has both can skip it (docs/gpu_training.md). It writes
  OUT/train/    the corpus train split, each image shrunk to at most --side px, WebP
                (the originals are ~340 px JPEGs, 72 MB; the GPU configs that train on this pack
                widen data.rescale to make up for the smaller scale)
  OUT/val/      the validation split as is (the eval protocol cuts 256 px crops from it)
  OUT/vgg.pth   VGG-19 up to relu3_1 in half precision (1 MB instead of 80 MB; the GPU
                configs' style losses stop there)
and prints its size. Then, on the GPU machine: `DATA=runs/pack bash scripts/train_gpu.sh`.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transposer.model.vgg import save_truncated  # noqa: E402  (needs ROOT on the path)

VGG_LAST = "relu3_1"    # deepest VGG layer the GPU configs use


def shrink_images(src: Path, dst: Path, side: int, quality: int) -> int:
    from PIL import Image

    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    if not files:
        raise ValueError(f"no images in {src}")
    for path in files:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((side, side), Image.LANCZOS)
            im.save(dst / (path.stem + ".webp"), "WEBP", quality=quality, method=6)
    return len(files)


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--side", type=int, default=256, help="largest side of the packed train images")
    ap.add_argument("--quality", type=int, default=80, help="WebP quality")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "pack", help="pack folder (replaced)")
    args = ap.parse_args(argv)
    out = args.out
    for split in ("train", "val"):
        if not (args.corpus / split).is_dir():
            print(f"error: {args.corpus / split} is not a folder", file=sys.stderr)
            return 1
    # Built beside the old pack and swapped in at the end: a failure (no VGG weights, a bad image)
    # leaves the previous pack as it was.
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        n = shrink_images(args.corpus / "train", tmp / "train", args.side, args.quality)
        shutil.copytree(args.corpus / "val", tmp / "val")
        save_truncated(tmp / "vgg.pth", VGG_LAST, half=True)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"packed {n} train images (<= {args.side} px), the val split and VGG to {VGG_LAST} into "
          f"{out}: {folder_mib(out):.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
