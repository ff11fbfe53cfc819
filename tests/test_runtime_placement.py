"""Placement (numpy FFT) against the direct sum, in crop and fold (seamless) modes; no ONNX."""

import numpy as np
import pytest

from transposer.runtime.placement import (apply_placement, expand_map, expand_reference, pad_to_canvas,
                                          placement_kernel)

WRAPS = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize("wrap", WRAPS)
@pytest.mark.parametrize("shape,kernel", [((4, 6), (3, 5)), ((5, 3), (13, 11)), ((6, 4), (1, 1)), ((4, 4), (21, 3))])
def test_fft_matches_direct_sum(shape, kernel, wrap):
    # kernels larger than the canvas exercise the fold (wrap) and the crop (no wrap)
    rng = np.random.default_rng(0)
    k = rng.random(kernel).astype(np.float32)
    values = rng.random((*shape, 2)).astype(np.float32)
    np.testing.assert_allclose(expand_map(k, values, wrap), expand_reference(k, values, wrap), atol=1e-5)


def test_fold_differs_from_crop_when_copies_leave_the_canvas():
    # guards against a fold that silently crops: a shift of H moves mass over the edge
    values = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    k = np.zeros((9, 1), np.float32)
    k[8, 0] = 1.0  # shift p = +4 = H: the copy's rows land at 6..9 on an 8-row canvas
    crop, fold = expand_map(k, values, (False, False)), expand_map(k, values, (True, False))
    assert crop[:, :, 0].sum() == pytest.approx(values[:2].sum(), abs=1e-3)  # rows 8, 9 fall off
    assert fold[:, :, 0].sum() == pytest.approx(values.sum(), abs=1e-3)  # rows 8, 9 wrap to 0, 1
    np.testing.assert_allclose(fold[0:2, 2:6, 0], values[2:4, :, 0], atol=1e-4)


def test_apply_placement_normalises_by_coverage():
    # two equal-weight copies of the same map where they overlap give the map, not twice it
    rng = np.random.default_rng(1)
    values = np.ones((8, 8, 3), np.float32) * rng.random(3).astype(np.float32)
    k = np.zeros((1, 2, 9, 9), np.float32)  # two groups, summed
    k[0, 0, 4, 4] = 0.7
    k[0, 1, 4, 6] = 0.7  # shift (0, 2)
    out = apply_placement(k, values)
    np.testing.assert_allclose(out[4:12, 4:14], np.broadcast_to(values[0, 0], (8, 10, 3)), atol=1e-5)


def test_uncovered_pixels_fall_back_to_edge_padding_and_covered_ones_are_exact():
    rng = np.random.default_rng(2)
    values = rng.random((6, 8, 1)).astype(np.float32)
    out = apply_placement(np.ones((1, 1)), values)  # a delta at zero shift covers the centre only
    np.testing.assert_allclose(out[3:9, 4:12], values, atol=1e-6)
    np.testing.assert_allclose(out, pad_to_canvas(values), atol=1e-5)
    assert np.isfinite(out).all()


def test_kernel_shape_is_checked():
    with pytest.raises(ValueError, match="odd"):
        placement_kernel(np.ones((1, 1, 4, 3)))
