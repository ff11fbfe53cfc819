"""The queue: one QueueItem per dropped texture (or PBR set), shown as a list with thumbnails."""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

import numpy as np
from PyQt6.QtCore import QAbstractListModel, QModelIndex, Qt
from PyQt6.QtGui import QColor, QIcon, QImage, QPixmap

from .settings import AppOptions
from .texture_sets import TextureSet


class Status(enum.Enum):
    LOADING = "Loading"
    READY = "Ready"
    QUEUED = "Queued"
    RUNNING = "Expanding"
    DONE = "Done"
    FAILED = "Error"
    CANCELLED = "Cancelled"


_STATUS_COLOURS = {Status.FAILED: QColor(230, 90, 80), Status.DONE: QColor(110, 190, 120),
                   Status.CANCELLED: QColor(210, 170, 80)}
_ids = itertools.count(1)


@dataclass
class ExpandedImage:
    """What a finished expansion left: the pixels (float, for saving) and how it was made."""

    image: np.ndarray  # (H, W, C) float32
    companions: list[np.ndarray]  # same order as the item's texture.companions
    provider: str  # execution provider really used, e.g. "CPUExecutionProvider"
    seconds: float
    options: AppOptions  # what it was made with; compared with the panel to spot stale results
    preview: QImage  # 8-bit display copy of `image`


@dataclass(eq=False)
class QueueItem:
    texture: TextureSet
    id: int = field(default_factory=lambda: next(_ids))
    status: Status = Status.LOADING
    message: str = ""  # error text, or progress text while running
    pixels: np.ndarray | None = None  # guide image (H, W, C) float32
    companion_pixels: list[np.ndarray] = field(default_factory=list)
    preview: QImage | None = None  # 8-bit display copy of `pixels`
    thumbnail: QIcon | None = None
    result: ExpandedImage | None = None
    bit_depths: list[int] = field(default_factory=list)  # guide then companions: 8, 16 or 32 (float)
    linear: bool = False  # the guide holds linear light (EXR): previews are sRGB-encoded
    pending: AppOptions | None = None  # Expand was asked while the file was still loading
    stale: bool = False  # the result was made with options other than the panel's current ones

    @property
    def name(self) -> str:
        return self.texture.name

    @property
    def loaded(self) -> bool:
        return self.pixels is not None

    def size_text(self) -> str:
        if self.pixels is None:
            return ""
        return f"{self.pixels.shape[1]} x {self.pixels.shape[0]}"

    def status_text(self) -> str:
        text = self.status.value
        if self.status == Status.DONE and self.stale:
            text += " (options changed)"
        if self.message:
            text = f"{text}: {self.message}" if self.status == Status.FAILED else f"{text}  \u00b7  {self.message}"
        return text


class QueueModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._items: list[QueueItem] = []

    # --- Qt model interface --------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            count = len(item.texture.companions)
            extra = f"  + {count} map{'s' * (count != 1)}" if count else ""
            size = f"  \u00b7  {item.size_text()}" if item.loaded and item.status != Status.FAILED else ""
            return f"{item.name}{extra}\n{item.status_text()}{size}"
        if role == Qt.ItemDataRole.DecorationRole:
            return item.thumbnail
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(item.texture.guide)]
            lines += [f"{role_name}: {path.name}" for role_name, path in item.texture.companions]
            lines.append(item.status_text())
            return "\n".join(lines)
        if role == Qt.ItemDataRole.ForegroundRole:
            return _STATUS_COLOURS.get(item.status)
        if role == Qt.ItemDataRole.UserRole:
            return item.id
        return None

    # --- queue operations ----------------------------------------------------------------------
    def add(self, sets: list[TextureSet]) -> list[QueueItem]:
        items = [QueueItem(texture=s) for s in sets]
        if items:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(items) - 1)
            self._items.extend(items)
            self.endInsertRows()
        return items

    def remove(self, item_ids: set[int]) -> None:
        for row in reversed(range(len(self._items))):
            if self._items[row].id in item_ids:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self.endRemoveRows()

    def items(self) -> list[QueueItem]:
        return list(self._items)

    def item(self, item_id: int) -> QueueItem | None:
        return next((i for i in self._items if i.id == item_id), None)

    def item_at(self, row: int) -> QueueItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, item_id: int) -> int:
        return next((r for r, i in enumerate(self._items) if i.id == item_id), -1)

    def set_thumbnail(self, item: QueueItem, image: QImage) -> None:
        # QPixmap only on the UI thread: workers hand over a QImage.
        item.thumbnail = QIcon(QPixmap.fromImage(image))
        self.changed(item)

    def changed(self, item: QueueItem) -> None:
        row = self.row_of(item.id)
        if row >= 0:
            index = self.index(row)
            self.dataChanged.emit(index, index)
