"""Headless mode: open files, optionally expand them, screenshot the window, exit.

Used for the README screenshot and as an end-to-end check of the real app with the real model.
Any failure (bad option, unreadable file, failed expansion, timeout) ends with one line on
stderr and exit code 1; the screenshot is written only when everything worked, atomically, and an
existing file is replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtGui import QImageWriter
from PyQt6.QtWidgets import QApplication

from .main_window import MainWindow
from .queue_model import Status
from .settings import AppOptions, OptionError, SettingsStore

PROG = "transposer-app"
SETTLE_MS = 150  # let the final layout and paint happen before grabbing


class HeadlessError(Exception):
    pass


def _check_args(args: argparse.Namespace, paths: list[str]) -> tuple[AppOptions, Path, tuple[int, int]]:
    if not paths:
        raise HeadlessError("nothing to open: give --open FILE")
    for path in paths:
        if not Path(path).exists():
            raise HeadlessError(f"--open: no such file or folder: {path}")
    options = AppOptions(scale=args.scale, seamless=args.seamless, variation=args.variation, seed=args.seed,
                         synthesis=args.synthesis, device=args.device, model=args.model).validated()
    out = Path(args.screenshot)
    formats = {bytes(f).decode().lower() for f in QImageWriter.supportedImageFormats()}
    if out.suffix.lower().lstrip(".") not in formats:
        raise HeadlessError(f"--screenshot: cannot write '{out.suffix}' images; use .png or .jpg")
    if not out.parent.is_dir():
        raise HeadlessError(f"--screenshot: folder does not exist: {out.parent}")
    if out.exists() and not args.overwrite:
        raise HeadlessError(f"--screenshot: {out} exists; pass --overwrite to replace it")
    try:
        width, height = (int(v) for v in args.window_size.lower().split("x"))
    except ValueError:
        raise HeadlessError(f"--window-size must look like 1440x860; got {args.window_size!r}") from None
    if not (640 <= width <= 8192 and 400 <= height <= 8192):
        raise HeadlessError(f"--window-size must be within 640x400 .. 8192x8192; got {args.window_size}")
    if not 0 < args.timeout <= 86400:
        raise HeadlessError(f"--timeout must be in (0, 86400] seconds; got {args.timeout:g}")
    return options, out, (width, height)


def run_headless(app: QApplication, args: argparse.Namespace, paths: list[str], expander_factory=None) -> int:
    try:
        options, out, window_size = _check_args(args, paths)
    except (HeadlessError, OptionError) as exc:
        return _fail(str(exc))

    # Closing the window must not post a Quit event: it would outlive this run and end the next
    # event loop of a process that goes on (the test suite runs this in-process).
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    try:
        return _run(app, args, paths, expander_factory, options, out, window_size)
    finally:
        app.setQuitOnLastWindowClosed(quit_on_close)


def _run(app, args, paths, expander_factory, options, out, window_size) -> int:
    # A throw-away settings file: the screenshot must not depend on, or change, the user's choices.
    with tempfile.TemporaryDirectory(prefix="transposer-app-") as scratch:
        store = SettingsStore(QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat))
        store.save_options(options)
        window = MainWindow(expander_factory=expander_factory, settings=store)
        window.resize(*window_size)
        if args.tile_preview:
            window.tile_action.setChecked(True)
        window.show()
        outcome: dict = {}

        def finish(code: int, message: str = "") -> None:
            if "code" not in outcome:
                outcome.update(code=code, message=message)
                window.worker.shutdown()
                window.close()
                app.exit(code)

        def screenshot() -> None:
            window.preview.fit()
            app.processEvents()
            from transposer.runtime.files import atomic_write

            def save(temp: str) -> None:
                if not window.grab().save(temp):
                    raise OSError(f"Qt could not write {temp}")

            try:  # the one atomic write: temp file, fsync, rename, nothing left on failure
                atomic_write(out, save)
            except OSError:
                finish(1, f"--screenshot: could not write {out}")
                return
            finish(0)

        def check() -> None:
            items = window.model.items()
            failed = next((i for i in items if i.status == Status.FAILED), None)
            if failed is not None:
                message = failed.message if failed.name in failed.message else f"{failed.name}: {failed.message}"
                finish(1, message)
                return
            settled = {Status.DONE, Status.CANCELLED} if args.expand else {Status.READY}
            if items and all(i.status in settled for i in items) and "shot" not in outcome:
                if any(i.status == Status.CANCELLED for i in items):
                    finish(1, "expansion was cancelled")
                    return
                outcome["shot"] = True
                QTimer.singleShot(SETTLE_MS, screenshot)

        window.worker.signals.loaded.connect(lambda *_: QTimer.singleShot(0, check))
        window.worker.signals.load_failed.connect(lambda *_: QTimer.singleShot(0, check))
        window.itemFinished.connect(lambda *_: QTimer.singleShot(0, check))
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.timeout.connect(lambda: finish(1, f"timed out after {args.timeout:g} s"))
        deadline.start(int(args.timeout * 1000))

        if not window.add_paths(paths):
            return _fail("no images found in " + ", ".join(paths))
        if args.expand:
            window.expand_all()
        app.exec()
        deadline.stop()
    if outcome.get("code", 1) != 0:
        return _fail(outcome.get("message") or "stopped before the screenshot was taken")
    print(out)
    return 0


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 1
