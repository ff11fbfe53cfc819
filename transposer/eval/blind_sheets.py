"""`transposer eval pairs`: blind left/right sheets of two methods, and the key kept apart from them.

Cases: the eval protocol's (protocol.iter_cases, centre crops), N of them picked by a shuffle of the
image list seeded by --seed. Each judge gets every sheet of the comparison in a folder of its own,
SHEETS/judgeK/001.png ..., in an order and with left/right sides drawn independently of the other
judges (generator seeded by [seed, K]); the sides are balanced, A on the left on half the sheets.

A sheet holds the input on top and the two outputs below, LEFT and RIGHT, all enlarged 2x by
nearest neighbour so seams stay visible; its only words are INPUT, LEFT and RIGHT, and the PNG
carries no text chunks. The key (JSON) names the methods and, per judge and sheet, the case and
which method is on which side; it must lie outside the sheets folder.

Key format 1:
    kind "transposer blind comparison key", format 1
    methods   {"A": label, "B": label}
    settings  {data, size, n, seed, judges}
    sets      {"judge1": {"folder": path, "sheets": {"001": {"case": name, "left": "A"|"B", "right": ...}}}}
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .blind_methods import Method, parse_method
from .protocol import Case, EvalError, iter_cases, list_images

KEY_KIND = "transposer blind comparison key"
KEY_FORMAT = 1
ZOOM = 2          # nearest-neighbour enlargement of every image on a sheet
MARGIN, GAP, LABEL = 16, 24, 30   # px on the sheet
BACKGROUND, INK = (128, 128, 128), (0, 0, 0)


def sheet_boxes(size: int) -> dict[str, tuple[int, int, int, int]]:
    """(x, y, width, height) of each image on a sheet for outputs of size x size, and the sheet."""
    tile, given = ZOOM * size, ZOOM * (size // 2)
    width = 2 * MARGIN + 2 * tile + GAP
    row2 = MARGIN + LABEL + given + GAP
    return {
        "input": ((width - given) // 2, MARGIN + LABEL, given, given),
        "left": (MARGIN, row2 + LABEL, tile, tile),
        "right": (MARGIN + tile + GAP, row2 + LABEL, tile, tile),
        "sheet": (0, 0, width, row2 + LABEL + tile + MARGIN),
    }


def compose_sheet(given: np.ndarray, left: np.ndarray, right: np.ndarray) -> Image.Image:
    """given (S/2, S/2, 3), left and right (S, S, 3), uint8 -> the sheet (RGB, no metadata)."""
    size = left.shape[0]
    boxes = sheet_boxes(size)
    sheet = Image.new("RGB", boxes["sheet"][2:], BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=20)
    for name, pixels in (("input", given), ("left", left), ("right", right)):
        x, y, w, h = boxes[name]
        sheet.paste(Image.fromarray(pixels).resize((w, h), Image.Resampling.NEAREST), (x, y))
        draw.text((x, y - LABEL + 4), name.upper(), fill=INK, font=font)
    return sheet


def select_cases(data: Sequence[str | Path], size: int, n: int, seed: int,
                 warn: Callable[[str], None]) -> list[Case]:
    files = list_images(data)
    order = np.random.default_rng(seed).permutation(len(files))
    cases = []
    for case in iter_cases([files[i] for i in order], size, "center", seed,
                           lambda path, why: warn(f"skipped {path}: {why}")):
        cases.append(case)
        if len(cases) == n:
            return cases
    raise EvalError(f"--n {n}: only {len(cases)} usable image(s) of {len(files)} in --data at --size {size}")


def plan_judge(n: int, seed: int, judge: int) -> list[tuple[int, bool]]:
    """Per sheet in showing order: (case index, A is on the left); balanced sides."""
    rng = np.random.default_rng([seed, judge])
    order = rng.permutation(n)
    a_left = rng.permutation(np.arange(n) < (n + 1) // 2)
    return [(int(i), bool(s)) for i, s in zip(order, a_left)]


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_destinations(sheets: Path, key: Path, renders: Path | None, overwrite: bool) -> None:
    """Before any work: the key and the renders outside the sheets, nothing replaced unasked."""
    if _inside(key, sheets):
        raise EvalError(f"--key: {key} is inside the sheets folder {sheets}; the judges would see it. "
                        f"Write the key elsewhere")
    if renders is not None and _inside(renders, sheets):
        raise EvalError(f"--renders: {renders} is inside the sheets folder {sheets}; choose another folder")
    if renders is not None and _inside(sheets, renders):
        raise EvalError(f"--sheets: {sheets} is inside the renders folder {renders}; choose another folder")
    if key.is_dir():
        raise EvalError(f"--key: {key} is a folder, expected a file")
    if not key.parent.is_dir():
        raise EvalError(f"--key: folder does not exist: {key.parent}")
    if key.exists() and not overwrite:
        raise EvalError(f"--key: {key} exists (pass --overwrite to replace it)")
    if sheets.exists() and not sheets.is_dir():
        raise EvalError(f"--sheets: {sheets} is a file, expected a folder")
    if sheets.is_dir() and any(sheets.iterdir()):
        if not overwrite:
            raise EvalError(f"--sheets: {sheets} is not empty (pass --overwrite to replace earlier sheets)")
        if not all(p.is_dir() and p.name.startswith("judge") for p in sheets.iterdir()):
            raise EvalError(f"--sheets: {sheets} holds more than earlier sheets; choose another folder")


def make_pairs(a: str, b: str, data: Sequence[str | Path], sheets: str | Path, key: str | Path, *,
               size: int = 256, n: int = 40, seed: int = 0, judges: int = 2,
               renders: str | Path | None = None, rerender: bool = False, overwrite: bool = False,
               device: str = "auto", progress: Callable[[int, int], None] | None = None,
               warn: Callable[[str], None] = lambda message: None) -> dict:
    """Write the judges' sheet folders under `sheets` and the key to `key`; return the key."""
    if isinstance(data, (str, Path)):
        data = [data]
    if not isinstance(size, int) or size % 4 or not 16 <= size <= 2048:
        raise EvalError(f"--size must be a multiple of 4 in [16, 2048], got {size}")
    for option, value, low in (("--n", n, 1), ("--judges", judges, 1), ("--seed", seed, 0)):
        if not isinstance(value, int) or value < low:
            raise EvalError(f"{option} must be an integer >= {low}, got {value}")
    sheets, key = Path(sheets).expanduser(), Path(key).expanduser()
    renders = None if renders is None else Path(renders).expanduser()
    check_destinations(sheets, key, renders, overwrite)
    specs = {"A": parse_method(a, "--a"), "B": parse_method(b, "--b")}
    if specs["A"] == specs["B"]:
        raise EvalError(f"--a and --b name the same method: {specs['A'].label}")
    methods = {side: Method(spec, size, f"--{side.lower()}", renders=renders, rerender=rerender,
                            device=device, warn=warn) for side, spec in specs.items()}
    cases = select_cases(data, size, n, seed, warn)

    sheets.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{sheets.name}.partial-", dir=sheets.parent))
    try:
        outputs = []
        for i, case in enumerate(cases):
            outputs.append({side: m.output(case) for side, m in methods.items()})
            if progress is not None:
                progress(i + 1, n)
        sets = {}
        width = max(3, len(str(n)))
        for judge in range(1, judges + 1):
            folder = staging / f"judge{judge}"
            folder.mkdir()
            entries = {}
            for number, (index, a_left) in enumerate(plan_judge(n, seed, judge), start=1):
                sheet_id = f"{number:0{width}d}"
                left, right = ("A", "B") if a_left else ("B", "A")
                given = np.clip(np.rint(cases[index].given * 255), 0, 255).astype(np.uint8)
                compose_sheet(given, outputs[index][left], outputs[index][right]).save(
                    folder / f"{sheet_id}.png", format="PNG")
                entries[sheet_id] = {"case": cases[index].name, "left": left, "right": right}
            sets[f"judge{judge}"] = {"folder": str(sheets / f"judge{judge}"), "sheets": entries}
        result = {
            "kind": KEY_KIND, "format": KEY_FORMAT,
            "methods": {side: spec.label for side, spec in specs.items()},
            "settings": {"data": [str(d) for d in data], "size": size, "n": n, "seed": seed, "judges": judges,
                         "renders": None if renders is None else str(renders)},
            "sets": sets,
        }
        if sheets.exists():
            shutil.rmtree(sheets)
        staging.rename(sheets)
        staging = None
        fd, tmp = tempfile.mkstemp(prefix=f".{key.name}.", suffix=".partial", dir=key.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, key)
        return result
    except OSError as exc:   # disk full, permissions: one line, and no half-written sheets left
        raise EvalError(f"cannot write {exc.filename or 'the sheets'}: {exc.strerror or exc}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
