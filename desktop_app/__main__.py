"""`transposer-app` / `python -m desktop_app`: the window, or the headless screenshot mode."""

from __future__ import annotations

import argparse
import os
import sys

from transposer.runtime import OPTION_SPECS

PROG = "transposer-app"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + error
        print(f"{PROG}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Texture expansion: drop textures on the window, compare, save.")
    parser.add_argument("files", nargs="*", help="images or folders to open")
    parser.add_argument("--open", action="append", default=[], metavar="FILE",
                        help="image or folder to open (repeatable; same as giving it positionally)")
    headless = parser.add_argument_group(
        "headless mode", "--screenshot opens the window, takes the picture once the result is shown and "
        "exits; with no display, Qt's offscreen platform is used")
    headless.add_argument("--expand", action="store_true", help="expand the opened files")
    headless.add_argument("--screenshot", metavar="OUT.png",
                          help="save a screenshot of the window (format from the extension)")
    headless.add_argument("--overwrite", action="store_true", help="replace an existing screenshot file")
    # The expansion options: help, default and choices from the runtime's table (as the CLI's);
    # the values are checked by the runtime's own option types.
    for name in ("scale", "seamless", "variation", "seed", "synthesis", "device", "model"):
        spec = OPTION_SPECS[name]
        kind = {"float": float, "int": int}.get(spec.kind, str)
        headless.add_argument(f"--{name}", type=kind, default=spec.default, help=spec.help_text(),
                              choices=spec.choices or None)
    headless.add_argument("--tile-preview", action="store_true", help="show the 3 x 3 tiled preview")
    headless.add_argument("--window-size", metavar="WxH", default="1440x860",
                          help="window size for the screenshot (default 1440x860)")
    headless.add_argument("--timeout", type=float, default=600.0,
                          help="give up after this many seconds (default 600)")
    return parser


def _needs_offscreen() -> bool:
    """True on a Linux box with no display, where Qt would abort instead of opening a window."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = [*args.files, *args.open]
    headless = args.screenshot is not None
    if not headless and (args.expand or args.tile_preview):
        print(f"{PROG}: error: --expand and --tile-preview need --screenshot (the headless mode)", file=sys.stderr)
        return 2
    if _needs_offscreen():
        if not headless:
            print(f"{PROG}: error: no display found (DISPLAY/WAYLAND_DISPLAY unset); for headless use pass "
                  "--screenshot or set QT_QPA_PLATFORM=offscreen", file=sys.stderr)
            return 1
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    # Qt is imported only now, so --help and argument errors answer instantly.
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("transposer-app")
    app.setOrganizationName("transposer")
    from .theme import apply_dark_theme

    apply_dark_theme(app)
    if headless:
        from .headless import run_headless

        return run_headless(app, args, paths)

    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    if paths:
        window.add_paths(paths)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
