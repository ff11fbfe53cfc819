"""Desktop app (desktop_app/): real Qt events, offscreen, with a fake expander unless noted.

The fake stands in for transposer.runtime.Expander (same call signature and result fields, the
runtime's own ExpandOptions and ExpandCancelled): it grows the image by nearest-neighbour
resampling in a few timed steps, calling progress at each one, so cancelling and a responsive
window can be checked in well under a second.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import functools
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PyQt6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent  # noqa: E402
from PyQt6.QtWidgets import QApplication, QFileDialog, QMessageBox  # noqa: E402

from desktop_app.main_window import MainWindow  # noqa: E402
from desktop_app.preview import to_qimage  # noqa: E402
from desktop_app.queue_model import Status  # noqa: E402
from desktop_app.settings import AppOptions, SettingsStore  # noqa: E402
from desktop_app.texture_sets import group_texture_sets, split_role  # noqa: E402
from transposer.runtime import ExpandCancelled, ExpandOptions  # noqa: E402

WAIT_MS = 10000


class FakeExpander:
    provider = "FakeExecutionProvider"

    def __init__(self, model="default", device="auto", threads=None, step_s=0.0, steps=4, log=None, fail_at=None,
                 before_failing=None):
        self.device, self.step_s, self.steps = device, step_s, steps
        self.fail_at, self.before_failing = fail_at, before_failing  # a bug in step fail_at
        self.log = log if log is not None else []  # (event, detail) as the job goes

    def expand(self, pixels, options: ExpandOptions, progress=None, companions=()):
        assert isinstance(options, ExpandOptions)  # the app hands over the runtime's own options
        self.log.append(("options", options))
        h, w = pixels.shape[:2]
        if min(h, w) < 16:  # like the runtime: too small to expand
            raise ValueError(f"image must be at least 16 x 16 pixels; got {w} x {h}")
        out_h, out_w = options.target_size(w, h)
        companions = [getattr(c, "pixels", c) for c in companions]  # arrays or runtime Companions
        for step in range(1, self.steps + 1):
            time.sleep(self.step_s)
            self.log.append(("step", step))
            if step == self.fail_at:
                if self.before_failing is not None:
                    self.before_failing()
                raise KeyError(f"a bug in step {step}")
            if progress is not None and progress(step, self.steps) is False:
                self.log.append(("cancelled", step))
                raise ExpandCancelled(f"cancelled after {step} of {self.steps} steps")

        def grow(a):
            rows = np.arange(out_h) * a.shape[0] // out_h
            cols = np.arange(out_w) * a.shape[1] // out_w
            return a[rows][:, cols]

        return SimpleNamespace(image=grow(pixels), companions=[grow(c) for c in companions],
                               provider=self.provider, seconds=self.step_s * self.steps)


def write_png(path: Path, width: int = 32, height: int = 24, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)
    return path


@pytest.fixture
def store(tmp_path):
    """Settings in a temp INI file: tests never read or write the user's own settings."""
    return SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, store):
    def make(factory=FakeExpander, settings=None):
        window = MainWindow(expander_factory=factory, settings=settings or store)
        qtbot.addWidget(window)  # closed after the test; closeEvent joins the worker threads
        window.show()
        return window

    return make


def drop(window, paths) -> tuple[bool, bool]:
    """Send a real drag-enter and drop carrying file URLs, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPoint(400, 300), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    dropped = QDropEvent(QPointF(400, 300), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, dropped)
    return enter.isAccepted(), dropped.isAccepted()


def wait_status(qtbot, window, statuses, count=None):
    def settled():
        items = window.model.items()
        assert items and all(i.status in statuses for i in items), [(i.name, i.status, i.message) for i in items]
        if count is not None:
            assert len(items) == count

    qtbot.waitUntil(settled, timeout=WAIT_MS)


def by_name(window, name):
    return next(i for i in window.model.items() if i.name == name)


# ---------------------------------------------------------------------------------------------
def test_pbr_sets_are_grouped_by_base_name_and_role(tmp_path):
    names = ["Bricks001_2K_Color.png", "Bricks001_2K_NormalGL.png", "Bricks001_2K_Roughness.png",
             "brick_wall_diff_2k.png", "brick_wall_nor_gl_2k.png", "brick_wall_ao_2k.png",
             "lonely_normal.png", "stone.png"]
    sets = group_texture_sets([tmp_path / n for n in names])
    summary = {s.guide.name: sorted(role for role, _ in s.companions) for s in sets}
    assert summary == {"Bricks001_2K_Color.png": ["normal", "roughness"],
                       "brick_wall_diff_2k.png": ["ao", "normal"],
                       "lonely_normal.png": [], "stone.png": []}
    assert split_role(Path("wood_basecolor.tif")) == ("wood", "guide")
    assert len(group_texture_sets([tmp_path / n for n in names], group=False)) == len(names)


def test_drop_event_adds_items_and_a_folder_as_one_pbr_set(make_window, qtbot, tmp_path):
    window = make_window()
    single = write_png(tmp_path / "rock.png")
    folder = tmp_path / "bricks"
    folder.mkdir()
    for seed, role in enumerate(("color", "normal", "roughness")):
        write_png(folder / f"bricks_{role}.png", seed=seed)
    (folder / "notes.txt").write_text("not an image; folders only contribute image files")

    accepted_enter, accepted_drop = drop(window, [single, folder])

    assert accepted_enter and accepted_drop
    wait_status(qtbot, window, {Status.READY}, count=2)
    rock, bricks = by_name(window, "rock.png"), by_name(window, "bricks_color.png")
    assert sorted(role for role, _ in bricks.texture.companions) == ["normal", "roughness"]
    assert rock.pixels.shape == (24, 32, 3) and len(bricks.companion_pixels) == 2
    assert rock.thumbnail is not None and not rock.thumbnail.isNull()
    # Dropping the same file again does not queue it twice.
    drop(window, [single])
    assert len(window.model.items()) == 2


def test_drag_without_files_is_refused(make_window):
    window = make_window()
    mime = QMimeData()
    mime.setText("just text")
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_expand_gives_results_of_the_requested_size_with_companions(make_window, qtbot, tmp_path):
    window = make_window()
    write_png(tmp_path / "tile_albedo.png", 40, 30, seed=1)
    write_png(tmp_path / "tile_height.png", 40, 30, seed=2, mode="L")
    window.add_paths([tmp_path])
    window.expand_all()  # asked while still loading: runs once loaded
    wait_status(qtbot, window, {Status.DONE}, count=1)
    item = window.model.items()[0]
    assert item.result.image.shape == (60, 80, 3)
    assert [c.shape for c in item.result.companions] == [(60, 80, 1)]
    # The centre of a 2x nearest-neighbour fake is the input: the pixels really came through.
    np.testing.assert_array_equal(item.result.image[::2, ::2], item.pixels)
    assert "FakeExecutionProvider" in window.options.provider_label.text()
    assert "80 x 60 px" in window.preview.result_caption.text()

    # Target size mode: exact, non-square. Changing the option marks the old result stale.
    window.options.size_radio.setChecked(True)
    window.options.width_spin.setValue(100)
    window.options.height_spin.setValue(36)
    assert item.stale
    window.expand_action.trigger()
    qtbot.waitUntil(lambda: item.status == Status.DONE and not item.stale, timeout=WAIT_MS)
    assert item.result.image.shape == (36, 100, 3)


def test_cancel_stops_the_running_job_and_the_waiting_ones(make_window, qtbot, tmp_path):
    log = []
    window = make_window(functools.partial(FakeExpander, step_s=0.02, steps=200, log=log))  # 4 s per item
    window.add_paths([write_png(tmp_path / "a.png"), write_png(tmp_path / "b.png", seed=3)])
    wait_status(qtbot, window, {Status.READY}, count=2)
    window.expand_all()
    a, b = by_name(window, "a.png"), by_name(window, "b.png")
    qtbot.waitUntil(lambda: a.status == Status.RUNNING and len(log) >= 3, timeout=WAIT_MS)
    assert window.cancel_action.isEnabled() and window.progress_bar.isVisible()
    # The UI thread is free while the job runs: events are processed promptly.
    started = time.perf_counter()
    QApplication.processEvents()
    assert time.perf_counter() - started < 0.5

    window.cancel_action.trigger()

    qtbot.waitUntil(lambda: a.status == b.status == Status.CANCELLED, timeout=2000)
    assert a.result is None and b.result is None
    assert ("cancelled", log[-1][1]) in log and log[-1][1] < 200  # stopped mid-job
    assert not window.worker.expanding and not window.cancel_action.isEnabled()
    assert not window.progress_bar.isVisible()


def test_an_error_after_cancel_was_asked_is_shown_as_an_error(make_window, qtbot, tmp_path):
    """Only the runtime's ExpandCancelled means cancelled: a real failure while cancelling is
    reported, not relabelled."""
    windows = []
    # Step 2 asks to cancel (as the Cancel button does), then fails before reporting progress.
    window = make_window(functools.partial(FakeExpander, steps=4, fail_at=2,
                                           before_failing=lambda: windows[0].worker.cancel()))
    windows.append(window)
    window.add_paths([write_png(tmp_path / "a.png"), write_png(tmp_path / "b.png", seed=1)])
    wait_status(qtbot, window, {Status.READY}, count=2)
    window.expand_all()
    wait_status(qtbot, window, {Status.FAILED, Status.CANCELLED}, count=2)
    a, b = by_name(window, "a.png"), by_name(window, "b.png")
    assert a.status == Status.FAILED and a.message == "KeyError: 'a bug in step 2'"
    assert b.status == Status.CANCELLED  # the cancel itself still holds for the waiting item


def test_a_bad_file_shows_an_error_and_the_queue_carries_on(make_window, qtbot, tmp_path):
    window = make_window()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but truncated")
    tiny = write_png(tmp_path / "tiny.png", 8, 8)  # loads, then the expander refuses it
    good = write_png(tmp_path / "good.png")
    window.add_paths([broken, tiny, good])
    window.expand_all()
    qtbot.waitUntil(lambda: by_name(window, "good.png").status == Status.DONE
                    and by_name(window, "tiny.png").status == Status.FAILED, timeout=WAIT_MS)
    broken_item, tiny_item = by_name(window, "broken.png"), by_name(window, "tiny.png")
    assert broken_item.status == Status.FAILED and broken_item.message
    assert "\n" not in broken_item.message and "Traceback" not in broken_item.message
    assert tiny_item.message == "image must be at least 16 x 16 pixels; got 8 x 8"
    assert by_name(window, "good.png").result.image.shape == (48, 64, 3)
    # Readable in the list and in the status bar, no dialog.
    row = window.model.row_of(tiny_item.id)
    assert "16 x 16" in window.model.data(window.model.index(row))
    assert "failed" in window.status_label.text()


def test_options_persist_between_two_window_instances(make_window, store, qtbot, tmp_path):
    first = make_window()
    panel = first.options
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findText("Custom"))
    panel.scale_spin.setValue(3.5)
    panel.seamless_combo.setCurrentIndex(panel.seamless_combo.findData("xy"))
    panel.variation_spin.setValue(0.3)
    panel.seed_spin.setValue(1234)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.group_check.setChecked(False)
    panel.format_combo.setCurrentIndex(panel.format_combo.findData(".exr"))
    panel.synthesis_combo.setCurrentIndex(panel.synthesis_combo.findData("network"))
    wanted = panel.options()
    assert wanted == AppOptions(scale=3.5, seamless="xy", variation=0.3, seed=1234, synthesis="network", device="cpu")
    # The runtime's options, in the runtime's units (variation is a fraction everywhere).
    assert wanted.expand_options() == ExpandOptions(scale=3.5, seamless="xy", seed=1234, variation=0.3,
                                                    synthesis="network")
    first.close()

    reopened = SettingsStore(QSettings(store.qsettings.fileName(), QSettings.Format.IniFormat))
    second = make_window(settings=reopened)
    assert second.options.options() == wanted
    assert not second.options.group_check.isChecked()
    assert second.options.save_format() == ".exr"


def test_damaged_settings_fall_back_to_defaults(store):
    store.qsettings.setValue("options/scale", "enormous")
    store.qsettings.setValue("options/seed", -5)
    store.qsettings.setValue("options/seamless", "z")
    store.qsettings.setValue("options/variation", 30)  # a percentage: out of the fraction's range
    store.qsettings.setValue("options/synthesis", "magic")
    assert store.load_options() == AppOptions()


def test_save_never_overwrites_without_confirmation(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    window.add_paths([write_png(tmp_path / "wall_color.png"), write_png(tmp_path / "wall_normal.png", seed=5)])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE}, count=1)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "mine.png"
    target.write_bytes(b"precious")
    asked = []
    answer = {"value": QMessageBox.StandardButton.No}

    def question(parent, title, text, *rest):
        asked.append(text)
        return answer["value"]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))

    window.save_action.trigger()  # Ctrl+S: answer No
    assert len(asked) == 1 and "mine.png" in asked[0]
    assert target.read_bytes() == b"precious"
    assert not (out / "wall_normal_expanded.png").exists()  # nothing of the set was written
    assert window.status_label.text() == "Nothing saved"

    answer["value"] = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(window.saveFinished, timeout=WAIT_MS) as saved:
        window.save_action.trigger()
    assert saved.args[1] == []
    assert Image.open(target).size == (64, 48)
    assert Image.open(out / "wall_normal_expanded.png").size == (64, 48)  # companion beside it
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_save_all_names_files_and_asks_before_replacing(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    sources = tmp_path / "in"
    sources.mkdir()
    window.add_paths([write_png(sources / "a.png"), write_png(sources / "b.png", seed=1)])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE}, count=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b_expanded.png").write_bytes(b"keep me")
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a: asked.append(a[2]) or QMessageBox.StandardButton.No))
    window.save_all_action.trigger()
    assert len(asked) == 1 and "b_expanded.png" in asked[0]
    assert sorted(p.name for p in out.iterdir()) == ["b_expanded.png"]
    assert (out / "b_expanded.png").read_bytes() == b"keep me"

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(window.saveFinished, timeout=WAIT_MS):
        window.save_all_action.trigger()
    assert sorted(p.name for p in out.iterdir()) == ["a_expanded.png", "b_expanded.png"]
    assert Image.open(out / "b_expanded.png").size == (64, 48)


@pytest.mark.parametrize("suffix, depth", [(".exr", 32), (".tif", 8), (".png", 8)])
def test_save_format_follows_the_extension(make_window, qtbot, tmp_path, monkeypatch, suffix, depth):
    if suffix == ".exr":
        pytest.importorskip("OpenEXR")
    from transposer.runtime.imageio import read_image

    window = make_window()
    window.add_paths([write_png(tmp_path / "f.png")])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE}, count=1)
    target = tmp_path / f"out{suffix}"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    with qtbot.waitSignal(window.saveFinished, timeout=WAIT_MS):
        window.save_action.trigger()
    saved = read_image(target)
    assert saved.bit_depth == depth
    np.testing.assert_allclose(saved.pixels, window.model.items()[0].result.image, atol=1e-6 if depth == 32 else 1 / 255)


def test_saving_over_an_input_is_refused(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    source = write_png(tmp_path / "src.png")
    before = source.read_bytes()
    window.add_paths([source])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE}, count=1)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(source), "")))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Yes))
    window.save_current()
    assert source.read_bytes() == before
    assert "input" in window.status_label.text()


def test_preview_views_zoom_and_pan_together_and_tile(make_window, qtbot, tmp_path):
    window = make_window()
    window.add_paths([write_png(tmp_path / "p.png")])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE}, count=1)
    original, result = window.preview.views()
    before = original.zoom
    wheel = QWheelEvent(QPointF(50, 60), QPointF(50, 60), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(original, wheel)
    assert original.zoom == pytest.approx(before * 1.25 ** 2)
    assert (result.zoom, result.pan) == (original.zoom, original.pan)
    qtbot.mousePress(result, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(result, QPoint(130, 90))
    qtbot.mouseRelease(result, Qt.MouseButton.LeftButton, pos=QPoint(130, 90))
    assert original.pan == result.pan and original.pan != QPointF(0, 0)
    window.fit_action.trigger()
    assert original.pan == QPointF(0, 0) and original.zoom == pytest.approx(before)
    window.tile_action.trigger()  # 3 x 3 needs a third of the zoom to fit
    assert original.tiled and result.tiled
    assert original.zoom == pytest.approx(before / 3)


def test_common_actions_have_their_shortcuts(make_window):
    window = make_window()
    keys = {a.text(): {s.toString() for s in a.shortcuts()} for a in window.actions()}
    assert {"Ctrl+E", "Ctrl+Return"} <= keys["Expand"]
    assert keys["Open..."] == {"Ctrl+O"} and keys["Save..."] == {"Ctrl+S"}
    assert keys["Save All..."] == {"Ctrl+Shift+S"} and keys["Cancel"] == {"Esc"}
    assert keys["Tile Preview"] == {"T"} and "Ctrl+0" in keys["Fit"]
    assert "Ctrl+=" in keys["Zoom In"] and "Ctrl+-" in keys["Zoom Out"]


def test_to_qimage_handles_grey_alpha_and_out_of_range():
    grey = to_qimage(np.full((4, 6), 0.5, np.float32))
    assert (grey.width(), grey.height()) == (6, 4) and grey.pixelColor(0, 0).red() == 128
    rgba = to_qimage(np.dstack([np.ones((3, 3, 3)) * 2.0, np.zeros((3, 3, 1))]).astype(np.float32))
    colour = rgba.pixelColor(1, 1)
    assert rgba.hasAlphaChannel() and colour.alpha() == 0 and colour.red() == 255  # clipped, not wrapped
    # Linear light (EXR) is sRGB-encoded for the screen: 0.2 linear shows as ~124, not 51.
    linear = to_qimage(np.full((2, 2, 3), 0.2, np.float32), linear=True)
    assert linear.pixelColor(0, 0).red() == 124


# --- headless mode ---------------------------------------------------------------------------
def run_headless_cli(argv, factory=FakeExpander):
    from desktop_app.__main__ import build_parser
    from desktop_app.headless import run_headless

    args = build_parser().parse_args(argv)
    return run_headless(QApplication.instance(), args, [*args.files, *args.open], expander_factory=factory)


def test_headless_screenshot_after_the_result_is_shown(qapp, tmp_path, capsys):
    source = write_png(tmp_path / "h.png", 48, 40)
    shot = tmp_path / "shot.png"
    code = run_headless_cli(["--open", str(source), "--expand", "--screenshot", str(shot),
                             "--window-size", "1200x760"])
    assert code == 0, capsys.readouterr().err
    image = Image.open(shot)
    assert image.size == (1200, 760)
    # The result preview is painted: the screenshot's right half is not just background.
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert pixels[:, 600:900].std() > 20


def test_headless_fails_with_one_line_and_writes_nothing(qapp, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    shot = tmp_path / "shot.png"
    assert run_headless_cli(["--open", str(broken), "--expand", "--screenshot", str(shot)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("transposer-app: error:") and "broken.png" in err and "\n" not in err
    assert str(tmp_path) not in err  # the file's name, not its whole path
    assert not shot.exists()
    shot.write_bytes(b"old")
    good = write_png(tmp_path / "g.png")
    assert run_headless_cli(["--open", str(good), "--screenshot", str(shot)]) == 1
    assert "--overwrite" in capsys.readouterr().err and shot.read_bytes() == b"old"


def test_cli_argument_errors_are_one_line(capsys):
    from desktop_app.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--seamless", "diagonal"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("transposer-app: error:") and "\n" not in err
    assert main(["--expand"]) == 2


# --- with the real runtime ----------------------------------------------------------------------
@pytest.fixture
def synthetic_model(tmp_path):
    """The runtime's 'edge' test graph: honours the model contract, keeps the input in the centre."""
    pytest.importorskip("onnx")
    from transposer.runtime.synthetic import write_synthetic_model

    return write_synthetic_model(tmp_path / "edge.onnx", "edge")


def use_model(window, model) -> None:
    window.options.model_edit.setText(str(model))
    window.options.model_edit.editingFinished.emit()
    window.options.device_combo.setCurrentIndex(window.options.device_combo.findData("cpu"))


def test_real_runtime_expands_and_saves_16_bit(make_window, qtbot, tmp_path, monkeypatch, synthetic_model):
    window = make_window(factory=None)  # the default factory: transposer.runtime.Expander
    use_model(window, synthetic_model)
    ramp = (np.arange(40 * 48, dtype=np.uint32).reshape(40, 48) * 34).astype(np.uint16)  # needs 16 bits
    source = tmp_path / "ramp16.png"
    from transposer.runtime.imageio import read_image, write_image

    write_image(source, np.dstack([ramp] * 3).astype(np.float32) / 65535.0, 16)
    window.add_paths([source])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE, Status.FAILED}, count=1)
    item = window.model.items()[0]
    assert item.status == Status.DONE, item.message
    assert item.result.image.shape == (80, 96, 3) and item.result.provider == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in window.options.provider_label.text()
    np.testing.assert_allclose(item.result.image[20:60, 24:72], item.pixels, atol=1e-6)  # input kept in the centre

    target = tmp_path / "ramp16_expanded.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    with qtbot.waitSignal(window.saveFinished, timeout=WAIT_MS):
        window.save_action.trigger()  # "Like source": a 16-bit source is saved as 16-bit
    saved = read_image(target)
    assert saved.bit_depth == 16
    np.testing.assert_allclose(saved.pixels, item.result.image, atol=1 / 65535)


def test_real_runtime_errors_are_one_line_in_the_item(make_window, qtbot, tmp_path):
    window = make_window(factory=None)
    use_model(window, tmp_path / "missing.onnx")
    window.add_paths([write_png(tmp_path / "m.png")])
    window.expand_all()
    wait_status(qtbot, window, {Status.FAILED}, count=1)
    message = window.model.items()[0].message
    assert "missing.onnx" in message and "\n" not in message


SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "transposer" / "runtime" / "models" / "default.onnx"


@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="transposer/runtime/models/default.onnx is not shipped yet")
def test_shipped_model_expands_a_texture_in_the_app(make_window, qtbot, tmp_path):
    window = make_window(factory=None)
    window.options.device_combo.setCurrentIndex(window.options.device_combo.findData("cpu"))
    window.add_paths([write_png(tmp_path / "real.png", 64, 48)])
    window.expand_all()
    wait_status(qtbot, window, {Status.DONE, Status.FAILED}, count=1)
    item = window.model.items()[0]
    assert item.status == Status.DONE, item.message
    assert item.result.image.shape == (96, 128, 3)
    np.testing.assert_allclose(item.result.image[24:72, 32:96], item.pixels, atol=1e-5)
