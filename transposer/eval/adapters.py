"""What eval calls a model: anything with a `name` and `expand(batch) -> batch`.

    expand(batch: (B, H, W, 3) float32 in [0, 1]) -> (B, 2H, 2W, 3) float32 in [0, 1]

Two adapters satisfy it: OnnxModel (the torch-free runtime, for shipped or exported .onnx files)
and TorchModel (a training snapshot, or a live nn.Module handed over by the training loop).
Metrics and baselines only ever see numpy arrays, so they never care which one ran.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .protocol import EvalError

SNAPSHOT_SUFFIXES = (".safetensors", ".pt", ".pth")


@runtime_checkable
class Model(Protocol):
    name: str

    def expand(self, batch: np.ndarray) -> np.ndarray: ...


class OnnxModel:
    """An ONNX model run by transposer.runtime.Expander (registry name or .onnx path)."""

    kind = "onnx"

    def __init__(self, model: str, device: str = "auto"):
        try:
            from transposer.runtime import ExpandError, Expander
        except ImportError as exc:
            raise EvalError(f"--model {model}: the ONNX runtime is not usable here: {exc}") from None
        try:
            self._expander = Expander(model=model, device=device)
        except ExpandError as exc:
            raise EvalError(f"--model {model}: {exc}") from None
        self.name = Path(model).stem if model.lower().endswith(".onnx") else model
        self.source = model
        self.provider = getattr(self._expander, "provider", None)

    def expand(self, batch: np.ndarray) -> np.ndarray:
        # The runtime pads to the model's input multiple and centre-crops back, so any size works.
        out = [self._expander.expand(np.ascontiguousarray(image), scale=2.0, seed=0).image for image in batch]
        return np.clip(np.stack(out), 0.0, 1.0).astype(np.float32, copy=False)


def torch_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; explicit names are checked once here."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EvalError(f"--device {device}: torch sees no CUDA device (use auto or cpu)")
    try:
        torch.device(device)
    except RuntimeError:
        raise EvalError(f"--device: expected auto, cpu, cuda or cuda:N, got {device!r}") from None
    return device


class TorchModel:
    """A PyTorch module with the training contract: x (B, 3, H, W) in [0, 1] -> (B, 3, 2H, 2W)."""

    kind = "module"

    def __init__(self, module: Any, name: str = "model", device: str | None = None):
        import torch

        self.module = module
        self.name = name
        self.source = name
        if device is None:   # a live module stays where the training loop keeps it
            param = next(module.parameters(), None)
            self.device = param.device if param is not None else torch.device("cpu")
        else:
            self.device = torch.device(device)
            module.to(self.device)
        self.provider = f"torch {self.device}"

    def expand(self, batch: np.ndarray) -> np.ndarray:
        import torch

        was_training = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2)
                y = self.module(x.to(self.device))
                return y.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        finally:
            self.module.train(was_training)   # periodic validation must not leave the net in eval mode


def load_snapshot_model(path: str, device: str = "auto") -> TorchModel:
    """A training snapshot (folder or .safetensors file) through transposer.model.load_snapshot."""
    try:
        from transposer.model import load_snapshot
    except ImportError as exc:
        raise EvalError(f"--model {path}: snapshots need the training install (torch): {exc}") from None
    dev = torch_device(device)
    try:
        module = load_snapshot(path)
    except Exception as exc:   # any failure to rebuild the net is one line for the user, not a traceback
        raise EvalError(f"--model {path}: cannot load snapshot: {type(exc).__name__}: {exc}") from None
    model = TorchModel(module, name=Path(path).stem or Path(path).name, device=dev)
    model.kind = "snapshot"
    model.source = str(path)
    return model


def load_model(spec: Any, device: str = "auto") -> Model:
    """A Model from a registry name, an .onnx path, a snapshot path, an nn.Module or a Model."""
    if isinstance(spec, Model) and not isinstance(spec, (str, Path)):
        return spec
    if not isinstance(spec, (str, Path)):
        if hasattr(spec, "parameters") and callable(spec):   # a torch nn.Module, without importing torch
            return TorchModel(spec, name=type(spec).__name__)
        raise EvalError(f"model: expected a name, a path, an nn.Module or an eval Model, got {type(spec).__name__}")
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir() or path.suffix.lower() in SNAPSHOT_SUFFIXES:
        if not path.exists():
            raise EvalError(f"--model: snapshot not found: {text}")
        return load_snapshot_model(str(path), device)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise EvalError(f"--model: ONNX file not found: {text}")
        return OnnxModel(str(path), device)
    if path.exists() or "/" in text or "\\" in text:
        raise EvalError(f"--model: expected a registry name, an .onnx file or a snapshot "
                        f"(folder or {', '.join(SNAPSHOT_SUFFIXES)}), got {text}")
    return OnnxModel(text, device)   # a registry name; the runtime checks it exists
