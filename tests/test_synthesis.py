"""The synthesis stage (transposer/runtime/synthesis) alone and through the Expander.

Golden images: tests/golden/*.png were written by this suite's own commands (see GOLDEN); a
change to the arrangement must change them on purpose (`TRANSPOSER_WRITE_GOLDEN=1 pytest ...`).
"""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transposer.runtime import Companion, Expander
from transposer.runtime import warp
from transposer.runtime.synthesis import cuts, feather, features, plan, search, synthesize
from transposer.runtime.synthesis import lattice as periods
from transposer.runtime.synthesis.features import channel_variance
from transposer.runtime.synthesis.grid import build_grid

GOLDEN = Path(__file__).parent / "golden"
EXAMPLE = Path(__file__).parents[1] / "transposer" / "examples" / "cliff_rock.jpg"


def example(size=96):
    """A crop of a bundled photo: real texture, so matches are not trivial."""
    return np.asarray(Image.open(EXAMPLE).convert("RGB"))[80:80 + size, 72:72 + size]


def lattice(h, w, period=(23, 17), seed=0):
    """A grid of dark lines on noisy grey: periodic, with an exact continuation to compare with."""
    y, x = np.mgrid[0:h, 0:w]
    lines = ((y % period[0]) < 3) | ((x % period[1]) < 2)
    noise = np.random.default_rng(seed).random((h, w, 3)) * 0.15
    return (np.where(lines[..., None], 0.15, 0.7) + noise).astype(np.float32), lines


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("onnxruntime")
    return Expander(device="cpu", threads=1)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    pytest.importorskip("onnx")
    from transposer.runtime.synthetic import write_synthetic_model

    path = write_synthetic_model(tmp_path_factory.mktemp("models") / "edge.onnx", "edge")
    return Expander(path, device="cpu", threads=1)


def _golden(name: str, image: np.ndarray) -> None:
    pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    path = GOLDEN / name
    if os.environ.get("TRANSPOSER_WRITE_GOLDEN"):
        Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(path)))


# --- through the Expander ----------------------------------------------------------------------
def test_golden_image_with_a_fixed_seed(shipped):
    _golden("coherent_cliff_rock_seed7.png", shipped.expand(example(), seed=7).image)


def test_network_only_reproduces_the_raw_network(shipped):
    """The golden was made by the runtime before the synthesis stage existed."""
    _golden("network_cliff_rock_seed7.png", shipped.expand(example(), seed=7, synthesis="network").image)


def test_same_seed_same_result_another_seed_another_variation(shipped):
    image = example(64)
    a = shipped.expand(image, seed=1).image
    np.testing.assert_array_equal(a, shipped.expand(image, seed=1).image)
    b = shipped.expand(image, seed=2).image
    assert np.abs(a - b).mean() > 0.01


@pytest.mark.parametrize("kwargs", [{}, {"scale": 4}, {"size": (150, 70)}, {"seamless": "xy"},
                                    {"size": (130, 64), "seamless": "x"}])
def test_the_given_centre_is_never_changed(edge, kwargs):
    image = example(64).astype(np.float32) / 255
    out = edge.expand(image, **kwargs).image
    top, left = (out.shape[0] - 64) // 2, (out.shape[1] - 64) // 2
    np.testing.assert_array_equal(out[top:top + 64, left:left + 64], image)


def test_a_companion_equal_to_the_colour_map_comes_out_identical(edge):
    image = example(64).astype(np.float32) / 255
    result = edge.expand(image, scale=3, companions=[image.copy(), Companion(image.copy())])
    np.testing.assert_array_equal(result.companions[0], result.image)
    np.testing.assert_array_equal(result.companions[1], result.image)


def test_alpha_sixteen_bit_and_hdr_values_follow_the_arrangement_exactly(edge, monkeypatch):
    """Every layer is its copy through the coordinate map, then the soft bands' blends with the
    same weights: computed here from the arrangement alone, the expander's output is equal to
    it, and outside the bands every value is an input value."""
    import transposer.runtime.expander as expander_module

    made = []
    real = expander_module.synthesize
    monkeypatch.setattr(expander_module, "synthesize", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    rgba = np.dstack([example(48).astype(np.float32) / 255, np.linspace(0, 1, 48 * 48).reshape(48, 48)])
    sixteen = (rgba * 65535).astype(np.uint16)
    hdr = example(48).astype(np.float32) / 255 * 50.0
    for pixels in (sixteen, hdr):
        out = edge.expand(pixels).image
        pieces = made[-1]
        values = pixels.astype(np.float32) / (65535.0 if pixels.dtype == np.uint16 else 1.0)
        cy, cx = pieces.coords(0, out.shape[0])
        expected = values[cy.astype(int), cx.astype(int)]
        flat = expected.reshape(-1, values.shape[2])
        blended = np.zeros(flat.shape[0], bool)
        k = pieces.feather.low
        low = feather.lowpass(values, k)
        for index, by, bx, weight in pieces.blends(0, out.shape[0]):
            own_low = feather.sample_low(low, cy.ravel()[index], cx.ravel()[index], k)
            flat[index] = feather.mix(flat[index], values[by, bx], own_low, feather.sample_low(low, by, bx, k), weight)
            blended[index] = True
        assert blended.any() and not blended.all()
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6 * max(1.0, float(values.max())))
        copied = out.reshape(-1, values.shape[2])[~blended]
        assert set(np.unique(copied)) <= set(np.unique(values))
    assert out.max() > 40  # HDR values are not clipped


@pytest.mark.parametrize("seamless", ["x", "y", "xy"])
def test_seamless_output_has_no_seam_at_the_wrap_edge(shipped, seamless):
    out = shipped.expand(example(), seamless=seamless, scale=2.5).image
    plain = shipped.expand(example(), scale=2.5).image
    for axis, name in ((0, "y"), (1, "x")):
        if name not in seamless:
            continue
        a, b = np.moveaxis(out, axis, 0), np.moveaxis(plain, axis, 0)
        jump = np.abs(a[0] - a[-1]).mean()  # the rows (columns) that meet when tiled
        inside = np.abs(np.diff(a, axis=0)).mean(axis=(1, 2))
        # where two pieces meet the cut leaves a seam as at any cell inside, no worse
        assert jump <= 1.1 * inside.max(), (name, jump, inside.max())
        assert jump < 0.8 * np.abs(b[0] - b[-1]).mean()  # the plain output does not tile


def test_periodic_texture_is_continued_on_its_period_to_the_pixel(edge):
    image, _ = lattice(96, 96)
    out = edge.expand(image, scale=2.5).image
    H, W = out.shape[:2]
    top, left = (H - 96) // 2, (W - 96) // 2
    y, x = np.mgrid[0:H, 0:W]
    ideal = (((y - top) % 23) < 3) | (((x - left) % 17) < 2)
    assert ((out.mean(axis=2) < 0.45) == ideal).mean() > 0.995


def test_above_the_analysis_size_the_full_resolution_result_is_just_as_coherent(tmp_path):
    pytest.importorskip("onnx")
    from transposer.runtime.synthetic import write_synthetic_model

    small = Expander(write_synthetic_model(tmp_path / "edge.onnx", "edge"), device="cpu", threads=1,
                     analysis_size=64)
    image, _ = lattice(192, 160)
    out = small.expand(image).image  # the network sees a 64 px copy; synthesis works at 192
    y, x = np.mgrid[0:384, 0:320]
    ideal = (((y - 96) % 23) < 3) | (((x - 80) % 17) < 2)
    assert ((out.mean(axis=2) < 0.45) == ideal).mean() > 0.995


# --- the stage itself ----------------------------------------------------------------------------
def test_every_pixel_copies_a_source_pixel_and_pieces_are_many_and_varied():
    image = example(96).astype(np.float32) / 255
    pieces = synthesize(image, (192, 192), rng=np.random.default_rng(0))
    cy, cx = pieces.coords(0, 192)
    assert np.array_equal(cy, np.round(cy)) and cy.min() >= 0 and cy.max() <= 95
    assert np.array_equal(cx, np.round(cx)) and cx.min() >= 0 and cx.max() <= 95
    labels = pieces.labels
    ring = np.ones((192, 192), bool)
    ring[48:144, 48:144] = False
    assert (labels[~ring] == 0).all() and (labels[ring] > 0).all()
    # pieces smaller than the input, and no source region used over and over
    sizes = np.bincount(labels[ring])[1:]
    assert sizes.max() < 0.5 * 96 * 96
    use = np.zeros((96, 96))
    np.add.at(use, (cy[ring].astype(int), cx[ring].astype(int)), 1)
    assert np.percentile(use, 99) <= 12  # 3 on average; a grid repeat would put 20+ on one region
    # cells may continue a neighbour's piece (the same offset), but no piece grows large
    offsets = pieces.offsets[labels[ring]]
    _, counts = np.unique(offsets, axis=0, return_counts=True)
    assert len(counts) >= 20 and counts.max() < 0.5 * 96 * 96


def test_wrapping_canvas_cuts_pieces_in_across_the_edge():
    image = example(64).astype(np.float32) / 255
    pieces = synthesize(image, (128, 160), wrap=(True, True), rng=np.random.default_rng(1))
    out = warp.sample(image, pieces.coords, pieces.canvas, (True, True))
    # the pair of rows (columns) across the edge is no worse than the seams inside
    for axis in (0, 1):
        a = np.moveaxis(out, axis, 0)
        inside = np.abs(np.diff(a, axis=0)).mean(axis=(1, 2))
        assert np.abs(a[0] - a[-1]).mean() <= 1.1 * inside.max()


def test_the_network_proposal_decides_among_near_equal_placements():
    flat = np.full((64, 64, 3), 0.5, np.float32)  # every placement matches equally well
    target = (30, 34)  # the network's source for every cell's centre

    def propose(ys, xs):
        return ys * 0 + target[0], xs * 0 + target[1]

    pieces = synthesize(flat, (128, 128), rng=np.random.default_rng(0), proposal=propose,
                        settings=search.Settings(occurrence=0.0))
    grid = build_grid(plan((64, 64), (128, 128)), 1.0, 0.25, 0.5, (False, False))
    for cell in grid.cells[:8]:
        cy = (cell.rows[0] + cell.rows[1] - 1) / 2
        cx = (cell.cols[0] + cell.cols[1] - 1) / 2
        dy, dx = pieces.offsets[cell.index]
        # the offset the network implies (centre - its source), within the search's radius
        # (plus the half pixel of an even cell's centre)
        assert abs(dy - (cy - target[0])) <= 2.5 and abs(dx - (cx - target[1])) <= 2.5


def test_exhaustive_search_finds_an_exact_placement():
    rng = np.random.default_rng(0)
    source = rng.random((64, 64, 4)).astype(np.float32)
    filled = np.zeros((30, 34), bool)
    filled[:8] = True
    filled[:, :6] = True
    old = source[10:40, 17:51] * filled[:, :, None]
    query = search.Query((100, 200), (20, 24), (95, 195), filled, old, filled.astype(np.float32))
    spectra = search.SourceSpectra(source, 5, 0, channel_variance(source))
    settings = search.Settings(tolerance=0.0, occurrence=0.0, network=0.0)
    found = search.exhaustive(spectra, [query], np.zeros((64, 64)), 3.0, settings, rng)
    assert found == [(100 - 15, 200 - 22)]  # the placement window starts 5 px inside the context


def test_cut_follows_the_cheapest_connected_path():
    error = np.ones((12, 6), np.float32)
    path = [2, 3, 3, 4, 4, 3, 2, 1, 1, 2, 3, 3]
    for i, t in enumerate(path):
        error[i, t] = 0.0
    strip = cuts.Strip("left", error, np.zeros(12, int), np.full(12, 6))
    (t,) = cuts.solve([strip])
    assert list(t) == path


def test_cut_keeps_fixed_pixels_and_fills_empty_ones():
    error = np.zeros((10, 10), np.float32)
    filled = np.zeros((10, 10), bool)
    filled[:, :4] = True  # the left four columns hold pixels...
    fixed = np.zeros((10, 10), bool)
    fixed[:, :2] = True  # ...the first two are the user's input
    strips = cuts.strips_of(error, filled, fixed, 6)
    take = cuts.take_new((10, 10), strips, cuts.solve(strips), filled, fixed)
    assert not take[fixed].any() and take[~filled].all()


def test_waves_never_hold_neighbours_and_cells_cover_the_ring():
    layout = plan((60, 90), (150, 170))
    for wrap in [(False, False), (True, True)]:
        grid = build_grid(layout, 1.0, 0.25, 0.5, wrap)
        covered = np.zeros(grid.canvas, int)
        oy, ox = grid.origin
        covered[oy:oy + 60, ox:ox + 90] += 1
        for wave in grid.waves:
            for cell in wave:
                covered[cell.rows[0]:cell.rows[1], cell.cols[0]:cell.cols[1]] += 1
            windows = [set(zip(*[a.ravel() for a in np.meshgrid(*grid.window(c), indexing="ij")])) for c in wave]
            for i in range(len(windows)):
                for j in range(i + 1, len(windows)):
                    assert not windows[i] & windows[j]
        assert (covered == 1).all()


# --- the period of a periodic source (lattice.py) -------------------------------------------
def test_the_period_of_a_lattice_is_found_and_noise_has_none():
    grid, _ = lattice(64, 64, period=(16, 12))
    found = periods.detect(features.features(grid), (0, 0))
    assert found is not None and len(found.vectors) == 2
    assert {tuple(abs(c) for c in v) for v in found.vectors} == {(16, 0), (0, 12)}
    noise = np.random.default_rng(4).random((64, 64, 3)).astype(np.float32)
    assert periods.detect(features.features(noise), (0, 0)) is None
    assert periods.detect(features.features(example(64).astype(np.float32) / 255), (0, 0)) is None


def test_every_piece_of_a_periodic_source_sits_on_its_period():
    grid, _ = lattice(64, 64, period=(16, 12), seed=5)
    pieces = synthesize(grid, (160, 160), rng=np.random.default_rng(3))
    origin = pieces.offsets[0]
    for dy, dx in pieces.offsets[1:]:
        assert (dy - origin[0]) % 16 in (0, 1, 15) and (dx - origin[1]) % 12 in (0, 1, 11)
