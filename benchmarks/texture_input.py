"""The benchmarks' input texture: the bundled photo tiled to any size, each tile flipped or not
and its colour shifted at random (seeded by the size), so the input is a real texture that is
not periodic (a plain repeat would be continued on its period, a cheaper path than most photos
take) and does not compress away."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[1] / "transposer" / "examples" / "cliff_rock.jpg"


def varied_tiling(side: int) -> np.ndarray:
    """(side, side, 3) float32 in [0, 1]."""
    tile = np.asarray(Image.open(EXAMPLE).convert("RGB"), dtype=np.float32) / 255.0
    rng = np.random.default_rng(side)
    rows = []
    for _ in range(-(-side // tile.shape[0])):
        row = [np.clip(tile[:, ::(1 if rng.random() < 0.5 else -1)] * rng.uniform(0.8, 1.2, 3), 0, 1)
               for _ in range(-(-side // tile.shape[1]))]
        rows.append(np.concatenate(row, axis=1)[:, :side])
    return np.concatenate(rows, axis=0)[:side].astype(np.float32)
