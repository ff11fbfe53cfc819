"""What a blind comparison compares: a method spec, parsed once, and the outputs it gives per case.

Spec syntax (one string, as typed after --a / --b):
    folder:DIR                  outputs made elsewhere, DIR/STEM.png per case (e.g. a peer program's)
    DIR                         the same, when DIR is an existing folder
    baseline:NAME  or  NAME     a naive baseline: mirror, wrap or bicubic
    model:NAME[,synthesis=coherent|network][,seed=N]
                                the ONNX runtime (registry name or .onnx path) through
                                Expander.expand(given, scale=2.0, seed=N, synthesis=...)

Every output is an (S, S, 3) uint8 image: sheets show what a PNG of it shows, so a render read back
from the cache and a fresh render look the same. Rendered methods (model, baseline) are written to
RENDERS/<slug>/STEM.png with a manifest.json naming the method, the size and, for a model, the
sha256 of its file; a later run with the same manifest reads them back instead of rendering again,
and each rendered folder can itself be compared as folder:DIR. The cache cannot see changes to the
runtime's code, only to the model file: pass rerender after such a change.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from transposer.runtime.session import sha256

from .baselines import BASELINES
from .protocol import Case, EvalError

SYNTHESIS = ("coherent", "network")   # transposer.runtime's SYNTHESIS_MODES, default first
MODEL_OPTIONS = {"synthesis": "coherent", "seed": "0"}
SPEC_HELP = ("folder:DIR, baseline:mirror|wrap|bicubic, or "
             "model:NAME[,synthesis=coherent|network][,seed=N]")


@dataclass(frozen=True)
class MethodSpec:
    kind: str                          # "folder" | "baseline" | "model"
    target: str                        # the folder, the baseline's name, or the model's name / .onnx path
    options: tuple = ()                # sorted (key, value) pairs, models only

    @property
    def label(self) -> str:
        """The canonical spelling, written into the key and the scores (never into a sheet)."""
        text = f"{self.kind}:{self.target}"
        return text + "".join(f",{k}={v}" for k, v in self.options)

    def option(self, key: str) -> str:
        return dict(self.options)[key]


def parse_method(text: str, option: str = "--a") -> MethodSpec:
    """Parse and check a spec; errors name the option, the accepted forms and the given text."""
    text = str(text).strip()
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("folder", "baseline", "model"):
        if text in BASELINES:
            return MethodSpec("baseline", text)
        if text and Path(text).expanduser().is_dir():
            return MethodSpec("folder", str(Path(text).expanduser()))
        raise EvalError(f"{option}: expected {SPEC_HELP}, or an existing folder; got {text!r}")
    if kind == "folder":
        folder = Path(rest).expanduser()
        if not folder.is_dir():
            raise EvalError(f"{option}: not a folder: {rest!r}")
        return MethodSpec("folder", str(folder))
    if kind == "baseline":
        if rest not in BASELINES:
            raise EvalError(f"{option}: baseline must be one of {', '.join(BASELINES)}; got {rest!r}")
        return MethodSpec("baseline", rest)
    name, *pairs = rest.split(",")
    if not name:
        raise EvalError(f"{option}: model: give a registry name or an .onnx file, e.g. model:default; got {text!r}")
    options = dict(MODEL_OPTIONS)
    for pair in pairs:
        key, eq, value = (s.strip() for s in pair.partition("="))
        if not eq or key not in MODEL_OPTIONS:
            raise EvalError(f"{option}: model options are {', '.join(f'{k}=...' for k in MODEL_OPTIONS)}; "
                            f"got {pair!r}")
        options[key] = value
    if options["synthesis"] not in SYNTHESIS:
        raise EvalError(f"{option}: synthesis must be one of {', '.join(SYNTHESIS)}; got {options['synthesis']!r}")
    if not options["seed"].isdigit():
        raise EvalError(f"{option}: seed must be an integer >= 0; got {options['seed']!r}")
    options["seed"] = str(int(options["seed"]))
    return MethodSpec("model", name, tuple(sorted(options.items())))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def output_name(case: Case) -> str:
    """STEM.png, keeping sub-folders of --data: the name the peers' folders use."""
    return Path(case.name).with_suffix(".png").as_posix()


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(pixels).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Method:
    """One side of a comparison: `output(case)` -> (S, S, 3) uint8."""

    def __init__(self, spec: MethodSpec, size: int, option: str, *, renders: Path | None = None,
                 rerender: bool = False, device: str = "auto", warn: Callable[[str], None] = lambda m: None):
        self.spec, self.size, self.option, self.warn = spec, size, option, warn
        self._render: Callable[[np.ndarray], np.ndarray] | None = None
        self.cache: Path | None = None
        self._warned_centre = False
        if spec.kind == "folder":
            return
        manifest = {"method": spec.label, "size": size}
        if spec.kind == "baseline":
            self._render = BASELINES[spec.target]
        else:
            self._render, manifest["model_sha256"] = self._open_model(spec, device)
        if renders is not None:
            self.cache = Path(renders) / ("".join(c if c.isalnum() or c in "-_." else "-" for c in spec.label)
                                          + f"_s{size}")
            self._prepare_cache(manifest, rerender)

    def _open_model(self, spec: MethodSpec, device: str):
        try:
            from transposer.runtime import ExpandError, Expander
        except ImportError as exc:
            raise EvalError(f"{self.option} {spec.label}: the ONNX runtime is not usable here: {exc}") from None
        try:
            expander = Expander(model=spec.target, device=device)
        except ExpandError as exc:
            raise EvalError(f"{self.option} {spec.label}: {exc}") from None
        synthesis, seed = spec.option("synthesis"), int(spec.option("seed"))

        def render(given: np.ndarray) -> np.ndarray:
            try:
                return expander.expand(given, scale=2.0, seed=seed, synthesis=synthesis).image
            except ExpandError as exc:
                raise EvalError(f"{self.option} {spec.label}: {exc}") from None
            except Exception as exc:   # the runtime's own failure: one line naming the method
                raise EvalError(f"{self.option} {spec.label} failed on a {given.shape[1]} x {given.shape[0]} "
                                f"input: {type(exc).__name__}: {exc}") from exc

        return render, sha256(Path(expander.model.path))

    def _prepare_cache(self, manifest: dict, rerender: bool) -> None:
        path = self.cache / "manifest.json"
        if path.is_file() and not rerender:
            try:
                if json.loads(path.read_text(encoding="utf-8")) == manifest:
                    return
            except (OSError, ValueError):
                pass
            self.warn(f"{self.option}: cached renders in {self.cache} were made otherwise; rendering again")
        self.cache.mkdir(parents=True, exist_ok=True)
        for old in self.cache.rglob("*.png"):
            old.unlink()
        path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")

    def output(self, case: Case) -> np.ndarray:
        name = output_name(case)
        if self._render is None:
            return self._check(_read_folder(Path(self.spec.target), name, self.option), case, name)
        cached = self.cache / name if self.cache is not None else None
        if cached is not None and cached.is_file():
            return self._check(_read_png(cached), case, name)
        pixels = self._check(to_uint8(self._render(case.given)), case, name)
        if cached is not None:
            _write_png(cached, pixels)
        return pixels

    def _check(self, pixels: np.ndarray, case: Case, name: str) -> np.ndarray:
        if pixels.shape != (self.size, self.size, 3):
            raise EvalError(f"{self.option} {self.spec.label}: {name} is {pixels.shape[1]} x {pixels.shape[0]}, "
                            f"expected {self.size} x {self.size} (--size {self.size})")
        if self.spec.kind == "folder" and not self._warned_centre:
            # A folder made with another --size, crop or image set would show a different centre.
            q = self.size // 4
            centre = pixels[q:q + self.size // 2, q:q + self.size // 2].astype(np.float32) / 255.0
            diff = float(np.abs(centre - case.given).mean())
            if diff > 0.02:
                self._warned_centre = True
                self.warn(f"{self.option} {self.spec.label}: the centre of {name} differs from the input "
                          f"(mean |diff| {diff:.3f}); made with the same --size and images? (said once)")
        return pixels


def _read_folder(folder: Path, name: str, option: str) -> np.ndarray:
    path = folder / name
    if not path.is_file():
        raise EvalError(f"{option} folder:{folder}: no output for this case: {path} is missing")
    try:
        return _read_png(path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise EvalError(f"{option} folder:{folder}: cannot read {path}: {exc}") from None
