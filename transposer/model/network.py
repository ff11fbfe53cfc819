"""The Transposer network: image (B, 3, H, W) -> 2x larger texture (B, 3, 2H, 2W).

Data flow (scales 1, 2, 3 = encoder strides 2, 4, 8 for the paper encoder):

  encoder -> F1, F2, F3
  self-similarity S_k of a learned projection of each F_k (ops.self_similarity)
  placement logits, coarse to fine: L3 from S3; L2 from S2, S1 (resampled to scale 2's shift grid)
      and L3 (upsampled). M_k = exp(L_k) weighs a copy of the features at each shift; normalised
      by coverage, each canvas position gets a softmax over the copies that reach it.
  scale 3: the transposed convolution whose filter is a 1x1 transformation of F3 and whose input
      is M3 (ops.transposed_expand), normalised by the placed coverage -> T3 on the 2x canvas.
  scale 2: the same transposed convolution with M2 places each feature cell's *source coordinate*
      -> a coordinate map: where on the input every output pixel copies from. Sampling the input
      (and F1, F2) at those coordinates gives full-resolution detail at a cost independent of the
      feature width, and lets the runtime carry the identical arrangement to companion maps.
  decoder: conv blocks from T3 upward, merging the warped F2, F1 and RGB, adding a residual to the
      warped RGB so the output starts as a learned tiling of the input itself.

Seamless output: `wrap` (2,) turns the canvas into a torus on each axis: the transposed
convolution folds what overhangs an edge back in, and every decoder convolution pads circularly on
that axis (blended with zero padding by the 0/1 weight, so one exported graph serves all modes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from transposer.model.config import ModelConfig
from transposer.model.encoders import build_encoder
from transposer.model.ranked_copies import ranked_copy_canvas
from transposer.ops import overlap_fraction, self_similarity, shift_radius, transposed_expand

_COVER_EPS = 1e-20   # far below the smallest coverage the weight floors allow


def pad_wrap(x: torch.Tensor, wrap: torch.Tensor) -> torch.Tensor:
    """Pad 1 pixel per side: circular on an axis whose wrap weight is 1, zeros where it is 0."""
    wy, wx = wrap[0], wrap[1]
    h, w = x.shape[-2:]
    x = torch.cat([wy * x.narrow(-2, h - 1, 1), x, wy * x.narrow(-2, 0, 1)], dim=-2)
    return torch.cat([wx * x.narrow(-1, w - 1, 1), x, wx * x.narrow(-1, 0, 1)], dim=-1)


class WrapConv(nn.Module):
    """3x3 convolution + LeakyReLU with wrap-aware padding."""

    def __init__(self, cin: int, cout: int, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)
        self.act = act

    def forward(self, x: torch.Tensor, wrap: torch.Tensor) -> torch.Tensor:
        x = self.conv(pad_wrap(x, wrap))
        return F.leaky_relu(x, 0.2) if self.act else x


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.a = WrapConv(cin, cout)
        self.b = WrapConv(cout, cout)

    def forward(self, x: torch.Tensor, wrap: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x, wrap), wrap)


class MapNet(nn.Module):
    """Self-similarity (+ context) -> G placement logits on the shift grid."""

    def __init__(self, cin: int, hidden: int, groups: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, groups, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        # Two learned scalars give a fresh model a sensible placement before any training:
        # - gain, an inverse temperature on similarity: exp(20 * S) weighs the zero shift ~e^20 above
        #   a shift whose features differ by their energy, so the input is copied at the centre;
        # - reach, a bonus for small overlaps: every canvas position takes a softmax over the copies
        #   covering it, and similarity usually falls with the shift, so without it the outer ring
        #   would be filled from the very edges of the nearest copies (streaks). With it the ring is
        #   filled by the farthest similar copy, one coherent copy per region (wrap-like tiling),
        #   which training then refines towards the texture's own periods.
        self.gain = nn.Parameter(torch.full((1, groups, 1, 1), 20.0))
        self.reach = nn.Parameter(torch.full((1, groups, 1, 1), 16.0))

    def forward(self, ssm: torch.Tensor, overlap: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = torch.cat([ssm, overlap, context], dim=1)
        return self.gain * ssm + self.reach * (1.0 - overlap) + self.net(x)


def placement_weights(logits: torch.Tensor, dynamic_range: float) -> torch.Tensor:
    """exp(logits), scaled so the largest is 1 and floored at exp(-dynamic_range).

    With the coverage normalisation in Transposer._place this is a softmax over the copies that
    cover each canvas position: where only far shifts reach (the outer ring), the most similar of
    them still wins, whatever its absolute similarity. The floor keeps every position's coverage
    above the FFT's rounding noise (float64 in onnxruntime: ~1e-14 of the total, float32: 1e-7).
    """
    top = logits.amax((2, 3), keepdim=True)
    return torch.exp((logits - top).clamp_min(-dynamic_range))


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=True)


def source_coordinates(h: int, w: int, stride: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, 2, h, w): input-pixel (y, x) of the centre of each feature cell at `stride`
    (float32 whatever the autocast dtype of `like`)."""
    return _positions(h, w, h * stride, w * stride, like.float())[:, None]


def sample_at(x: torch.Tensor, coords: torch.Tensor, in_h: int, in_w: int) -> torch.Tensor:
    """Bilinear sample x (B, C, h, w) at input-pixel coords (B, 2, Ho, Wo) of an in_h x in_w image."""
    gy = (coords[:, 0] + 0.5) / in_h * 2.0 - 1.0
    gx = (coords[:, 1] + 0.5) / in_w * 2.0 - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Transposer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c1, c2, c3 = config.channels
        g, mc = config.groups, config.map_channels
        d3, d2, d1, d0 = config.decoder_channels
        self.encoder = build_encoder(config.encoder, config.channels, config.vgg_weights)
        # Self-similarity is computed on a small learned projection: cheap FFTs, and the
        # network decides which feature aspects count as "the texture repeats".
        self.ssm_proj = nn.ModuleList(nn.Conv2d(c, mc, 1) for c in (c1, c2, c3))
        self.map3 = MapNet(2, mc, g)                 # S3, overlap
        self.map2 = MapNet(3 + g, mc, g)             # S2, overlap, S1 resampled, L3 upsampled
        self.filter3 = nn.Conv2d(c3, g * c3, 1)      # the transposed convolution's filter
        self.dec3 = DecoderBlock(c3, d3)
        self.dec2 = DecoderBlock(d3 + c2, d2)
        self.dec1 = DecoderBlock(d2 + c1, d1)
        self.dec0 = DecoderBlock(d1 + 3, d0)
        self.to_rgb = WrapConv(d0, 3, act=False)
        nn.init.zeros_(self.to_rgb.conv.weight)
        nn.init.zeros_(self.to_rgb.conv.bias)

    # -- pieces ---------------------------------------------------------------------------------
    def _ssm(self, k: int, feat: torch.Tensor, noise, noise_mix):
        h, w = feat.shape[-2:]
        ry = shift_radius(h, self.config.shift_radius)
        rx = shift_radius(w, self.config.shift_radius)
        s = self_similarity(self.ssm_proj[k](feat), ry, rx, self.config.ssm_norm)
        if noise is not None:
            s = s + noise_mix * (_resize(noise, s) - s)
        frac = overlap_fraction(h, w, ry, rx, s).expand(s.shape[0], 1, -1, -1)
        return s, frac

    def _place(self, maps: torch.Tensor, filters: torch.Tensor, wrap: torch.Tensor) -> torch.Tensor:
        """Coverage-normalised transposed convolution: a weighted average of the placed copies."""
        ones = torch.ones_like(filters[:, :, :1])
        placed = transposed_expand(maps, torch.cat([filters, ones], dim=2), wrap)
        return placed[:, :-1] / (placed[:, -1:] + _COVER_EPS)

    def placement(self, x: torch.Tensor, wrap: torch.Tensor, noise=None, noise_mix=None):
        """-> features [F1, F2, F3], T3 (B, c3, 2h3, 2w3), coords (B, 2, 2H/s2, 2W/s2)."""
        f1, f2, f3 = self.encoder(x)
        s1, _ = self._ssm(0, f1, noise, noise_mix)
        s2, o2 = self._ssm(1, f2, noise, noise_mix)
        s3, o3 = self._ssm(2, f3, noise, noise_mix)
        logits3 = self.map3(s3, o3, s3[:, :0])
        logits2 = self.map2(s2, o2, torch.cat([_resize(s1, s2), _resize(logits3, s2)], dim=1))
        # Feature placement runs in float32 (many channels): a 12-nat range stays well above its
        # rounding noise. Coordinates run in float64 (3 channels): a 25-nat range (onnxruntime's
        # float64 FFT is accurate to ~1e-14, not 1e-16: 30 nats moved coordinates by pixels).
        m3 = placement_weights(logits3, 12.0)
        b, c3, h3, w3 = f3.shape
        filt3 = self.filter3(f3).reshape(b, self.config.groups, c3, h3, w3)
        t3 = self._place(m3, filt3, wrap)
        h2, w2 = f2.shape[-2:]
        cfg = self.config
        ranked = cfg.copy_choice == "ranked"
        if ranked:
            hard = ranked_copy_canvas(logits2, h2, w2, cfg.strides[1], wrap, cfg.candidates,
                                      cfg.candidate_spacing, cfg.min_overlap).to(t3.dtype)
            if not self.training:
                return [f1, f2, f3], t3, hard
        m2 = placement_weights(logits2.double(), 25.0)   # only the soft coordinates use it
        src = source_coordinates(h2, w2, cfg.strides[1], f2)
        src = src.expand(b, cfg.groups, 2, h2, w2)
        # float64: coordinates are large numbers averaged with weights spanning many decades;
        # float32 FFT rounding would move them by a fraction of a pixel (3 channels: cheap).
        coords = self._place(m2, src.double(), wrap.double()).to(t3.dtype)
        if ranked:
            # Straight-through: the ranked choice forward, the soft placement's gradient backward,
            # so the placement logits keep learning which copies the losses favour.
            coords = hard + (coords - coords.detach())
        return [f1, f2, f3], t3, coords

    # -- forward --------------------------------------------------------------------------------
    def forward_padded(self, x, wrap, noise=None, noise_mix=None):
        """x with H, W multiples of config.input_multiple -> (output (B,3,2H,2W), coords (B,2,2H,2W))."""
        in_h, in_w = x.shape[-2:]
        (f1, f2, _), t3, coords = self.placement(x, wrap, noise, noise_mix)
        canvas = coords
        # Ranked copies: one whole-cell shift per canvas cell, so the displacement is copied
        # (nearest), giving clean cuts between copies; soft placement interpolates it.
        mode = "nearest" if self.config.copy_choice == "ranked" else "bilinear"

        def at(h: int, w: int) -> torch.Tensor:
            return upsample_coords(canvas, h, w, wrap, 2 * in_h, 2 * in_w, mode)

        coords = at(2 * in_h, 2 * in_w)
        d = self.dec3(t3, wrap)
        d = _up2(d)
        d = self.dec2(torch.cat([d, sample_at(f2, at(d.shape[-2], d.shape[-1]), in_h, in_w)], 1), wrap)
        d = _up2(d)
        d = self.dec1(torch.cat([d, sample_at(f1, at(d.shape[-2], d.shape[-1]), in_h, in_w)], 1), wrap)
        d = F.interpolate(d, size=(2 * in_h, 2 * in_w), mode="nearest")
        warped = sample_at(x, coords, in_h, in_w)
        d = self.dec0(torch.cat([d, warped], 1), wrap)
        out = warped + self.to_rgb(d, wrap)
        return out, coords

    def forward(self, x: torch.Tensor, wrap=(False, False), noise_mix: float = 0.0,
                seed: int | None = None) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], any H, W -> (B, 3, 2H, 2W) in [0, 1]."""
        return self.expand(x, wrap, noise_mix, seed)[0]

    def expand(self, x, wrap=(False, False), noise_mix: float = 0.0, seed: int | None = None):
        """Like forward, also returning the coordinate map (B, 2, 2H, 2W) in input pixels."""
        b, _, h, w = x.shape
        m = self.config.input_multiple
        if h < 2 * m or w < 2 * m:
            raise ValueError(f"input must be at least {2 * m} x {2 * m} pixels, got {w} x {h}")
        ph, pw = (-h) % m, (-w) % m
        top, left = ph // 2, pw // 2
        wrap_t = wrap if isinstance(wrap, torch.Tensor) else torch.tensor(
            [float(wrap[0]), float(wrap[1])], device=x.device)
        if ph or pw:
            # Pad to the encoder's multiple (circularly on wrapping axes), crop back afterwards.
            mode = "circular" if bool(wrap_t.any()) else "reflect"
            x = F.pad(x, (left, pw - left, top, ph - top), mode=mode)
        noise = None
        if noise_mix:
            gen = torch.Generator(device="cpu").manual_seed(0 if seed is None else seed)
            noise = torch.randn(b, 1, x.shape[-2] // 4 + 1, x.shape[-1] // 4 + 1, generator=gen).to(x)
        out, coords = self.forward_padded(x, wrap_t.to(x), noise,
                                          torch.tensor(float(noise_mix), device=x.device))
        if ph or pw:
            hp, wp = x.shape[-2:]
            oy, ox = hp // 2 + top - h // 2, wp // 2 + left - w // 2
            out = out[..., oy: oy + 2 * h, ox: ox + 2 * w]
            coords = coords[..., oy: oy + 2 * h, ox: ox + 2 * w]
            coords = coords - torch.tensor([top, left], device=x.device, dtype=coords.dtype)[:, None, None]
        return out.clamp(0.0, 1.0), coords


def _up2(x: torch.Tensor) -> torch.Tensor:
    # Explicit sizes, not scale_factor: a float scale makes symbolic shapes (ONNX export) explode.
    return F.interpolate(x, size=(2 * x.shape[-2], 2 * x.shape[-1]), mode="nearest")


def _pad_periodic(d: torch.Tensor, wrap_w: torch.Tensor, period: int, axis: int, channel: int) -> torch.Tensor:
    """Pad a displacement map by one cell on `axis`: replicated edges, or on a wrapping axis the
    cells from the opposite edge, whose positions lie one canvas period away (hence +-period on the
    displacement channel of that axis)."""
    n = d.shape[axis]
    first, last = d.narrow(axis, 0, 1), d.narrow(axis, n - 1, 1)
    # The period enters as a tensor computed from the shape (a Python float would be baked into
    # an exported graph as the example's size).
    mask = torch.zeros(1, 2, 1, 1, dtype=d.dtype, device=d.device)
    mask[:, channel] = 1.0
    shift = mask * (torch.ones_like(first) * period)
    before = first + wrap_w * (last + shift - first)
    after = last + wrap_w * (first - shift - last)
    return torch.cat([before, d, after], dim=axis)


def _centres(n: int, cell: float, like: torch.Tensor) -> torch.Tensor:
    return (torch.arange(n, device=like.device, dtype=like.dtype) + 0.5) * cell - 0.5


def _positions(n: int, m: int, full_h: int, full_w: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 2, n, m): centres of an n x m grid over the full output, in output pixels."""
    ys = _centres(n, full_h // n, like)   # integer cell sizes keep export shapes simple
    xs = _centres(m, full_w // m, like)
    return torch.stack([ys[:, None].expand(n, m), xs[None, :].expand(n, m)])[None]


def upsample_coords(canvas: torch.Tensor, out_h: int, out_w: int, wrap: torch.Tensor,
                    full_h: int, full_w: int, mode: str = "bilinear") -> torch.Tensor:
    """Coordinate map on the placement canvas (B, 2, n, m) -> (B, 2, out_h, out_w); the canvas and
    the target both span the full full_h x full_w output.

    Interpolates the *displacement* (source coordinate minus output position), which is constant
    inside each copy, rather than the coordinates: inside a copy the result steps exactly one input
    pixel per output pixel right up to the canvas edges (interpolating coordinates clamps there and
    stretches the border), and on a wrapping axis a copy continues across the edge. `mode`
    "nearest" copies each cell's displacement to its pixels (ranked copies: exact cuts between
    copies); "bilinear" blends neighbouring cells' displacements (soft placement).
    """
    n, m = canvas.shape[-2:]
    cy, cx = out_h // n, out_w // m                       # target pixels per canvas cell (integer)
    d = canvas - _positions(n, m, full_h, full_w, canvas)
    if mode == "nearest":
        # Every target pixel takes its cell's displacement: a broadcast, not F.interpolate (ONNX
        # Resize's nearest rounding moved whole edge columns by a cell in onnxruntime).
        b = d.shape[0]
        d = d[:, :, :, None, :, None].expand(b, 2, n, cy, m, cx).reshape(b, 2, n * cy, m * cx)
        return d + _positions(out_h, out_w, full_h, full_w, d)
    d = _pad_periodic(d, wrap[0], full_h, axis=-2, channel=0)
    d = _pad_periodic(d, wrap[1], full_w, axis=-1, channel=1)
    d = F.interpolate(d, size=(out_h + 2 * cy, out_w + 2 * cx), mode="bilinear", align_corners=False)
    d = d.narrow(-2, cy, out_h).narrow(-1, cx, out_w)
    return d + _positions(out_h, out_w, full_h, full_w, d)
