"""Finding the model file and opening it in onnxruntime on the requested device.

Two traps this module exists for:
- `onnxruntime` and `onnxruntime-gpu` install into the same module folder; with both present
  the import half-works. We check the installed distributions first and say which to remove.
- A session asked for CUDA silently falls back to CPU when CUDA cannot start, and
  `get_available_providers()` lists CUDA even on machines without a GPU. Only
  `session.get_providers()` says what really runs, so that is what we report and check.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ExpandError
from .files import first_line

MODELS_DIR = Path(__file__).resolve().parent / "models"
REGISTRY = MODELS_DIR / "registry.json"
DEVICES = ("auto", "cpu", "cuda")
INPUTS = ("image", "wrap", "noise_mix", "noise")
OUTPUTS = ("output", "coords")
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
AUTO_GPU = ("DmlExecutionProvider", "CoreMLExecutionProvider")


@dataclass(frozen=True)
class ModelFile:
    path: Path
    name: str  # registry name, or the file name for a model given by path
    description: str = ""
    provisional: bool = False


def registry() -> dict:
    """The shipped models: {name: {"file", "sha256", "description", "provisional"}}."""
    if not REGISTRY.is_file():
        return {}
    try:
        return json.loads(REGISTRY.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExpandError(f"model registry {REGISTRY} is unreadable: {error}") from None


def resolve_model(model: str | os.PathLike) -> ModelFile:
    """A registry name ("default") or a path to an .onnx file. Registry files are checked
    against their recorded sha256 so a truncated or swapped file fails here, not mid-run."""
    if not isinstance(model, (str, os.PathLike)) or not str(model):
        raise ExpandError(f"model must be a registered name or a path to an .onnx file; got {model!r}")
    entries = registry()
    text = os.fspath(model)
    if text in entries:
        entry = entries[text]
        path = MODELS_DIR / entry["file"]
        if not path.is_file():
            raise ExpandError(f"model {text!r}: file {path} is missing (reinstall transposer)")
        digest = sha256(path)
        if entry.get("sha256") and digest != entry["sha256"]:
            raise ExpandError(f"model {text!r}: {path.name} has sha256 {digest[:12]}..., the registry "
                              f"expects {entry['sha256'][:12]}... (corrupt or replaced file)")
        return ModelFile(path, text, entry.get("description", ""), bool(entry.get("provisional", False)))
    path = Path(text).expanduser()
    if path.is_file():
        return ModelFile(path, path.name)
    names = ", ".join(sorted(entries)) or "none installed"
    raise ExpandError(f"model must be a registered name ({names}) or an existing .onnx file; got {text!r}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_onnxruntime():
    """onnxruntime, after making sure exactly one of its builds is installed."""
    installed = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            importlib.metadata.distribution(dist)
            installed.append(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    if len(installed) == 2:
        raise ExpandError("both onnxruntime and onnxruntime-gpu are installed and they overwrite each other: "
                          "run `pip uninstall -y onnxruntime onnxruntime-gpu`, then install one: "
                          "`pip install onnxruntime-gpu` for CUDA or `pip install onnxruntime` for CPU")
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as error:
        raise ExpandError(f"onnxruntime is not installed ({error}): `pip install transposer[cpu]` "
                          "(or `transposer[gpu]` for CUDA)") from None


def open_session(path: Path, device: str, threads: int | None):
    """An InferenceSession on `device`; returns (session, active provider name)."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # a failed CUDA start is reported by us, in one line
    available = ort.get_available_providers()
    if device == "cpu":
        providers = [CPU]
    elif CUDA in available:
        providers = [CUDA, CPU]
    elif device == "cuda":
        raise ExpandError("device 'cuda' needs onnxruntime-gpu with CUDA; this onnxruntime offers "
                          f"{', '.join(available)} (use --device auto or cpu)")
    else:
        # auto without CUDA: the GPU providers that need no separate install (DirectML in
        # onnxruntime-directml on Windows, CoreML in the macOS wheel), then the CPU.
        providers = [p for p in AUTO_GPU if p in available] + [CPU]
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... classes
        raise ExpandError(f"model {path.name} cannot be loaded by onnxruntime: {first_line(error)}") from None
    active = session.get_providers()[0]
    if device == "cuda" and active != CUDA:
        raise ExpandError(f"device 'cuda' was requested but onnxruntime runs on {active}: CUDA did not "
                          "start (check the NVIDIA driver and the CUDA/cuDNN libraries onnxruntime-gpu needs)")
    return session, active


def check_contract(session, path: Path) -> dict[str, str]:
    """Check the graph's input/output names and return its metadata; raise ExpandError if the
    file is not a transposer model."""
    inputs = {node.name for node in session.get_inputs()}
    outputs = {node.name for node in session.get_outputs()}
    missing = [name for name in INPUTS if name not in inputs] + [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise ExpandError(f"model {path.name} is not a transposer model: it lacks {', '.join(missing)} "
                          f"(inputs {sorted(inputs)}, outputs {sorted(outputs)})")
    meta = dict(session.get_modelmeta().custom_metadata_map)
    multiple = meta.get("transposer.input_multiple", "8")
    if not multiple.isdigit() or not 1 <= int(multiple) <= 1024:
        raise ExpandError(f"model {path.name}: metadata transposer.input_multiple must be an integer in "
                          f"[1, 1024]; got {multiple!r}")
    return meta
