"""The synthesis stage's memory-bounded parts: features by strips, any guide dtype, float16
features and int16 labels for large levels, cuts in batches. Each must give what the plain,
whole-array computation gives."""

import numpy as np

from transposer.runtime.synthesis import features as feats
from transposer.runtime.synthesis import quilt, synthesize


def photo(h=70, w=90, seed=3):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def reference_features(colour):
    """The definition, written plainly on the whole image."""
    luminance = colour.mean(axis=2).astype(np.float64)
    padded = np.pad(luminance, 2, mode="edge")
    blurred = sum(padded[dy:dy + colour.shape[0], dx:dx + colour.shape[1]]
                  for dy in range(5) for dx in range(5)) / 25.0
    return np.concatenate([colour, (feats.DETAIL * (luminance - blurred))[:, :, None]], axis=2)


def test_features_do_not_depend_on_the_strip_height_and_match_the_definition():
    guide = photo()
    whole = feats.features(guide, strip_rows=1000)
    for rows in (1, 2, 3, 7, 64):
        np.testing.assert_array_equal(feats.features(guide, strip_rows=rows), whole)
    np.testing.assert_allclose(whole, reference_features(guide.astype(np.float32) / 255.0), atol=1e-5)


def test_integer_guides_give_the_features_of_their_float_values():
    guide8 = photo()
    np.testing.assert_array_equal(feats.features(guide8), feats.features(guide8.astype(np.float32) / 255.0))
    guide16 = guide8.astype(np.uint16) * 257
    np.testing.assert_allclose(feats.features(guide16), feats.features(guide8), atol=1e-6)


def test_large_features_are_float16_and_the_variance_is_the_plain_one(monkeypatch):
    guide = photo()
    monkeypatch.setattr(feats, "LARGE_PIXELS", 100)
    small = feats.features(guide)
    assert small.dtype == np.float16
    source = feats.features(guide.astype(np.float32) / 255.0)
    plain = float(source.astype(np.float64).reshape(-1, 4).var(axis=0).mean())
    assert abs(feats.channel_variance(source, strip_rows=5) - plain) < 1e-6 * max(plain, 1.0) + 1e-6


def test_float16_features_still_arrange_a_coherent_canvas(monkeypatch):
    """The stage on float16 features: every pixel copies a source pixel, labels are int16."""
    guide = photo(64, 64)
    monkeypatch.setattr(feats, "LARGE_PIXELS", 1000)
    pieces = synthesize(guide, (128, 128), rng=np.random.default_rng(1))
    assert pieces.labels.dtype == np.int16 and pieces.labels.min() >= 0
    ys, xs = pieces.coords(0, 128)
    assert ys.min() >= 0 and ys.max() < 64 and xs.min() >= 0 and xs.max() < 64
    np.testing.assert_array_equal(pieces.labels[32:96, 32:96], 0)


def test_cutting_a_wave_in_batches_is_the_same_as_all_at_once(monkeypatch):
    guide = photo(64, 64)
    whole = synthesize(guide, (160, 160), rng=np.random.default_rng(2))
    monkeypatch.setattr(quilt, "CUT_PIXELS", 1)  # one cell at a time
    batched = synthesize(guide, (160, 160), rng=np.random.default_rng(2))
    np.testing.assert_array_equal(batched.labels, whole.labels)
    np.testing.assert_array_equal(batched.offsets, whole.offsets)


def test_the_cut_error_by_rows_is_the_error_of_the_whole_window(monkeypatch):
    guide = photo(64, 64)
    whole = synthesize(guide, (160, 160), rng=np.random.default_rng(5))
    monkeypatch.setattr(quilt, "ERROR_ROWS", 3)
    by_rows = synthesize(guide, (160, 160), rng=np.random.default_rng(5))
    np.testing.assert_array_equal(by_rows.labels, whole.labels)
    np.testing.assert_array_equal(by_rows.offsets, whole.offsets)
