"""Procedural textures: the regular and synthetic classes that photo corpora lack.

`generate(size, rng, family=None)` returns an (size, size, 3) float32 image in [0, 1]. Each family
builds a scalar field in [0, 1] from numpy array arithmetic (no Python loops over pixels), which a
random palette then colours, with a little shading noise and grain so that it reads like a material.

Families: spectral/fBm noise, Voronoi cells, jittered lattices (bricks, tiles, checks, stripes,
dots, zigzag, honeycomb), wood, marble, reaction-diffusion (Gray-Scott, simulated once per
process on a small torus and then sampled scaled and rotated) and dead leaves (Matheron's
occlusion model, the classic test pattern for natural-image statistics).

A 256 x 256 sample takes a few to ~20 ms on one CPU core (see tests/test_data.py).
"""
from __future__ import annotations

import numpy as np

FAMILIES = (
    "fbm", "voronoi", "bricks", "tiles", "checks", "stripes", "dots", "zigzag", "honeycomb",
    "wood", "marble", "reaction_diffusion", "dead_leaves",
)


# ------------------------------------------------------------------------------------ helpers

def _normalise(f: np.ndarray) -> np.ndarray:
    lo, hi = float(f.min()), float(f.max())
    return ((f - lo) / (hi - lo + 1e-8)).astype(np.float32)


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def spectral_noise(size: int, rng: np.random.Generator, beta: float = 2.0, aniso: float = 1.0,
                   angle: float = 0.0, cutoff: float = 1.0) -> np.ndarray:
    """Tileable 1/f^beta noise by shaping white noise in the Fourier domain (fBm), in [0, 1].

    `aniso` > 1 stretches the features along `angle` (grain); `cutoff` (cycles per pixel * 2)
    removes frequencies above it, which sets the smallest feature size.
    """
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    c, s = np.cos(angle), np.sin(angle)
    fu, fv = fx * c + fy * s, -fx * s + fy * c
    f = np.sqrt((fu * aniso) ** 2 + fv ** 2)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    amp[f > 0.5 * cutoff * max(aniso, 1.0)] = 0.0
    spec = (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape)) * amp
    return _normalise(np.fft.irfft2(spec, s=(size, size)))


def _grid(size: int, rng: np.random.Generator, free_angle: float = 0.35, warp: float = 0.0):
    """Pixel coordinates (u, v), randomly rotated (axis-aligned most of the time) and offset,
    optionally domain-warped by low-frequency noise so lattices look hand-made, not vector-drawn."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, np.pi) if rng.random() < free_angle else rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.02)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u = x * c + y * s + np.float32(rng.uniform(0, 1000))
    v = -x * s + y * c + np.float32(rng.uniform(0, 1000))
    if warp > 0:
        cut = rng.uniform(0.05, 0.2)
        u = u + (spectral_noise(size, rng, 3.0, cutoff=cut) - 0.5) * np.float32(warp)
        v = v + (spectral_noise(size, rng, 3.0, cutoff=cut) - 0.5) * np.float32(warp)
    return u, v


def _cell_values(n: int, rng: np.random.Generator, spread: float) -> np.ndarray:
    """Per-cell random values around a mid level: `spread` 0 = uniform cells, 1 = fully random."""
    return (0.5 + spread * (rng.random(n) - 0.5)).astype(np.float32)


def _hash_cells(i: np.ndarray, j: np.ndarray, table: np.ndarray) -> np.ndarray:
    n = table.shape[0]
    return table[(i.astype(np.int64) * 7919 + j.astype(np.int64) * 104729) % n]


# ------------------------------------------------------------------------------------ families

def fbm(size, rng):
    beta = rng.uniform(1.6, 3.6)
    aniso = 1.0 if rng.random() < 0.6 else rng.uniform(1.5, 6.0)
    f = spectral_noise(size, rng, beta, aniso, rng.uniform(0, np.pi), cutoff=rng.uniform(0.3, 1.0))
    mode = rng.integers(3)
    if mode == 1:  # ridged: sharp crests like cracks or veins
        f = 1.0 - np.abs(2.0 * f - 1.0)
    elif mode == 2:  # turbulence: billowy
        f = np.abs(2.0 * f - 1.0)
    return _normalise(f)


def voronoi(size, rng):
    cell = rng.uniform(size / 20, size / 4)
    jitter = rng.uniform(0.5, 1.0)
    n = int(np.ceil(size / cell)) + 3
    py = (np.arange(n)[:, None] + 0.5 + jitter * (rng.random((n, n)) - 0.5)) * cell
    px = (np.arange(n)[None, :] + 0.5 + jitter * (rng.random((n, n)) - 0.5)) * cell
    vals = _cell_values(n * n, rng, rng.uniform(0.4, 1.0)).reshape(n, n)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    iy, ix = (y // cell).astype(np.int64) + 1, (x // cell).astype(np.int64) + 1
    y, x = y + cell, x + cell  # points are indexed from one cell before the image
    f1 = np.full((size, size), np.inf, np.float32)
    f2 = f1.copy()
    v1 = np.zeros((size, size), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cy, cx = iy + dy, ix + dx
            d = np.hypot(py[cy, cx] - y, px[cy, cx] - x).astype(np.float32)
            closer = d < f1
            f2 = np.where(closer, f1, np.minimum(f2, d))
            v1 = np.where(closer, vals[cy, cx], v1)
            f1 = np.where(closer, d, f1)
    mode = rng.integers(3)
    if mode == 0:  # flat cells with dark borders: cobbles, cracked mud, scales
        edge = _smoothstep(0.0, rng.uniform(0.03, 0.15) * cell, f2 - f1)
        return _normalise(v1 * (0.3 + 0.7 * edge))
    if mode == 1:  # distance to the seed: domed cells, pebbles
        return _normalise(-f1 / cell + 0.5 * v1)
    return _normalise(f2 - f1)  # crackle network


def bricks(size, rng, offset=None, grout=None):
    u, v = _grid(size, rng, free_angle=0.1, warp=rng.uniform(0, 3))
    h = rng.uniform(size / 20, size / 5)
    w = h * (rng.uniform(1.5, 3.2) if offset is None else rng.uniform(0.9, 1.1))
    offset = rng.choice([0.5, 0.5, 0.25, 1 / 3]) if offset is None else offset
    row = np.floor(v / h)
    shift = (row * offset) % 1.0 * w
    col = np.floor((u + shift) / w)
    fu = (u + shift) - col * w
    fv = v - row * h
    d = np.minimum(np.minimum(fu, w - fu), np.minimum(fv, h - fv))
    m = h * (rng.uniform(0.03, 0.12) if grout is None else grout)
    mortar = _smoothstep(m, m + max(1.0, 0.3 * m), d)
    table = _cell_values(997, rng, rng.uniform(0.2, 0.9))
    brick = _hash_cells(row, col, table) * 0.7 + 0.3 * (1 - _smoothstep(0, 2 * m + 2, d)) * rng.uniform(-0.5, 0.5)
    grout_level = rng.choice([0.0, 1.0])
    return _normalise(mortar * brick + (1 - mortar) * grout_level)


def tiles(size, rng):
    return bricks(size, rng, offset=0.0, grout=rng.uniform(0.02, 0.1))


def checks(size, rng):
    u, v = _grid(size, rng, free_angle=0.25, warp=rng.uniform(0, 2))
    p = rng.uniform(size / 24, size / 4)
    q = p * (1.0 if rng.random() < 0.7 else rng.uniform(0.5, 2.0))
    k = rng.uniform(2, 30)  # edge sharpness
    a = np.tanh(k * np.sin(np.pi * u / p))
    b = np.tanh(k * np.sin(np.pi * v / q))
    if rng.random() < 0.7:
        return _normalise(a * b)  # checkerboard
    return _normalise(a + b)  # gingham / plaid: overlapping bands


def stripes(size, rng):
    u, v = _grid(size, rng, free_angle=0.5, warp=rng.uniform(0, 6))
    p = rng.uniform(size / 40, size / 4)
    duty = rng.uniform(0.15, 0.85)
    k = rng.uniform(1, 20)
    s = np.tanh(k * (np.cos(2 * np.pi * u / p) - np.cos(np.pi * duty))) / np.tanh(k)
    if rng.random() < 0.4:  # multi-colour bands (e.g. stripe fabric)
        band = np.floor(u / p).astype(np.int64)
        vals = _cell_values(int(rng.integers(2, 6)), rng, 1.0)
        s = vals[band % vals.shape[0]] + 0.3 * s
    return _normalise(s)


def dots(size, rng):
    u, v = _grid(size, rng, free_angle=0.3, warp=rng.uniform(0, 2))
    p = rng.uniform(size / 24, size / 5)
    hexagonal = rng.random() < 0.5
    row = np.floor(v / p)
    if hexagonal:
        u = u + (row % 2) * 0.5 * p
    cu = (np.floor(u / p) + 0.5) * p
    cv = (row + 0.5) * p
    d = np.hypot(u - cu, v - cv)
    r = p * rng.uniform(0.15, 0.45)
    soft = max(0.7, r * rng.uniform(0.03, 0.5))
    dot = 1 - _smoothstep(r - soft, r + soft, d)
    if rng.random() < 0.5:  # domed dots (studs, rivets) rather than flat print
        dot = dot * np.sqrt(np.clip(1 - (d / (r + soft)) ** 2, 0, 1))
    return _normalise(dot)


def zigzag(size, rng):
    u, v = _grid(size, rng, free_angle=0.2, warp=rng.uniform(0, 2))
    p = rng.uniform(size / 30, size / 6)
    wave = rng.uniform(size / 24, size / 4)
    amp = wave * rng.uniform(0.3, 1.2)
    tri = 2.0 * np.abs(v / wave - np.floor(v / wave + 0.5))  # triangle wave in [0, 1]
    uu = u + amp * tri
    k = rng.uniform(2, 20)
    return _normalise(np.tanh(k * np.sin(2 * np.pi * uu / p)))


def honeycomb(size, rng):
    u, v = _grid(size, rng, free_angle=0.2, warp=rng.uniform(0, 2))
    r = rng.uniform(size / 30, size / 8)  # hexagon circumradius
    sx, sy = np.sqrt(3.0) * r, 3.0 * r
    # Nearest centre among two offset rectangular lattices = the hexagonal Voronoi cell.
    ax, ay = np.round(u / sx) * sx, np.round(v / sy) * sy
    bx, by = np.round(u / sx - 0.5) * sx + sx / 2, np.round(v / sy - 0.5) * sy + sy / 2
    use_a = (u - ax) ** 2 + (v - ay) ** 2 < (u - bx) ** 2 + (v - by) ** 2
    cx, cy = np.where(use_a, ax, bx), np.where(use_a, ay, by)
    dx, dy = u - cx, v - cy
    edge = np.maximum(np.abs(dx), np.abs(0.5 * dx + 0.866 * dy))
    edge = np.maximum(edge, np.abs(0.5 * dx - 0.866 * dy))  # hex metric, 0 at centre, sx/2 at edges
    wall = r * rng.uniform(0.05, 0.25)
    inside = 1 - _smoothstep(sx / 2 - wall - 1, sx / 2 - wall + 1, edge)
    table = _cell_values(997, rng, rng.uniform(0.0, 0.6))
    cell = _hash_cells(np.round(cx / sx * 2), np.round(cy / sy * 2), table)
    depth = rng.uniform(0, 0.5) * (edge / (sx / 2)) ** 2  # shading towards the walls
    return _normalise(inside * (cell - depth) + (1 - inside) * rng.choice([0.0, 1.2]))


def wood(size, rng):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(-0.15, 0.15) + rng.choice([0.0, np.pi / 2])
    c, s = np.cos(angle), np.sin(angle)
    along, across = x * c + y * s, -x * s + y * c
    # A plank cut at depth z0 from the trunk axis: growth rings are circles in (across, depth),
    # i.e. stripes along the grain whose spacing widens away from the axis.
    a = across + rng.uniform(-1.5, 0.5) * size
    z0 = rng.uniform(0.0, 1.0) * size
    wobble = spectral_noise(size, rng, 3.5, aniso=rng.uniform(4, 10), angle=angle, cutoff=0.15) - 0.5
    taper = along * rng.uniform(-0.1, 0.1)  # rings drift slowly across the board
    r = np.sqrt((a + taper) ** 2 + z0 ** 2) + wobble * rng.uniform(5, 30)
    ring_p = rng.uniform(size / 30, size / 8)
    t = (r / ring_p) % 1.0
    rings = _smoothstep(0.0, 0.15, t) * (1 - _smoothstep(rng.uniform(0.5, 0.9), 1.0, t))
    grain = spectral_noise(size, rng, 1.0, aniso=rng.uniform(8, 25), angle=angle, cutoff=1.0)
    return _normalise(rings + rng.uniform(0.15, 0.5) * grain)


def marble(size, rng):
    u, v = _grid(size, rng, free_angle=1.0)
    turb = spectral_noise(size, rng, rng.uniform(2.8, 3.6), cutoff=rng.uniform(0.1, 0.4))
    p = rng.uniform(size / 4, size)
    t = u / p + rng.uniform(1.0, 3.0) * turb + 0.3 * (1 - np.abs(2 * spectral_noise(size, rng, 2.2) - 1))
    veins = np.abs(np.sin(np.pi * t)) ** rng.uniform(0.1, 0.4)
    return _normalise(veins + 0.1 * spectral_noise(size, rng, 2.5))


# Gray-Scott presets (feed F, kill k) with Du = 1, Dv = 0.5, dt = 1 (Karl Sims' discretisation):
# mitosis spots, coral maze, worms, holes, labyrinth stripes.
_RD_PRESETS = ((0.0367, 0.0649), (0.0545, 0.062), (0.078, 0.061), (0.039, 0.058), (0.046, 0.063))
_RD_BANK: np.ndarray | None = None
_RD_SIZE = 80


def _gray_scott_bank(steps: int = 1500) -> np.ndarray:
    """Simulate every preset at once on a (P, 80, 80) torus: ~0.5 s once per process, fixed seed."""
    rng = np.random.default_rng(1234)
    n, p = _RD_SIZE, len(_RD_PRESETS)
    feed = np.array([f for f, _ in _RD_PRESETS], np.float32)[:, None, None]
    kill = np.array([k for _, k in _RD_PRESETS], np.float32)[:, None, None]
    # Seed blocky patches all over the torus so the pattern fills it in 1,500 steps, not 10,000.
    seeds = np.repeat(np.repeat(rng.random((p, n // 4, n // 4)) < 0.1, 4, 1), 4, 2)
    b = np.where(seeds, 1.0, 0.0).astype(np.float32)
    a = np.where(seeds, 0.5, 1.0).astype(np.float32)

    def lap(z):  # 3x3 stencil: centre -1, edges 0.2, corners 0.05
        ns = np.roll(z, 1, 1) + np.roll(z, -1, 1)
        ew = np.roll(z, 1, 2) + np.roll(z, -1, 2)
        corners = np.roll(ns, 1, 2) + np.roll(ns, -1, 2)
        return 0.2 * (ns + ew) + 0.05 * corners - z

    for _ in range(steps):
        abb = a * b * b
        a, b = a + (lap(a) - abb + feed * (1 - a)), b + (0.5 * lap(b) + abb - (kill + feed) * b)
    return np.stack([_normalise(z) for z in b])


def _sample_torus(field: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Bilinear sample of a periodic field at real coordinates."""
    n, m = field.shape
    y0, x0 = np.floor(yy), np.floor(xx)
    fy, fx = (yy - y0).astype(np.float32), (xx - x0).astype(np.float32)
    y0, x0 = y0.astype(np.int64) % n, x0.astype(np.int64) % m
    y1, x1 = (y0 + 1) % n, (x0 + 1) % m
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bot = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def reaction_diffusion(size, rng):
    global _RD_BANK
    if _RD_BANK is None:
        _RD_BANK = _gray_scott_bank()
    field = _RD_BANK[rng.integers(len(_RD_BANK))]
    zoom = rng.uniform(1.0, 3.0)  # output pixels per simulation cell
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(ang), np.sin(ang)
    yy = (y * c - x * s) / zoom + rng.uniform(0, _RD_SIZE)
    xx = (y * s + x * c) / zoom + rng.uniform(0, _RD_SIZE)
    f = _sample_torus(field, yy, xx)
    return _normalise(f if rng.random() < 0.5 else 1 - f)


def dead_leaves(size, rng, max_shapes: int = 3000):
    """Front-to-back occlusion: each new shape only fills pixels no earlier shape covered."""
    rmin, rmax = size / rng.uniform(40, 80), size / rng.uniform(3, 8)
    alpha = 3.0  # radius density ~ r^-3: scale invariant (Lee, Mumford & Huang 2001)
    out = np.full((size, size), np.nan, np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    squares = rng.random() < 0.3
    spread = rng.uniform(0.5, 1.0)
    for i in range(max_shapes):
        u = rng.random()
        r = (rmin ** (1 - alpha) + u * (rmax ** (1 - alpha) - rmin ** (1 - alpha))) ** (1 / (1 - alpha))
        cy, cx = rng.uniform(-r, size + r, 2)
        y0, y1 = int(max(cy - r, 0)), int(min(cy + r + 1, size))
        x0, x1 = int(max(cx - r, 0)), int(min(cx + r + 1, size))
        if y0 >= y1 or x0 >= x1:
            continue
        win = out[y0:y1, x0:x1]
        dy, dx = y[y0:y1, x0:x1] - cy, x[y0:y1, x0:x1] - cx
        inside = np.maximum(np.abs(dy), np.abs(dx)) < r if squares else dy * dy + dx * dx < r * r
        inside &= np.isnan(win)
        win[inside] = 0.5 + spread * (rng.random() - 0.5)
        if i % 64 == 63 and not np.isnan(out).any():
            break
    out[np.isnan(out)] = rng.random()
    return _normalise(out)


_FIELDS = {
    "fbm": fbm, "voronoi": voronoi, "bricks": bricks, "tiles": tiles, "checks": checks,
    "stripes": stripes, "dots": dots, "zigzag": zigzag, "honeycomb": honeycomb, "wood": wood,
    "marble": marble, "reaction_diffusion": reaction_diffusion, "dead_leaves": dead_leaves,
}


# ------------------------------------------------------------------------------------ colour

def _hsv_to_rgb(h, s, v) -> np.ndarray:
    h = (h % 1.0) * 6.0
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([
        np.stack([v, t, p], -1), np.stack([q, v, p], -1), np.stack([p, v, t], -1),
        np.stack([p, q, v], -1), np.stack([t, p, v], -1), np.stack([v, p, q], -1),
    ])
    return table[i, np.arange(len(i))]


def random_palette(rng: np.random.Generator, min_contrast: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(stops (n,), colours (n, 3)) of a gradient map with 2-5 colours.

    Hues stay near a base hue (most materials) or jump to its complement; the value range is at
    least `min_contrast` so that no sample comes out flat.
    """
    n = int(rng.integers(2, 6))
    base = rng.random()
    spread = rng.choice([0.03, 0.08, 0.2, 0.5])
    hues = base + rng.normal(0, spread, n)
    if rng.random() < 0.2:
        hues[rng.random(n) < 0.5] += 0.5
    sat = np.clip(rng.beta(1.2, 2.0, n) * rng.uniform(0.3, 1.2), 0, 1)
    lo = rng.uniform(0.0, 0.6)
    hi = rng.uniform(lo + min_contrast, min(1.0, lo + 0.9) + 1e-6)
    val = np.sort(rng.uniform(lo, hi, n))
    val[0], val[-1] = lo, hi
    if rng.random() < 0.3:
        val = val[::-1].copy()
    stops = np.sort(rng.random(n))
    stops[0], stops[-1] = 0.0, 1.0
    return stops.astype(np.float32), _hsv_to_rgb(hues, sat, val).astype(np.float32)


def colourise(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    stops, colours = random_palette(rng)
    return np.stack([np.interp(field, stops, colours[:, c]) for c in range(3)], -1).astype(np.float32)


def generate(size: int, rng: np.random.Generator, family: str | None = None) -> np.ndarray:
    """One (size, size, 3) float32 texture in [0, 1]; `family` None picks one uniformly."""
    if family is None:
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
    if family not in _FIELDS:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    img = colourise(_FIELDS[family](size, rng), rng)
    if rng.random() < 0.6:  # large-scale shading: dirt, uneven lighting
        shade = spectral_noise(size, rng, 2.5, cutoff=rng.uniform(0.05, 0.3)) - 0.5
        img *= (1.0 + rng.uniform(0.05, 0.4) * shade)[..., None]
    grain = rng.uniform(0.0, 0.03)
    if grain > 0.005:
        img += rng.standard_normal((size, size, 1), dtype=np.float32) * np.float32(grain)
    return np.clip(img, 0.0, 1.0, out=img)
