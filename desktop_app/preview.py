"""Side-by-side preview: original and result at the same zoom, panned together, optionally tiled.

Both views share one zoom factor (screen pixels per image pixel) and one pan offset, so the
original looks exactly like the centre of the result, which reproduces it: what grew around it is
what the artist judges. The tiled mode repeats each image 3 x 3 so a seam shows at a glance.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

BACKGROUND = QColor(38, 38, 40)  # dark neutral grey: does not tint how colours are judged
PLACEHOLDER_TEXT = QColor(140, 140, 146)
ZOOM_RANGE = (1 / 64, 64.0)
ZOOM_STEP = 1.25
FIT_MARGIN = 0.94  # leave a frame of background so the image edge stays visible


def to_qimage(pixels: np.ndarray, linear: bool = False) -> QImage:
    """(H, W[, C]) float image in [0, 1] (or uint8) -> an 8-bit QImage for display.

    `linear`: the values are linear light (EXR files by convention), so the colour channels are
    sRGB-encoded for the screen; alpha never is. Values outside [0, 1] (HDR highlights) are
    clipped for display only; saving uses the floats. Safe to call off the UI thread: QImage,
    unlike QPixmap, is not tied to the GUI thread.
    """
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"pixels must be (H, W, C) with C in 1..4; got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0.0, 1.0)
        if linear:
            colour = slice(0, 3 if array.shape[2] >= 3 else 1)
            array[:, :, colour] = _srgb_encode(array[:, :, colour])
        array = (array * 255.0 + 0.5).astype(np.uint8)
    if array.shape[2] == 2:  # grey + alpha: Qt has no such 8-bit format
        array = np.concatenate([array[:, :, :1].repeat(3, axis=2), array[:, :, 1:]], axis=2)
    height, width, channels = array.shape
    fmt = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888,
           4: QImage.Format.Format_RGBA8888}[channels]
    array = np.ascontiguousarray(array)
    # copy(): the QImage must own its bytes, the numpy buffer is freed when this function returns.
    return QImage(array.data, width, height, array.strides[0], fmt).copy()


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 transfer function, linear [0, 1] -> sRGB-encoded [0, 1]."""
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def _checkerboard() -> QPixmap:
    tile = QPixmap(16, 16)
    tile.fill(QColor(90, 90, 94))
    painter = QPainter(tile)
    painter.fillRect(0, 0, 8, 8, QColor(120, 120, 124))
    painter.fillRect(8, 8, 8, 8, QColor(120, 120, 124))
    painter.end()
    return tile


class ImageView(QWidget):
    """Paints one image at a given zoom and pan. Wheel zooms about the cursor, drag pans,
    double-click fits. It reports view changes so its partner can follow."""

    viewChanged = pyqtSignal(float, QPointF)  # zoom, pan (screen px from the widget centre)
    fitRequested = pyqtSignal()

    def __init__(self, placeholder: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.placeholder = placeholder
        self.zoom = 1.0
        self.pan = QPointF(0.0, 0.0)
        self.tiled = False
        self._pixmap: QPixmap | None = None
        self._checker: QPixmap | None = None
        self._drag_from: QPointF | None = None
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    # --- state -------------------------------------------------------------------------------
    def set_image(self, image: QImage | None) -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self.update()

    def image_size(self) -> QSize | None:
        return self._pixmap.size() if self._pixmap is not None else None

    def set_view(self, zoom: float, pan: QPointF) -> None:
        self.zoom = float(np.clip(zoom, *ZOOM_RANGE))
        self.pan = QPointF(pan)
        self.update()

    def set_tiled(self, tiled: bool) -> None:
        self.tiled = tiled
        self.update()

    # --- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._pixmap is None:
            painter.setPen(PLACEHOLDER_TEXT)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        pw, ph = self._pixmap.width(), self._pixmap.height()
        copies = 3 if self.tiled else 1
        centre = QPointF(self.width() / 2, self.height() / 2) + self.pan
        # Paint in image coordinates under one transform, the copies as a single repeating brush:
        # separately placed copies at fractional screen positions leave hairline gaps that would
        # look exactly like the seams this view is meant to reveal.
        painter.translate(centre)
        painter.scale(self.zoom, self.zoom)
        area = QRectF(-pw * copies / 2, -ph * copies / 2, pw * copies, ph * copies)
        if self._pixmap.hasAlphaChannel():
            if self._checker is None:
                self._checker = _checkerboard()
            painter.save()
            painter.resetTransform()
            painter.fillRect(self._screen_rect(area), QBrush(self._checker))
            painter.restore()
        # Nearest-neighbour when magnified, so pixels stay crisp for close inspection.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 2.0)
        painter.setBrushOrigin(area.topLeft())
        painter.fillRect(area, QBrush(self._pixmap))

    def _screen_rect(self, area: QRectF) -> QRectF:
        centre = QPointF(self.width() / 2, self.height() / 2) + self.pan
        return QRectF(centre + area.topLeft() * self.zoom, area.size() * self.zoom)

    # --- interaction -------------------------------------------------------------------------
    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps == 0 or self._pixmap is None:
            return
        self.zoom_about(ZOOM_STEP ** steps, event.position())
        event.accept()

    def zoom_about(self, factor: float, anchor: QPointF) -> None:
        """Zoom by `factor` keeping the image point under `anchor` (widget coordinates) still."""
        new_zoom = float(np.clip(self.zoom * factor, *ZOOM_RANGE))
        centre = QPointF(self.width() / 2, self.height() / 2) + self.pan
        image_point = (anchor - centre) / self.zoom
        new_centre = anchor - image_point * new_zoom
        self.set_view(new_zoom, new_centre - QPointF(self.width() / 2, self.height() / 2))
        self.viewChanged.emit(self.zoom, self.pan)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drag_from is not None:
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            self.set_view(self.zoom, self.pan + delta)
            self.viewChanged.emit(self.zoom, self.pan)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._drag_from = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        self.fitRequested.emit()


class PreviewPane(QWidget):
    """Original | result, each with a caption giving its size, sharing zoom and pan."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.original = ImageView("Drop textures here\nor open them with Ctrl+O")
        self.result = ImageView("The result appears here\nExpand with Ctrl+E")
        self.original_caption = QLabel("Original")
        self.result_caption = QLabel("Result")
        self.fit_mode = True  # refit on resize until the user zooms or pans by hand
        self.tiled = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for view, caption in ((self.original, self.original_caption), (self.result, self.result_caption)):
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setWordWrap(True)  # a long name must not widen the view it sits under
            caption.setMinimumWidth(10)
            caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            column = QVBoxLayout()
            column.setSpacing(4)
            column.addWidget(view, 1)
            column.addWidget(caption)
            layout.addLayout(column, 1)
            view.viewChanged.connect(self._follow)
            view.fitRequested.connect(self.fit)

    def views(self) -> tuple[ImageView, ImageView]:
        return self.original, self.result

    def set_images(self, original: QImage | None, result: QImage | None,
                   original_caption: str = "Original", result_caption: str = "Result") -> None:
        previous = (self.original.image_size(), self.result.image_size())
        self.original.set_image(original)
        self.result.set_image(result)
        self.original_caption.setText(original_caption)
        self.result_caption.setText(result_caption)
        # Keep the artist's zoom when flipping between items of the same size; refit otherwise.
        if self.fit_mode or previous != (self.original.image_size(), self.result.image_size()):
            self.fit()

    def set_tiled(self, tiled: bool) -> None:
        self.tiled = tiled
        for view in self.views():
            view.set_tiled(tiled)
        self.fit()

    def fit(self) -> None:
        """Zoom so the larger image (3 x 3 of it when tiled) fits its view, centred."""
        self.fit_mode = True
        sizes = [s for s in (v.image_size() for v in self.views()) if s is not None]
        if not sizes:
            return
        copies = 3 if self.tiled else 1
        width = max(s.width() for s in sizes) * copies
        height = max(s.height() for s in sizes) * copies
        view = self.original
        zoom = FIT_MARGIN * min(view.width() / width, view.height() / height)
        for v in self.views():
            v.set_view(zoom, QPointF(0, 0))

    def zoom_by(self, factor: float) -> None:
        self.fit_mode = False
        view = self.original
        view.zoom_about(factor, QPointF(view.width() / 2, view.height() / 2))

    def zoom_actual(self) -> None:
        self.fit_mode = False
        for v in self.views():
            v.set_view(1.0, QPointF(0, 0))

    def _follow(self, zoom: float, pan: QPointF) -> None:
        self.fit_mode = False
        for v in self.views():
            if v is not self.sender():
                v.set_view(zoom, pan)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.fit_mode:
            self.fit()
