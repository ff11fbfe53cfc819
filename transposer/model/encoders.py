"""Encoders: image (B, 3, H, W) in [0, 1] -> three feature maps at increasing strides."""
from __future__ import annotations

import torch
from torch import nn


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    # Downsampling uses a 4x4 kernel: its output size (H - 2) // 2 + 1 = H / 2 stays a plain
    # expression for the ONNX exporter's symbolic shapes (a 3x3 one gives floor((H - 1) / 2) + 1).
    k = 3 if stride == 1 else 4
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class PaperEncoder(nn.Module):
    """The convolutional encoder of Liu et al. (2020), trained from scratch: strides 2, 4, 8."""

    def __init__(self, channels: tuple[int, int, int]):
        super().__init__()
        c1, c2, c3 = channels
        self.stem = conv(3, 16)
        self.down1 = nn.Sequential(conv(16, c1, 2), conv(c1, c1))
        self.down2 = nn.Sequential(conv(c1, c2, 2), conv(c2, c2))
        self.down3 = nn.Sequential(conv(c2, c3, 2), conv(c3, c3))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f1 = self.down1(self.stem(x * 2.0 - 1.0))   # (B, c1, H/2, W/2)
        f2 = self.down2(f1)                          # (B, c2, H/4, W/4)
        f3 = self.down3(f2)                          # (B, c3, H/8, W/8)
        return [f1, f2, f3]


class VGGEncoder(nn.Module):
    """Frozen VGG-19 relu3_1 / relu4_1 / relu5_1 (strides 4, 8, 16) plus a learned 1x1 projection.

    The VGG weights are loaded by transposer.model.vgg (torchvision ImageNet or AdaIN's
    vgg_normalised.pth); with none available it raises VGGWeightsMissing, never runs random.
    """

    LAYERS = ("relu3_1", "relu4_1", "relu5_1")
    WIDTHS = (256, 512, 512)

    def __init__(self, channels: tuple[int, int, int], weights: str | None = None):
        super().__init__()
        from transposer.model.vgg import load_vgg19_features

        self.vgg = load_vgg19_features(weights, last_layer="relu5_1")
        for p in self.vgg.parameters():
            p.requires_grad_(False)
        self.proj = nn.ModuleList(nn.Conv2d(w, c, 1) for w, c in zip(self.WIDTHS, channels))

    def train(self, mode: bool = True) -> "VGGEncoder":
        super().train(mode)
        self.vgg.eval()   # frozen: no dropout/batch statistics to update
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.vgg(x)
        return [p(feats[name]) for p, name in zip(self.proj, self.LAYERS)]


def build_encoder(encoder: str, channels, vgg_weights: str | None = None) -> nn.Module:
    if encoder == "paper":
        return PaperEncoder(channels)
    if encoder == "vgg":
        return VGGEncoder(channels, vgg_weights)
    raise ValueError(f"encoder must be 'paper' or 'vgg', got {encoder!r}")
