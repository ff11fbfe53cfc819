"""Adversarial loss: a PatchGAN discriminator trained from scratch with the hinge loss.

PatchGAN: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017 (a fully convolutional critic that scores overlapping patches, which is what a
texture is judged on). Hinge loss: Lim & Ye, "Geometric GAN", 2017, as used with spectral
normalisation by Miyato et al., "Spectral Normalization for Generative Adversarial Networks",
ICLR 2018.

Spectral norm is on by default for stability; note that torch.compile fails on it (its power
iteration updates a buffer in place), so compile the generator, not this critic.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """x (B, 3, H, W) in [0, 1] -> patch scores (B, 1, ~H/2^layers, ~W/2^layers).

    No normalisation layers: batch norm would let real and fake batches leak into each other.
    With layers=3 the receptive field of a score is 70 x 70 pixels.
    """

    def __init__(self, channels: int = 64, layers: int = 3, spectral_norm: bool = True):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        mods: list[nn.Module] = []
        cin, cout = 3, channels
        for i in range(layers):
            mods += [sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            cin, cout = cout, min(cout * 2, channels * 8)
        mods += [sn(nn.Conv2d(cin, cout, 4, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        mods += [sn(nn.Conv2d(cout, 1, 4, padding=1))]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2.0 - 1.0)


def discriminator_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss: pushes real scores above +1 and fake scores below -1; zero once both hold."""
    return F.relu(1.0 - real_scores.float()).mean() + F.relu(1.0 + fake_scores.float()).mean()


def generator_hinge_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss: raise the critic's score of the fakes."""
    return -fake_scores.float().mean()
