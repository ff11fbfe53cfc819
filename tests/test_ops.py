"""The Transposer's core operations: FFT and direct implementations against each other and against
brute-force loops written here from the docstring definitions; gradients; the export-time irfft2."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from transposer.ops import fft as ops_fft
from transposer.ops import self_similarity, transposed_expand

# (h, w): odd, even, non-square both ways
SIZES = [(5, 5), (6, 8), (7, 4)]
WRAPS = [(0, 0), (1, 0), (0, 1), (1, 1)]


def assert_close_rel(got: torch.Tensor, want, rel: float = 1e-4) -> None:
    """max |got - want| <= rel * max |want| (errors relative to the result's scale)."""
    got = np.asarray(got.detach().double().numpy())
    want = np.asarray(want.detach().double().numpy() if isinstance(want, torch.Tensor) else want)
    assert got.shape == want.shape
    err = np.abs(got - want).max()
    scale = np.abs(want).max()
    assert scale > 0
    assert err <= rel * scale, f"max abs error {err:.3e} > {rel:g} x {scale:.3e}"


def features(b: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # A mild offset: real features are not zero-mean, and the "overlap" norm must remove it.
    return torch.randn(b, c, h, w, generator=g) + 0.5


# ------------------------------------------------------------------ brute force from the docstrings

def brute_self_similarity(f: np.ndarray, ry: int, rx: int, norm: str) -> np.ndarray:
    """S(p, q) = -sum over the overlap of ||F(m, n) - F(m - p, n - q)||^2 / denominator.

    plain: denominator = total energy sum ||F||^2.
    overlap: the distance is averaged over the overlap and divided by the mean energy of F about
    each channel's spatial mean.
    """
    b, c, h, w = f.shape
    out = np.zeros((b, 1, 2 * ry + 1, 2 * rx + 1))
    centred = f - f.mean(axis=(2, 3), keepdims=True)
    energy = ((centred if norm == "overlap" else f) ** 2).sum(axis=(1, 2, 3))
    for p in range(-ry, ry + 1):
        for q in range(-rx, rx + 1):
            m0, m1 = max(0, p), min(h, h + p)      # rows m with m and m - p both inside
            n0, n1 = max(0, q), min(w, w + q)
            a = f[:, :, m0:m1, n0:n1]
            s = f[:, :, m0 - p:m1 - p, n0 - q:n1 - q]
            dist = ((a - s) ** 2).sum(axis=(1, 2, 3))
            if norm == "plain":
                val = -dist / energy
            else:
                area = (m1 - m0) * (n1 - n0)
                val = -(dist / area) / (energy / (h * w))
            out[:, 0, ry + p, rx + q] = val
    return out


def brute_transposed_expand(maps: np.ndarray, filters: np.ndarray, wrap) -> np.ndarray:
    """Sum over groups and shifts of M_g(ry+p, rx+q) * K_g placed with its top-left corner at
    (h//2 + p, w//2 + q) of a 2h x 2w canvas; on a wrapping axis the canvas is a torus."""
    b, g, c, h, w = filters.shape
    ry, rx = (maps.shape[-2] - 1) // 2, (maps.shape[-1] - 1) // 2
    out = np.zeros((b, c, 2 * h, 2 * w))
    for k in range(g):
        for p in range(-ry, ry + 1):
            for q in range(-rx, rx + 1):
                rows = h // 2 + p + np.arange(h)
                cols = w // 2 + q + np.arange(w)
                if wrap[0]:
                    rows = rows % (2 * h)
                if wrap[1]:
                    cols = cols % (2 * w)
                keep_r = (rows >= 0) & (rows < 2 * h)
                keep_c = (cols >= 0) & (cols < 2 * w)
                weight = maps[:, k, ry + p, rx + q][:, None, None, None]
                patch = filters[:, k][:, :, keep_r][:, :, :, keep_c]
                out[:, :, rows[keep_r][:, None], cols[keep_c][None, :]] += weight * patch
    return out


def radii(h: int, w: int, which: str) -> tuple[int, int]:
    # "half": the paper's radius (nothing overhangs the canvas); "full": copies overhang the edges
    return (h // 2, w // 2) if which == "half" else (h - 1, w - 1)


# ------------------------------------------------------------------------------ self-similarity

@pytest.mark.parametrize("norm", ["overlap", "plain"])
@pytest.mark.parametrize("which", ["half", "full"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_self_similarity_fft_direct_and_brute_force_agree(size, which, norm):
    h, w = size
    ry, rx = radii(h, w, which)
    f = features(2, 3, h, w, seed=h * 10 + w)
    fft = self_similarity(f, ry, rx, norm, impl="fft")
    direct = self_similarity(f, ry, rx, norm, impl="direct")
    assert fft.shape == (2, 1, 2 * ry + 1, 2 * rx + 1)
    assert fft.dtype == torch.float32
    want = brute_self_similarity(f.double().numpy(), ry, rx, norm)
    assert_close_rel(fft, direct)
    assert_close_rel(fft, want)
    assert_close_rel(direct, want)
    # the zero shift compares the map with itself
    assert np.abs(fft[:, 0, ry, rx].numpy()).max() < 1e-5


def test_self_similarity_norms_differ_as_documented():
    """'overlap' ignores a constant offset of the features; 'plain' is dominated by it."""
    f = features(1, 3, 6, 6, seed=1) - 0.5
    for norm, changes in (("overlap", False), ("plain", True)):
        base = self_similarity(f, 5, 5, norm)
        shifted = self_similarity(f + 5.0, 5, 5, norm)
        assert (not torch.allclose(base, shifted, rtol=1e-3, atol=1e-4)) == changes, norm
    # unrelated positions score about -2 with the overlap norm (distance of two independent draws)
    noise = torch.randn(1, 16, 24, 24, generator=torch.Generator().manual_seed(0))
    s = self_similarity(noise, 8, 8, "overlap")
    off_centre = torch.cat([s[0, 0, :8].flatten(), s[0, 0, 9:].flatten()])
    assert abs(off_centre.mean().item() + 2.0) < 0.1


def test_self_similarity_half_precision_is_computed_in_float32():
    f = features(1, 4, 6, 7, seed=2)
    got = self_similarity(f.bfloat16(), 5, 6)
    assert got.dtype == torch.float32
    want = self_similarity(f.bfloat16().float(), 5, 6)
    assert_close_rel(got, want, rel=1e-5)


# --------------------------------------------------------------------------- transposed expand

@pytest.mark.parametrize("wrap", WRAPS, ids=lambda w: f"wrap{w[0]}{w[1]}")
@pytest.mark.parametrize("which", ["half", "full"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_transposed_expand_fft_direct_and_brute_force_agree(size, which, wrap):
    h, w = size
    ry, rx = radii(h, w, which)
    g = torch.Generator().manual_seed(h * 100 + w)
    maps = torch.rand(2, 2, 2 * ry + 1, 2 * rx + 1, generator=g)
    filters = torch.randn(2, 2, 3, h, w, generator=g)
    fft = transposed_expand(maps, filters, wrap, impl="fft")
    direct = transposed_expand(maps, filters, wrap, impl="direct")
    assert fft.shape == (2, 3, 2 * h, 2 * w)
    want = brute_transposed_expand(maps.double().numpy(), filters.double().numpy(), wrap)
    assert_close_rel(fft, direct)
    assert_close_rel(fft, want)
    assert_close_rel(direct, want)
    # a tensor wrap (how the exported graph passes it) gives the same canvas
    as_tensor = transposed_expand(maps, filters, torch.tensor(wrap, dtype=torch.float32))
    assert_close_rel(as_tensor, fft, rel=1e-6)


def test_wrap_folds_the_overhang_back_in():
    """With the full radius copies overhang the canvas: wrapping keeps every placed value (the
    canvas total equals the sum of all copies), the plain canvas loses the overhang."""
    h, w = 6, 5
    g = torch.Generator().manual_seed(3)
    maps = torch.rand(1, 1, 2 * h - 1, 2 * w - 1, generator=g)
    filters = torch.rand(1, 1, 1, h, w, generator=g)
    total = (maps.sum() * filters.sum()).item()
    wrapped = transposed_expand(maps, filters, (1, 1)).sum().item()
    plain = transposed_expand(maps, filters, (0, 0)).sum().item()
    assert wrapped == pytest.approx(total, rel=1e-5)
    assert plain < 0.95 * total


def test_transposed_expand_validates_radius_and_impl():
    filters = torch.zeros(1, 1, 1, 6, 6)
    with pytest.raises(ValueError, match=r"placement radius \(2, 3\).*\(6, 6\)"):
        transposed_expand(torch.zeros(1, 1, 5, 7), filters)
    with pytest.raises(ValueError, match="impl"):
        transposed_expand(torch.zeros(1, 1, 7, 7), filters, impl="fast")
    with pytest.raises(ValueError, match="impl"):
        self_similarity(torch.zeros(1, 1, 6, 6), 3, 3, impl="fast")
    with pytest.raises(ValueError, match="norm"):
        self_similarity(torch.zeros(1, 1, 6, 6), 3, 3, norm="paper")


# ---------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("norm", ["overlap", "plain"])
def test_self_similarity_gradcheck(norm):
    f = features(1, 2, 3, 4, seed=4).double().requires_grad_()
    out = self_similarity(f, 2, 3, norm, impl="fft")
    assert out.dtype == torch.float64   # float64 stays float64 (gradcheck needs it)
    assert torch.autograd.gradcheck(lambda x: self_similarity(x, 2, 3, norm, impl="fft"), (f,))


def test_transposed_expand_gradcheck():
    g = torch.Generator().manual_seed(5)
    # radius (2, 2) on 3 x 4 filters: copies overhang the wrapping rows and the plain columns
    maps = torch.rand(1, 2, 5, 5, generator=g, dtype=torch.float64).requires_grad_()
    filters = torch.randn(1, 2, 1, 3, 4, generator=g, dtype=torch.float64).requires_grad_()
    wrap = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert transposed_expand(maps, filters, wrap).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda m, k: transposed_expand(m, k, wrap, impl="fft"), (maps, filters))


# ------------------------------------------------------------------------ export-time irfft2

@pytest.mark.parametrize("n", [(5, 7), (6, 8), (7, 6), (4, 5)], ids=lambda n: f"{n[0]}x{n[1]}")
def test_export_irfft2_matches_torch(n, monkeypatch):
    g = torch.Generator().manual_seed(sum(n))
    x = torch.randn(2, 3, *n, generator=g, dtype=torch.float64)
    y = torch.randn(2, 3, *n, generator=g, dtype=torch.float64)
    spectra = [torch.fft.rfft2(x), torch.fft.rfft2(x) * torch.fft.rfft2(y)]   # as the ops make them
    wants = [torch.fft.irfft2(s, s=n) for s in spectra]
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)

    def not_this_path(*a, **k):
        raise AssertionError("the export path must not call torch.fft.irfft2")

    monkeypatch.setattr(torch.fft, "irfft2", not_this_path)
    for spec, want in zip(spectra, wants):
        got = ops_fft.irfft2(spec, n)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert_close_rel(got, want, rel=1e-12)
    assert_close_rel(ops_fft.irfft2(spectra[0], n), x, rel=1e-12)


def test_ops_in_export_mode_match_eager(monkeypatch):
    f = features(1, 3, 7, 6, seed=6)
    maps = torch.rand(1, 2, 13, 11, generator=torch.Generator().manual_seed(6))
    filters = torch.randn(1, 2, 3, 7, 6, generator=torch.Generator().manual_seed(7))
    eager = (self_similarity(f, 6, 5), transposed_expand(maps, filters, (1, 0)))
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    exported = (self_similarity(f, 6, 5), transposed_expand(maps, filters, (1, 0)))
    for got, want in zip(exported, eager):
        assert_close_rel(got, want, rel=1e-5)
