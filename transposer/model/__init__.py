"""The Transposer network (Liu et al. 2020) and its configuration."""
from __future__ import annotations

import dataclasses

from transposer.model.config import PRESETS, ModelConfig, resolve_config
from transposer.model.network import Transposer


def build_model(name_or_config="default", vgg_weights: str | None = None) -> Transposer:
    """A Transposer from a preset name, a config dict or a ModelConfig.

    The "vgg" encoder loads pretrained VGG-19 weights (see transposer.model.vgg) and raises
    VGGWeightsMissing, with instructions, when none are found.
    """
    config = resolve_config(name_or_config)
    if vgg_weights is not None:
        config = dataclasses.replace(config, vgg_weights=vgg_weights)   # never mutate the caller's
    return Transposer(config)


def load_snapshot(path):
    """Inference snapshot (EMA weights + config, safetensors) -> Transposer in eval mode."""
    from transposer.model.snapshot import load_snapshot as _load

    return _load(path)


__all__ = ["build_model", "load_snapshot", "ModelConfig", "PRESETS", "Transposer"]
