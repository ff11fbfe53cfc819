"""TrainConfig: the whole recipe of a training run, read from and written to TOML.

A config file has four tables: [train] (the optimisation fields of TrainConfig), [model]
(ModelConfig; `preset = "tiny"` starts from a named preset and the other keys override it),
[data] (DataConfig) and [loss] (LossConfig). Every key must be known: a typo is an error that
names the key, because a silently ignored key means a run that trains something else than asked.

The run folder keeps the fully resolved config (`config.toml`, every field written out), so a
run can be resumed or repeated without the file it started from.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from transposer.data import DataConfig
from transposer.losses import LossConfig
from transposer.model.config import PRESETS, ModelConfig

# configs/ sits at the repository root, beside the package (editable installs and checkouts).
CONFIG_DIRS = (Path(__file__).resolve().parents[2] / "configs", Path.cwd() / "configs")


class ConfigError(ValueError):
    """A config file or value that cannot be used; the message names the key and the value."""


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    # --- schedule -------------------------------------------------------------------------
    seed: int = 0                    # seeds model init, data order and every RNG of the run
    batch_size: int = 16             # global batch; split evenly across DDP processes
    epochs: int = 100                # one epoch = data.samples_per_epoch samples
    # --- generator optimiser ----------------------------------------------------------------
    optimizer: str = "adam"          # "adam" | "adamw"
    lr: float = 2e-4                 # peak learning rate
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0        # decoupled with "adamw", L2 with "adam"
    schedule: str = "cosine"         # "cosine" (to lr * lr_min_ratio) | "step" | "constant"
    warmup_steps: int = 0            # linear ramp from 0 to lr over this many steps
    lr_min_ratio: float = 0.01       # cosine: final lr as a fraction of lr
    step_epochs: int = 150           # step: multiply lr by step_gamma every step_epochs epochs
    step_gamma: float = 0.1
    grad_clip: float = 1.0           # max global gradient norm (0 = no clipping)
    # --- discriminator (used only when loss.adversarial > 0) --------------------------------
    disc_lr: float = 2e-4
    disc_betas: tuple[float, float] = (0.0, 0.99)
    # --- weights, precision, input pipeline -------------------------------------------------
    ema_decay: float = 0.999         # EMA of the generator weights; the snapshot holds the EMA
    precision: str = "bf16"          # CUDA autocast: "bf16" | "fp16" (with GradScaler) | "fp32"; CPU: fp32
    num_workers: int = 4             # DataLoader worker processes (0 = load in the main process)
    # --- fine-tuning -------------------------------------------------------------------------
    init: str = ""                   # a new run starts from this snapshot's weights ("" = fresh init)
    freeze: tuple[str, ...] = ()     # parameter-name prefixes kept fixed, e.g. ["encoder", "map2"]
    # --- bookkeeping (in steps) --------------------------------------------------------------
    log_every: int = 50              # metrics.jsonl / TensorBoard scalars (means over the interval)
    image_every: int = 1000          # TensorBoard image grid input | output | target
    save_every: int = 1000           # state.pt + snapshot.safetensors (also written at exit)
    max_bad_steps: int = 20          # this many non-finite losses in a row abort the run

    def steps_per_epoch(self) -> int:
        return max(1, self.data.samples_per_epoch // self.batch_size)

    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch()

    def lr_at(self, step: int) -> float:
        """Learning rate for optimizer step `step` (0-based): a pure function, so resume needs no
        scheduler state beyond the step counter."""
        if self.warmup_steps and step < self.warmup_steps:
            warm = (step + 1) / self.warmup_steps
        else:
            warm = 1.0
        if self.schedule == "constant":
            factor = 1.0
        elif self.schedule == "step":
            factor = self.step_gamma ** (step // (self.step_epochs * self.steps_per_epoch()))
        else:
            total = max(1, self.total_steps() - self.warmup_steps)
            t = min(1.0, max(0, step - self.warmup_steps) / total)
            factor = self.lr_min_ratio + (1 - self.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return self.lr * warm * factor

    def validate(self) -> "TrainConfig":
        def need(ok: bool, key: str, allowed: str, value) -> None:
            if not ok:
                raise ConfigError(f"train.{key} must be {allowed}, got {value!r}")

        for key in ("batch_size", "epochs", "log_every", "image_every", "save_every", "max_bad_steps",
                    "step_epochs"):
            need(getattr(self, key) >= 1, key, "an integer >= 1", getattr(self, key))
        for key in ("warmup_steps", "num_workers", "seed"):
            need(getattr(self, key) >= 0, key, "an integer >= 0", getattr(self, key))
        for key in ("lr", "disc_lr"):
            need(0 < getattr(self, key) < 1, key, "in (0, 1)", getattr(self, key))
        need(self.optimizer in ("adam", "adamw"), "optimizer", "'adam' or 'adamw'", self.optimizer)
        need(self.schedule in ("cosine", "step", "constant"), "schedule",
             "'cosine', 'step' or 'constant'", self.schedule)
        need(self.precision in ("bf16", "fp16", "fp32"), "precision", "'bf16', 'fp16' or 'fp32'",
             self.precision)
        for key in ("betas", "disc_betas"):
            b = getattr(self, key)
            need(len(b) == 2 and all(0 <= x < 1 for x in b), key, "two numbers in [0, 1)", b)
        need(0 <= self.weight_decay < 1, "weight_decay", "in [0, 1)", self.weight_decay)
        need(0 <= self.lr_min_ratio <= 1, "lr_min_ratio", "in [0, 1]", self.lr_min_ratio)
        need(0 < self.step_gamma <= 1, "step_gamma", "in (0, 1]", self.step_gamma)
        need(self.grad_clip >= 0, "grad_clip", ">= 0 (0 = off)", self.grad_clip)
        need(0 <= self.ema_decay < 1, "ema_decay", "in [0, 1)", self.ema_decay)
        need(all(isinstance(x, str) and x for x in self.freeze), "freeze",
             "a list of parameter-name prefixes", list(self.freeze))
        need(self.data.samples_per_epoch >= self.batch_size, "batch_size",
             f"<= data.samples_per_epoch ({self.data.samples_per_epoch})", self.batch_size)
        # The input is the centre S/2 crop, which the encoder needs in multiples of input_multiple.
        crop, m = self.data.crop_size, self.model.input_multiple
        if not (crop % 4 == 0 and (crop // 2) % m == 0 and crop // 2 >= 2 * m):
            raise ConfigError(f"data.crop_size must be a multiple of {max(4, 2 * m)} and >= {4 * m} "
                              f"for encoder {self.model.encoder!r}, got {crop}")
        return self


# --------------------------------------------------------------------------------------------
# dict / TOML conversion

_TRAIN_FIELDS = [f for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "data", "loss")]


def _default_of(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _coerce(key: str, value, default):
    """Convert a TOML value to the type of the field's default; errors name the key."""
    def bad(kind: str):
        return ConfigError(f"{key} must be {kind}, got {value!r}")

    if default is None:                        # optional fields (paths): a string
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(default, (tuple, list)):
        if not isinstance(value, list):
            raise bad("an array")
        if default:                            # elements take the type of the default's first
            value = [_coerce(f"{key}[{i}]", v, default[0]) for i, v in enumerate(value)]
        return tuple(value) if isinstance(default, tuple) else list(value)
    return value


def _build(cls, table: dict, section: str, base=None):
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    base = base if base is not None else cls()
    values = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"unknown key {section}.{key} (known: {', '.join(sorted(fields))})")
        values[key] = _coerce(f"{section}.{key}", value, getattr(base, key))
    try:
        return dataclasses.replace(base, **values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from None


def config_from_dict(d: dict) -> TrainConfig:
    unknown = set(d) - {"train", "model", "data", "loss"}
    if unknown:
        raise ConfigError(f"unknown table(s) {sorted(unknown)}; use [train], [model], [data], [loss]")
    model_table = dict(d.get("model", {}))
    preset = model_table.pop("preset", None)
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"model.preset must be one of {sorted(PRESETS)}, got {preset!r}")
    base_model = dataclasses.replace(PRESETS[preset]) if preset else ModelConfig()
    train_table = d.get("train", {})
    if not isinstance(train_table, dict):
        raise ConfigError("[train] must be a table")
    train_defaults = {f.name: _default_of(f) for f in _TRAIN_FIELDS}
    cfg = TrainConfig(
        model=_build(ModelConfig, model_table, "model", base_model),
        data=_build(DataConfig, d.get("data", {}), "data"),
        loss=_build(LossConfig, d.get("loss", {}), "loss"),
    )
    known = {f.name for f in _TRAIN_FIELDS}
    for key, value in train_table.items():
        if key not in known:
            raise ConfigError(f"unknown key train.{key} (known: {', '.join(sorted(known))})")
        setattr(cfg, key, _coerce(f"train.{key}", value, train_defaults[key]))
    return cfg.validate()


def config_to_dict(cfg: TrainConfig) -> dict:
    return {
        "train": {f.name: getattr(cfg, f.name) for f in _TRAIN_FIELDS},
        "model": dataclasses.asdict(cfg.model),
        "data": dataclasses.asdict(cfg.data),
        "loss": dataclasses.asdict(cfg.loss),
    }


def find_config(name_or_path: str) -> Path:
    """`tiny` -> configs/tiny.toml; anything with a suffix or a slash is a path."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".toml" or "/" in name_or_path or p.is_file():
        if not p.is_file():
            raise ConfigError(f"--config: no such file {str(p)!r}")
        return p
    for folder in CONFIG_DIRS:
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    names = sorted({c.stem for d in CONFIG_DIRS if d.is_dir() for c in d.glob("*.toml")})
    raise ConfigError(f"--config: unknown config {name_or_path!r}; choose one of {names} or give a .toml path")


def load_config(name_or_path: str | Path) -> TrainConfig:
    path = find_config(str(name_or_path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value)               # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def dump_config(cfg: TrainConfig, header: str = "") -> str:
    """Every field written out, so the file alone rebuilds the run (presets are resolved).
    None (an unset optional path) is written as a comment, TOML having no null."""
    lines = [f"# {line}" for line in header.splitlines()]
    for section, table in config_to_dict(cfg).items():
        lines += ["", f"[{section}]"]
        for key, value in table.items():
            if value is None:
                lines.append(f"# {key} = (unset)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def config_diff(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Dotted keys whose values differ (used to refuse resuming with another config)."""
    da, db = config_to_dict(a), config_to_dict(b)
    return [f"{s}.{k}" for s in da for k in da[s] if da[s][k] != db[s].get(k)]
