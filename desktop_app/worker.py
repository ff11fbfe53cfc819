"""Everything slow runs here, off the UI thread: reading images, expanding them, writing results.

Jobs are QRunnables on private thread pools; they never touch a widget. They hand plain data
(numpy arrays, QImages, strings) back through the queued signals of one JobSignals object that
lives on the UI thread. Expansion runs one job at a time (the model already uses every core),
in submission order; reading runs on its own pool so new drops load while a batch expands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, QRunnable, Qt, QThreadPool, pyqtSignal
from PyQt6.QtGui import QImage

from transposer.runtime import ExpandCancelled

from . import image_files
from .image_files import SaveRequest, is_linear
from .preview import to_qimage
from .queue_model import ExpandedImage
from .settings import AppOptions
from .texture_sets import TextureSet

log = logging.getLogger(__name__)
THUMBNAIL_SIZE = 64

ExpanderFactory = Callable[..., object]  # (model=, device=, threads=) -> object with .expand/.provider


def default_expander_factory(**kwargs):
    # Imported here so the window opens fast and tests with a fake never load onnxruntime.
    from transposer.runtime import Expander

    return Expander(**kwargs)


def one_line(exc: BaseException) -> str:
    """A readable one-line message for the queue and the status bar (never a traceback)."""
    from transposer.runtime.files import first_line

    text = first_line(exc)
    text = "" if text == type(exc).__name__ else text
    if isinstance(exc, (OSError, ValueError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class LoadedTexture:
    pixels: np.ndarray  # guide (H, W, C) float32
    companions: list[np.ndarray]
    preview: QImage
    thumbnail: QImage
    bit_depths: list[int]  # guide then companions: 8, 16 or 32 (float); the default depth for saving
    linear: bool  # the guide holds linear light (EXR): shown sRGB-encoded


class JobSignals(QObject):
    loaded = pyqtSignal(int, object)  # item id, LoadedTexture
    load_failed = pyqtSignal(int, str)  # item id, message
    started = pyqtSignal(int)  # item id
    progress = pyqtSignal(int, int, int)  # item id, done, total
    expanded = pyqtSignal(int, object)  # item id, ExpandedImage
    expand_failed = pyqtSignal(int, str)  # item id, message
    cancelled = pyqtSignal(int)  # item id
    saved = pyqtSignal(object, object)  # written paths, list of error messages


class ExpanderCache:
    """Builds an expander once per (model, device) and reuses it: opening an onnxruntime session
    costs far more than a small expansion. A failed build is not cached, so fixing the cause
    (a model file, a driver) and pressing Expand again works."""

    def __init__(self, factory: ExpanderFactory, threads: int | None = None):
        self.factory = factory
        self.threads = threads
        self._lock = threading.Lock()
        self._expanders: dict[tuple[str, str], object] = {}

    def get(self, model: str, device: str):
        with self._lock:
            key = (model, device)
            if key not in self._expanders:
                self._expanders[key] = self.factory(model=model, device=device, threads=self.threads)
            return self._expanders[key]


class _LoadJob(QRunnable):
    def __init__(self, signals: JobSignals, item_id: int, texture: TextureSet):
        super().__init__()
        self.signals, self.item_id, self.texture = signals, item_id, texture

    def run(self) -> None:
        try:
            guide = image_files.read(self.texture.guide)
            companions, depths = [], [guide.bit_depth]
            for role, path in self.texture.companions:
                companion = image_files.read(path)
                if companion.pixels.shape[:2] != guide.pixels.shape[:2]:
                    h, w = companion.pixels.shape[:2]
                    gh, gw = guide.pixels.shape[:2]
                    raise ValueError(f"{role} map {path.name} is {w} x {h} but the colour map is {gw} x {gh}; "
                                     "a PBR set must share one size")
                companions.append(companion.pixels)
                depths.append(companion.bit_depth)
            linear = is_linear(self.texture.guide)
            preview = to_qimage(guide.pixels, linear)
            thumbnail = preview.scaled(THUMBNAIL_SIZE, THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
            loaded = LoadedTexture(guide.pixels, companions, preview, thumbnail, depths, linear)
        except Exception as exc:  # any failure belongs to this item only; the queue carries on
            log.debug("loading %s failed", self.texture.guide, exc_info=True)
            # The queue already shows which item failed: name the file, not its whole path.
            message = one_line(exc)
            for path in (self.texture.guide, *(p for _, p in self.texture.companions)):
                message = message.replace(str(path), path.name)
            self.signals.load_failed.emit(self.item_id, message)
            return
        self.signals.loaded.emit(self.item_id, loaded)


class _ExpandJob(QRunnable):
    def __init__(self, signals: JobSignals, expanders: ExpanderCache, item_id: int, pixels: np.ndarray,
                 companions: list[tuple[str, np.ndarray]], options: AppOptions, linear: bool):
        super().__init__()
        self.signals, self.expanders, self.item_id, self.linear = signals, expanders, item_id, linear
        self.pixels, self.companions, self.options = pixels, companions, options
        self.cancel_event = threading.Event()

    def _progress(self, done: int, total: int) -> bool:
        self.signals.progress.emit(self.item_id, int(done), int(total))
        return not self.cancel_event.is_set()  # the runtime's contract: False cancels

    def run(self) -> None:
        if self.cancel_event.is_set():  # cancelled while waiting in the pool
            self.signals.cancelled.emit(self.item_id)
            return
        self.signals.started.emit(self.item_id)
        start = time.perf_counter()
        try:
            expander = self.expanders.get(self.options.model, self.options.device)
            result = expander.expand(self.pixels, self.options.expand_options(), progress=self._progress,
                                     companions=_companions(self.companions))
            if self.cancel_event.is_set():  # asked while the last step ran: the result is dropped
                raise ExpandCancelled("cancelled after the last step")
            expanded = ExpandedImage(
                image=result.image, companions=list(result.companions),
                provider=str(getattr(result, "provider", "") or getattr(expander, "provider", "")),
                seconds=float(getattr(result, "seconds", time.perf_counter() - start)),
                options=self.options, preview=to_qimage(result.image, self.linear))
        except Exception as exc:
            # Only the runtime's ExpandCancelled is a cancellation; anything else is an error to
            # show, even when cancel was asked meanwhile (it may be a real bug).
            if isinstance(exc, ExpandCancelled):
                self.signals.cancelled.emit(self.item_id)
            else:
                log.debug("expanding item %d failed", self.item_id, exc_info=True)
                self.signals.expand_failed.emit(self.item_id, one_line(exc))
            return
        self.signals.expanded.emit(self.item_id, expanded)


def _companions(companions: list[tuple[str, np.ndarray]]) -> list:
    """The runtime's Companion objects from (file name, pixels): maps the runtime's one normal-map
    name rule picks (as the CLI and Blender do) are renormalised to unit vectors after expansion."""
    from transposer.runtime import Companion
    from transposer.runtime.files import is_normal_map_name

    return [Companion(pixels, normal=is_normal_map_name(name)) for name, pixels in companions]


class _SaveJob(QRunnable):
    def __init__(self, signals: JobSignals, requests: list[SaveRequest]):
        super().__init__()
        self.signals, self.requests = signals, requests

    def run(self) -> None:
        written, errors = [], []
        for request in self.requests:
            try:
                image_files.write(request)
                written.append(request.path)
            except Exception as exc:
                errors.append(f"{request.path.name}: {one_line(exc)}")
        self.signals.saved.emit(written, errors)


class Worker(QObject):
    """Owns the thread pools; the window talks to the background only through this object."""

    def __init__(self, expander_factory: ExpanderFactory = default_expander_factory, parent=None):
        super().__init__(parent)
        self.signals = JobSignals(self)
        self.expanders = ExpanderCache(expander_factory)
        self._load_pool = QThreadPool(self)
        self._load_pool.setMaxThreadCount(1)
        self._expand_pool = QThreadPool(self)
        self._expand_pool.setMaxThreadCount(1)
        self._save_pool = QThreadPool(self)
        self._save_pool.setMaxThreadCount(1)
        self._cancel_events: dict[int, threading.Event] = {}  # expansions not yet reported back
        for signal in (self.signals.expanded, self.signals.expand_failed, self.signals.cancelled):
            signal.connect(self._forget)

    def load(self, item_id: int, texture: TextureSet) -> None:
        self._load_pool.start(_LoadJob(self.signals, item_id, texture))

    def expand(self, item_id: int, pixels: np.ndarray, companions: list[tuple[str, np.ndarray]],
               options: AppOptions, linear: bool = False) -> None:
        """Queue one expansion. `companions`: (file name, pixels), one per companion map."""
        job = _ExpandJob(self.signals, self.expanders, item_id, pixels, companions, options.validated(), linear)
        # Only the job's event is kept: the pool owns and deletes the job itself once it has run.
        self._cancel_events[item_id] = job.cancel_event
        self._expand_pool.start(job)

    def cancel(self) -> None:
        """Cancel the running expansion and every one still waiting."""
        for event in self._cancel_events.values():
            event.set()

    def save(self, requests: list[SaveRequest]) -> None:
        self._save_pool.start(_SaveJob(self.signals, requests))

    @property
    def expanding(self) -> bool:
        return bool(self._cancel_events)

    def _forget(self, item_id: int, *_) -> None:
        self._cancel_events.pop(item_id, None)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel and wait, so no thread outlives the window (Qt aborts on that at exit)."""
        self.cancel()
        for pool in (self._load_pool, self._expand_pool, self._save_pool):
            pool.waitForDone(timeout_ms)
