"""transposer eval: metrics on cases with known answers, baselines, protocol, report, CLI end to end.

Everything runs on tiny synthetic images (S = 32 or 64) so the whole file takes seconds.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from transposer.eval import EvalError, metrics, perceptual, report, run_eval
from transposer.eval.adapters import OnnxModel, TorchModel, load_model
from transposer.eval.baselines import bicubic, mirror, wrap
from transposer.eval.protocol import crop_offset, iter_cases, list_images


@pytest.fixture(autouse=True)
def no_weights(tmp_path_factory, monkeypatch):
    # An empty torch hub folder: LPIPS/FID weights are absent whatever this machine has cached.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


def texture(size: int, seed: int = 0, tile: int = 8) -> np.ndarray:
    """A periodic random texture: a seeded tile x tile pattern repeated, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    pattern = rng.random((tile, tile, 3)).astype(np.float32)
    reps = -(-size // tile)
    return np.tile(pattern, (reps, reps, 1))[:size, :size]


class MirrorModel:
    """A fake model: mirror padding in the Model protocol's batch layout."""

    name = "fake"

    def expand(self, batch):
        h, w = batch.shape[1:3]
        return np.pad(batch, ((0, 0), (h // 2, h // 2), (w // 2, w // 2), (0, 0)), mode="symmetric")


def write_images(folder: Path, sizes: dict[str, tuple[int, int]], seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, (w, h) in sizes.items():
        pixels = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / name)
    return folder


# ---------------------------------------------------------------- metrics

def test_identical_images_score_perfectly():
    a = texture(64, seed=1)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim_ring(a, a) == pytest.approx(1.0)
    assert metrics.patch_swd(a, a) == 0.0


def test_ring_mask_covers_exactly_the_non_centre_pixels():
    for h, w in [(8, 8), (12, 16), (64, 64)]:
        mask = metrics.ring_mask(h, w)
        assert mask.sum() == h * w - (h // 2) * (w // 2)
        assert not mask[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2].any()
        outside = mask.copy()
        outside[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2] = True
        assert outside.all()


def test_noise_against_constant_has_the_analytic_swd():
    # A unit projection of 7x7x3 uniform-noise patches is ~ N(c, 1/12); a constant 0.5 image projects
    # to the point c, so W1 = E|N(0, 1/12)| = sqrt(1/12) * sqrt(2/pi) = 0.2303 at scale 1; each 2x2
    # box average halves the noise's std, so 0.1152 and 0.0576 at scales 1/2 and 1/4.
    noise = np.random.default_rng(3).random((128, 128, 3)).astype(np.float32)
    flat = np.full_like(noise, 0.5)
    expected = np.sqrt(1 / 12) * np.sqrt(2 / np.pi) * np.array([1.0, 0.5, 0.25])
    np.testing.assert_allclose(metrics.swd_per_scale(noise, flat), expected, rtol=0.05)
    assert metrics.ssim(noise, flat) < 0.05


def test_shift_breaks_ssim_but_not_patch_swd():
    from scipy.ndimage import gaussian_filter

    # Smooth periodic textures (white noise would change under the box downsampling at odd shifts).
    a, other = (gaussian_filter(texture(64, seed=s, tile=16), (1.5, 1.5, 0), mode="wrap") for s in (2, 9))
    shifted = np.roll(a, (5, 3), axis=(0, 1))        # same texture, other alignment
    assert metrics.ssim(a, shifted) < 0.3
    assert metrics.swd_per_scale(a, shifted)[0] < 0.15 * metrics.swd_per_scale(a, other)[0]
    assert metrics.patch_swd(a, shifted) < 0.3 * metrics.patch_swd(a, other)


def test_ring_ssim_ignores_the_centre_and_centre_ssim_checks_it():
    target = texture(64, seed=4, tile=64)
    out = target.copy()
    out[16:48, 16:48] = 0.5                           # lose the given centre
    assert metrics.ssim(out, target) < 0.8
    assert metrics.ssim_ring(out, target) > 0.8       # only the few windows touching the centre suffer
    assert metrics.centre_ssim(out, target[16:48, 16:48]) < 0.1
    assert metrics.centre_ssim(target, target[16:48, 16:48]) == pytest.approx(1.0)


def test_swd_projections_are_fixed_across_calls():
    a, b = texture(32, seed=5), texture(32, seed=6)
    metrics._directions.cache_clear()
    first = metrics.patch_swd(a, b)
    metrics._directions.cache_clear()
    assert metrics.patch_swd(a, b) == first


# ---------------------------------------------------------------- baselines

def test_pad_baselines_keep_the_centre_and_fill_the_ring_as_named():
    given = texture(16, seed=7, tile=16)
    for fn in (wrap, mirror):
        out = fn(given)
        assert out.shape == (32, 32, 3) and out.dtype == np.float32
        np.testing.assert_array_equal(out[8:24, 8:24], given)
    np.testing.assert_array_equal(wrap(given)[8:24, 0:8], given[:, 8:16])         # periodic copy
    np.testing.assert_array_equal(mirror(given)[8:24, 7], given[:, 0])             # edge repeated
    np.testing.assert_array_equal(mirror(given)[8:24, 0:8], given[:, 7::-1])       # mirrored


def test_bicubic_upscales_to_twice_the_size():
    given = texture(16, seed=8)
    out = bicubic(given)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(bicubic(np.full((16, 16, 3), 0.3, np.float32)), 0.3, atol=1e-6)
    # Upscaling, not expansion: the output's mean colour is the input's, its centre is not the input.
    np.testing.assert_allclose(out.mean(axis=(0, 1)), given.mean(axis=(0, 1)), atol=0.02)
    assert not np.allclose(out[8:24, 8:24], given, atol=0.05)


# ---------------------------------------------------------------- protocol

def test_cases_crop_skip_and_whole(tmp_path):
    folder = write_images(tmp_path / "d", {"big.png": (48, 40), "exact.png": (32, 32), "small.png": (20, 40)})
    (folder / "broken.png").write_bytes(b"not a png")
    skipped = []
    cases = list(iter_cases(list_images([folder]), 32, "center", 0, lambda p, r: skipped.append((p, r))))
    assert [c.name for c in cases] == ["big.png", "exact.png"]
    assert sorted(Path(p).name for p, _ in skipped) == ["broken.png", "small.png"]
    assert any("smaller than --size 32" in r for _, r in skipped)
    big = np.asarray(Image.open(folder / "big.png"), dtype=np.float32) / 255
    np.testing.assert_array_equal(cases[0].target, big[4:36, 8:40])              # centre of 48 x 40
    np.testing.assert_array_equal(cases[0].given, cases[0].target[8:24, 8:24])
    assert cases[1].whole and not cases[0].whole


def test_random_crops_are_seeded_by_seed_and_name():
    a = crop_offset(300, 400, 64, "random", 1, "x.png")
    assert a == crop_offset(300, 400, 64, "random", 1, "x.png")
    offsets = {crop_offset(300, 400, 64, "random", s, "x.png") for s in range(8)}
    assert len(offsets) > 4
    assert all(0 <= y <= 236 and 0 <= x <= 336 for y, x in offsets)


# ---------------------------------------------------------------- run_eval + report

def test_run_eval_report_files_and_keys(tmp_path):
    data = write_images(tmp_path / "d", {"a.png": (40, 40), "b.png": (36, 44), "tiny.png": (10, 10)})
    warnings_seen = []
    out = tmp_path / "rep"
    result = run_eval(MirrorModel(), [data], size=32, report_dir=out, json_path=tmp_path / "r.json",
                      warn=warnings_seen.append)
    assert result["methods"] == ["model", "bicubic", "wrap", "mirror"]
    assert result["n_cases"] == 2 and len(result["cases"]) == 2
    assert len(warnings_seen) == 1 and "tiny.png" in warnings_seen[0]
    agg = result["aggregate"]
    # The fake model IS mirror padding, so it must score exactly what the mirror baseline scores.
    for key in ("ssim", "ssim_ring", "swd", "centre_ssim"):
        assert agg["model"][key]["mean"] == pytest.approx(agg["mirror"][key]["mean"])
        assert set(agg["model"][key]) == {"mean", "std", "n"}
    assert agg["mirror"]["centre_ssim"]["mean"] == pytest.approx(1.0)
    assert agg["bicubic"]["centre_ssim"]["mean"] < 0.9
    for name in ("lpips", "sifid", "fid"):
        assert result["unavailable"][name] == "unavailable: weights not found"
        assert agg["model"][name] == "unavailable: weights not found"

    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == json.loads((tmp_path / "r.json").read_text())
    assert on_disk["cases"][0]["metrics"]["wrap"]["ssim"] == pytest.approx(result["cases"][0]["metrics"]["wrap"]["ssim"])

    md = (out / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows] == ["| method", "| model: fake", "| bicubic", "| wrap", "| mirror"]
    assert all(r.count("|") == len(report.METRICS) + 2 for r in rows)
    assert "LPIPS: unavailable: weights not found" in md and "FID: unavailable: weights not found" in md

    sheets = sorted((out / "sheets").iterdir())
    assert [p.name for p in sheets] == ["0000_a.png", "0001_b.png"]
    with Image.open(sheets[0]) as im:
        expected = report.contact_sheet(np.zeros((16, 16, 3)), [("m\ns", np.zeros((32, 32, 3)))] * 4,
                                        np.zeros((32, 32, 3)), title="a.png").size
        assert im.size == expected and im.size[0] == 6 * 32 + 7 * 8
    assert (out / "metrics.png").is_file()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_contact_sheet_places_tiles_where_labelled():
    given = np.full((16, 16, 3), 1.0, np.float32)
    panels = [("red", np.tile(np.array([1, 0, 0], np.float32), (32, 32, 1)))]
    sheet = np.asarray(report.contact_sheet(given, panels, np.zeros((32, 32, 3), np.float32)))
    h = sheet.shape[0]
    y = h - 8 - 16                                            # middle row of the tiles
    assert tuple(sheet[y, 8 + 16]) == (255, 255, 255)         # the input, white, at the centre of tile 0
    assert tuple(sheet[y, 8 + 2]) == (200, 200, 200)          # grey around the input
    assert tuple(sheet[y, 8 + 40 + 16]) == (255, 0, 0)        # panel 1
    assert tuple(sheet[y, 8 + 80 + 16]) == (0, 0, 0)          # ground truth


def test_existing_report_is_never_overwritten_or_half_written(tmp_path):
    data = write_images(tmp_path / "d", {"a.png": (32, 32)})
    out = tmp_path / "rep"
    run_eval(MirrorModel(), [data], size=32, report_dir=out)
    before = (out / "report.json").read_bytes()
    with pytest.raises(EvalError, match="--report.*not empty"):
        run_eval(MirrorModel(), [data], size=32, report_dir=out)

    class Broken(MirrorModel):
        def expand(self, batch):
            raise RuntimeError("boom")

    with pytest.raises(EvalError, match="model fake failed.*boom"):
        run_eval(Broken(), [data], size=32, report_dir=out, overwrite=True)
    assert (out / "report.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "rep"]        # no staging left behind
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("x")
    with pytest.raises(EvalError, match="holds no earlier report"):
        run_eval(MirrorModel(), [data], size=32, report_dir=other, overwrite=True)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 30}, r"--size must be a multiple of 4 in \[28, 4096\], got 30"),
    ({"crop": "middle"}, "--crop must be one of center, random"),
    ({"seed": -1}, "--seed must be an integer >= 0, got -1"),
    ({"limit": 0}, "--limit must be an integer >= 1, got 0"),
])
def test_settings_are_validated_with_names_and_ranges(tmp_path, kwargs, match):
    data = write_images(tmp_path / "d", {"a.png": (32, 32)})
    with pytest.raises(EvalError, match=match):
        run_eval(MirrorModel(), [data], **{"size": 32, **kwargs})


def test_wrong_output_shape_is_reported(tmp_path):
    data = write_images(tmp_path / "d", {"a.png": (32, 32)})

    class Same(MirrorModel):
        def expand(self, batch):
            return batch

    with pytest.raises(EvalError, match=r"returned shape \(16, 16, 3\) for a 16 x 16 input"):
        run_eval(Same(), [data], size=32)


def test_limit_and_progress(tmp_path):
    data = write_images(tmp_path / "d", {f"{i}.png": (32, 32) for i in range(4)})
    calls = []
    result = run_eval(MirrorModel(), [data], size=32, limit=2, progress=lambda d, t: calls.append((d, t)))
    assert result["n_cases"] == 2 and calls == [(1, 2), (2, 2)]


# ---------------------------------------------------------------- perceptual metrics

def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 4))
    mu, cov = perceptual.gaussian_of(x)
    assert perceptual.frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0.0, 0.0])
    assert perceptual.frechet_distance(mu + shift, cov, mu, cov) == pytest.approx(5.0, abs=1e-6)
    # 1-D Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2
    assert perceptual.frechet_distance(np.zeros(1), np.eye(1) * 4.0, np.ones(1), np.eye(1)) == pytest.approx(2.0)


def test_perceptual_metrics_flow_into_the_report_when_available(tmp_path, monkeypatch):
    # No weights here: small fake networks stand in for LPIPS and Inception, to check that the
    # numbers reach the JSON and the table when the weights are present.
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(perceptual, "availability", lambda: {n: None for n in perceptual.NAMES})

    def fake_lpips(self):
        return lambda a, b, normalize: (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)

    def fake_inception(self):
        return (lambda x: [x[:, :, ::2, ::2]], lambda x: [x.mean(dim=(2, 3))])

    monkeypatch.setattr(perceptual.Perceptual, "_lpips_net", fake_lpips)
    monkeypatch.setattr(perceptual.Perceptual, "_inception_net", fake_inception)
    data = write_images(tmp_path / "d", {f"{i}.png": (32, 32) for i in range(3)})
    result = run_eval(MirrorModel(), [data], size=32, device="cpu")
    agg = result["aggregate"]
    assert result["unavailable"] == {}
    assert agg["mirror"]["lpips"]["mean"] > 0 and agg["mirror"]["sifid"]["mean"] > 0
    assert agg["model"]["fid"] == {"value": pytest.approx(agg["mirror"]["fid"]["value"]), "n": 3}
    assert "unavailable" not in report.markdown(result).split("\n\n")[2].splitlines()[2]
    del torch


# ---------------------------------------------------------------- model adapters and CLI

def tiny_onnx(path: Path) -> Path:
    """An ONNX file honouring the model contract (transposer.runtime.synthetic "edge": the input at
    the centre of its 2x canvas, the frame by edge replication, truthful `coords`), named "tiny"."""
    import onnx

    from transposer.runtime.synthetic import build_synthetic_model

    model = build_synthetic_model("edge", input_multiple=8)
    for entry in model.metadata_props:
        if entry.key == "transposer.name":
            entry.value = "tiny"
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def cli_entry():
    """The `transposer` group when it exists (so the lazy loading is tested too), else the command."""
    try:
        from transposer.cli import main
        return main, ["eval"]
    except ImportError:
        from transposer.commands.eval import command
        return command, []


def run_cli(args):
    entry, prefix = cli_entry()
    return CliRunner().invoke(entry, prefix + args, catch_exceptions=False)


def check_cli_report(result, out: Path, model_name: str, provider_word: str):
    assert result.exit_code == 0, result.output
    assert f"| model: {model_name} |" in result.stdout
    assert "LPIPS: unavailable: weights not found" in result.stdout
    saved = json.loads((out / "report.json").read_text())
    assert saved["n_cases"] == 2 and provider_word in str(saved["model"]["provider"])
    # Reflect/mirror padding keeps the given centre exactly.
    assert saved["aggregate"]["model"]["centre_ssim"]["mean"] == pytest.approx(1.0, abs=1e-4)
    assert len(list((out / "sheets").iterdir())) == 2


def test_cli_onnx_model_through_real_runtime(tmp_path):
    data = write_images(tmp_path / "d", {"a.png": (40, 40), "b.png": (32, 32)})
    onnx_path = tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "rep"
    result = run_cli(["--model", str(onnx_path), "--data", str(data), "--size", "32", "--report", str(out),
                      "--device", "cpu"])
    check_cli_report(result, out, "tiny", "CPU")
    assert isinstance(load_model(str(onnx_path)), OnnxModel)
    with pytest.raises(EvalError, match="--model nope: model must be a registered name"):
        load_model("nope")


class TorchMirror:
    """Built lazily (torch is optional for eval): an nn.Module doing reflect padding."""

    @staticmethod
    def make():
        import torch

        class Mirror(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = torch.nn.Parameter(torch.ones(1))

            def forward(self, x):
                h, w = x.shape[-2:]
                return torch.nn.functional.pad(x, (w // 2, w // 2, h // 2, h // 2), mode="reflect") * self.scale

        return Mirror()


def test_cli_snapshot_through_a_monkeypatched_loader(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import transposer.model as model_pkg

    loaded = []
    monkeypatch.setattr(model_pkg, "load_snapshot", lambda p: loaded.append(p) or TorchMirror.make(), raising=False)
    snap = tmp_path / "step100.safetensors"
    snap.write_bytes(b"stub")
    data = write_images(tmp_path / "d", {"a.png": (40, 40), "b.png": (32, 32)})
    out = tmp_path / "rep"
    result = run_cli(["--model", str(snap), "--data", str(data), "--size", "32", "--report", str(out),
                      "--device", "cpu"])
    check_cli_report(result, out, "step100", "cpu")
    assert loaded == [str(snap)]
    assert json.loads((out / "report.json").read_text())["model"]["kind"] == "snapshot"


def test_cli_real_snapshot(tmp_path):
    torch = pytest.importorskip("torch")
    try:
        from transposer.model import build_model
        from transposer.model.snapshot import save_snapshot
    except ImportError:
        pytest.skip("transposer.model snapshots not written yet")
    torch.manual_seed(0)
    net = build_model("tiny")
    snap = tmp_path / "snap.safetensors"
    save_snapshot(snap, net, net.config)
    data = write_images(tmp_path / "d", {"a.png": (32, 32)})
    result = run_cli(["--model", str(snap), "--data", str(data), "--size", "32", "--json",
                      str(tmp_path / "r.json"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["model"]["kind"] == "snapshot" and saved["n_cases"] == 1


def test_live_module_keeps_its_training_mode():
    torch = pytest.importorskip("torch")
    net = TorchMirror.make().train()
    model = load_model(net)
    assert isinstance(model, TorchModel)
    batch = texture(16)[None]
    out = model.expand(batch)
    assert out.shape == (1, 32, 32, 3) and net.training
    np.testing.assert_allclose(out[0, 8:24, 8:24], batch[0], atol=1e-6)
    del torch


def test_cli_bad_input_is_one_line_and_nonzero(tmp_path, monkeypatch):
    data = write_images(tmp_path / "d", {"a.png": (32, 32)})
    for args, needle in [
        (["--data", str(data), "--size", "30", "--model", "x.onnx"], "--size must be a multiple of 4"),
        (["--data", str(tmp_path / "missing")], "--data: not a folder"),
        (["--data", str(data), "--size", "64", "--model", str(tiny_onnx(tmp_path / "t.onnx"))],
         "no usable images"),
        (["--data", str(data), "--model", str(tmp_path / "none.safetensors")], "snapshot not found"),
    ]:
        result = CliRunner().invoke(cli_entry()[0], cli_entry()[1] + args)
        assert result.exit_code != 0
        assert needle in result.output and "Traceback" not in result.output
        assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1


def test_eval_with_an_onnx_style_model_never_imports_torch(tmp_path):
    # `transposer eval` must work on a runtime-only install (numpy, Pillow, onnxruntime, eval extra).
    import subprocess

    data = write_images(tmp_path / "d", {"a.png": (32, 32)})
    code = (
        "import sys, numpy as np\n"
        "from transposer.eval import run_eval\n"
        "class M:\n"
        "    name = 'm'\n"
        "    def expand(self, b):\n"
        "        return np.pad(b, ((0, 0), (8, 8), (8, 8), (0, 0)), mode='symmetric')\n"
        f"run_eval(M(), [{str(data)!r}], size=32, report_dir={str(tmp_path / 'rep')!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rep" / "report.md").is_file()
