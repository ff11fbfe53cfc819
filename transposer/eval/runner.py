"""run_eval: the model and the baselines on every case, metrics, then the report.

Result dict (also report.json):
    format           1
    model            {name, kind: onnx|snapshot|module|..., source, provider}
    settings         {data, size, crop, seed, limit}
    methods          ["model", "bicubic", "wrap", "mirror"]
    n_cases          int
    cases            [{name, path, offset: [y, x], whole, metrics: {method: {metric: value}}}]
    aggregate        {method: {metric: {mean, std, n} | {value, n} (FID) | "unavailable: ..."}}
    unavailable      {metric: "unavailable: ..."}   (LPIPS / SIFID / FID that could not run)
    skipped          [{path, reason}]
    notes            {swd, ssim_ring, weights, seconds}
"""
from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import metrics, report
from .adapters import Model, load_model
from .baselines import BASELINES
from .perceptual import Perceptual, hint
from .protocol import CROPS, EvalError, iter_cases, list_images

FORMAT = 1
MAX_SIZE = 4096


class EvalCancelled(Exception):
    """The progress callback returned False."""


def check_settings(size: int, crop: str, seed: int, limit: int | None) -> None:
    """Validate once, before anything is loaded; messages name the option, its range and the value."""
    smallest = metrics.min_size() + (-metrics.min_size()) % 4
    if not isinstance(size, int) or size % 4 or not smallest <= size <= MAX_SIZE:
        raise EvalError(f"--size must be a multiple of 4 in [{smallest}, {MAX_SIZE}], got {size}")
    if crop not in CROPS:
        raise EvalError(f"--crop must be one of {', '.join(CROPS)}, got {crop!r}")
    if not isinstance(seed, int) or seed < 0:
        raise EvalError(f"--seed must be an integer >= 0, got {seed}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise EvalError(f"--limit must be an integer >= 1, got {limit}")


def check_outputs(json_path: str | Path | None, report_dir: str | Path | None, overwrite: bool) -> None:
    """Refuse, before any work, to clobber files that are not ours or that the user did not free."""
    if json_path is not None:
        p = Path(json_path).expanduser()
        if not p.parent.is_dir():
            raise EvalError(f"--json: folder does not exist: {p.parent}")
        if p.is_dir() or (p.exists() and not overwrite):
            raise EvalError(f"--json: {p} exists (pass --overwrite to replace it)")
    if report_dir is not None:
        d = Path(report_dir).expanduser()
        if d.exists() and not d.is_dir():
            raise EvalError(f"--report: {d} is a file, expected a folder")
        if d.is_dir() and any(d.iterdir()):
            if not overwrite:
                raise EvalError(f"--report: {d} is not empty (pass --overwrite to replace an earlier report)")
            if not (d / "report.json").is_file():
                raise EvalError(f"--report: {d} is not empty and holds no earlier report; choose another folder")


def _aggregate(values: list[float]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "n": int(a.size)}


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _replace_dir(staging: Path, final: Path) -> None:
    # Swap the finished report into place; an earlier report is only removed once the new one is in.
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        final.rename(old / "report")
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_eval(
    model: Any,
    data_dirs: Sequence[str | Path],
    size: int = 256,
    crop: str = "center",
    seed: int = 0,
    limit: int | None = None,
    *,
    device: str = "auto",
    json_path: str | Path | None = None,
    report_dir: str | Path | None = None,
    overwrite: bool = False,
    perceptual: bool = True,
    sheets: bool = True,
    progress: Callable[[int, int], bool | None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict:
    """Evaluate `model` (registry name, .onnx path, snapshot path, nn.Module or eval Model) on the
    images under `data_dirs`; return the result dict, and write it where json_path / report_dir say.

    progress(done, total) is called after each case; returning False stops with EvalCancelled.
    warn(message) receives one line per skipped image (default: warnings.warn).
    """
    if isinstance(data_dirs, (str, Path)):   # one folder given bare, not as a list of its characters
        data_dirs = [data_dirs]
    check_settings(size, crop, seed, limit)
    check_outputs(json_path, report_dir, overwrite)
    files = list_images(data_dirs)
    net: Model = load_model(model, device)
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
    skipped: list[dict] = []

    def on_skip(path: str, reason: str) -> None:
        skipped.append({"path": path, "reason": reason})
        warn(f"skipped {path}: {reason}")

    staging = None
    if report_dir is not None:
        final = Path(report_dir).expanduser()
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
        if sheets:
            (staging / "sheets").mkdir()
    try:
        result = _evaluate(net, files, size, crop, seed, limit, device, perceptual, staging if sheets else None,
                           on_skip, progress)
        result["settings"]["data"] = [str(d) for d in data_dirs]
        result["skipped"] = skipped
        if staging is not None:
            result["plot_note"] = report.bar_chart(result, staging / "metrics.png")
            (staging / "report.json").write_text(report.to_json(result), encoding="utf-8")
            (staging / "report.md").write_text(report.markdown(result), encoding="utf-8")
            _replace_dir(staging, final)
            staging = None
        if json_path is not None:
            report.write_text_atomic(Path(json_path).expanduser(), report.to_json(result))
        return result
    finally:
        if staging is not None:          # failed or cancelled: leave nothing half-written behind
            shutil.rmtree(staging, ignore_errors=True)


def _evaluate(net: Model, files, size, crop, seed, limit, device, use_perceptual, sheet_dir, on_skip, progress):
    perc = Perceptual(device=device, enabled=use_perceptual)
    methods = ["model", *BASELINES]
    cases: list[dict] = []
    n_skipped = 0

    def count_skip(path, reason):
        nonlocal n_skipped
        n_skipped += 1
        on_skip(path, reason)

    for case in iter_cases(files, size, crop, seed, count_skip):
        if not cases:
            # One untimed run: session start-up, allocator and kernel caches would otherwise
            # land on the first case's time.
            _expand(net, case.given)
        outputs, seconds = _run_methods(net, case.given)
        per_method = _score_case(methods, outputs, seconds, case, perc)
        if sheet_dir is not None:
            _save_sheet(sheet_dir, len(cases), net, case, methods, per_method, outputs)
        cases.append({"name": case.name, "path": case.path, "offset": list(case.offset), "whole": case.whole,
                      "metrics": per_method})
        # Total: the cases this run can still reach; it shrinks as images are skipped.
        total = min(limit or len(files), len(files) - n_skipped)
        if progress is not None and progress(len(cases), max(total, len(cases))) is False:
            raise EvalCancelled(f"cancelled after {len(cases)} case(s)")
        if limit and len(cases) >= limit:
            break
    if not cases:
        raise EvalError(f"--data: no usable images (all {len(files)} skipped: smaller than --size {size} "
                        f"or unreadable)")
    aggregate, unavailable = _aggregate_cases(methods, cases, perc)
    return _report(net, {"data": [], "size": size, "crop": crop, "seed": seed, "limit": limit},
                   methods, cases, aggregate, unavailable)


def _run_methods(net: Model, given: np.ndarray) -> tuple[dict, dict]:
    """Every method's expansion of one input and its wall time in seconds."""
    outputs, seconds = {}, {}
    t0 = time.perf_counter()
    outputs["model"] = _expand(net, given)
    seconds["model"] = time.perf_counter() - t0
    for name, fn in BASELINES.items():
        t0 = time.perf_counter()
        outputs[name] = fn(given)
        seconds[name] = time.perf_counter() - t0
    return outputs, seconds


def _score_case(methods, outputs, seconds, case, perc) -> dict[str, dict]:
    """Each method's metrics on one case; feeds the FID statistics (the target once)."""
    target_proj = metrics.target_projections(case.target)
    per_method = {}
    for i, method in enumerate(methods):
        out = outputs[method]
        values = {
            "ssim": metrics.ssim(out, case.target),
            "ssim_ring": metrics.ssim_ring(out, case.target),
            "swd": metrics.patch_swd(out, case.target, target_proj),
            "centre_ssim": metrics.centre_ssim(out, case.given),
        }
        values.update(perc.per_case(out, case.target))
        perc.add_for_fid(method, out, case.target if i == 0 else None)
        values["seconds"] = seconds[method]
        per_method[method] = values
    return per_method


def _save_sheet(sheet_dir: Path, index: int, net: Model, case, methods, per_method, outputs) -> None:
    panels = [(f"{report.method_label({'model': {'name': net.name}}, m)}\n"
               f"ring SSIM {per_method[m]['ssim_ring']:.3f}  SWD {per_method[m]['swd']:.4f}", outputs[m])
              for m in methods]
    sheet = report.contact_sheet(case.given, panels, case.target, title=f"{case.name}   crop at y {case.offset[0]}, x {case.offset[1]}"
                                 + ("  (whole image)" if case.whole else ""))
    sheet.save(sheet_dir / "sheets" / f"{index:04d}_{_safe_name(str(Path(case.name).with_suffix('')))}.png")


def _aggregate_cases(methods, cases, perc) -> tuple[dict, dict]:
    """(per-method summary of every metric, {perceptual metric: why it is unavailable})."""
    aggregate: dict[str, dict] = {m: {} for m in methods}
    for method in methods:
        keys = cases[0]["metrics"][method].keys()
        for key in keys:
            aggregate[method][key] = _aggregate([c["metrics"][method][key] for c in cases])
    unavailable = {name: why for name, why in perc.status.items() if why is not None}
    for method in methods:
        for name, why in unavailable.items():
            aggregate[method][name] = why
    for method, value in perc.fid().items():
        aggregate[method]["fid"] = value if isinstance(value, str) else {"value": value, "n": len(cases)}
    return aggregate, unavailable


def _report(net: Model, settings: dict, methods, cases, aggregate, unavailable) -> dict:
    return {
        "format": FORMAT,
        "model": {"name": net.name, "kind": getattr(net, "kind", type(net).__name__),
                  "source": str(getattr(net, "source", net.name)), "provider": getattr(net, "provider", None)},
        "settings": settings,
        "methods": methods,
        "n_cases": len(cases),
        "cases": cases,
        "aggregate": aggregate,
        "unavailable": unavailable,
        "skipped": [],
        "notes": {
            "swd": (f"sliced Wasserstein-1 distance of {metrics.SWD_PATCH}x{metrics.SWD_PATCH} patch "
                    f"distributions, {metrics.SWD_DIRECTIONS} projections (seed {metrics.SWD_SEED}), "
                    f"scales 1/{', 1/'.join(map(str, metrics.SWD_SCALES))} averaged; intensities in [0, 1]"),
            "ssim_ring": "SSIM map (7x7 window) averaged outside the centre quarter, which is the given input",
            "weights": hint(),
            "seconds": "wall time of one expand call per image after one untimed warm-up run",
        },
    }


def _expand(net: Model, given: np.ndarray) -> np.ndarray:
    try:
        out = np.asarray(net.expand(given[None]))
    except EvalError:
        raise
    except Exception as exc:   # the model's own failure, reported as one line naming the model
        raise EvalError(f"model {net.name} failed on a {given.shape[1]} x {given.shape[0]} input: "
                        f"{type(exc).__name__}: {exc}") from exc
    h, w = given.shape[:2]
    if out.shape != (1, 2 * h, 2 * w, given.shape[2]):
        raise EvalError(f"model {net.name} returned shape {out.shape[1:]} for a {h} x {w} input, "
                        f"expected {(2 * h, 2 * w, given.shape[2])}")
    return np.clip(out[0], 0.0, 1.0).astype(np.float32, copy=False)
