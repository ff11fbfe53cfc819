"""One options contract for every front end: the runtime's OPTION_SPECS table, the option types
checked against it, and the CLI's flags and the desktop app's widgets built from it (the
Blender properties are compared with it inside Blender, in test_blender.py)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import numpy as np
import pytest

from transposer.runtime import OPTION_SPECS, ExpandError, ExpandOptions, OptionError, SessionOptions
from transposer.runtime.options import OptionSpec

EXPAND_FIELDS = ("scale", "size", "seamless", "seed", "variation", "synthesis")
SESSION_FIELDS = ("model", "device", "threads", "analysis_size", "large")


def test_the_table_covers_both_option_types_and_their_defaults():
    assert set(OPTION_SPECS) == set(EXPAND_FIELDS) | set(SESSION_FIELDS)
    expand, session = ExpandOptions(), SessionOptions()
    for name in SESSION_FIELDS:
        assert getattr(session, name) == OPTION_SPECS[name].default, name
    assert expand.scale == OPTION_SPECS["scale"].default and expand.size is None
    assert expand.seamless is None and OPTION_SPECS["seamless"].default == "none"
    for name in ("seed", "variation", "synthesis"):
        assert getattr(expand, name) == OPTION_SPECS[name].default, name
    from transposer.runtime.session import DEVICES

    assert OPTION_SPECS["device"].choices == DEVICES
    assert OPTION_SPECS["synthesis"].label_of("network") == "Network only (raw Transposer)"
    for spec in OPTION_SPECS.values():
        assert spec.help_text().endswith(".") and "Default:" in spec.help_text(), spec.name
        assert len(spec.choice_labels) == len(spec.choices), spec.name


def _outside(spec: OptionSpec):
    step = 1 if spec.kind == "int" else 1e-6
    return [spec.low if spec.low_open else spec.low - step, spec.high + step]


NUMBERS = [spec for spec in OPTION_SPECS.values() if spec.kind in ("int", "float")]


@pytest.mark.parametrize("spec", NUMBERS, ids=[s.name for s in NUMBERS])
def test_number_ranges_are_enforced_with_name_range_and_value(spec):
    low, high = spec.widget_range()
    assert spec.check(low) == low and spec.check(high) == high
    for value in _outside(spec) + ["3", True, float("nan")]:
        with pytest.raises(OptionError) as info:
            spec.check(value)
        message = str(info.value)
        assert message.startswith(spec.name) and spec.range_text() in message and repr(value) in message
        assert info.value.name == spec.name and info.value.allowed == spec.range_text()
        assert isinstance(info.value, ExpandError)


def test_option_types_check_once_when_built():
    assert ExpandOptions(seamless="none").seamless is None  # "none" and None mean the same
    assert ExpandOptions(seed=np.int64(5), variation=np.float32(0.25)) == ExpandOptions(seed=5, variation=0.25)
    assert ExpandOptions(size=(100, 40)).scale is None
    cases = [
        (dict(scale=1), "scale must be a number in (1, 16]; got 1"),
        (dict(scale=2, size=(64, 64)), "give scale or size, not both; got scale=2, size=(64, 64)"),
        (dict(size="big"), "size must be (width, height); got 'big'"),
        (dict(size=(0, 5)), "size width must be an integer in [1, 65536]; got 0"),
        (dict(seed=2**31), "seed must be an integer in [0, 2147483647]; got 2147483648"),
        (dict(variation=30), "variation must be a number in [0.0, 1.0]; got 30"),  # a fraction, not percent
        (dict(seamless="z"), "seamless must be one of none, x, y, xy; got 'z'"),
        (dict(synthesis="magic"), "synthesis must be one of coherent, network; got 'magic'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(OptionError, match=None) as info:
            ExpandOptions(**kwargs)
        assert str(info.value) == message
    with pytest.raises(OptionError, match=r"threads must be an integer in \[1, 1024\]; got 0"):
        SessionOptions(threads=0)
    with pytest.raises(OptionError, match="device must be one of auto, cpu, cuda; got 'gpu'"):
        SessionOptions(device="gpu")
    with pytest.raises(OptionError, match="size must be at least the input's 64 x 64"):
        ExpandOptions(size=(32, 32)).target_size(64, 64)
    assert ExpandOptions(scale=3).target_size(40, 20) == (60, 120)


@pytest.fixture(scope="module")
def edge_model(tmp_path_factory):
    pytest.importorskip("onnx")
    from transposer.runtime.synthetic import write_synthetic_model

    return write_synthetic_model(tmp_path_factory.mktemp("options") / "edge.onnx", "edge")


def test_expander_takes_the_option_objects_and_the_keywords_alike(edge_model):
    from transposer.runtime import Expander

    expander = Expander(SessionOptions(model=edge_model, device="cpu", threads=1))
    assert expander.options == SessionOptions(model=edge_model, device="cpu", threads=1)
    pixels = np.random.default_rng(0).random((32, 40, 3)).astype(np.float32)
    options = ExpandOptions(size=(100, 48), seamless="x", seed=3, variation=0.5, synthesis="network")
    by_object = expander.expand(pixels, options).image
    by_keywords = expander.expand(pixels, size=(100, 48), seamless="x", seed=3, noise_mix=0.5,
                                  synthesis="network").image
    assert by_object.shape == (48, 100, 3)
    np.testing.assert_array_equal(by_object, by_keywords)
    with pytest.raises(ExpandError, match="not both"):
        expander.expand(pixels, options, seed=4)
    with pytest.raises(ExpandError, match="not both"):
        Expander(SessionOptions(model=edge_model), device="cpu")


# --- the CLI's flags ----------------------------------------------------------------------------
def test_cli_flags_are_built_from_the_table():
    from transposer.commands.expand import command

    params = {("size" if p.name == "size_text" else p.name): p for p in command.params}
    for name, spec in OPTION_SPECS.items():
        param = params[name]  # every option has its flag
        assert param.help == spec.help_text(), name
        if spec.kind in ("int", "float"):
            assert spec.range_text() in param.help, name
        if spec.kind == "choice":
            assert tuple(param.type.choices) == spec.choices and param.default == spec.default, name
        elif name not in ("scale", "size"):  # those two default to "not given" (scale 2 then)
            assert param.default == spec.default, name


def test_cli_range_errors_are_the_runtimes(tmp_path):
    from click.testing import CliRunner

    from transposer.cli import main

    for args, message in ((["--seed", str(2**31)], "--seed must be an integer in [0, 2147483647]; got 2147483648"),
                          (["--variation", "30"], "--variation must be a number in [0.0, 1.0]; got 30.0"),
                          (["--scale", "1"], "--scale must be a number in (1, 16]; got 1.0"),
                          (["--analysis-size", "8"], "--analysis-size must be an integer in [64, 16384]; got 8")):
        result = CliRunner().invoke(main, ["expand", str(tmp_path), "-o", str(tmp_path / "o.png"), *args])
        assert result.exit_code == 1 and result.output.strip() == f"Error: {message}", result.output


# --- the desktop app's widgets and headless flags -----------------------------------------------
def test_app_headless_flags_are_built_from_the_table():
    from desktop_app.__main__ import build_parser

    actions = {a.dest: a for a in build_parser()._actions}
    for name in ("scale", "seamless", "variation", "seed", "synthesis", "device", "model"):
        spec, action = OPTION_SPECS[name], actions[name]
        assert action.help == spec.help_text() and action.default == spec.default, name
        assert tuple(action.choices or ()) == spec.choices, name


def test_app_widgets_are_built_from_the_table(qtbot):
    pytest.importorskip("PyQt6")
    from desktop_app.options_panel import OptionsPanel
    from desktop_app.settings import AppOptions

    panel = OptionsPanel()
    qtbot.addWidget(panel)
    spins = {"scale": [panel.scale_spin], "size": [panel.width_spin, panel.height_spin],
             "seed": [panel.seed_spin], "variation": [panel.variation_spin]}
    for name, widgets in spins.items():
        spec = OPTION_SPECS[name]
        for spin in widgets:
            assert (spin.minimum(), spin.maximum()) == pytest.approx(spec.widget_range()), name
            if spec.kind == "float":
                assert spin.decimals() == spec.decimals, name
    combos = {"seamless": panel.seamless_combo, "synthesis": panel.synthesis_combo, "device": panel.device_combo}
    for name, combo in combos.items():
        spec = OPTION_SPECS[name]
        assert tuple(combo.itemData(i) for i in range(combo.count())) == spec.choices, name
        assert tuple(combo.itemText(i) for i in range(combo.count())) == tuple(l for l, _ in spec.choice_labels)
    defaults = AppOptions()
    for name in ("scale", "seamless", "seed", "variation", "synthesis", "device", "model"):
        assert getattr(defaults, name) == OPTION_SPECS[name].default, name
    assert panel.options().expand_options() == ExpandOptions()  # a fresh panel: the runtime's defaults
    # The app's options are the runtime's: the same range errors, word for word.
    with pytest.raises(OptionError, match=r"seed must be an integer in \[0, 2147483647\]; got -1"):
        AppOptions(seed=-1).validated()
