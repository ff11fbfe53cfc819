"""The ranked copy choice (transposer/model/ranked_copies.py) on hand-made placement logits whose
answer is known: which copy every canvas cell takes, and that every cell takes a whole copy."""
from __future__ import annotations

import pytest
import torch

from transposer.model.ranked_copies import local_maxima, ranked_copy_canvas

PLAIN, WRAP = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])


def logits_with_peaks(h: int, w: int, peaks: dict[tuple[int, int], float], groups: int = 2) -> torch.Tensor:
    """(1, G, 2h-1, 2w-1) logits over shifts |p| < h, |q| < w: -20 everywhere, `peaks` at shifts."""
    ry, rx = h - 1, w - 1
    logits = torch.full((1, groups, 2 * ry + 1, 2 * rx + 1), -20.0)
    for (p, q), v in peaks.items():
        logits[:, :, ry + p, rx + q] = v
    return logits


def shifts_of(canvas: torch.Tensor, h: int, w: int, stride: int = 1) -> torch.Tensor:
    """(2, 2h, 2w) shift each canvas cell copies with: cell - h//2 - source cell."""
    ys = torch.arange(2 * h)[:, None].expand(2 * h, 2 * w)
    xs = torch.arange(2 * w)[None, :].expand(2 * h, 2 * w)
    src = (canvas - (stride - 1) / 2) / stride
    return torch.stack([ys - h // 2 - src[0], xs - w // 2 - src[1]])


def test_local_maxima_keeps_one_per_window():
    s = torch.tensor([[[[0.0, 1.0, 0.5, 0.2, 3.0, 0.1, 0.0]]]])
    kept = local_maxima(s, 3)
    assert torch.isfinite(kept).flatten().tolist() == [False, True, False, False, True, False, False]
    assert torch.equal(local_maxima(s, 1), s)


def test_centre_is_the_input_and_every_cell_copies_whole_input_cells():
    h, w = 8, 12
    logits = logits_with_peaks(h, w, {(0, 0): 5.0, (4, -6): 1.0, (-5, 3): 0.5})
    for wrap in (PLAIN, WRAP):
        canvas = ranked_copy_canvas(logits, h, w, 1, wrap, count=16, spacing=3)[0]
        assert canvas.shape == (2, 2 * h, 2 * w)
        assert canvas.min() >= 0 and canvas[0].max() <= h - 1 and canvas[1].max() <= w - 1
        assert torch.equal(canvas, canvas.round())              # whole cells, no blends
        centre = canvas[:, h // 2: h // 2 + h, w // 2: w // 2 + w]
        assert torch.equal(centre[0], torch.arange(h, dtype=torch.float32)[:, None].expand(h, w))
        assert torch.equal(centre[1], torch.arange(w, dtype=torch.float32)[None, :].expand(h, w))


def test_each_cell_takes_the_highest_ranked_copy_that_reaches_it():
    h, w = 8, 8
    # Ranks: zero shift > (4, 0) > (-4, 5); with -20 elsewhere only the fallbacks are left.
    logits = logits_with_peaks(h, w, {(0, 0): 5.0, (4, 0): 2.0, (-4, 5): 1.0})
    canvas = ranked_copy_canvas(logits, h, w, 1, PLAIN, count=3, spacing=3)[0]
    shift = shifts_of(canvas, h, w)
    # Cell (13, 6): rows 13 and col 6 -> the (4, 0) copy covers rows 8..15, cols 4..11; the centre
    # (rows 4..11) does not reach row 13.
    assert shift[:, 13, 6].tolist() == [4, 0]
    # Cell (2, 12): only (-4, 5) among the ranked copies reaches it (rows 0..7, cols 9..15).
    assert shift[:, 2, 12].tolist() == [-4, 5]
    # Cell (10, 5): both the centre and (4, 0) reach it; the centre ranks higher.
    assert shift[:, 10, 5].tolist() == [0, 0]
    # Cell (15, 0): no ranked copy reaches it -> the fallback 2 x 2 tiling (shift (+h/2, -w/2)).
    assert shift[:, 15, 0].tolist() == [4, -4]


def test_suppressed_shifts_never_paint():
    """Fewer local maxima than `count`: the top k is padded with -inf shifts in an arbitrary order;
    they must not be painted (they did, before the fix, and differed between torch and ORT)."""
    h, w = 8, 8
    logits = logits_with_peaks(h, w, {(0, 0): 5.0})
    logits[:, :, :, :] = torch.linspace(-1, 0, logits.shape[-1])   # one maximum per row, rising to the right
    logits[:, :, h - 1, w - 1] = 5.0
    canvas = ranked_copy_canvas(logits, h, w, 1, PLAIN, count=64, spacing=2 * h - 1)[0]
    shift = shifts_of(canvas, h, w)
    allowed = {(0, 0), (-4, -4), (-4, 4), (4, -4), (4, 4)}
    found = {tuple(s) for s in shift.reshape(2, -1).T.tolist()}
    assert found <= allowed, found - allowed


def test_symmetric_twins_resolve_deterministically_to_the_lower_half_plane():
    """S(p) = S(-p): equal twins go to the shift with p > 0 (or p = 0, q > 0) every time."""
    h, w = 8, 8
    logits = logits_with_peaks(h, w, {(0, 0): 5.0, (5, 2): 1.0, (-5, -2): 1.0})
    canvas = ranked_copy_canvas(logits, h, w, 1, PLAIN, count=1 + 2, spacing=3)[0]
    shift = shifts_of(canvas, h, w)
    # (13, 7) is reached by (5, 2) (rows 9..16, cols 6..13) but not by the centre; ranked over (-5, -2).
    assert shift[:, 13, 7].tolist() == [5, 2]


@pytest.mark.parametrize("stride", [1, 4])
def test_wrap_continues_a_copy_across_the_edge(stride):
    """On the torus a copy that overhangs the bottom edge re-enters at the top."""
    h, w = 8, 8
    logits = logits_with_peaks(h, w, {(0, 0): 5.0, (7, 0): 2.0})
    canvas = ranked_copy_canvas(logits, h, w, stride, WRAP, count=2, spacing=3)[0]
    src_rows = (canvas[0, :, 8] - (stride - 1) / 2) / stride
    # the (7, 0) copy covers canvas rows 11..15 and then 0..2 (source rows 0..4, 5..7); row 11 is
    # also reached by the centre copy, which ranks higher
    assert src_rows[11:].tolist() == [7, 1, 2, 3, 4]
    assert src_rows[:3].tolist() == [5, 6, 7]


def test_fallback_tiling_puts_no_cut_on_the_wrap_edge():
    """Where only the fallback copies show, seamless output must not have its cut on the tile
    border: on a wrapping axis the fallback tiling moves by a quarter, so rows 2h-1 -> 0 continue
    one copy (source +1); on a plain canvas that border is the tiling's cut."""
    h, w = 8, 8
    logits = logits_with_peaks(h, w, {(0, 0): 5.0})
    for wrap, continues in ((WRAP, True), (PLAIN, False)):
        canvas = ranked_copy_canvas(logits, h, w, 1, wrap, count=1, spacing=3)[0]
        step = canvas[0, 0] - canvas[0, -1]                    # row 0 minus row 2h-1, per column
        assert bool((step == 1).all()) == continues, (wrap, step)
        step = canvas[1, :, 0] - canvas[1, :, -1]
        assert bool((step == 1).all()) == continues, (wrap, step)


def test_shifts_with_too_little_overlap_are_not_candidates():
    """A far shift scoring best (its similarity rests on a sliver of overlap) must not beat a
    shift whose copy overlaps the input enough to be judged."""
    h, w = 8, 8
    logits = logits_with_peaks(h, w, {(0, 0): 9.0, (7, 7): 8.0, (4, 0): 3.0})   # (7, 7): overlap 1/64
    shift_at = {}
    for min_overlap in (0.0, 0.4):
        canvas = ranked_copy_canvas(logits, h, w, 1, PLAIN, count=3, spacing=3, min_overlap=min_overlap)[0]
        shift_at[min_overlap] = shifts_of(canvas, h, w)[:, 13, 11].tolist()   # reached by both
    assert shift_at[0.0] == [7, 7]
    assert shift_at[0.4] == [4, 0]
