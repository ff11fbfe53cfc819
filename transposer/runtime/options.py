"""The options of an expansion, defined once for every front end.

Two frozen dataclasses, checked when they are built, so an instance is always valid:

    ExpandOptions(scale=4, seamless="xy", seed=7, variation=0.3)   what one expansion makes
    SessionOptions(model="default", device="cpu", threads=2)       how the model runs

`OPTION_SPECS` is the one table of their ranges, choices, defaults, units, labels and help text.
The CLI's flags, the desktop app's widgets and the Blender extension's properties are built
from it (tests compare them), so an option has one unit and one range everywhere: `variation`
is a fraction in [0, 1] (the model's noise_mix input), the seed a 31-bit integer (what Qt's and
Blender's integer widgets hold), a size side a whole number of pixels.

A bad value raises OptionError (an ExpandError) naming the parameter, its range and the value.
This module imports nothing heavier than the standard library, so front ends can build their
widgets from it without loading onnxruntime.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Optional, Union

from .errors import ExpandError


class OptionError(ExpandError):
    """An option out of its range: `name`, `allowed` (e.g. "(1, 16]") and `value` say which."""

    def __init__(self, name: str, allowed: str, value: Any, message: str):
        super().__init__(message)
        self.name, self.allowed, self.value = name, allowed, value


@dataclass(frozen=True)
class OptionSpec:
    """One option: what every front end needs to offer it and the runtime needs to check it."""

    name: str  # field name of ExpandOptions / SessionOptions; the CLI flag is --name, "_" -> "-"
    label: str  # short widget label
    help: str  # what it does, without range or default (help_text() adds those)
    default: Any
    kind: str  # "float" | "int" | "choice" | "text"
    low: Any = None  # bounds of a number, in the option's unit
    high: Any = None
    low_open: bool = False  # the range excludes `low` (scale: the output must be larger)
    optional: bool = False  # None is allowed too (threads: onnxruntime decides)
    decimals: int = 0  # widget precision of a float option
    step: float = 1.0  # widget step
    unit: str = ""  # widget suffix: "x", "px"
    choices: tuple = ()  # kind "choice": the values, in display order
    choice_labels: tuple = ()  # (label, description) per choice, for combo boxes and enums

    def range_text(self) -> str:
        """The allowed values as the error messages and help texts write them."""
        if self.kind == "choice":
            return ", ".join(self.choices)
        if self.kind == "text":
            return "a model name or an .onnx path"
        return f"{'(' if self.low_open else '['}{self.low}, {self.high}]"

    def widget_range(self) -> tuple:
        """The closed range a widget can hold: an open lower bound moves up by one widget step
        of the option's precision (scale: 1.01 at two decimals)."""
        low = self.low + 10.0 ** -self.decimals if self.low_open else self.low
        return (low, self.high)

    def label_of(self, choice) -> str:
        return self.choice_labels[self.choices.index(choice)][0]

    def help_text(self) -> str:
        """help + range + default: the CLI's --help line and the widgets' tooltips."""
        if self.kind == "choice":
            described = "; ".join(f"{c} = {d}" for c, (_, d) in zip(self.choices, self.choice_labels))
            return f"{self.help} {described}. Default: {self.default}."
        if self.kind == "text":
            return f"{self.help} Default: {self.default}."
        default = "none" if self.default is None else f"{self.default:g}" if self.kind == "float" else self.default
        kind = "A number" if self.kind == "float" else "An integer"
        text = f"{self.help} {kind} in {self.range_text()}"
        return f"{text}{', or none' if self.optional else ''}. Default: {default}."

    def check(self, value, name: Optional[str] = None):
        """Return `value` (numbers as int or float) if allowed, else raise OptionError."""
        name = name or self.name
        if value is None and self.optional:
            return None
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise OptionError(name, self.range_text(), value,
                                  f"{name} must be one of {self.range_text()}; got {value!r}")
            return value
        if self.kind == "text":
            if not isinstance(value, (str, os.PathLike)) or not 0 < len(os.fspath(value).strip()) <= 4096:
                raise OptionError(name, self.range_text(), value,
                                  f"{name} must be a registered model name or a path to an .onnx file; got {value!r}")
            return value
        number = _as_number(value, integer=self.kind == "int")
        low_ok = number is not None and (number > self.low if self.low_open else number >= self.low)
        if number is None or not low_ok or not number <= self.high:  # NaN fails both
            kind = "an integer" if self.kind == "int" else "a number"
            raise OptionError(name, self.range_text(), value,
                              f"{name} must be {kind} in {self.range_text()}; got {value!r}")
        return number


def _as_number(value, integer: bool):
    """value as int (integer) or float, or None when it is not such a number. numpy scalars
    count (numbers.Integral/Real include them); bools do not."""
    if isinstance(value, bool):
        return None
    if integer:
        return int(value) if isinstance(value, numbers.Integral) else None
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if math.isnan(number) else number
    return None


_SEAMLESS = ("none", "x", "y", "xy")

OPTION_SPECS: dict[str, OptionSpec] = {spec.name: spec for spec in (
    # --- ExpandOptions: what one expansion makes
    OptionSpec("scale", "Scale", "Output side / input side (the output must be larger).", 2.0, "float",
               low=1, high=16, low_open=True, decimals=2, step=0.5, unit="x"),
    OptionSpec("size", "Size", "Exact output width and height in pixels, each at least the input's; any aspect "
               "ratio (repeated 2x passes, then a centre crop).", None, "int", low=1, high=65536, optional=True,
               step=64, unit="px"),
    OptionSpec("seamless", "Seamless", "Make the output tile without seams along these axes.", "none", "choice",
               choices=_SEAMLESS, choice_labels=(("Off", "no tiling"), ("Left-right (x)", "tiles along x"),
                                                 ("Top-bottom (y)", "tiles along y"), ("Both (xy)", "tiles along both"))),
    OptionSpec("seed", "Seed", "Seed of the synthesis stage's choices and of the variation noise: the same seed "
               "and the same input give the same result, another seed another variation (with network only, "
               "the seed matters only while variation is above 0).", 0, "int", low=0, high=2**31 - 1),
    OptionSpec("variation", "Variation", "0 arranges copies by the texture's self-similarity (faithful); towards "
               "1 by noise drawn from the seed, for irregular textures and several different results.", 0.0,
               "float", low=0.0, high=1.0, decimals=2, step=0.1),
    OptionSpec("synthesis", "Synthesis", "How the output is made.", "coherent", "choice",
               choices=("coherent", "network"),
               choice_labels=(("Coherent", "the network's arrangement refined by the synthesis stage into "
                                           "coherent pieces of the input"),
                              ("Network only (raw Transposer)", "the network's own output, as in the paper"))),
    # --- SessionOptions: how the model runs
    OptionSpec("model", "Model", "A registered model name or a path to a transposer .onnx file.", "default", "text"),
    OptionSpec("device", "Device", "Where the network runs.", "auto", "choice", choices=("auto", "cpu", "cuda"),
               choice_labels=(("Automatic", "CUDA (or the platform's GPU provider) when it really starts, else CPU"),
                              ("CPU", "the CPU only"), ("CUDA GPU", "CUDA, or an error if it does not start"))),
    OptionSpec("threads", "CPU threads", "CPU threads for onnxruntime; none = onnxruntime's choice (all cores).",
               None, "int", low=1, high=1024, optional=True),
    OptionSpec("analysis_size", "Analysis size", "Largest input side the network runs on; larger passes follow "
               "`large`.", 512, "int", low=64, high=16384, step=64, unit="px"),
    OptionSpec("large", "Large images", "How passes above the analysis size run.", "warp", "choice",
               choices=("warp", "tiles"),
               choice_labels=(("Warp", "the network sees a downscaled copy and its coordinates place "
                                       "full-resolution pixels (fast, bounded memory)"),
                              ("Tiles", "the canvas grows ring by ring with full network calls (the network's "
                                        "own refinement everywhere; many calls, for GPUs)"))),
)}

SCALE, SIZE, SEAMLESS, SEED, VARIATION, SYNTHESIS = (OPTION_SPECS[n] for n in (
    "scale", "size", "seamless", "seed", "variation", "synthesis"))
MODEL, DEVICE, THREADS, ANALYSIS_SIZE, LARGE = (OPTION_SPECS[n] for n in (
    "model", "device", "threads", "analysis_size", "large"))


@dataclass(frozen=True)
class ExpandOptions:
    """What one expansion makes; checked when built (OptionError names what is wrong).

    Give `scale` or `size`, not both; neither means scale 2. `seamless` takes None or "none"
    (stored as None), "x", "y" or "xy"."""

    scale: Optional[float] = None  # output side / input side, SCALE; None when `size` is given
    size: Optional[tuple[int, int]] = None  # (width, height) in pixels, each side SIZE
    seamless: Optional[str] = None  # None | "x" | "y" | "xy": axes along which the output tiles
    seed: int = 0  # SEED: draws the synthesis stage's choices and the variation noise
    variation: float = 0.0  # VARIATION, a fraction: 0 = by self-similarity, 1 = by the seeded noise
    synthesis: str = "coherent"  # SYNTHESIS: "coherent" | "network" (the raw network output)

    def __post_init__(self):
        if self.scale is not None and self.size is not None:
            raise OptionError("scale", "scale or size", (self.scale, self.size),
                              f"give scale or size, not both; got scale={self.scale!r}, size={self.size!r}")
        if self.size is None:
            scale = 2.0 if self.scale is None else float(SCALE.check(self.scale))
            object.__setattr__(self, "scale", scale)
        else:
            try:
                width, height = self.size
            except (TypeError, ValueError):
                raise OptionError("size", "(width, height)", self.size,
                                  f"size must be (width, height); got {self.size!r}") from None
            object.__setattr__(self, "size", (SIZE.check(width, "size width"), SIZE.check(height, "size height")))
        seamless = "none" if self.seamless is None else self.seamless
        object.__setattr__(self, "seamless", None if SEAMLESS.check(seamless) == "none" else seamless)
        object.__setattr__(self, "seed", SEED.check(self.seed))
        object.__setattr__(self, "variation", float(VARIATION.check(self.variation)))
        SYNTHESIS.check(self.synthesis)

    @property
    def seed_matters(self) -> bool:
        """Whether the seed changes the result: always with the synthesis stage (it draws among
        near-best pieces); with the raw network only through the variation noise."""
        return self.synthesis == "coherent" or self.variation > 0

    @property
    def noise_mix(self) -> float:
        """The model's noise_mix input: the variation, in the same unit."""
        return self.variation

    @property
    def wrap(self) -> tuple[bool, bool]:
        """(rows wrap, columns wrap): whether the output tiles along y and x."""
        axes = self.seamless or ""
        return "y" in axes, "x" in axes

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of the result for an input of `width` x `height`; raises OptionError
        when `size` is smaller than the input or equal to it."""
        if self.size is None:
            return max(height, round(height * self.scale)), max(width, round(width * self.scale))
        tw, th = self.size
        if tw < width or th < height or (tw, th) == (width, height):
            raise OptionError("size", f"at least {width} x {height}", self.size,
                              f"size must be at least the input's {width} x {height} and larger on one axis; "
                              f"got {tw} x {th}")
        return th, tw


@dataclass(frozen=True)
class SessionOptions:
    """How the model runs; checked when built. Expander(SessionOptions(...)) opens it."""

    model: Union[str, "os.PathLike"] = "default"  # MODEL: registry name or .onnx path
    device: str = "auto"  # DEVICE: "auto" | "cpu" | "cuda"
    threads: Optional[int] = None  # THREADS; None = onnxruntime's choice
    analysis_size: int = 512  # ANALYSIS_SIZE: largest input side the network sees
    large: str = "warp"  # LARGE: how passes above analysis_size run

    def __post_init__(self):
        for spec in (MODEL, DEVICE, THREADS, ANALYSIS_SIZE, LARGE):
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))

