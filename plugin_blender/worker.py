"""The part of the extension that runs off Blender's main thread.

Nothing in this module imports or touches `bpy`: Blender's data may only be read and written on
the main thread, so the operators copy pixels into plain numpy arrays and options into the
runtime's own ExpandOptions and SessionOptions (checked there, on the main thread) first, and
hand the finished arrays back to the main thread, which creates the new images. That also lets
the tests drive this module without Blender.
"""

from __future__ import annotations

import importlib
import os
import threading
import traceback
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CompanionMap:
    """Another map of the same material (normal, roughness...) expanded with the colour map's
    arrangement so that the maps stay registered with each other."""

    image_name: str
    pixels: np.ndarray  # (H, W, C) float32, rows top-down, same H and W as the colour map
    is_normal: bool = False  # tangent-space normal map: the runtime renormalises its vectors


@dataclass
class ExpandJob:
    source_name: str
    pixels: np.ndarray  # (H, W, C) float32, rows top-down (Blender's rows are bottom-up)
    options: object  # the runtime's ExpandOptions: what to make (scale/size, seamless, seed, variation...)
    session: object  # the runtime's SessionOptions: how the model runs (model, device, threads)
    companions: list[CompanionMap] = field(default_factory=list)


@dataclass
class JobResult:
    image: np.ndarray  # (H', W', C) float32, rows top-down
    companions: list[np.ndarray]  # in the order of ExpandJob.companions
    provider: str  # the onnxruntime execution provider that really ran
    seconds: float


def load_runtime():
    """The runtime module: the copy vendored into the extension by build.py, or, when this
    folder is used straight from a source checkout, the installed `transposer` package."""
    try:
        return importlib.import_module(".transposer.runtime", __package__)
    except ImportError as vendored_error:
        try:
            return importlib.import_module("transposer.runtime")
        except ImportError:
            raise vendored_error from None


def runtime_files():
    """The runtime's file helpers (one normal-map name rule, one error line for every front end)."""
    return importlib.import_module(".files", load_runtime().__name__)


_expanders: dict[tuple, object] = {}
_expanders_lock = threading.Lock()


def get_expander(session):
    """One Expander per SessionOptions (model, device, threads), kept between runs: building one
    loads the ONNX model into an onnxruntime session, which takes longer than a small expansion."""
    try:  # an override file replaced on disk must be loaded again
        stamp = os.stat(session.model).st_mtime_ns
    except OSError:
        stamp = None
    key = (session, stamp)
    with _expanders_lock:
        expander = _expanders.get(key)
        if expander is None:
            expander = load_runtime().Expander(session)
            _expanders[key] = expander
        return expander


def clear_expanders() -> None:
    """Drop the cached sessions (the extension calls this when it is disabled)."""
    with _expanders_lock:
        _expanders.clear()


def run_job(job: ExpandJob, progress=None) -> JobResult:
    """Expand a job's colour map (and companions). Blocking; raises the runtime's ExpandError
    for bad options and ExpandCancelled when `progress` returns False. Normal maps are flagged
    so the runtime renormalises their vectors after blending."""
    runtime = load_runtime()
    expander = get_expander(job.session)
    result = expander.expand(
        job.pixels,
        job.options,
        progress=progress,
        companions=[runtime.Companion(c.pixels, normal=c.is_normal) for c in job.companions],
    )
    return JobResult(
        image=np.asarray(result.image, dtype=np.float32),
        companions=[np.asarray(pixels, dtype=np.float32) for pixels in result.companions],
        provider=result.provider,
        seconds=float(result.seconds),
    )


class BackgroundJob:
    """One ExpandJob on a daemon thread. The main thread polls `progress` and `finished` from
    a modal timer and calls `cancel()` on Esc; the runtime learns of it at its next progress
    callback, whose return value means "keep going"."""

    def __init__(self, job: ExpandJob):
        self.job = job
        self.progress: tuple[int, int] = (0, 1)  # (done, total), replaced as a whole
        self.result: JobResult | None = None
        self.error: BaseException | None = None
        self.error_details = ""  # traceback text for the console when the error is a bug
        self.cancelled = False
        self._cancel_requested = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="transposer-expand", daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel_requested.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def _on_progress(self, done: int, total: int) -> bool:
        self.progress = (int(done), max(int(total), 1))
        return not self._cancel_requested.is_set()

    def _run(self) -> None:
        try:
            if self._cancel_requested.is_set():
                self.cancelled = True
                return
            self.result = run_job(self.job, self._on_progress)
        except Exception as error:  # reported on the main thread, never swallowed
            if _is_runtime_error(error, "ExpandCancelled"):
                self.cancelled = True
            else:
                self.error = error
                self.error_details = traceback.format_exc()
        finally:
            self._finished.set()


def _is_runtime_error(error: BaseException, name: str) -> bool:
    try:
        return isinstance(error, getattr(load_runtime(), name))
    except ImportError:
        return False


def describe_error(error: BaseException) -> str:
    """A one-line message for a Blender report: the runtime's ExpandError already names the
    parameter, its range and the value; anything else is unexpected and says what it was."""
    if _is_runtime_error(error, "ExpandError"):
        return str(error)
    text = runtime_files().first_line(error)
    return "{}: {}".format(type(error).__name__, "(no message)" if text == type(error).__name__ else text)
