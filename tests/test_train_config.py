"""TrainConfig: every shipped config loads, TOML round-trips, bad keys and values are named."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from transposer.train.config import (CONFIG_DIRS, ConfigError, TrainConfig, config_diff,
                                     config_from_dict, dump_config, load_config)

SHIPPED = sorted(p.stem for p in CONFIG_DIRS[0].glob("*.toml"))


def test_the_required_configs_ship():
    assert {"paper", "vgg-gram", "transposer-gram", "vgg-swd", "transposer-swd", "default",
            "tiny"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads_and_round_trips(name):
    cfg = load_config(name)
    again = config_from_dict(tomllib.loads(dump_config(cfg, header="x")))
    assert again == cfg
    assert config_diff(cfg, again) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_every_key_of_a_shipped_config_is_commented(name):
    path = CONFIG_DIRS[0] / f"{name}.toml"
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line.split("=", 1)[1], f"{path.name}:{n} has no comment: {line!r}"


def test_paper_and_reimplementation_settings():
    paper = load_config("paper")
    assert paper.model.shift_radius == 0.5 and paper.model.ssm_norm == "plain"
    assert paper.loss.gram > 0 and paper.loss.content > 0 and paper.loss.adversarial > 0
    assert paper.loss.l1 > 0
    for name, encoder, style, batch in [("vgg-gram", "vgg", "gram", 24), ("transposer-gram", "paper", "gram", 24),
                                        ("vgg-swd", "vgg", "swd", 16), ("transposer-swd", "paper", "swd", 16)]:
        cfg = load_config(name)
        assert cfg.model.encoder == encoder
        assert getattr(cfg.loss, style) > 0
        assert getattr(cfg.loss, "swd" if style == "gram" else "gram") == 0
        assert (cfg.batch_size, cfg.epochs, cfg.lr, cfg.schedule) == (batch, 600, 0.0032, "step")
        assert (cfg.step_epochs, cfg.step_gamma) == (150, 0.1)
    tiny = load_config("tiny")
    assert tiny.model.name == "tiny"
    assert {k for k, v in dataclasses.asdict(tiny.loss).items() if isinstance(v, float) and v} \
        <= {"l1", "patch_swd"}     # nothing that needs VGG weights
    default = load_config("default")
    assert default.data.crop_size == 128 and default.schedule == "cosine" and default.warmup_steps > 0


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, needle", [
    ("[train]\nlrr = 0.1\n", "train.lrr"),
    ("[model]\nchanels = [1, 2, 3]\n", "model.chanels"),
    ("[loss]\nl2 = 1.0\n", "loss.l2"),
    ("[data]\ncrop = 64\n", "data.crop"),
    ("[optim]\nlr = 1.0\n", "optim"),
    ("[model]\npreset = \"huge\"\n", "model.preset"),
    ("[train]\nbatch_size = \"8\"\n", "train.batch_size"),
    ("[train]\nbatch_size = 0\n", "train.batch_size"),
    ("[train]\nschedule = \"linear\"\n", "train.schedule"),
    ("[train]\nema_decay = 1.5\n", "train.ema_decay"),
    ("[model]\npreset = \"tiny\"\n[data]\ncrop_size = 40\n", "crop_size"),
    ("[train]\nlr = \n", "invalid TOML"),
])
def test_bad_config_names_the_key(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_preset_with_overrides(tmp_path):
    cfg = load_config(_write(tmp_path, '[model]\npreset = "tiny"\ngroups = 3\n'))
    assert cfg.model.name == "tiny" and cfg.model.groups == 3 and cfg.model.channels == (8, 16, 16)


def test_unknown_config_name_lists_the_choices():
    with pytest.raises(ConfigError, match="tiny"):
        load_config("no-such-config")


def test_learning_rate_schedules():
    cfg = load_config("default")
    lrs = [cfg.lr_at(s) for s in range(0, cfg.total_steps(), max(1, cfg.total_steps() // 200))]
    peak = max(lrs)
    assert peak == pytest.approx(cfg.lr, rel=1e-2)
    assert cfg.lr_at(0) < cfg.lr / 10                                  # warm-up starts low
    after = [cfg.lr_at(s) for s in range(cfg.warmup_steps, cfg.total_steps(), 97)]
    assert all(a >= b for a, b in zip(after, after[1:]))               # cosine only decreases
    assert cfg.lr_at(cfg.total_steps() - 1) == pytest.approx(cfg.lr * cfg.lr_min_ratio, rel=1e-3)

    step = load_config("vgg-gram")
    per = step.step_epochs * step.steps_per_epoch()
    assert step.lr_at(per - 1) == pytest.approx(0.0032)
    assert step.lr_at(per) == pytest.approx(0.00032)
    assert step.lr_at(3 * per) == pytest.approx(0.0000032)


def test_config_diff_names_changed_keys():
    a = TrainConfig()
    b = dataclasses.replace(a, lr=1e-3, data=dataclasses.replace(a.data, crop_size=128))
    assert config_diff(a, b) == ["train.lr", "data.crop_size"]
