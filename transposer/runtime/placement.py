"""Apply the network's placement to any map (alpha, normal, roughness, height, HDR colour).

The ONNX model returns, beside its RGB output, the pixel-level placement weights it used:
`placement` (B, G, 2ry+1, 2rx+1), where entry (g, ry+p, rx+q) weighs a copy of the input shifted
by (p, q) pixels, and the zero shift puts the input's top-left corner at (H//2, W//2) of the
2H x 2W canvas. Applying the same weights to a companion map arranges it exactly like the colour
map, so a PBR set stays registered:

    out = expand(M, map) / expand(M, ones)

`expand` is the full 2-D convolution of the (group-summed) weight map with the map, cropped to the
canvas, or folded modulo the canvas on an axis that wraps (seamless output). Done by FFT (numpy's
pocketfft, float32 in numpy >= 2) it costs O(N log N) instead of O(N^2) for the direct sum;
`expand_reference` is the direct sum, kept as the test oracle.

Where no copy lands (coverage ~ 0) the division is meaningless; below a floor of `eps` times the
largest coverage the map's own edge (or wrap, on a seamless axis) padding fills the deficit, so
the result is always finite, and it is exactly the normalised placement wherever coverage is
above the floor.
"""

from __future__ import annotations

import numpy as np

# Coverage below this fraction of the maximum is topped up with the padding fallback.
FALLBACK_EPS = 1e-3


def placement_kernel(placement: np.ndarray) -> np.ndarray:
    """(B, G, Ky, Kx), (G, Ky, Kx) or (Ky, Kx) weights -> one (Ky, Kx) float32 kernel.

    The groups are summed (every group's weight map convolves the same map, and convolution is
    linear); batch entry 0 is used (the runtime runs one image at a time). Negative weights, which
    the contract excludes, are clipped so that coverage stays a weighted count.
    """
    kernel = np.asarray(placement, dtype=np.float32)
    while kernel.ndim > 3:
        kernel = kernel[0]
    if kernel.ndim == 3:
        kernel = kernel.sum(axis=0)
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"placement must end in odd (2ry+1, 2rx+1) axes; got shape {np.shape(placement)}")
    return np.maximum(kernel, 0.0)


def expand_map(kernel: np.ndarray, values: np.ndarray, wrap=(False, False)) -> np.ndarray:
    """Un-normalised expand(M, map) by FFT. kernel (Ky, Kx); values (H, W, C) -> (2H, 2W, C)."""
    values = np.asarray(values, dtype=np.float32)
    height, width = values.shape[:2]
    ky, kx = kernel.shape
    full = (height + ky - 1, width + kx - 1)  # size of the full linear convolution
    fft_shape = (_fast_len(full[0]), _fast_len(full[1]))  # >= full: circular == linear
    spectrum = np.fft.rfft2(values, s=fft_shape, axes=(0, 1))
    spectrum *= np.fft.rfft2(kernel.astype(np.float32), s=fft_shape)[:, :, None]
    conv = np.fft.irfft2(spectrum, s=fft_shape, axes=(0, 1))[: full[0], : full[1]]
    del spectrum
    conv = _to_canvas(conv, 0, height, ky // 2, wrap[0])
    conv = _to_canvas(conv, 1, width, kx // 2, wrap[1])
    return conv.astype(np.float32, copy=False)


def expand_reference(kernel: np.ndarray, values: np.ndarray, wrap=(False, False)) -> np.ndarray:
    """expand(M, map) by the direct sum over shifts: slow, the oracle for `expand_map`."""
    values = np.asarray(values, dtype=np.float64)
    height, width, channels = values.shape
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    out = np.zeros((2 * height, 2 * width, channels))
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            weight = kernel[a, b]
            if weight == 0:
                continue
            top, left = height // 2 + a - ry, width // 2 + b - rx  # the copy's top-left corner
            for y in range(height):
                for x in range(width):
                    cy, cx = top + y, left + x
                    if wrap[0]:
                        cy %= 2 * height
                    if wrap[1]:
                        cx %= 2 * width
                    if 0 <= cy < 2 * height and 0 <= cx < 2 * width:
                        out[cy, cx] += weight * values[y, x]
    return out


def apply_placement(placement: np.ndarray, values: np.ndarray, wrap=(False, False),
                    eps: float = FALLBACK_EPS) -> np.ndarray:
    """Arrange `values` (H, W, C) on the 2H x 2W canvas with the network's placement weights,
    normalised by coverage. Returns float32 (2H, 2W, C)."""
    kernel = placement_kernel(placement)
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 2:
        values = values[:, :, None]
    height, width = values.shape[:2]
    coverage = expand_map(kernel, np.ones((height, width, 1), np.float32), wrap)
    floor = eps * max(float(coverage.max()), 1e-12)
    out = expand_map(kernel, values, wrap)
    # where coverage >= floor: exactly num / coverage; below it the padding fills the deficit
    deficit = np.maximum(floor - coverage, 0.0)
    if deficit.any():
        out += deficit * pad_to_canvas(values, wrap)
    out /= np.maximum(coverage, floor)
    return out


def pad_to_canvas(values: np.ndarray, wrap=(False, False)) -> np.ndarray:
    """Put (H, W, C) at (H//2, W//2) of a 2H x 2W canvas, filled by edge replication, or by
    periodic repetition on an axis that wraps."""
    height, width = values.shape[:2]
    out = values
    for axis, (n, wraps) in enumerate(zip((height, width), wrap)):
        widths = [(0, 0)] * values.ndim
        widths[axis] = (n // 2, n - n // 2)
        out = np.pad(out, widths, mode="wrap" if wraps else "edge")
    return out


def _to_canvas(full: np.ndarray, axis: int, n: int, r: int, wrap: bool) -> np.ndarray:
    """Map the full convolution's index i on `axis` to the canvas row y = i - r + n//2, keeping
    0 <= y < 2n (crop) or folding y modulo 2n (wrap)."""
    size, length, offset = 2 * n, full.shape[axis], n // 2 - r
    shape = list(full.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=full.dtype)
    start = 0
    while start < length:  # contiguous runs of i that map to unbroken runs of y
        y = start + offset
        if wrap:
            y %= size
        elif y < 0:
            start = -offset
            continue
        elif y >= size:
            break
        run = min(length - start, size - y)
        src = [slice(None)] * full.ndim
        dst = [slice(None)] * full.ndim
        src[axis], dst[axis] = slice(start, start + run), slice(y, y + run)
        out[tuple(dst)] += full[tuple(src)]
        start += run
    return out


def _fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: pocketfft is fastest on such lengths."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best
