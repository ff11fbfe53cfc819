"""The main window: toolbar, queue on the left, previews in the centre, options on the right.

The window owns every widget and all item state; slow work goes to `Worker`, whose signals come
back here on the UI thread. Errors are written into the item and the status bar, never into a
stream of modal dialogs; the only dialogs are the file choosers and the overwrite question.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from PyQt6.QtCore import QItemSelectionModel, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QLabel, QListView, QMainWindow, QMenu,
                             QMessageBox, QProgressBar, QPushButton, QSplitter, QStyle, QVBoxLayout, QWidget)

from . import image_files
from .image_files import SaveRequest
from .options_panel import OptionsPanel
from .preview import PreviewPane
from .queue_model import QueueItem, QueueModel, Status
from .settings import AppOptions, SettingsStore
from .texture_sets import collect_image_paths, group_texture_sets
from .worker import ExpanderFactory, LoadedTexture, Worker, default_expander_factory

TITLE = "Transposer"
ERROR_STYLE = "color: rgb(230, 90, 80);"


class MainWindow(QMainWindow):
    itemFinished = pyqtSignal(int)  # item id, after it reached Done, Error or Cancelled
    saveFinished = pyqtSignal(object, object)  # written paths, error messages

    def __init__(self, expander_factory: ExpanderFactory | None = None, settings: SettingsStore | None = None):
        super().__init__()
        self.setWindowTitle(f"{TITLE} - texture expansion")
        self.setMinimumSize(980, 620)
        self.store = settings if settings is not None else SettingsStore()
        self.model = QueueModel(self)
        self.worker = Worker(expander_factory or default_expander_factory, self)
        # The current batch: ids asked to expand since the worker was last idle, and those finished.
        self._batch: set[int] = set()
        self._batch_done: set[int] = set()
        self._batch_started = 0.0
        self._build_ui()
        self._build_actions()
        self._connect()
        self._restore_settings()
        self.setAcceptDrops(True)
        self._update_actions()

    # ============================================================================ building
    def _build_ui(self) -> None:
        self.queue_view = QListView()
        self.queue_view.setModel(self.model)
        self.queue_view.setIconSize(QSize(56, 56))
        self.queue_view.setSpacing(2)
        self.queue_view.setWordWrap(True)
        self.queue_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.queue_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.queue_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Clear")
        queue_panel = QWidget()
        queue_layout = QVBoxLayout(queue_panel)
        queue_layout.setContentsMargins(0, 0, 6, 0)
        queue_layout.addWidget(QLabel("<b>Queue</b>  <span style='color:gray'>drop textures or folders</span>"))
        queue_layout.addWidget(self.queue_view, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.clear_button)
        queue_layout.addLayout(buttons)
        queue_panel.setMinimumWidth(220)

        self.preview = PreviewPane()
        self.options = OptionsPanel()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(queue_panel)
        splitter.addWidget(self.preview)
        splitter.addWidget(self.options)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([260, 860, 290])
        container = QWidget()
        layout = QVBoxLayout(container)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(splitter)
        self.setCentralWidget(container)

        self.status_label = QLabel("Drop textures or a folder to start")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(240)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress_bar)

    def _action(self, text: str, shortcuts, slot, icon=None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        keys = [QKeySequence(s) for s in ([shortcuts] if isinstance(shortcuts, (str, QKeySequence.StandardKey))
                                         else shortcuts)]
        action.setShortcuts(keys)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        shortcut_text = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
        action.setToolTip(f"{tip or text} ({shortcut_text})" if shortcut_text else (tip or text))
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)  # shortcuts work even when the toolbar is hidden
        return action

    def _build_actions(self) -> None:
        pix = QStyle.StandardPixmap
        self.open_action = self._action("Open...", "Ctrl+O", self.open_files, pix.SP_DialogOpenButton,
                                        "Open texture files")
        self.open_folder_action = self._action("Open Folder...", "Ctrl+Shift+O", self.open_folder,
                                               pix.SP_DirOpenIcon, "Add every image in a folder")
        self.expand_action = self._action("Expand", ["Ctrl+E", "Ctrl+Return"], self.expand_all, pix.SP_MediaPlay,
                                          "Expand every item without an up-to-date result")
        self.expand_again_action = self._action("Expand Again", [], self.expand_selected_again, None,
                                                "Expand the selected items again with the current options")
        self.cancel_action = self._action("Cancel", "Esc", self.cancel, pix.SP_MediaStop,
                                          "Stop the running expansion and the ones waiting")
        self.save_action = self._action("Save...", "Ctrl+S", self.save_current, pix.SP_DialogSaveButton,
                                        "Save the selected result")
        self.save_all_action = self._action("Save All...", "Ctrl+Shift+S", self.save_all, pix.SP_DriveHDIcon,
                                            "Save every result into a folder as <name>_expanded")
        self.remove_action = self._action("Remove", "Delete", self.remove_selected, None,
                                          "Remove the selected items from the queue")
        self.clear_action = self._action("Clear Queue", [], self.clear_queue)
        self.quit_action = self._action("Quit", "Ctrl+Q", self.close)
        self.tile_action = self._action("Tile Preview", "T", self.preview.set_tiled, pix.SP_FileDialogContentsView,
                                        "Repeat both images 3 x 3 to show seams", checkable=True)
        self.zoom_in_action = self._action("Zoom In", ["Ctrl+=", "Ctrl++", "+"], lambda: self.preview.zoom_by(1.25))
        self.zoom_out_action = self._action("Zoom Out", ["Ctrl+-", "-"], lambda: self.preview.zoom_by(0.8))
        self.fit_action = self._action("Fit", "Ctrl+0", self.preview.fit, None, "Fit the images to the view")
        self.actual_size_action = self._action("Actual Pixels", "Ctrl+1", self.preview.zoom_actual)

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for action in (self.open_action, self.open_folder_action, None, self.save_action, self.save_all_action,
                       None, self.quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        queue_menu = menus.addMenu("&Queue")
        for action in (self.expand_action, self.expand_again_action, self.cancel_action, None,
                       self.remove_action, self.clear_action):
            queue_menu.addSeparator() if action is None else queue_menu.addAction(action)
        view_menu = menus.addMenu("&View")
        for action in (self.tile_action, None, self.zoom_in_action, self.zoom_out_action, self.fit_action,
                       self.actual_size_action):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.open_action, self.open_folder_action, None, self.expand_action, self.cancel_action,
                       None, self.save_action, self.save_all_action, None, self.tile_action, self.fit_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)

    def _connect(self) -> None:
        signals = self.worker.signals
        signals.loaded.connect(self._on_loaded)
        signals.load_failed.connect(self._on_failed)
        signals.started.connect(self._on_started)
        signals.progress.connect(self._on_progress)
        signals.expanded.connect(self._on_expanded)
        signals.expand_failed.connect(self._on_failed)
        signals.cancelled.connect(self._on_cancelled)
        signals.saved.connect(self._on_saved)
        self.queue_view.selectionModel().currentChanged.connect(lambda *_: self._show_current())
        self.queue_view.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.queue_view.customContextMenuRequested.connect(self._queue_menu)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.clear_queue)
        self.options.expand_button.clicked.connect(self.expand_all)
        self.options.cancel_button.clicked.connect(self.cancel)
        self.options.changed.connect(self._on_options_changed)

    def _restore_settings(self) -> None:
        self.options.set_options(self.store.load_options())
        self.options.set_file_choices(self.store.group_sets, self.store.save_format, self.store.save_depth)
        geometry = self.store.window_geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 860)

    # ============================================================================ adding files
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open textures", self.store.last_dir, image_files.OPEN_FILTER)
        if paths:
            self.add_paths(paths)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of textures", self.store.last_dir)
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths) -> list[QueueItem]:
        """Queue the images among `paths` (folders are searched); returns the new items."""
        files = collect_image_paths(paths)
        queued = {i.texture.guide.resolve() for i in self.model.items()}
        queued |= {p.resolve() for i in self.model.items() for _, p in i.texture.companions}
        fresh = [f for f in files if f.resolve() not in queued]
        if not fresh:
            self._status("No new images found in what was dropped" if not files else "Already in the queue")
            return []
        sets = group_texture_sets(fresh, group=self.options.group_check.isChecked())
        items = self.model.add(sets)
        for item in items:
            self.worker.load(item.id, item.texture)
        self.store.last_dir = str(Path(fresh[0]).parent)
        if not self.queue_view.currentIndex().isValid():
            self._select(items[0])
        maps = sum(len(s.companions) for s in sets)
        self._status(f"Added {len(items)} item{'s' * (len(items) != 1)}"
                     + (f" with {maps} companion map{'s' * (maps != 1)}" if maps else ""))
        self._update_actions()
        return items

    # ============================================================================ expanding
    def expand_all(self) -> None:
        """Expand every item whose result is missing or was made with other options."""
        todo = [i for i in self.model.items()
                if i.status in (Status.LOADING, Status.READY, Status.CANCELLED, Status.DONE)
                and i.pending is None and (i.result is None or i.stale)]
        todo += [i for i in self.model.items() if i.status == Status.FAILED and i.loaded]
        if not todo:
            self._status("Nothing to expand: drop textures first" if not self.model.items()
                         else "Every result is up to date (Expand Again redoes one)")
            return
        self._expand(todo)

    def expand_selected_again(self) -> None:
        items = [i for i in self.selected_items() if i.status not in (Status.QUEUED, Status.RUNNING)
                 and (i.loaded or i.status == Status.LOADING)]
        self._expand(items)

    def _expand(self, items: list[QueueItem]) -> None:
        options = self.options.options().validated()
        if not self._batch:
            self._batch_started = time.perf_counter()
        for item in items:
            self._batch.add(item.id)
            self._batch_done.discard(item.id)
            if item.loaded:
                self._submit(item, options)
            else:
                item.pending = options  # submitted once its file has loaded
        self._update_progress()
        self._update_actions()

    def _submit(self, item: QueueItem, options: AppOptions) -> None:
        item.pending = None
        item.status, item.message = Status.QUEUED, ""
        self.model.changed(item)
        companions = [(path.name, pixels) for (_, path), pixels in zip(item.texture.companions, item.companion_pixels)]
        self.worker.expand(item.id, item.pixels, companions, options, item.linear)

    def cancel(self) -> None:
        waiting = [i for i in self.model.items() if i.pending is not None]
        for item in waiting:
            item.pending = None
            self._finish(item, Status.CANCELLED, "")
        if self.worker.expanding:
            self.worker.cancel()
            self._status("Cancelling...")

    # ============================================================================ worker results
    def _on_loaded(self, item_id: int, loaded: LoadedTexture) -> None:
        item = self.model.item(item_id)
        if item is None:  # removed while loading
            return
        item.pixels, item.companion_pixels = loaded.pixels, loaded.companions
        item.preview, item.bit_depths, item.linear = loaded.preview, loaded.bit_depths, loaded.linear
        item.status = Status.READY
        self.model.set_thumbnail(item, loaded.thumbnail)
        if item.pending is not None:
            self._submit(item, item.pending)
        self._refresh_if_current(item)
        self._update_actions()

    def _on_started(self, item_id: int) -> None:
        item = self.model.item(item_id)
        if item is not None:
            item.status, item.message = Status.RUNNING, "0%"
            self.model.changed(item)
            position = len(self._batch_done) + 1
            self._status(f"Expanding {item.name} ({position} of {len(self._batch)})")
            self._refresh_if_current(item)
        self._update_actions()

    def _on_progress(self, item_id: int, done: int, total: int) -> None:
        item = self.model.item(item_id)
        if item is None or total <= 0:
            return
        fraction = min(max(done / total, 0.0), 1.0)
        item.message = f"{fraction:.0%}"
        self.model.changed(item)
        self._update_progress(fraction)
        if self._is_current(item) and item.result is None:
            self.preview.result.placeholder = f"Expanding... {fraction:.0%}"
            self.preview.result.update()

    def _on_expanded(self, item_id: int, result) -> None:
        item = self.model.item(item_id)
        if item is None:
            return
        item.result = result
        # The artist may have changed the options while it ran.
        item.stale = result.options.result_key() != self.options.options().result_key()
        self.options.set_provider(result.provider or "unknown")
        self._finish(item, Status.DONE, _seconds(result.seconds))

    def _on_failed(self, item_id: int, message: str) -> None:
        item = self.model.item(item_id)
        if item is None:
            return
        self._status(f"{item.name}: {message}", error=True)
        self._finish(item, Status.FAILED, message)

    def _on_cancelled(self, item_id: int) -> None:
        item = self.model.item(item_id)
        if item is not None:
            self._finish(item, Status.CANCELLED, "")

    def _finish(self, item: QueueItem, status: Status, message: str) -> None:
        item.pending = None
        item.status, item.message = status, message
        self.model.changed(item)
        if item.id in self._batch:
            self._batch_done.add(item.id)
        self._refresh_if_current(item)
        self._update_progress()
        self._update_actions()
        self.itemFinished.emit(item.id)

    def _update_progress(self, fraction: float = 0.0) -> None:
        if not self._batch:
            self.progress_bar.hide()
            return
        if self._batch_done >= self._batch:  # everything asked for has finished
            self._report_batch()
            self._batch, self._batch_done = set(), set()
            self.progress_bar.hide()
            return
        self.progress_bar.show()
        self.progress_bar.setValue(int(1000 * (len(self._batch_done) + fraction) / len(self._batch)))

    def _report_batch(self) -> None:
        items = [i for i in self.model.items() if i.id in self._batch]
        counts = {status: sum(i.status == status for i in items)
                  for status in (Status.DONE, Status.FAILED, Status.CANCELLED)}
        parts = [f"{counts[Status.DONE]} expanded"]
        parts += [f"{counts[Status.FAILED]} failed"] * bool(counts[Status.FAILED])
        parts += [f"{counts[Status.CANCELLED]} cancelled"] * bool(counts[Status.CANCELLED])
        seconds = time.perf_counter() - self._batch_started
        self._status(f"Finished in {seconds:.1f} s: {', '.join(parts)}", error=bool(counts[Status.FAILED]))

    # ============================================================================ saving
    def save_current(self) -> None:
        item = self.current_item()
        if item is None or item.result is None:
            self._status("Select an expanded item to save it", error=True)
            return
        suffix = image_files.save_suffix(item.texture.guide, self.options.save_format())
        folder = Path(self.store.last_dir or item.texture.guide.parent)
        default = image_files.expanded_path(folder, item.texture.guide, suffix)
        # The dialog's own overwrite question is off: ours below covers the companion maps too.
        chosen, _ = QFileDialog.getSaveFileName(self, "Save result", str(default), image_files.SAVE_FILTER,
                                                options=QFileDialog.Option.DontConfirmOverwrite)
        if not chosen:
            return
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(suffix)
        if path.suffix.lower() not in image_files.SAVE_SUFFIXES:
            self._status(f"Cannot save as '{path.suffix}': use one of {', '.join(image_files.SAVE_SUFFIXES)}",
                         error=True)
            return
        requests = self._requests_for(item, path)
        self._write(requests)

    def save_all(self) -> None:
        finished = [i for i in self.model.items() if i.result is not None]
        if not finished:
            self._status("Nothing to save yet: expand first", error=True)
            return
        folder = QFileDialog.getExistingDirectory(self, "Save all results into", self.store.last_dir)
        if not folder:
            return
        requests = []
        for item in finished:
            suffix = image_files.save_suffix(item.texture.guide, self.options.save_format())
            requests += self._requests_for(item, image_files.expanded_path(Path(folder), item.texture.guide, suffix))
        self._write(requests)

    def _requests_for(self, item: QueueItem, path: Path) -> list[SaveRequest]:
        companions = [(source, pixels) for (_, source), pixels in zip(item.texture.companions, item.result.companions)]
        return image_files.plan_saves(path, item.result.image, companions, self.options.save_depth(), item.bit_depths)

    def _write(self, requests: list[SaveRequest]) -> None:
        inputs = {i.texture.guide.resolve() for i in self.model.items()}
        inputs |= {p.resolve() for i in self.model.items() for _, p in i.texture.companions}
        clashes = [r.path for r in requests if r.path.resolve() in inputs]
        if clashes:
            self._status(f"Refusing to overwrite an input texture: {clashes[0].name}", error=True)
            return
        existing = [r.path for r in requests if r.path.exists()]
        if existing and not self.confirm_overwrite(existing):
            self._status("Nothing saved")
            return
        self.store.last_dir = str(requests[0].path.parent)
        self._status(f"Saving {len(requests)} file{'s' * (len(requests) != 1)}...")
        self.worker.save(requests)

    def confirm_overwrite(self, paths: list[Path]) -> bool:
        names = "\n".join(p.name for p in paths[:8]) + (f"\n... and {len(paths) - 8} more" if len(paths) > 8 else "")
        answer = QMessageBox.question(
            self, "Replace existing files?",
            f"{len(paths)} file{'s' * (len(paths) != 1)} already exist{'s' * (len(paths) == 1)} "
            f"in {paths[0].parent}:\n\n{names}\n\nReplace {'them' if len(paths) > 1 else 'it'}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _on_saved(self, written: list, errors: list) -> None:
        if errors:
            self._status(f"Could not save {len(errors)} file{'s' * (len(errors) != 1)}: {errors[0]}", error=True)
        elif written:
            where = written[0].parent
            self._status(f"Saved {len(written)} file{'s' * (len(written) != 1)} to {where}")
        self.saveFinished.emit(written, errors)

    # ============================================================================ queue editing
    def selected_items(self) -> list[QueueItem]:
        rows = sorted(index.row() for index in self.queue_view.selectionModel().selectedIndexes())
        return [item for item in (self.model.item_at(r) for r in rows) if item is not None]

    def current_item(self) -> QueueItem | None:
        return self.model.item_at(self.queue_view.currentIndex().row())

    def remove_selected(self) -> None:
        items = self.selected_items() or ([self.current_item()] if self.current_item() else [])
        self._remove([i for i in items if i.status not in (Status.QUEUED, Status.RUNNING)])

    def clear_queue(self) -> None:
        self._remove([i for i in self.model.items() if i.status not in (Status.QUEUED, Status.RUNNING)])

    def _remove(self, items: list[QueueItem]) -> None:
        if not items:
            self._status("Running items cannot be removed: cancel first (Esc)")
            return
        ids = {i.id for i in items}
        self.model.remove(ids)
        self._batch -= ids  # items waiting for their file to load may be removed mid-batch
        self._batch_done -= ids
        self._update_progress()
        self._show_current()
        self._update_actions()

    def _queue_menu(self, position) -> None:
        menu = QMenu(self)
        for action in (self.expand_again_action, self.save_action, None, self.remove_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.exec(self.queue_view.viewport().mapToGlobal(position))

    # ============================================================================ display
    def _select(self, item: QueueItem) -> None:
        index = self.model.index(self.model.row_of(item.id))
        self.queue_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _is_current(self, item: QueueItem) -> bool:
        current = self.current_item()
        return current is not None and current.id == item.id

    def _refresh_if_current(self, item: QueueItem) -> None:
        if self._is_current(item):
            self._show_current()

    def _show_current(self) -> None:
        item = self.current_item()
        if item is None:
            self.preview.original.placeholder = "Drop textures here\nor open them with Ctrl+O"
            self.preview.result.placeholder = "The result appears here\nExpand with Ctrl+E"
            self.preview.set_images(None, None)
            self._update_actions()
            return
        name = html.escape(item.name)  # captions are rich text; a file name is not markup
        original_caption = f"<b>Original</b>  {item.size_text() + ' px' if item.loaded else ''}<br>{name}"
        if item.texture.companions:
            original_caption += f"  + {', '.join(role for role, _ in item.texture.companions)}"
        result_caption = "<b>Result</b><br>&nbsp;"
        result_image = None
        if item.result is not None:
            result = item.result
            h, w = result.image.shape[:2]
            result_caption = (f"<b>Result</b>  {w} x {h} px<br>{result.options.describe()}  \u00b7  "
                              f"{_seconds(result.seconds)} on {_short_provider(result.provider)}")
            if item.stale:
                result_caption += "  \u00b7  <span style='color:rgb(210,170,80)'>options changed</span>"
            result_image = result.preview
        self.preview.original.placeholder = {Status.LOADING: "Loading..."}.get(item.status, item.status_text())
        self.preview.result.placeholder = {
            Status.FAILED: f"Error\n{item.message}", Status.RUNNING: f"Expanding... {item.message}",
            Status.QUEUED: "Waiting in the queue...", Status.CANCELLED: "Cancelled\nExpand with Ctrl+E",
        }.get(item.status, "The result appears here\nExpand with Ctrl+E")
        self.preview.set_images(item.preview, result_image, original_caption, result_caption)
        self._update_actions()

    def _on_options_changed(self) -> None:
        options = self.options.options()
        self.store.save_options(options)
        self.store.group_sets = self.options.group_check.isChecked()
        self.store.save_format = self.options.save_format()
        self.store.save_depth = self.options.save_depth()
        self.store.sync()
        for item in self.model.items():
            stale = item.result is not None and item.result.options.result_key() != options.result_key()
            if stale != item.stale:
                item.stale = stale
                self.model.changed(item)
                self._refresh_if_current(item)

    def _update_actions(self) -> None:
        busy = self.worker.expanding or any(i.pending for i in self.model.items())
        current = self.current_item()
        self.cancel_action.setEnabled(busy)
        self.options.set_busy(busy)
        self.save_action.setEnabled(current is not None and current.result is not None)
        self.save_all_action.setEnabled(any(i.result is not None for i in self.model.items()))
        self.expand_action.setEnabled(bool(self.model.items()))
        self.options.expand_button.setEnabled(bool(self.model.items()))

    def _status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")

    # ============================================================================ closing
    def closeEvent(self, event) -> None:  # noqa: N802
        self.store.window_geometry = self.saveGeometry()
        self.store.sync()
        self.worker.shutdown()
        super().closeEvent(event)


def _seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def _short_provider(provider: str) -> str:
    return provider.replace("ExecutionProvider", "") or "unknown"
