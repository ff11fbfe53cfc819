"""The options of the right-hand panel: one typed, validated object, remembered with QSettings.

Every range, choice and default comes from the runtime's OPTION_SPECS (the table the CLI and the
Blender extension use too), and validation is the runtime's own: AppOptions turns into the
runtime's ExpandOptions and SessionOptions, which check themselves. The panel widgets already
keep values in range; validation here protects against hand-edited or stale settings files and
against the headless command line, which both bypass the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from PyQt6.QtCore import QByteArray, QSettings

from transposer.runtime import OPTION_SPECS, ExpandOptions, OptionError, SessionOptions

SIZE_MODES = ("scale", "size")
SCALE_PRESETS = (2.0, 4.0)
SAVE_FORMATS = ("source", ".png", ".tif", ".exr")
SAVE_DEPTHS = (0, 8, 16)  # 0 = like the source file

ORGANISATION = "transposer"
APPLICATION = "transposer-app"

__all__ = ["AppOptions", "OptionError", "SettingsStore", "OPTION_SPECS"]


@dataclass(frozen=True)
class AppOptions:
    """The panel's state: the runtime's options, plus the size the panel remembers while it is in
    scale mode (and the other way round). Units and ranges: OPTION_SPECS."""

    size_mode: str = "scale"  # "scale": multiply both sides by `scale`; "size": exact width x height
    scale: float = OPTION_SPECS["scale"].default  # output side / input side
    width: int = 1024  # target width in pixels when size_mode == "size"
    height: int = 1024  # target height in pixels when size_mode == "size"
    seamless: str = OPTION_SPECS["seamless"].default  # none | x | y | xy
    variation: float = OPTION_SPECS["variation"].default  # fraction of noise in the arrangement, 0..1
    seed: int = OPTION_SPECS["seed"].default  # seed of the synthesis and the noise (ExpandOptions.seed_matters)
    synthesis: str = OPTION_SPECS["synthesis"].default  # coherent | network (the raw network output)
    device: str = OPTION_SPECS["device"].default  # auto | cpu | cuda
    model: str = OPTION_SPECS["model"].default  # a registered model name or a path to an .onnx file

    def validated(self) -> AppOptions:
        """self, once the runtime accepts every value (else its OptionError)."""
        _check_choice("size mode", self.size_mode, SIZE_MODES)
        OPTION_SPECS["scale"].check(self.scale)
        for name in ("width", "height"):  # remembered while in scale mode: must stay valid too
            OPTION_SPECS["size"].check(getattr(self, name), name)
        self.expand_options()
        self.session_options()
        return self

    def expand_options(self) -> ExpandOptions:
        """The runtime's options for Expander.expand."""
        by_size = self.size_mode == "size"
        return ExpandOptions(scale=None if by_size else self.scale, size=(self.width, self.height) if by_size else None,
                             seamless=self.seamless, seed=self.seed, variation=self.variation,
                             synthesis=self.synthesis)

    def session_options(self) -> SessionOptions:
        return SessionOptions(model=self.model, device=self.device)

    def result_key(self) -> tuple:
        """What decides the pixels of a result. The device does not, so switching it keeps results."""
        size = ("size", self.width, self.height) if self.size_mode == "size" else ("scale", self.scale)
        seed = self.seed if self.expand_options().seed_matters else None
        return (*size, self.seamless, self.variation, seed, self.synthesis, self.model)

    def describe(self) -> str:
        """Short human text, e.g. '2x, seamless xy, variation 0.3 seed 4, network only'."""
        size = f"{self.width} x {self.height}" if self.size_mode == "size" else f"{self.scale:g}x"
        seam = "" if self.seamless == "none" else f", seamless {self.seamless}"
        noise = f", variation {self.variation:g}" if self.variation else ""
        noise += f" seed {self.seed}" if self.expand_options().seed_matters else ""
        synthesis = "" if self.synthesis == OPTION_SPECS["synthesis"].default else ", network only"
        return f"{size}{seam}{noise}{synthesis}"


def _check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        text = ", ".join(map(str, allowed))
        raise OptionError(name, text, value, f"{name} must be one of {text}; got {value!r}")


class SettingsStore:
    """Typed access to the app's QSettings.

    Pass a QSettings to keep tests (and the headless mode) away from the user's own settings.
    A value that is missing, of the wrong type or out of range falls back to its default, so a
    damaged settings file never stops the app from starting.
    """

    def __init__(self, qsettings: QSettings | None = None):
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANISATION, APPLICATION)

    def load_options(self) -> AppOptions:
        defaults = AppOptions()
        values = {}
        for field in fields(AppOptions):
            default = getattr(defaults, field.name)
            raw = self.qsettings.value(f"options/{field.name}", default)
            try:
                value = type(default)(raw)
                replace(defaults, **{field.name: value}).validated()
            except (TypeError, ValueError):
                value = default
            values[field.name] = value
        return AppOptions(**values)

    def save_options(self, options: AppOptions) -> None:
        for field in fields(AppOptions):
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
