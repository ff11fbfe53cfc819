"""Evaluation of texture expansion models against ground truth and naive baselines (`transposer eval`).

Torch-free except when the model is a training snapshot or a live nn.Module.
"""
from .adapters import Model, OnnxModel, TorchModel, load_model
from .protocol import EvalError
from .runner import EvalCancelled, run_eval

__all__ = ["Model", "OnnxModel", "TorchModel", "load_model", "EvalError", "EvalCancelled", "run_eval"]
