"""Turning an eval result (the dict run_eval returns) into files people read.

- report.json: the result itself (per case and aggregate; see runner.py for the keys)
- report.md: one markdown table, methods x metrics, mean +- std, plus footnotes for what is missing
- sheets/NNNN_name.png: per case, input | model | baselines | ground truth, labelled
- metrics.png: a bar chart per metric (only when matplotlib is installed; the markdown says so if not)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from transposer.runtime import files as atomic_files

# (key, column title, better) in table order. "better" is shown in the header so nobody has to
# remember which way SWD or SIFID go.
METRICS = (
    ("ssim", "SSIM", "↑"),
    ("ssim_ring", "ring SSIM", "↑"),
    ("swd", "patch SWD", "↓"),
    ("centre_ssim", "centre SSIM", "↑"),
    ("lpips", "LPIPS", "↓"),
    ("sifid", "SIFID", "↓"),
    ("fid", "FID", "↓"),
    ("seconds", "s / image", "↓"),
)


def method_label(result: dict, method: str) -> str:
    return f"model: {result['model']['name']}" if method == "model" else method


def _cell(entry) -> str:
    if isinstance(entry, str):            # "unavailable: ..."
        return "unavailable"
    if entry is None:
        return "-"
    if "value" in entry:                  # a set-level metric (FID): one number, no spread
        return f"{entry['value']:.2f}"
    mean, std = entry["mean"], entry["std"]
    digits = 2 if abs(mean) >= 10 else 4 if abs(mean) < 0.1 else 3
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown(result: dict) -> str:
    """The report as markdown: a heading, the settings, the table, footnotes."""
    s, m = result["settings"], result["model"]
    where = f" on {m['provider']}" if m.get("provider") else ""
    lines = [
        f"# transposer eval: {m['name']}",
        "",
        f"{result['n_cases']} cases from {', '.join(s['data'])}: {s['size']} x {s['size']} ground truth "
        f"({s['crop']} crop, seed {s['seed']}), the model gets its {s['size'] // 2} x {s['size'] // 2} centre. "
        f"Model: {m['kind']} {m['source']}{where}.",
        "",
        "| method | " + " | ".join(f"{title} {arrow}" for _, title, arrow in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for method in result["methods"]:
        agg = result["aggregate"][method]
        lines.append(f"| {method_label(result, method)} | "
                     + " | ".join(_cell(agg.get(key)) for key, _, _ in METRICS) + " |")
    lines.append("")
    for key, title, _ in METRICS:
        if key in result["unavailable"]:
            lines.append(f"- {title}: {result['unavailable'][key]}")
    if result["unavailable"]:
        lines.append(f"  ({result['notes']['weights']})")
    lines.append(f"- patch SWD: {result['notes']['swd']}")
    lines.append(f"- ring SSIM: {result['notes']['ssim_ring']}")
    if result["skipped"]:
        lines.append(f"- skipped {len(result['skipped'])} image(s), e.g. {result['skipped'][0]['path']}: "
                     f"{result['skipped'][0]['reason']}")
    if result.get("plot_note"):
        lines.append(f"- plots: {result['plot_note']}")
    return "\n".join(lines) + "\n"


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                     # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    # Shorten a caption with an ellipsis so it never runs into the next tile.
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(given: np.ndarray, panels: list[tuple[str, np.ndarray]], target: np.ndarray,
                  title: str = "") -> Image.Image:
    """One row: input (at its real size, centred where the model places it) | panels | ground truth.

    Each tile is S x S under a caption of up to two lines ("name\\nscore"). The input keeps its
    size so the sheet shows honestly how much of each output was invented.
    """
    size = target.shape[0]
    gap = 8
    line = max(14, min(24, size // 11))          # caption line height in pixels
    font = _font(line - 4)
    tiles = [("input", None)] + panels + [("ground truth", target)]
    width = len(tiles) * size + (len(tiles) + 1) * gap
    top = gap + (line + gap if title else 0)
    height = top + 2 * line + size + gap
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, gap), _fit(draw, title, font, width - 2 * gap), fill=(0, 0, 0), font=font)
    for i, (label, image) in enumerate(tiles):
        x = gap + i * (size + gap)
        for k, text in enumerate(label.split("\n")[:2]):
            draw.text((x, top + k * line), _fit(draw, text, font, size), fill=(0, 0, 0), font=font)
        y = top + 2 * line
        if image is None:                 # the input: a grey tile with the input at its centre
            draw.rectangle((x, y, x + size - 1, y + size - 1), fill=(200, 200, 200))
            q = (size - given.shape[0]) // 2
            sheet.paste(Image.fromarray(to_uint8(given)), (x + q, y + q))
        else:
            sheet.paste(Image.fromarray(to_uint8(image)), (x, y))
    return sheet


def bar_chart(result: dict, path: Path) -> str | None:
    """Bar chart of each metric per method (error bars: std over cases). Returns a note if skipped."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib not installed, no bar chart"
    keys = [(k, t, a) for k, t, a in METRICS
            if any(isinstance(result["aggregate"][m].get(k), dict) for m in result["methods"])]
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    # Figure + Agg canvas directly (no pyplot): no global backend switch inside a training process.
    fig = Figure(figsize=(4 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    labels = [method_label(result, m) for m in result["methods"]]
    for i, (key, title, arrow) in enumerate(keys):
        ax = fig.add_subplot(rows, cols, i + 1)
        means, stds = [], []
        for m in result["methods"]:
            e = result["aggregate"][m].get(key)
            ok = isinstance(e, dict)
            means.append(e.get("value", e.get("mean")) if ok else np.nan)
            stds.append((e.get("std") or 0.0) if ok else 0.0)
        ax.bar(range(len(labels)), means, yerr=stds, capsize=3,
               color=["tab:blue"] + ["tab:gray"] * (len(labels) - 1))
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title} {arrow}")
    fig.savefig(path, dpi=100)
    return None


# The one atomic write (temp file, fsync, rename; umask permissions): re-exported for the eval callers.
write_text_atomic = atomic_files.write_text_atomic


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
