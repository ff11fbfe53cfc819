"""Contact sheets of the synthesis stage on the bundled examples and hard validation cases.

    python scripts/contact_sheets.py --data ../shared/corpus/val --out docs/images/sheets

One PNG per case and scale: the input, the output with the synthesis stage (seed 0) and the raw
network output ("network only"), side by side at the same scale, so seams and repeats can be
judged by eye. The validation cases are named on the command line (file stems).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from transposer.runtime import Expander
from transposer.runtime.imageio import read_image

EXAMPLES = Path(__file__).resolve().parents[1] / "transposer" / "examples"
HARD = {  # validation stems: what makes each hard
    "oa081_0500": "tiles", "nexuiz_0000": "stripes (weave-like)", "ufoai_0460": "square tiles",
    "nexuiz_1060": "grating with a path", "ufoai_0240": "aerial fields", "nexuiz_0100": "one distinctive beam",
}


def sheet(expander: Expander, pixels: np.ndarray, scale: float, title: str) -> Image.Image:
    pixels = pixels[:, :, :3]
    outputs = [expander.expand(pixels, scale=scale, seed=0, synthesis=mode).image for mode in ("coherent", "network")]
    h, w = outputs[0].shape[:2]
    pad = 24
    canvas = Image.new("RGB", (3 * w + 4 * 8, h + pad + 8), "white")
    given = np.zeros((h, w, 3), np.float32) + 1.0
    top, left = (h - pixels.shape[0]) // 2, (w - pixels.shape[1]) // 2
    given[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
    draw = ImageDraw.Draw(canvas)
    for i, (image, label) in enumerate(zip([given] + outputs, ["input", "synthesis (default)", "network only"])):
        x = 8 + i * (w + 8)
        canvas.paste(Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)), (x, pad))
        draw.text((x, 6), f"{title}: {label}" if i == 0 else label, fill="black")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="the validation split (for the hard cases)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    expander = Expander(device="cpu")
    cases = [(p.stem, read_image(p).pixels) for p in sorted(EXAMPLES.glob("*.jpg"))]
    if args.data:
        for stem, what in HARD.items():
            path = Path(args.data) / f"{stem}.jpg"
            image = read_image(path).pixels
            h, w = image.shape[:2]
            cases.append((f"{stem} ({what})", image[(h - 128) // 2:(h + 128) // 2, (w - 128) // 2:(w + 128) // 2]))
    for name, pixels in cases:
        if pixels.dtype != np.float32:
            pixels = pixels.astype(np.float32) / (255.0 if pixels.dtype == np.uint8 else 65535.0)
        for scale in (2, 4):
            stem = name.split(" ")[0]
            sheet(expander, pixels, scale, name).save(out / f"{stem}_{scale}x.png")
            print(out / f"{stem}_{scale}x.png")


if __name__ == "__main__":
    main()
