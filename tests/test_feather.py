"""The soft bands (transposer/runtime/synthesis/feather.py): around the input, from its
reflection; along the cuts between pieces, towards the other piece."""

import numpy as np

from transposer.runtime.synthesis import Settings, synthesize
from transposer.runtime.synthesis.feather import DETAIL_SHARE, Feather, across_cuts, lowpass, mix, sample_low


def render(pieces, values, blend=True):
    """What the expander makes of one float layer stack: copy through the map, then the bands."""
    H, W = pieces.canvas
    cy, cx = pieces.coords(0, H)
    out = values[cy.astype(int), cx.astype(int)]
    if blend:
        k = pieces.feather.low
        low = lowpass(values, k)
        flat = out.reshape(-1, values.shape[2])
        for index, by, bx, weight in pieces.blends(0, H):
            own_low = sample_low(low, cy.ravel()[index], cx.ravel()[index], k)
            flat[index] = mix(flat[index], values[by, bx], own_low, sample_low(low, by, bx, k), weight)
    return out


def test_the_edge_band_lies_outside_the_input_and_fades_from_its_reflection():
    feather = Feather((10, 12), (5, 6), (20, 24), (False, False), 3)
    index, sy, sx, weight = feather.rows(0, 20)
    y, x = np.divmod(index, 24)
    inside = (y >= 5) & (y < 15) & (x >= 6) & (x < 18)
    assert not inside.any()
    distance = np.maximum(np.maximum(5 - y, y - 14), np.maximum(6 - x, x - 17))
    assert distance.min() == 1 and distance.max() == 3
    np.testing.assert_allclose(weight, 1 - distance / 4)
    # the first column left of the input copies its first column, the next its second
    left = (x < 6) & (y >= 5) & (y < 15)
    np.testing.assert_array_equal(sx[left], 5 - x[left])
    np.testing.assert_array_equal(sy[left], y[left] - 5)
    # rows far from the input hold no band
    assert feather.rows(0, 2) is None


def test_on_a_seamless_axis_the_edge_band_follows_the_nearest_image_of_the_input():
    # the input fills all but 4 columns of a wrapping canvas: the gap is 2 px from both edges
    feather = Feather((8, 20), (0, 2), (8, 24), (False, True), 2)
    index, sy, sx, weight = feather.rows(0, 8)
    x = index % 24
    assert set(x) == {0, 1, 22, 23}
    np.testing.assert_array_equal(sx[x == 1], 0)  # beside the input's first column
    np.testing.assert_array_equal(sx[x == 22], 19)  # beside its last, across the wrap edge
    np.testing.assert_array_equal(sx[x == 23], 18)
    np.testing.assert_array_equal(sx[x == 0], 1)


def test_across_a_cut_both_sides_meet_half_way_and_the_input_is_never_blended():
    labels = np.zeros((6, 20), np.int16)
    labels[:, 8:14] = 1
    labels[:, 14:] = 2
    offsets = np.array([[0, 0], [0, 4], [0, 10]])  # piece 1 copies source x - 4, piece 2 x - 10
    index, sy, sx, weight = across_cuts(labels, offsets, (6, 16), (False, False), 3, 0, 6)
    y, x = np.divmod(index, 20)
    assert (labels[y, x] > 0).all()  # nothing of the input (label 0) is blended
    # the pixels beside the cut between 1 and 2 (columns 13 | 14) blend towards the other piece
    at13 = x == 13
    np.testing.assert_array_equal(sx[at13], 13 - 10)
    np.testing.assert_allclose(weight[at13], 0.5 * (1 - 0.5 / 3))
    at14 = x == 14
    np.testing.assert_array_equal(sx[at14], 14 - 4)
    assert set(x) <= {11, 12, 13, 14, 15, 16}
    # further from the cut, less of the other piece
    assert weight[x == 12].max() < weight[at13].min()


def test_a_cut_is_not_blended_where_the_other_piece_does_not_hold_the_source():
    labels = np.ones((4, 10), np.int16)
    labels[:, 5:] = 2
    offsets = np.array([[0, 0], [0, 0], [0, 5]])  # piece 2 at x - 5: at x = 3, 4 it would need x < 0
    band = across_cuts(labels, offsets, (4, 5), (False, False), 2, 0, 4)
    index, sy, sx, weight = band
    assert ((index % 10) >= 5).all() and (sx < 5).all()


def _step_across_the_input_edge(out, origin, size):
    """Mean absolute change across the input's four edges."""
    (oy, ox), (h, w) = origin, size
    rows = slice(oy, oy + h)
    cols = slice(ox, ox + w)
    steps = [out[oy - 1, cols] - out[oy, cols], out[oy + h, cols] - out[oy + h - 1, cols],
             out[rows, ox - 1] - out[rows, ox], out[rows, ox + w] - out[rows, ox + w - 1]]
    return float(np.mean([np.abs(s).mean() for s in steps]))


def test_the_input_edge_and_the_cuts_are_softer_than_the_copy_alone():
    # shading across the input (light to dark) with fine noise: pieces from elsewhere differ in
    # brightness from the input's edges, the seam the judges called a pasted square
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:64, 0:64]
    image = (0.25 + 0.5 * (x + y) / 126.0)[..., None] + 0.05 * rng.random((64, 64, 3))
    image = image.astype(np.float32)
    pieces = synthesize(image, (128, 128), rng=np.random.default_rng(0))
    assert pieces.feather is not None
    hard, soft = render(pieces, image, blend=False), render(pieces, image)
    np.testing.assert_array_equal(soft[32:96, 32:96], image)  # the centre is unchanged
    assert _step_across_the_input_edge(soft, (32, 32), (64, 64)) < 0.8 * _step_across_the_input_edge(
        hard, (32, 32), (64, 64))
    # and the cuts between pieces: the mean change between neighbouring pixels of different pieces
    labels = pieces.labels
    cut = (labels[:, 1:] != labels[:, :-1]) & (labels[:, 1:] > 0) & (labels[:, :-1] > 0)
    jump = lambda out: np.abs(out[:, 1:] - out[:, :-1]).mean(axis=2)[cut].mean()
    assert jump(soft) < 0.8 * jump(hard)


def test_without_the_setting_there_is_no_band_and_on_a_period_no_edge_band():
    image = np.random.default_rng(0).random((48, 48, 3)).astype(np.float32)
    assert synthesize(image, (96, 96), settings=Settings(feather=False)).feather is None
    y, x = np.mgrid[0:96, 0:96]
    grid = np.where(((y % 12) < 2) | ((x % 12) < 2), 0.1, 0.8)[..., None].repeat(3, axis=2).astype(np.float32)
    pieces = synthesize(grid, (192, 192))
    # the ring is on the period: no reflection of the input, and pieces on the period hold the
    # same values on both sides of a cut, so the cut band changes nothing there
    assert pieces.feather is not None and not pieces.feather.edge and pieces.feather.rows(0, 192) is None
    np.testing.assert_array_equal(render(pieces, grid), render(pieces, grid, blend=False))


def test_a_band_takes_the_other_copys_shading_whole_and_a_share_of_its_detail():
    own, other = np.full((1, 2), 0.2, np.float32), np.full((1, 2), 0.9, np.float32)
    own_low, other_low = np.full((1, 2), 0.3, np.float32), np.full((1, 2), 0.7, np.float32)
    out = mix(own, other, own_low, other_low, np.array([0.5], np.float32))
    # half of the shading difference (0.4) and DETAIL_SHARE of half the detail difference
    detail = (0.9 - 0.7) - (0.2 - 0.3)
    np.testing.assert_allclose(out, 0.2 + 0.5 * (0.4 + DETAIL_SHARE * detail), rtol=1e-6)
    # never beyond the two copies: a dark pixel in a lighter neighbourhood is not pushed below
    dark = mix(np.zeros((1, 1), np.float32), np.full((1, 1), 0.2, np.float32), np.full((1, 1), 0.5, np.float32),
               np.full((1, 1), 0.2, np.float32), np.array([0.5], np.float32))
    assert dark[0, 0] == 0.0
    # equal copies stay as they are; weight 0 changes nothing
    np.testing.assert_array_equal(mix(own, own, own_low, own_low, np.array([0.7], np.float32)), own)
    np.testing.assert_array_equal(mix(own, other, own_low, other_low, np.array([0.0], np.float32)), own)


def test_the_block_means_are_the_same_by_strips_and_read_back_smoothly():
    values = np.random.default_rng(1).random((37, 29, 2)).astype(np.float32)
    low = lowpass(values, 4)
    assert low.shape == (10, 8, 2)
    np.testing.assert_allclose(low[0, 0], values[:4, :4].mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([lowpass(values[:16], 4), lowpass(values[16:], 4)]), low, rtol=1e-6)
    # at a block's centre the reading is its mean
    np.testing.assert_allclose(sample_low(low, np.array([5.5]), np.array([9.5]), 4)[0], low[1, 2], rtol=1e-5)


def test_the_expanders_stack_block_means_equal_the_whole_arrays():
    from transposer.runtime.expander import _LayerStack

    image = (np.random.default_rng(2).random((70, 50, 4)) * 65535).astype(np.uint16)
    stack = _LayerStack.build(image, [], 8)
    np.testing.assert_allclose(stack.lowpass(3, rows=12), lowpass(stack.float_layers(), 3), rtol=1e-6)


def test_the_shading_kept_per_pixel_equals_the_shading_read_back_where_asked(monkeypatch):
    from transposer.runtime.synthesis import feather

    values = np.random.default_rng(4).random((300, 70, 3)).astype(np.float32)
    low = lowpass(values, 5)
    ys, xs = np.random.default_rng(5).integers(0, 300, 1000), np.random.default_rng(6).integers(0, 70, 1000)
    kept = feather.Shading(low, 5, (300, 70))
    assert kept.full is not None
    monkeypatch.setattr(feather, "FULL_SHADING_BYTES", 0)
    asked = feather.Shading(low, 5, (300, 70))
    assert asked.full is None and feather.shading_bytes(300, 70, 3) == 0
    np.testing.assert_array_equal(kept.at(ys, xs), asked.at(ys, xs))


def test_a_large_source_keeps_its_shading_every_few_pixels_close_to_the_exact_read(monkeypatch):
    """Above FULL_SHADING_BYTES the shading is kept for every s-th pixel each way (s at most a
    quarter of the block): a lookup then differs from the exact read by a small part of the
    step between neighbouring blocks, never more."""
    from transposer.runtime.synthesis import feather

    values = np.random.default_rng(7).random((400, 240, 3)).astype(np.float32)
    k = 16
    low = lowpass(values, k)
    monkeypatch.setattr(feather, "FULL_SHADING_BYTES", 134 * 80 * 3 * 4)  # s = 3: 134 x 80 kept
    kept = feather.Shading(low, k, (400, 240))
    assert kept.stride == 3 and kept.full.shape[:2] == (134, 80)
    ys, xs = np.mgrid[0:400, 0:240]
    exact = feather.sample_low(low, ys, xs, k)
    step = max(np.abs(np.diff(low, axis=0)).max(), np.abs(np.diff(low, axis=1)).max())
    error = np.abs(kept.at(ys.ravel(), xs.ravel()).reshape(exact.shape) - exact)
    assert error.max() <= 2 / k * step + 1e-6  # at most a pixel and a half away, over k pixels
    monkeypatch.setattr(feather, "FULL_SHADING_BYTES", 400 * 240 * 3 * 4 // 200)  # s = 15 > k / 4
    assert feather.Shading(low, k, (400, 240)).full is None  # too coarse: read back where asked
