"""warp.py without ONNX: bilinear sampling matches the network's grid_sample convention, and
upsampled coordinates reproduce translated copies exactly, seams and wrap-around included."""

import numpy as np
import pytest

from transposer.runtime import warp


def reference_bilinear(values, cy, cx, wrap):
    """Direct per-pixel bilinear sampling (border clamp or modulo), the oracle."""
    h, w, _ = values.shape
    out = np.zeros((*cy.shape, values.shape[2]))
    for idx in np.ndindex(cy.shape):
        y, x = float(cy[idx]), float(cx[idx])
        y = y % h if wrap[0] else min(max(y, 0.0), h - 1)
        x = x % w if wrap[1] else min(max(x, 0.0), w - 1)
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        ty, tx = y - y0, x - x0
        acc = 0.0
        for dy, wy in ((0, 1 - ty), (1, ty)):
            for dx, wx in ((0, 1 - tx), (1, tx)):
                yy = (y0 + dy) % h if wrap[0] else min(y0 + dy, h - 1)
                xx = (x0 + dx) % w if wrap[1] else min(x0 + dx, w - 1)
                acc = acc + wy * wx * values[yy, xx]
        out[idx] = acc
    return out


@pytest.mark.parametrize("wrap", [(False, False), (True, False), (False, True), (True, True)])
def test_bilinear_matches_direct_sampling(wrap):
    rng = np.random.default_rng(0)
    values = rng.random((5, 7, 2)).astype(np.float32)
    cy = rng.uniform(-4, 9, (6, 8)).astype(np.float32)
    cx = rng.uniform(-4, 11, (6, 8)).astype(np.float32)
    np.testing.assert_allclose(warp.bilinear(values, cy, cx, wrap), reference_bilinear(values, cy, cx, wrap),
                               atol=1e-5)


def test_bilinear_matches_torch_grid_sample_border():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    values = rng.random((6, 9, 3)).astype(np.float32)
    cy = rng.uniform(-2, 8, (4, 5)).astype(np.float32)
    cx = rng.uniform(-2, 11, (4, 5)).astype(np.float32)
    # the network's sample_at: pixel-centre coordinates, border padding, align_corners=False
    grid = torch.stack([torch.from_numpy((cx + 0.5) / 9 * 2 - 1), torch.from_numpy((cy + 0.5) / 6 * 2 - 1)], -1)
    want = F.grid_sample(torch.from_numpy(values).permute(2, 0, 1)[None], grid[None], mode="bilinear",
                         padding_mode="border", align_corners=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(warp.bilinear(values, cy, cx), want, atol=1e-5)


def copies_coords(out_h, out_w, in_h, in_w, cut_y, cut_x, shift):
    """Coordinates of a canvas made of two translated copies, switching at row cut_y / col cut_x."""
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    cy = ys - in_h // 2 + np.where((ys >= cut_y) & (xs >= cut_x), shift[0], 0)
    cx = xs - in_w // 2 + np.where((ys >= cut_y) & (xs >= cut_x), shift[1], 0)
    return np.stack([cy, cx])


@pytest.mark.parametrize("wrap", [(False, False), (True, True)])
def test_upsampled_coordinates_keep_copies_and_seams_sharp(wrap):
    height, width, factor = 32, 48, 4
    full = copies_coords(2 * height, 2 * width, height, width, 40, 24, (-13, 7))
    if wrap[0]:
        full = full % np.array([height, width])[:, None, None]
    # what the network would return for the 4x smaller copy of the input
    small = (height // factor, width // factor)
    low = copies_coords(2 * small[0], 2 * small[1], *small, 40 // factor, 24 // factor,
                        (-13 / factor, 7 / factor))
    got = warp.upsampled_coords(low, (height, width), small, (2 * height, 2 * width), wrap)
    cy, cx = got(0, 2 * height)
    if wrap[0]:
        cy, cx = cy % height, cx % width
    np.testing.assert_allclose(cy, full[0], atol=1e-4)
    np.testing.assert_allclose(cx, full[1], atol=1e-4)
    # served by blocks of rows: the same numbers
    part = got(10, 20)
    np.testing.assert_array_equal(part[0], got(0, 2 * height)[0][10:20])


def test_plain_coordinate_interpolation_would_smear_the_seam():
    # guards the seam handling: interpolating coordinates across a jump invents sources that no
    # copy has; the offsets stay within the two copies' values
    height, width, factor = 32, 32, 4
    small = (8, 8)
    low = copies_coords(16, 16, *small, 10, 0, (-5, 0))
    cy, _ = warp.upsampled_coords(low, (height, width), small, (64, 64))(0, 64)
    offsets = np.unique(np.round(np.arange(64)[:, None] - cy, 3))
    assert set(offsets) <= {16.0, 16.0 + 5 * factor}


def test_sample_by_blocks_calls_back_per_block():
    values = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    coords = np.stack(np.mgrid[0:3, 0:4]).astype(np.float32)
    calls = []
    out = warp.sample(values, warp.full_coords(coords), (3, 4), block_rows=2, on_block=lambda: calls.append(1))
    np.testing.assert_array_equal(out, values)
    assert len(calls) == warp.block_count(3, 2) == 2
