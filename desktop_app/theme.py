"""A dark, neutral theme (Fusion style): textures are judged against grey, not a bright window,
and it matches the dark tools artists spend their day in (Blender, Substance, Photoshop)."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {
        role.Window: QColor(48, 48, 52), role.WindowText: QColor(222, 222, 226),
        role.Base: QColor(34, 34, 38), role.AlternateBase: QColor(44, 44, 48),
        role.ToolTipBase: QColor(60, 60, 66), role.ToolTipText: QColor(230, 230, 234),
        role.Text: QColor(222, 222, 226), role.Button: QColor(58, 58, 63),
        role.ButtonText: QColor(222, 222, 226), role.BrightText: QColor(255, 120, 110),
        role.Link: QColor(110, 160, 230), role.Highlight: QColor(64, 110, 170),
        role.HighlightedText: QColor(255, 255, 255), role.PlaceholderText: QColor(130, 130, 136),
        role.Mid: QColor(40, 40, 44), role.Dark: QColor(30, 30, 33), role.Light: QColor(70, 70, 76),
    }
    for colour_role, colour in colours.items():
        palette.setColor(colour_role, colour)
    for disabled in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, disabled, QColor(120, 120, 126))
    app.setPalette(palette)
