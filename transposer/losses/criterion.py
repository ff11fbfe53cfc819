"""The training criterion: a weighted sum of the losses in this package.

VGG-19 is loaded only when a VGG-based weight (content, gram, swd, frechet) is non-zero, and output
and target go through it together in one batched pass. The VGG is deliberately not a registered
submodule: it is frozen, so it stays out of `parameters()` and `state_dict()` (a checkpoint holds
the discriminator only) while `.to()` / `.cuda()` still move it.
"""
from __future__ import annotations

import torch
from torch import nn

from .adversarial import PatchDiscriminator, discriminator_hinge_loss, generator_hinge_loss
from .content import content_loss
from .frechet import frechet_loss
from .gram import gram_loss
from .patch_swd import patch_sliced_wasserstein_loss
from .pixel import l1_loss
from .swd import sliced_wasserstein_loss


class Criterion(nn.Module):
    """total, terms = criterion(output, target, input); terms holds the detached weighted terms."""

    def __init__(self, cfg, vgg: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self._vgg = [vgg] if vgg is not None else []  # a list hides it from nn.Module registration
        self.discriminator = (
            PatchDiscriminator(cfg.disc_channels, cfg.disc_layers, cfg.disc_spectral_norm) if cfg.adversarial > 0 else None
        )

    @property
    def vgg(self) -> nn.Module | None:
        return self._vgg[0] if self._vgg else None

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self._vgg:
            self._vgg[0]._apply(fn, *args, **kwargs)
        return self

    def _features(self, output: torch.Tensor, target: torch.Tensor):
        target = target.detach()
        if output.shape == target.shape:
            feats = self.vgg(torch.cat([output, target.to(output.dtype)]))  # one pass for both
            b = output.shape[0]
            return {k: v[:b] for k, v in feats.items()}, {k: v[b:].detach() for k, v in feats.items()}
        with torch.no_grad():
            ft = self.vgg(target)
        return self.vgg(output), ft

    def _scores_without_critic_grads(self, x: torch.Tensor) -> torch.Tensor:
        """Critic scores for the generator's loss, leaving the critic's .grad untouched."""
        params = list(self.discriminator.parameters())
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        try:
            return self.discriminator(x)
        finally:
            for p, f in zip(params, flags):
                p.requires_grad_(f)

    def forward(self, output: torch.Tensor, target: torch.Tensor, input: torch.Tensor | None = None):
        cfg, terms = self.cfg, {}
        if cfg.l1 > 0:
            terms["l1"] = cfg.l1 * l1_loss(output, target)
        if self.vgg is not None:
            fo, ft = self._features(output, target)
            style_o = [fo[n] for n in cfg.vgg_layers]
            style_t = [ft[n] for n in cfg.vgg_layers]
            if cfg.content > 0:
                terms["content"] = cfg.content * content_loss(fo[cfg.content_layer], ft[cfg.content_layer])
            if cfg.gram > 0:
                terms["gram"] = cfg.gram * gram_loss(style_o, style_t)
            if cfg.swd > 0:
                terms["swd"] = cfg.swd * sliced_wasserstein_loss(style_o, style_t)
            if cfg.frechet > 0:
                terms["frechet"] = cfg.frechet * frechet_loss(style_o, style_t)
        if cfg.patch_swd > 0:
            terms["patch_swd"] = cfg.patch_swd * patch_sliced_wasserstein_loss(
                output, target.detach(), cfg.patch_size, cfg.patch_scales
            )
        if self.discriminator is not None:
            terms["adversarial"] = cfg.adversarial * generator_hinge_loss(self._scores_without_critic_grads(output))
        total = sum(terms.values())
        return total, {k: v.detach() for k, v in terms.items()}

    def discriminator_loss(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Hinge loss of the PatchGAN critic, real and fake scored in one pass."""
        if self.discriminator is None:
            raise RuntimeError("discriminator_loss: the adversarial weight is 0, there is no discriminator")
        scores = self.discriminator(torch.cat([fake.detach(), real.detach().to(fake.dtype)]))
        b = fake.shape[0]
        return discriminator_hinge_loss(scores[b:], scores[:b])
