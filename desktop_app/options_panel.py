"""The right-hand panel: expansion options, import and save choices, the Expand button.

The widgets' ranges, steps, choices, labels and tooltips come from the runtime's OPTION_SPECS
(the table the CLI's flags and the Blender properties are built from), so what the panel can
produce is always valid and means what it means everywhere else.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                             QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QSpinBox,
                             QToolButton, QVBoxLayout, QWidget)

from transposer.runtime import ExpandOptions

from .settings import OPTION_SPECS, SAVE_DEPTHS, SAVE_FORMATS, SCALE_PRESETS, AppOptions

SCALE, SIZE, SEAMLESS, SEED, VARIATION, SYNTHESIS, DEVICE = (OPTION_SPECS[name] for name in (
    "scale", "size", "seamless", "seed", "variation", "synthesis", "device"))
FORMAT_LABELS = {"source": "Same as source", ".png": "PNG", ".tif": "TIFF", ".exr": "OpenEXR (float)"}
DEPTH_LABELS = {0: "Like source", 8: "8-bit", 16: "16-bit"}
CUSTOM = "Custom"


class OptionsPanel(QWidget):
    changed = pyqtSignal()  # any option changed (the window saves settings and marks stale results)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumWidth(250)
        self.setMaximumWidth(340)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self._size_group())
        layout.addWidget(self._look_group())
        layout.addWidget(self._device_group())
        layout.addWidget(self._files_group())
        layout.addStretch(1)
        self.expand_button = QPushButton("Expand")
        self.expand_button.setMinimumHeight(36)
        self.cancel_button = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.expand_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout.addLayout(buttons)
        for signal in (self.scale_combo.currentIndexChanged, self.scale_spin.valueChanged,
                       self.width_spin.valueChanged, self.height_spin.valueChanged,
                       self.seamless_combo.currentIndexChanged, self.seed_spin.valueChanged,
                       self.variation_spin.valueChanged, self.synthesis_combo.currentIndexChanged,
                       self.device_combo.currentIndexChanged, self.group_check.toggled,
                       self.format_combo.currentIndexChanged, self.depth_combo.currentIndexChanged,
                       self.scale_radio.toggled, self.model_edit.editingFinished):
            signal.connect(self._on_change)

    # --- building ------------------------------------------------------------------------------
    def _size_group(self) -> QGroupBox:
        box = QGroupBox("Output size")
        form = QFormLayout(box)
        self.scale_radio = QRadioButton("Scale")
        self.size_radio = QRadioButton("Size")
        group = QButtonGroup(box)
        group.addButton(self.scale_radio)
        group.addButton(self.size_radio)
        self.scale_radio.setChecked(True)
        self.scale_combo = QComboBox()
        for preset in SCALE_PRESETS:
            self.scale_combo.addItem(f"{preset:g}x", preset)
        self.scale_combo.addItem(CUSTOM, None)
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setDecimals(SCALE.decimals)  # before the range: Qt rounds the range to it
        self.scale_spin.setRange(*SCALE.widget_range())
        self.scale_spin.setSingleStep(SCALE.step)
        self.scale_spin.setSuffix(f" {SCALE.unit}")
        self.scale_spin.setToolTip(SCALE.help_text())
        self.scale_spin.setValue(3.0)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale_combo)
        scale_row.addWidget(self.scale_spin)
        form.addRow(self.scale_radio, scale_row)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin in (self.width_spin, self.height_spin):
            spin.setRange(*SIZE.widget_range())
            spin.setSingleStep(int(SIZE.step))
            spin.setValue(1024)
        self.width_spin.setToolTip("Target width in pixels")
        self.height_spin.setToolTip("Target height in pixels")
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("x"))
        size_row.addWidget(self.height_spin)
        form.addRow(self.size_radio, size_row)
        return box

    def _look_group(self) -> QGroupBox:
        box = QGroupBox("Result")
        form = QFormLayout(box)
        self.seamless_combo = _choice_combo(SEAMLESS)
        self.seamless_combo.setToolTip(SEAMLESS.help + "\nCheck it with the tiled preview (T).")
        form.addRow(SEAMLESS.label, self.seamless_combo)
        self.variation_spin = QDoubleSpinBox()
        self.variation_spin.setDecimals(VARIATION.decimals)
        self.variation_spin.setRange(*VARIATION.widget_range())
        self.variation_spin.setSingleStep(VARIATION.step)
        self.variation_spin.setToolTip(VARIATION.help_text())
        form.addRow(VARIATION.label, self.variation_spin)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(*SEED.widget_range())
        self.seed_spin.setToolTip(SEED.help_text())
        form.addRow(SEED.label, self.seed_spin)
        self.synthesis_combo = _choice_combo(SYNTHESIS)
        form.addRow(SYNTHESIS.label, self.synthesis_combo)
        return box

    def _device_group(self) -> QGroupBox:
        box = QGroupBox("Compute")
        form = QFormLayout(box)
        self.device_combo = _choice_combo(DEVICE)
        form.addRow(DEVICE.label, self.device_combo)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("default (shipped)")
        self.model_edit.setToolTip("A registered model name, or an .onnx file you trained and exported.\n"
                                   "Empty = the shipped default model.")
        browse = QToolButton()
        browse.setText("...")
        browse.setToolTip("Choose an .onnx model file")
        browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(browse)
        form.addRow("Model", model_row)
        self.provider_label = QLabel("Active: not run yet")
        self.provider_label.setWordWrap(True)
        self.provider_label.setToolTip("The execution provider the last expansion really ran on")
        form.addRow(self.provider_label)
        return box

    def _files_group(self) -> QGroupBox:
        box = QGroupBox("Files")
        form = QFormLayout(box)
        self.group_check = QCheckBox("Keep PBR sets together")
        self.group_check.setChecked(True)
        self.group_check.setToolTip("Dropped maps sharing a base name (bricks_color, bricks_normal,\n"
                                    "bricks_roughness ...) become one item: the other maps follow the\n"
                                    "colour map's arrangement so they stay registered with it.")
        form.addRow(self.group_check)
        self.format_combo = QComboBox()
        for key in SAVE_FORMATS:
            self.format_combo.addItem(FORMAT_LABELS[key], key)
        form.addRow("Save as", self.format_combo)
        self.depth_combo = QComboBox()
        for key in SAVE_DEPTHS:
            self.depth_combo.addItem(DEPTH_LABELS[key], key)
        self.depth_combo.setToolTip("PNG and TIFF: bits per channel (like source: a float source gives\n"
                                    "16-bit PNG and float TIFF). EXR: 16-bit = half float, else float.")
        form.addRow("Bit depth", self.depth_combo)
        return box

    # --- values --------------------------------------------------------------------------------
    def options(self) -> AppOptions:
        preset = self.scale_combo.currentData()
        return AppOptions(
            size_mode="scale" if self.scale_radio.isChecked() else "size",
            scale=float(preset) if preset is not None else round(self.scale_spin.value(), 2),
            width=self.width_spin.value(), height=self.height_spin.value(),
            seamless=self.seamless_combo.currentData(),
            variation=round(self.variation_spin.value(), VARIATION.decimals), seed=self.seed_spin.value(),
            synthesis=self.synthesis_combo.currentData(),
            device=self.device_combo.currentData(), model=self.model_edit.text().strip() or "default")

    def set_options(self, options: AppOptions) -> None:
        widgets = (self.scale_radio, self.size_radio, self.scale_combo, self.scale_spin, self.width_spin,
                   self.height_spin, self.seamless_combo, self.variation_spin, self.seed_spin, self.synthesis_combo,
                   self.device_combo, self.model_edit)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            (self.scale_radio if options.size_mode == "scale" else self.size_radio).setChecked(True)
            preset = self.scale_combo.findData(options.scale)
            if preset >= 0:
                self.scale_combo.setCurrentIndex(preset)
            else:
                self.scale_combo.setCurrentIndex(self.scale_combo.findText(CUSTOM))
                self.scale_spin.setValue(options.scale)
            self.width_spin.setValue(options.width)
            self.height_spin.setValue(options.height)
            self.seamless_combo.setCurrentIndex(self.seamless_combo.findData(options.seamless))
            self.variation_spin.setValue(options.variation)
            self.seed_spin.setValue(options.seed)
            self.synthesis_combo.setCurrentIndex(self.synthesis_combo.findData(options.synthesis))
            self.device_combo.setCurrentIndex(self.device_combo.findData(options.device))
            self.model_edit.setText("" if options.model == "default" else options.model)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._update_enabled()

    def save_format(self) -> str:
        return self.format_combo.currentData()

    def save_depth(self) -> int:
        return self.depth_combo.currentData()

    def set_file_choices(self, group_sets: bool, save_format: str, save_depth: int) -> None:
        for widget, setter in ((self.group_check, lambda: self.group_check.setChecked(group_sets)),
                               (self.format_combo, lambda: _select(self.format_combo, save_format)),
                               (self.depth_combo, lambda: _select(self.depth_combo, save_depth))):
            widget.blockSignals(True)
            setter()
            widget.blockSignals(False)

    def set_provider(self, text: str) -> None:
        self.provider_label.setText(f"Active: {text}")

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)

    def _update_enabled(self) -> None:
        by_scale = self.scale_radio.isChecked()
        self.scale_combo.setEnabled(by_scale)
        self.scale_spin.setEnabled(by_scale and self.scale_combo.currentData() is None)
        self.width_spin.setEnabled(not by_scale)
        self.height_spin.setEnabled(not by_scale)
        rule = ExpandOptions(variation=self.variation_spin.value(), synthesis=self.synthesis_combo.currentData())
        self.seed_spin.setEnabled(rule.seed_matters)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", self.model_edit.text(), "ONNX models (*.onnx)")
        if path:
            self.model_edit.setText(path)
            self._on_change()

    def _on_change(self, *_) -> None:
        self._update_enabled()
        self.changed.emit()


def _choice_combo(spec) -> QComboBox:
    """A combo box of a choice option: the table's labels shown, its values as item data, each
    choice's description as the item's tooltip."""
    combo = QComboBox()
    for value, (label, description) in zip(spec.choices, spec.choice_labels):
        combo.addItem(label, value)
        combo.setItemData(combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
    combo.setToolTip(spec.help_text())
    return combo


def _select(combo: QComboBox, data) -> None:
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)
