"""Image metrics for texture expansion, numpy + scikit-image only (no torch).

Every function takes (H, W, C) float arrays in [0, 1]. The expansion protocol puts the given input
at the centre quarter of the output (rows and columns H/4 .. 3H/4), so the metrics that matter are
the ones over the synthesised ring around it, and the distribution-level patch distance (a texture
is judged by its statistics, not by pixel alignment with one ground truth).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# SSIM window (scikit-image's default, 7 x 7 uniform). Kept as a constant so the ring metric crops
# the same border that scikit-image's mean SSIM crops.
SSIM_WIN = 7

# Patch Sliced Wasserstein distance. These constants define the metric: changing any of them makes
# numbers incomparable with earlier reports, so they are fixed here and written into every report.
SWD_PATCH = 7                 # patch side in pixels
SWD_DIRECTIONS = 64           # random unit projections of the 7 x 7 x C patch vectors
SWD_SEED = 20201126           # seed of those projections
SWD_SCALES = (1, 2, 4)        # downsampling factors: scales 1, 1/2, 1/4 (box average)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"metric inputs must be two (H, W, C) arrays of one shape, got {a.shape} and {b.shape}")


def centre_box(height: int, width: int) -> tuple[slice, slice]:
    """The centre quarter of a 2x output: where the model was given its input."""
    return slice(height // 4, height // 4 + height // 2), slice(width // 4, width // 4 + width // 2)


def ring_mask(height: int, width: int) -> np.ndarray:
    """Boolean (H, W) mask, True on every pixel outside the centre quarter (the synthesised ring)."""
    mask = np.ones((height, width), dtype=bool)
    mask[centre_box(height, width)] = False
    return mask


def ssim_map(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean SSIM (scikit-image's definition) and the per-pixel SSIM map averaged over channels."""
    from skimage.metrics import structural_similarity

    _check_pair(a, b)
    mean, full = structural_similarity(
        a.astype(np.float64), b.astype(np.float64),
        win_size=SSIM_WIN, data_range=1.0, channel_axis=2, full=True,
    )
    return float(mean), full.mean(axis=2)


def _interior(height: int, width: int) -> np.ndarray:
    # scikit-image averages the map only where the whole window lies inside the image; the ring
    # metric uses the same pixels so that full SSIM and ring SSIM are measured alike.
    pad = (SSIM_WIN - 1) // 2
    mask = np.zeros((height, width), dtype=bool)
    mask[pad:height - pad, pad:width - pad] = True
    return mask


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM over the whole image."""
    return ssim_map(a, b)[0]


def ssim_ring(output: np.ndarray, target: np.ndarray) -> float:
    """SSIM map mean over the synthesised ring only (the centre quarter is the given input)."""
    _, smap = ssim_map(output, target)
    h, w = smap.shape
    return float(smap[ring_mask(h, w) & _interior(h, w)].mean())


def centre_ssim(output: np.ndarray, given: np.ndarray) -> float:
    """SSIM of the output's centre quarter against the input: does the model keep what it was given."""
    h, w = output.shape[:2]
    return ssim(output[centre_box(h, w)], given)


@lru_cache(maxsize=8)
def _directions(channels: int) -> np.ndarray:
    # (C * P * P, K) unit vectors, in the (c, dy, dx) order of sliding_window_view's patch axes.
    rng = np.random.default_rng(SWD_SEED)
    dirs = rng.standard_normal((channels * SWD_PATCH * SWD_PATCH, SWD_DIRECTIONS))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    return dirs.astype(np.float32)


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Box average over factor x factor blocks (the trailing rows/columns that do not fill a block drop)."""
    if factor == 1:
        return image
    h, w, c = image.shape
    h, w = h - h % factor, w - w % factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))


def sorted_projections(image: np.ndarray) -> np.ndarray:
    """(K, N) sorted projections of all N 7 x 7 patches of one image onto the fixed directions."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w, c = image.shape
    if min(h, w) < SWD_PATCH:
        raise ValueError(f"patch SWD needs images of at least {SWD_PATCH} px, got {h} x {w}")
    dirs = _directions(c)
    windows = np.lib.stride_tricks.sliding_window_view(image, (SWD_PATCH, SWD_PATCH), axis=(0, 1))
    oh, ow = windows.shape[:2]                                 # windows: (oh, ow, C, P, P)
    out = np.empty((SWD_DIRECTIONS, oh * ow), dtype=np.float32)
    rows = max(1, 65536 // ow)                                 # bounds memory on large images
    for r0 in range(0, oh, rows):
        block = windows[r0:r0 + rows].reshape(-1, c * SWD_PATCH * SWD_PATCH)
        out[:, r0 * ow:r0 * ow + block.shape[0]] = (block @ dirs).T
    out.sort(axis=1)
    return out


def swd_per_scale(a: np.ndarray, b: np.ndarray, b_sorted: list[np.ndarray] | None = None) -> list[float]:
    """Sliced Wasserstein-1 distance between the 7 x 7 patch distributions of a and b at each scale.

    Both images have the same size, so both have the same number of patches and the 1-D optimal
    transport along each direction is the mean absolute difference of the sorted projections.
    `b_sorted` lets a caller reuse the ground truth's projections across methods.
    """
    _check_pair(a, b)
    values = []
    for i, factor in enumerate(SWD_SCALES):
        pa = sorted_projections(downsample(a, factor))
        pb = b_sorted[i] if b_sorted is not None else sorted_projections(downsample(b, factor))
        values.append(float(np.abs(pa - pb).mean()))
    return values


def target_projections(target: np.ndarray) -> list[np.ndarray]:
    """The ground truth's sorted projections at every scale, for swd_per_scale(b_sorted=...)."""
    return [sorted_projections(downsample(target, f)) for f in SWD_SCALES]


def patch_swd(a: np.ndarray, b: np.ndarray, b_sorted: list[np.ndarray] | None = None) -> float:
    """Multi-scale patch SWD: the mean over scales 1, 1/2, 1/4. 0 for identical distributions."""
    return float(np.mean(swd_per_scale(a, b, b_sorted)))


def min_size() -> int:
    """Smallest ground-truth side for which every scale still holds a whole patch."""
    return SWD_PATCH * max(SWD_SCALES)
