"""Data pipeline: expansion pairs, folder scanning, DTD wiring, procedural textures, mixing."""
from __future__ import annotations

import time
import urllib.error
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from transposer.data import DataConfig, DataError, SkippedImageWarning, build_dataset
from transposer.data import procedural
from transposer.data.expansion import random_crop

S = 32  # crop size used throughout: tiny and fast


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def noise_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        _save(tmp_path / "imgs" / f"sub{i % 2}" / f"n{i}.png", rng.integers(0, 256, (48, 56, 3), dtype=np.uint8))
    return tmp_path / "imgs"


def _cfg(folder, **kw):
    base = dict(folders=[str(folder)], crop_size=S, procedural_weight=0.0, samples_per_epoch=64)
    base.update(kw)
    return DataConfig(**base)


# ----------------------------------------------------------------------------- expansion pairs

@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_input_is_exact_centre_crop_of_target(noise_folder, weight):
    ds = build_dataset(_cfg(noise_folder, procedural_weight=weight, rescale=(0.6, 1.3)), seed=3)
    for i in range(12):
        item = ds[i]
        assert set(item) == {"input", "target"}
        x, y = item["input"], item["target"]
        assert x.shape == (3, S // 2, S // 2) and y.shape == (3, S, S)
        assert x.dtype == y.dtype == torch.float32
        assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
        assert torch.equal(x, y[:, S // 4: 3 * S // 4, S // 4: 3 * S // 4])
        assert float(y.std()) > 0.01  # not a blank image


def test_scale_one_crop_keeps_source_pixels(noise_folder):
    """With rescale = (1, 1) the target is a window of the source, not resampled (no blur)."""
    src = np.asarray(Image.open(noise_folder / "sub0" / "n0.png"))
    rng = np.random.default_rng(1)
    crop = np.rint(random_crop(src, S, rng, (1.0, 1.0)) * 255).astype(np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(src, (S, S, 3))[..., 0, :, :, :]
    hits = np.argwhere((windows == crop).all(axis=(2, 3, 4)))
    assert len(hits) == 1


def test_small_source_is_upscaled_to_fit(tmp_path):
    _save(tmp_path / "small" / "a.png", np.full((20, 24, 3), (200, 40, 90), np.uint8))
    ds = build_dataset(_cfg(tmp_path / "small", min_image_size=16, color_jitter=0.0))
    y = ds[0]["target"]
    assert y.shape == (3, S, S)
    assert torch.allclose(y, torch.tensor([200, 40, 90]).view(3, 1, 1) / 255.0, atol=1e-6)


def test_items_deterministic_per_seed_and_epoch(noise_folder):
    cfg = _cfg(noise_folder, procedural_weight=0.5)
    a, b, c = build_dataset(cfg, seed=5), build_dataset(cfg, seed=5), build_dataset(cfg, seed=6)
    assert all(torch.equal(a[i]["target"], b[i]["target"]) for i in range(6))
    assert not all(torch.equal(a[i]["target"], c[i]["target"]) for i in range(6))
    before = [a[i]["target"] for i in range(6)]
    a.set_epoch(1)
    assert not any(torch.equal(before[i], a[i]["target"]) for i in range(6))


def test_set_epoch_reaches_persistent_workers(noise_folder):
    ds = build_dataset(_cfg(noise_folder, samples_per_epoch=4, procedural_weight=0.5), seed=2)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1, persistent_workers=True)
    first = next(iter(loader))["target"]
    ds.set_epoch(1)
    second = next(iter(loader))["target"]
    expected = torch.stack([ds[i]["target"] for i in range(4)])
    assert torch.equal(second, expected) and not torch.equal(first, second)


# ----------------------------------------------------------------------------- folders

def test_corrupt_and_tiny_files_skipped_with_one_warning_each(tmp_path):
    folder = tmp_path / "mixed"
    rng = np.random.default_rng(0)
    _save(folder / "good1.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    _save(folder / "deep" / "good2.jpg", rng.integers(0, 256, (64, 48, 3), dtype=np.uint8))
    _save(folder / "tiny.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (folder / "garbage.jpg").write_bytes(b"definitely not a jpeg" * 10)
    full = (folder / "deep" / "good2.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 3])  # valid header, broken data
    (folder / "notes.txt").write_text("ignored: not an image extension")

    for cache in (True, False):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            ds = build_dataset(_cfg(folder, cache_images=cache, samples_per_epoch=40), seed=0)
            for i in range(len(ds)):  # the uncached pool finds the truncated file while sampling
                ds[i]
        msgs = [str(w.message) for w in rec if issubclass(w.category, SkippedImageWarning)]
        for name in ("tiny.png", "garbage.jpg", "truncated.jpg"):
            assert sum(name in m for m in msgs) == 1, (cache, name, msgs)
        assert len(msgs) == 3
        assert not any("good" in m for m in msgs)


def test_bad_config_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="crop_size"):
        DataConfig(crop_size=40)
    with pytest.raises(DataError, match="procedural_weight"):
        DataConfig(procedural_weight=1.5)
    with pytest.raises(DataError, match="rescale"):
        DataConfig(rescale=(1.0, 0.5))
    with pytest.raises(DataError, match="is not a directory"):
        build_dataset(DataConfig(folders=[str(tmp_path / "missing")]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="procedural_weight"):
        build_dataset(DataConfig(folders=[str(tmp_path / "empty")]))
    # procedural only needs no folder at all
    assert build_dataset(DataConfig(procedural_weight=1.0, crop_size=S))[0]["target"].shape == (3, S, S)


# ----------------------------------------------------------------------------- DTD

def test_dtd_uses_torchvision_split_files(tmp_path, monkeypatch):
    import torchvision.datasets

    rng = np.random.default_rng(0)
    files = [_save(tmp_path / "dtd" / "dtd" / "images" / "banded" / f"b{i}.jpg",
                   rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for i in range(2)]
    calls = []

    class FakeDTD:  # stands in for the network download; the wiring around it is ours
        def __init__(self, root, split, partition, download):
            calls.append((root, split, partition, download))
            if not download:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            self._image_files = files

    monkeypatch.setattr(torchvision.datasets, "DTD", FakeDTD)
    cfg = DataConfig(dtd=True, dtd_root=str(tmp_path), dtd_split="val", dtd_partition=3,
                     procedural_weight=0.0, crop_size=S, cache_images=False)
    ds = build_dataset(cfg)
    assert [c[1:] for c in calls] == [("val", 3, False), ("val", 3, True)]
    assert ds.pool.paths == files and ds[0]["target"].shape == (3, S, S)

    class OfflineDTD(FakeDTD):
        def __init__(self, root, split, partition, download):
            if download:
                raise urllib.error.URLError("Name or service not known")
            super().__init__(root, split, partition, download)

    monkeypatch.setattr(torchvision.datasets, "DTD", OfflineDTD)
    with pytest.raises(DataError, match="dtd.*could not be downloaded"):
        build_dataset(cfg)


# ----------------------------------------------------------------------------- procedural + mixing

@pytest.mark.parametrize("family", procedural.FAMILIES)
def test_procedural_family_is_deterministic_valid_and_not_flat(family):
    for seed in range(3):
        a = procedural.generate(64, np.random.default_rng(seed), family)
        b = procedural.generate(64, np.random.default_rng(seed), family)
        assert a.shape == (64, 64, 3) and a.dtype == np.float32
        assert np.array_equal(a, b)
        assert 0.0 <= a.min() and a.max() <= 1.0
        assert a.std() > 0.03, (family, seed, a.std())
    other = procedural.generate(64, np.random.default_rng(99), family)
    assert not np.array_equal(a, other)


def test_procedural_is_fast_enough_for_a_cpu_loader():
    procedural.generate(32, np.random.default_rng(0), "reaction_diffusion")  # one-off bank warm-up
    t = time.perf_counter()
    for i, fam in enumerate(procedural.FAMILIES):
        procedural.generate(256, np.random.default_rng(i), fam)
    per_sample = (time.perf_counter() - t) / len(procedural.FAMILIES)
    assert per_sample < 0.15  # measured ~8 ms on one core; generous for a busy shared machine


def test_unknown_family_is_rejected():
    with pytest.raises(ValueError, match="family must be one of"):
        procedural.generate(32, np.random.default_rng(0), "plaid")


def test_procedural_weight_is_respected(tmp_path):
    colour = np.array([30, 160, 220], np.uint8)
    _save(tmp_path / "flat" / "c.png", np.broadcast_to(colour, (40, 40, 3)).copy())
    ref = torch.tensor(colour, dtype=torch.float32).view(3, 1, 1) / 255.0

    def real_fraction(weight, n):
        ds = build_dataset(_cfg(tmp_path / "flat", procedural_weight=weight, color_jitter=0.0,
                                samples_per_epoch=n), seed=11)
        real = [torch.allclose(ds[i]["target"], ref.expand(3, S, S), atol=1e-6) for i in range(n)]
        assert real == [not ds.is_procedural(i) for i in range(n)]
        return sum(real) / n

    assert real_fraction(0.0, 20) == 1.0
    assert real_fraction(1.0, 20) == 0.0
    assert abs(real_fraction(0.3, 300) - 0.7) < 0.1  # binomial sd 0.026
