"""Training losses, one small callable per file, each citing its paper, and the weighted criterion.

    criterion = build_criterion(LossConfig(l1=1.0, swd=1.0, adversarial=0.05))
    total, terms = criterion(output, target, input)         # terms: {"l1": ..., "swd": ..., ...}
    d_loss = criterion.discriminator_loss(output.detach(), target)   # own optimizer, own step
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .adversarial import PatchDiscriminator, discriminator_hinge_loss, generator_hinge_loss
from .content import content_loss
from .criterion import Criterion
from .frechet import feature_stats, frechet_distance, frechet_loss
from .gram import gram_loss, gram_matrix
from .patch_swd import patch_sliced_wasserstein_loss
from .pixel import l1_loss
from .swd import sliced_wasserstein_loss

__all__ = [
    "Criterion", "LossConfig", "PatchDiscriminator", "build_criterion", "content_loss",
    "discriminator_hinge_loss", "feature_stats", "frechet_distance", "frechet_loss",
    "generator_hinge_loss", "gram_loss", "gram_matrix", "l1_loss", "patch_sliced_wasserstein_loss",
    "sliced_wasserstein_loss",
]

WEIGHTS = ("l1", "content", "gram", "swd", "patch_swd", "adversarial", "frechet")
VGG_WEIGHTS = ("content", "gram", "swd", "frechet")


@dataclass
class LossConfig:
    # Weights of each term (>= 0; 0 switches a term off and skips its cost).
    l1: float = 1.0
    content: float = 0.0  # VGG feature MSE at content_layer (Johnson et al. 2016)
    gram: float = 0.0  # per-image Gram matrices on vgg_layers (Gatys et al. 2015)
    swd: float = 0.0  # sliced Wasserstein on vgg_layers (Heitz et al. 2021)
    patch_swd: float = 0.0  # sliced Wasserstein on raw pixel patches, 3 scales; no VGG
    adversarial: float = 0.0  # PatchGAN hinge loss (Isola et al. 2017; Lim & Ye 2017)
    frechet: float = 0.0  # per-image Frechet distance of VGG feature Gaussians ("FID loss")
    vgg_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_layer: str = "relu4_1"
    vgg_weights: str | None = None  # torchvision vgg19 .pth or AdaIN vgg_normalised.pth; None = default search
    patch_size: int = 5  # pixels, odd, 3..11: the patch_swd patch is patch_size x patch_size
    patch_scales: int = 3  # 1..5: scales 1, 1/2, 1/4, ...
    disc_channels: int = 64  # PatchGAN width of the first layer, 8..256
    disc_layers: int = 3  # stride-2 layers, 1..5 (3: 70 x 70 receptive field)
    disc_spectral_norm: bool = True  # stabler; note torch.compile fails on it (compile the generator only)

    def __post_init__(self):
        from transposer.model.vgg import LAYER_NAMES

        self.vgg_layers = tuple(self.vgg_layers)
        for name in WEIGHTS:
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"LossConfig.{name} must be a finite weight >= 0, got {v!r}")
        if not any(getattr(self, name) > 0 for name in WEIGHTS):
            raise ValueError(f"LossConfig: at least one of {', '.join(WEIGHTS)} must be > 0")
        if not self.vgg_layers:
            raise ValueError("LossConfig.vgg_layers must name at least one layer, e.g. relu3_1")
        for name in (*self.vgg_layers, self.content_layer):
            if name not in LAYER_NAMES:
                raise ValueError(f"LossConfig: VGG layer must be one of conv1_1..pool5 (e.g. relu4_1), got {name!r}")
        checks = (("patch_size", 3, 11), ("patch_scales", 1, 5), ("disc_channels", 8, 256), ("disc_layers", 1, 5))
        for name, lo, hi in checks:
            v = getattr(self, name)
            if not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"LossConfig.{name} must be an integer in {lo}..{hi}, got {v!r}")
        if self.patch_size % 2 == 0:
            raise ValueError(f"LossConfig.patch_size must be odd, got {self.patch_size}")

    @property
    def needs_vgg(self) -> bool:
        return any(getattr(self, name) > 0 for name in VGG_WEIGHTS)

    @property
    def vgg_outputs(self) -> tuple[str, ...]:
        """The VGG layers the enabled terms read."""
        names = list(self.vgg_layers) if (self.gram or self.swd or self.frechet) else []
        if self.content and self.content_layer not in names:
            names.append(self.content_layer)
        return tuple(names)


def build_criterion(cfg: LossConfig, vgg=None) -> Criterion:
    """The weighted criterion. `vgg`: an already built VGGFeatures (tests, or sharing one network
    with a "vgg" encoder); otherwise it is loaded from cfg.vgg_weights when a VGG term is on
    (raises transposer.model.vgg.VGGWeightsMissing when no weights are found)."""
    if cfg.needs_vgg and vgg is None:
        from transposer.model.vgg import LAYER_NAMES, load_vgg19_features

        outputs = cfg.vgg_outputs
        last = max(outputs, key=LAYER_NAMES.index)
        vgg = load_vgg19_features(cfg.vgg_weights, last_layer=last, outputs=outputs)
    elif cfg.needs_vgg:
        missing = [n for n in cfg.vgg_outputs if n not in getattr(vgg, "outputs", cfg.vgg_outputs)]
        if missing:
            raise ValueError(f"build_criterion: the given vgg does not return {', '.join(missing)}")
    return Criterion(cfg, vgg if cfg.needs_vgg else None)
