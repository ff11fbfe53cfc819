"""Structure crossing the whole input (transposer/runtime/synthesis/axes.py): a locked axis keeps
every output row (column) on one source row (column), so lines that cross the input cross the
output."""

import numpy as np
import pytest

from transposer.runtime.synthesis import Settings, axes, features, synthesize
from transposer.runtime.synthesis.grid import build_grid
from transposer.runtime.synthesis.search import Sample, local
from transposer.runtime.synthesis import plan


LOCKING = Settings(axes=True)


def grain(h, w, seed=0):
    """A texture without structure along any axis: smoothed noise, uint8 RGB."""
    rng = np.random.default_rng(seed)
    noise = rng.random((h + 4, w + 4, 3))
    smooth = sum(noise[i:i + h, j:j + w] for i in range(5) for j in range(5)) / 25
    return np.clip((smooth - 0.5) * 3 * 255 + 128, 0, 255).astype(np.uint8)


def with_line(image, row, axis=0, value=10):
    out = image.copy()
    if axis == 0:
        out[row:row + 2] = value
    else:
        out[:, row:row + 2] = value
    return out


def copy_through(pieces, image):
    H, W = pieces.canvas
    cy, cx = pieces.coords(0, H)
    return image[cy.astype(int), cx.astype(int)]


def test_lines_across_the_input_lock_their_axis_and_plain_texture_locks_none():
    texture = grain(96, 96)
    assert axes.detect(features.features(texture)) == (False, False)
    assert axes.detect(features.features(with_line(texture, 40))) == (True, False)
    assert axes.detect(features.features(with_line(texture, 40, axis=1))) == (False, True)
    bands = texture.copy()
    bands[:48] = bands[:48] // 2  # a dark half above a light one: bands, not a line
    assert axes.detect(features.features(bands)) == (True, False)
    assert axes.detect(features.features(np.full((64, 64, 3), 90, np.uint8))) == (False, False)


def bricks(h, w, offset):
    """Courses 8 px high of bricks 12 px long, each course shifted by `offset` (6: a running bond,
    0: a grid of tiles), mortar 1 px, grain on top."""
    y, x = np.mgrid[0:h, 0:w]
    course = y // 8
    mortar = ((y % 8) == 0) | (((x + offset * (course % 2)) % 12) == 0)
    out = grain(h, w, seed=4).astype(float) * 0.3 + 120
    out[mortar] = 30
    return out.astype(np.uint8)


@pytest.mark.parametrize("side", [32, 96])
def test_both_axes_lock_only_where_both_ways_lines_hold_their_length(side):
    """A running bond's joints lie in every other course: locked too, its columns would carry
    them off their course, through the bricks; a grid's lines cross the input both ways."""
    bond = features.features(bricks(side, side, offset=6))
    detail = bond[:, :, -1] - bond[:, :, -1].mean()
    assert axes.persistence(detail, 1) > 0.9 and axes.persistence(detail, 0) < axes.GRID
    assert axes.detect(bond) == (True, False)
    assert axes.detect(features.features(bricks(side, side, offset=0))) == (True, True)


def test_a_running_bond_still_varies_with_the_seed():
    image = bricks(48, 48, offset=6)
    first, second = (copy_through(synthesize(image, (96, 96), rng=np.random.default_rng(seed)), image)
                     for seed in (1, 2))
    assert np.abs(first.astype(int) - second).max() > 20


def line_of(out, at, axis):
    return out[at:at + 2] if axis == 0 else out[:, at:at + 2].T


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("wrap", [(False, False), (True, True)])
@pytest.mark.parametrize("at", [5, 92])  # near the input's edges, where free pieces cut it off
def test_a_line_across_the_input_runs_across_the_whole_output(axis, wrap, at):
    image = with_line(grain(96, 96, seed=3), at, axis)
    pieces = synthesize(image, (192, 192), wrap=wrap, rng=np.random.default_rng(1), settings=LOCKING)
    out = copy_through(pieces, image).astype(float).mean(axis=2)
    assert line_of(out, 48 + at, axis).max() <= 10.0  # dark from one edge of the canvas to the other
    free = synthesize(image, (192, 192), wrap=wrap, rng=np.random.default_rng(1), settings=Settings(axes=False))
    free_out = copy_through(free, image).astype(float).mean(axis=2)
    assert line_of(free_out, 48 + at, axis).max() > 10.0  # free pieces beside the input break it


def test_above_the_coarsest_level_the_line_still_runs_across():
    image = with_line(grain(288, 288, seed=5), 130)  # three levels: 72, 144, 288
    pieces = synthesize(image, (576, 576), rng=np.random.default_rng(2), coarse_side=72, settings=LOCKING)
    out = copy_through(pieces, image).astype(float).mean(axis=2)
    assert out[144 + 130:144 + 132].max() <= 10.0


def test_every_cell_of_a_locked_row_takes_one_offset_and_the_rows_beside_the_input_their_own():
    image = with_line(grain(96, 96, seed=7), 30)
    source = features.features(image)
    grid = build_grid(plan((96, 96), (192, 192)), 1.0, 0.25, 1.0, (False, False))
    chosen = axes.AxisPlan.choose(source, grid, (True, False), Settings(), np.random.default_rng(0), 0.01)
    by_row = {}
    for cell in grid.cells:
        dy, dx = chosen.fixed(cell)
        assert dx is None
        by_row.setdefault(cell.rows, set()).add(dy)
        if cell.rows[0] >= 48 and cell.rows[1] <= 144:
            assert dy == 48  # beside the input: the identity
    assert all(len(v) == 1 for v in by_row.values())
    # every span's rows lie inside the source
    for (a, b), (dy,) in by_row.items():
        assert a - dy >= 0 and b - dy <= 96


def test_the_local_search_keeps_a_locked_offset():
    source = features.features(grain(40, 40))
    sample = Sample(origin=(50, 50), shape=(8, 8), positions=np.array([[52, 52], [53, 55]]),
                    old=source[[10, 11], [10, 13]], weight=np.ones(2, np.float32), fixed=(37, None))
    for start in [(40, 40), (37, 41)]:
        dy, dx = local(source, sample, start, Settings(), 0.01)
        assert dy == 37 and abs(dx - start[1]) <= 1
