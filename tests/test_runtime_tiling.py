"""Ring-growth tiling with plain Python 'models' (no ONNX): exactness, coverage, seams."""

import numpy as np
import pytest

from transposer.runtime.tiling import count_tiles, grow_canvas, plan_growth


def edge_model(tile):
    """Local: every new pixel copies the nearest input pixel, so any correct tiling is exact."""
    h, w = tile.shape[:2]
    return np.pad(tile, [(h // 2, h - h // 2), (w // 2, w - w // 2), (0, 0)], mode="edge")


def untiled(layers):
    return edge_model(layers)


@pytest.mark.parametrize("height,width,tile", [(64, 64, 32), (64, 48, 16), (40, 96, 32), (24, 200, 16), (72, 56, 32)])
def test_tiled_equals_untiled_for_a_local_model(height, width, tile):
    rng = np.random.default_rng(height * width)
    layers = rng.random((height, width, 2)).astype(np.float32)
    out = grow_canvas(layers, edge_model, tile)
    assert out.shape == (2 * height, 2 * width, 2)
    np.testing.assert_allclose(out, untiled(layers), atol=1e-6)
    assert count_tiles(height, width, tile) > 4  # really tiled


def test_known_centre_is_kept_exactly_whatever_the_model_returns():
    rng = np.random.default_rng(3)
    layers = rng.random((48, 40, 3)).astype(np.float32)
    calls = []

    def noisy_model(tile):  # overwrites its own centre too: the tiler must not use it
        calls.append(tile.shape)
        return rng.random((2 * tile.shape[0], 2 * tile.shape[1], 3)).astype(np.float32) + 5.0

    out = grow_canvas(layers, noisy_model, 16)
    assert np.array_equal(out[24:72, 20:60], layers)
    assert (out[:24] >= 5.0).all() and (out[72:] >= 5.0).all()  # everything else came from tiles
    assert max(max(s[:2]) for s in calls) <= 16


def test_windows_read_known_pixels_only_and_plan_covers_the_canvas():
    height, width, tile = 56, 72, 16
    rings = plan_growth(height, width, tile)
    assert rings[0].known == ((28, 84), (36, 108))
    assert rings[-1].grown == ((0, 112), (0, 144))
    for ring in rings:
        (y0, y1), (x0, x1) = ring.known
        for window in ring.windows:
            assert y0 <= window.rows[0] < window.rows[1] <= y1 and x0 <= window.cols[0] < window.cols[1] <= x1
            assert window.rows[1] - window.rows[0] <= tile and window.cols[1] - window.cols[0] <= tile
    for a, b in zip(rings, rings[1:]):
        assert b.known == a.grown


def test_seamless_axis_meets_at_the_edge_without_a_seam():
    rng = np.random.default_rng(4)
    layers = rng.random((64, 64, 1)).astype(np.float32)
    out = grow_canvas(layers, edge_model, 32, wrap=(True, False))
    assert np.array_equal(out[32:96, 32:96], layers)
    plain = untiled(layers)
    seam = np.abs(plain[0] - plain[-1]).mean()  # without wrap: first input row next to the last
    wrap_jump = np.abs(out[0] - out[-1]).mean()
    assert wrap_jump < 0.4 * seam  # the two fronts cross-fade where they meet
    # and the cross-fade is the only change: away from the edge the rows are still the input's
    np.testing.assert_allclose(out[8:32, 32:96], np.broadcast_to(layers[0], (24, 64, 1)), atol=1e-6)


def test_progress_hook_is_called_once_per_window():
    calls = []
    grow_canvas(np.zeros((40, 40, 1), np.float32), edge_model, 16, on_tile=lambda: calls.append(1))
    assert len(calls) == count_tiles(40, 40, 16)
