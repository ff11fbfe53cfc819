"""The options of the right-hand panel: one typed, validated object, remembered with QSettings.

The panel widgets already keep values in range; validation here protects against hand-edited or
stale settings files and against the headless command line, which both bypass the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from PyQt6.QtCore import QByteArray, QSettings

SIZE_MODES = ("scale", "size")
SEAMLESS_CHOICES = ("none", "x", "y", "xy")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
SCALE_PRESETS = (2.0, 4.0)
# Beyond 16x a 2k texture would become 32k wide: more than a desktop preview or most tools handle.
SCALE_RANGE = (1.0, 16.0)
SIZE_RANGE = (16, 32768)
SEED_RANGE = (0, 2**31 - 1)
VARIATION_RANGE = (0, 100)
SAVE_FORMATS = ("source", ".png", ".tif", ".exr")
SAVE_DEPTHS = (0, 8, 16)  # 0 = like the source file

ORGANISATION = "transposer"
APPLICATION = "transposer-app"


class OptionError(ValueError):
    """A bad option value; the message names the option, its allowed range and the value."""


@dataclass(frozen=True)
class ExpandOptions:
    size_mode: str = "scale"  # "scale": multiply both sides by `scale`; "size": exact width x height
    scale: float = 2.0  # output side / input side, SCALE_RANGE
    width: int = 1024  # target width in pixels when size_mode == "size", SIZE_RANGE
    height: int = 1024  # target height in pixels when size_mode == "size", SIZE_RANGE
    seamless: str = "none"  # axes along which the output tiles: none | x | y | xy
    variation: int = 0  # percent of noise in the arrangement maps (runtime noise_mix); 0 = self-similarity only
    seed: int = 0  # seed of that noise (matters when variation > 0); same seed + same input = same output
    device: str = "auto"  # auto (CUDA, then CPU) | cpu | cuda
    model: str = "default"  # a registered model name or a path to an .onnx file

    def validated(self) -> ExpandOptions:
        _check_choice("size mode", self.size_mode, SIZE_MODES)
        _check_range("scale", self.scale, SCALE_RANGE)
        _check_range("width", self.width, SIZE_RANGE)
        _check_range("height", self.height, SIZE_RANGE)
        _check_choice("seamless", self.seamless, SEAMLESS_CHOICES)
        _check_range("variation", self.variation, VARIATION_RANGE)
        _check_range("seed", self.seed, SEED_RANGE)
        _check_choice("device", self.device, DEVICE_CHOICES)
        if not isinstance(self.model, str) or not 0 < len(self.model.strip()) <= 4096:
            raise OptionError(f"model must be a model name or an .onnx path of 1 to 4096 characters; "
                              f"got {self.model!r}")
        return self

    def expand_kwargs(self) -> dict:
        """Keyword arguments for `Expander.expand`, in the runtime API's terms."""
        kwargs: dict = {"seamless": None if self.seamless == "none" else self.seamless, "seed": self.seed}
        if self.variation:  # passed only when used: the documented API names noise_mix nowhere else
            kwargs["noise_mix"] = self.variation / 100.0
        if self.size_mode == "size":
            kwargs["size"] = (self.width, self.height)
        else:
            kwargs["scale"] = self.scale
        return kwargs

    def result_key(self) -> tuple:
        """What decides the pixels of a result. The device does not, so switching it keeps results."""
        size = ("size", self.width, self.height) if self.size_mode == "size" else ("scale", self.scale)
        seed = self.seed if self.variation else None  # without noise the seed changes nothing
        return (*size, self.seamless, self.variation, seed, self.model)

    def describe(self) -> str:
        """Short human text, e.g. '2x, seamless xy, variation 30% seed 4'."""
        size = f"{self.width} x {self.height}" if self.size_mode == "size" else f"{self.scale:g}x"
        seam = "" if self.seamless == "none" else f", seamless {self.seamless}"
        noise = f", variation {self.variation}% seed {self.seed}" if self.variation else ""
        return f"{size}{seam}{noise}"


def _check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def _check_range(name: str, value, bounds: tuple) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise OptionError(f"{name} must be in [{low:g}, {high:g}]; got {value!r}")


class SettingsStore:
    """Typed access to the app's QSettings.

    Pass a QSettings to keep tests (and the headless mode) away from the user's own settings.
    A value that is missing, of the wrong type or out of range falls back to its default, so a
    damaged settings file never stops the app from starting.
    """

    def __init__(self, qsettings: QSettings | None = None):
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANISATION, APPLICATION)

    def load_options(self) -> ExpandOptions:
        defaults = ExpandOptions()
        values = {}
        for field in fields(ExpandOptions):
            default = getattr(defaults, field.name)
            raw = self.qsettings.value(f"options/{field.name}", default)
            try:
                value = type(default)(raw)
                replace(defaults, **{field.name: value}).validated()
            except (TypeError, ValueError):
                value = default
            values[field.name] = value
        return ExpandOptions(**values)

    def save_options(self, options: ExpandOptions) -> None:
        for field in fields(ExpandOptions):
            self.qsettings.setValue(f"options/{field.name}", getattr(options, field.name))
        self.qsettings.sync()

    @property
    def group_sets(self) -> bool:
        """Whether dropped PBR sets (x_color + x_normal ...) become one item with companion maps."""
        return _as_bool(self.qsettings.value("import/group_sets", True), True)

    @group_sets.setter
    def group_sets(self, value: bool) -> None:
        self.qsettings.setValue("import/group_sets", bool(value))

    @property
    def save_format(self) -> str:
        """Extension for Save All and the Save dialog's default: "source" or ".png"/".tif"/".exr"."""
        value = str(self.qsettings.value("save/format", "source"))
        return value if value in SAVE_FORMATS else "source"

    @save_format.setter
    def save_format(self, value: str) -> None:
        _check_choice("save format", value, SAVE_FORMATS)
        self.qsettings.setValue("save/format", value)

    @property
    def save_depth(self) -> int:
        """Bit depth of saved PNG/TIFF files: 0 = like the source file, 8 or 16."""
        try:
            value = int(self.qsettings.value("save/depth", 0))
        except (TypeError, ValueError):
            return 0
        return value if value in SAVE_DEPTHS else 0

    @save_depth.setter
    def save_depth(self, value: int) -> None:
        _check_choice("save depth", value, SAVE_DEPTHS)
        self.qsettings.setValue("save/depth", int(value))

    @property
    def last_dir(self) -> str:
        return str(self.qsettings.value("paths/last_dir", "") or "")

    @last_dir.setter
    def last_dir(self, value: str) -> None:
        self.qsettings.setValue("paths/last_dir", str(value))

    @property
    def window_geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", value)

    def sync(self) -> None:
        self.qsettings.sync()


def _as_bool(raw, default: bool) -> bool:
    # QSettings' INI backend hands booleans back as the strings "true"/"false".
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return default
