"""Model configuration: every architectural choice of the Transposer network in one dataclass.

The config travels with every checkpoint and every exported ONNX file (as JSON), so a model can
always be rebuilt exactly from its snapshot.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass


@dataclass
class ModelConfig:
    name: str = "default"
    # "paper": the convolutional encoder of Liu et al. (2020), trained from scratch.
    # "vgg": frozen VGG-19 relu3_1/relu4_1/relu5_1 features plus a learned 1x1 projection.
    encoder: str = "paper"
    # Channels of the three encoder scales (strides 2, 4, 8 for "paper"; 4, 8, 16 for "vgg")
    # after projection; these are also the channels of the transposed-convolution outputs.
    channels: tuple[int, int, int] = (32, 64, 96)
    # Reserved: channels of pixel-level features placed beside the RGB input. The current network
    # samples the input itself at its coordinates instead (see network.py), so this is unused; it
    # stays so that snapshots written with it keep loading.
    pixel_channels: int = 8
    # Number of placement maps per scale (G): each map places its own transformation of the
    # features; several maps let the network mix e.g. a sharp tiling with a smoother blend.
    groups: int = 4
    # Hidden channels of the small conv stack that turns a self-similarity map into placement logits.
    map_channels: int = 16
    # Shift radius as a fraction of the feature size: the paper uses shifts in [-h/2, h/2] (0.5).
    # 1.0 lets copies reach every position of the 2x canvas from both sides, which seamless
    # (wrap-around) output needs and which gives the outer ring more than one candidate copy.
    shift_radius: float = 1.0
    # "overlap": distances averaged over the overlap of the shifted maps; "plain": the paper's
    # equation, summed over the overlap and divided by the total energy, which makes large
    # shifts (small overlaps) look artificially similar.
    ssm_norm: str = "overlap"
    # How each canvas cell picks the copy it takes its source coordinate from (model/ranked_copies.py):
    # "ranked": exactly one copy, the highest-ranked of `candidates` well-separated local maxima of
    # the placement logits (at least `candidate_spacing` shifts apart) that reaches the cell;
    # "soft": the paper-style softmax over every copy that reaches it, which averages the sources
    # of near-equal copies and streaks stochastic textures (kept for older snapshots).
    copy_choice: str = "ranked"
    candidates: int = 16
    candidate_spacing: int = 7
    # Shifts whose copy overlaps the input by less than this fraction are not candidates: their
    # similarity is judged on a few cells only, so a chance match plus the placement maps' bonus for
    # far shifts outranked the texture's true period (tiles continued with misaligned grout).
    # Measured on 120 training images (patch SWD): 0 -> 0.0115, 0.2 -> 0.0113, 0.4 -> 0.0108,
    # 0.5 -> 0.0108, 0.6 -> 0.0109, 0.75 -> 0.0114. The fallback tiling still reaches every cell.
    min_overlap: float = 0.4
    # Decoder channels per level, coarsest first, ending at the full output resolution.
    decoder_channels: tuple[int, int, int, int] = (96, 64, 32, 16)
    # VGG weights file for the "vgg" encoder (None: the default search, see model/vgg.py).
    vgg_weights: str | None = None

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        self.decoder_channels = tuple(self.decoder_channels)
        if self.encoder not in ("paper", "vgg"):
            raise ValueError(f"encoder must be 'paper' or 'vgg', got {self.encoder!r}")
        if self.ssm_norm not in ("overlap", "plain"):
            raise ValueError(f"ssm_norm must be 'overlap' or 'plain', got {self.ssm_norm!r}")
        if self.copy_choice not in ("ranked", "soft"):
            raise ValueError(f"copy_choice must be 'ranked' or 'soft', got {self.copy_choice!r}")
        if self.candidates < 1 or self.candidate_spacing < 1 or self.candidate_spacing % 2 == 0:
            raise ValueError("candidates must be >= 1 and candidate_spacing an odd number >= 1, got "
                             f"{self.candidates} and {self.candidate_spacing}")
        if not 0.0 <= self.min_overlap < 1.0:
            raise ValueError(f"min_overlap must be in [0, 1), got {self.min_overlap}")
        if not 0.5 <= self.shift_radius <= 1.0:
            raise ValueError(f"shift_radius must be in [0.5, 1], got {self.shift_radius}")
        if len(self.channels) != 3 or len(self.decoder_channels) != 4:
            raise ValueError("channels needs 3 entries and decoder_channels 4")
        for name in ("channels", "decoder_channels"):
            if any(int(c) < 1 for c in getattr(self, name)):
                raise ValueError(f"{name} must all be >= 1, got {getattr(self, name)}")
        for name in ("pixel_channels", "groups", "map_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def strides(self) -> tuple[int, int, int]:
        return (2, 4, 8) if self.encoder == "paper" else (4, 8, 16)

    @property
    def input_multiple(self) -> int:
        return self.strides[-1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)

    def hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


# Named presets. "tiny" is for CPU smoke tests; the rest are the variants the configs/ files use.
PRESETS: dict[str, ModelConfig] = {
    "default": ModelConfig(),
    "tiny": ModelConfig(name="tiny", channels=(8, 16, 16), pixel_channels=4, groups=2,
                        map_channels=8, decoder_channels=(16, 16, 8, 8)),
    "paper": ModelConfig(name="paper", shift_radius=0.5, ssm_norm="plain", copy_choice="soft"),
    "vgg": ModelConfig(name="vgg", encoder="vgg", channels=(64, 96, 128),
                       decoder_channels=(128, 96, 48, 16)),
}


def resolve_config(name_or_config: "str | dict | ModelConfig") -> ModelConfig:
    if isinstance(name_or_config, ModelConfig):
        return name_or_config
    if isinstance(name_or_config, dict):
        return ModelConfig.from_dict(name_or_config)
    if name_or_config not in PRESETS:
        raise ValueError(f"unknown model {name_or_config!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name_or_config])

