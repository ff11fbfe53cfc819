"""The GPU training recipe (docs/gpu_training.md): scripts/pack_data.py packs the data,
scripts/train_gpu.sh runs every stage. Tested end to end on the CPU with tiny sizes (SMOKE=1)
over a synthetic pack, so the recipe works the first time it meets a GPU machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _images(folder: Path, count: int, side: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        # Smooth noise with some structure: enough for the losses and metrics to be finite.
        base = rng.random((side // 8, side // 8, 3))
        img = np.kron(base, np.ones((8, 8, 1))) * 0.7 + rng.random((side, side, 3)) * 0.3
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"img_{i}.png")


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    import torch

    from transposer.model.vgg import VGGFeatures

    root = tmp_path_factory.mktemp("pack")
    _images(root / "train", 4, 160, 0)
    _images(root / "val", 2, 264, 1)
    torch.save({k: v.half() for k, v in VGGFeatures("relu3_1").state_dict().items()}, root / "vgg.pth")
    return root


def _script(env):
    return subprocess.run(["bash", str(ROOT / "scripts" / "train_gpu.sh")], env=env,
                          capture_output=True, text=True, timeout=600)


def test_train_gpu_smoke_runs_every_stage(pack, tmp_path):
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = dict(os.environ, SMOKE="1", DEVICE="cpu", DATA=str(pack), RUNS=str(runs), OUT=str(out),
               PYTHON=sys.executable)
    env.pop("TRANSPOSER_VGG_WEIGHTS", None)     # the pack's vgg.pth is found by the script
    proc = _script(env)
    log = (out / "log.txt").read_text() if (out / "log.txt").exists() else proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "failed stages: 0" in log

    names = {p.name for p in out.iterdir()}
    assert {"log.txt", "bench_train.json", "eval-gpu-encoder.json", "eval-gpu-decoder.json",
            "eval-shipped.json"} <= names
    bench = json.loads((out / "bench_train.json").read_text())
    assert bench["benchmark"] == "train_step" and bench["samples_per_s"] > 0
    assert bench["vgg_weights"] == "random (timing only)"
    report = json.loads((out / "eval-gpu-decoder.json").read_text())
    assert report["n_cases"] == 2 and "model" in report["methods"]   # both val images
    shipped = json.loads((out / "eval-shipped.json").read_text())
    assert shipped["model"]["source"].endswith("checkpoints/default-cpu-finetune/snapshot.safetensors")

    # Both runs are whole run folders (resumable); stage 2 started from stage 1 and froze the
    # copy choice.
    for name in ("gpu-encoder", "gpu-decoder"):
        assert {"state.pt", "snapshot.safetensors", "config.toml"} <= {p.name for p in (runs / name).iterdir()}
    decoder_config = (runs / "gpu-decoder" / "config.toml").read_text()
    assert str(runs / "gpu-encoder" / "snapshot.safetensors") in decoder_config
    assert "map2" in decoder_config and '"ranked"' in decoder_config


def test_train_gpu_refuses_without_data(tmp_path):
    env = dict(os.environ, DATA=str(tmp_path / "nothing"), RUNS=str(tmp_path / "runs"),
               OUT=str(tmp_path / "out"), PYTHON=sys.executable)
    proc = _script(env)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: DATA=") and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_pack_data_shrinks_the_train_split_and_cuts_vgg(tmp_path, monkeypatch):
    import torch

    from transposer.model.vgg import ENV_VAR, VGGFeatures

    # A full-depth weights file in the loader's own format (random values: the packing is tested,
    # not VGG), found through the environment variable as on a user's machine.
    full = tmp_path / "vgg_full.pth"
    torch.save(VGGFeatures("relu5_1").state_dict(), full)
    monkeypatch.setenv(ENV_VAR, str(full))
    corpus = tmp_path / "corpus"
    _images(corpus / "train", 3, 320, 2)
    _images(corpus / "val", 1, 264, 3)
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import pack_data
    finally:
        sys.path.pop(0)
    rc = pack_data.main(["--corpus", str(corpus), "--out", str(tmp_path / "pack"), "--side", "128"])
    assert rc == 0
    train = sorted((tmp_path / "pack" / "train").iterdir())
    assert len(train) == 3 and all(max(Image.open(p).size) <= 128 for p in train)
    assert len(list((tmp_path / "pack" / "val").iterdir())) == 1

    from transposer.model.vgg import load_vgg19_features

    sd = torch.load(tmp_path / "pack" / "vgg.pth", weights_only=True)
    assert all(v.dtype == torch.float16 for v in sd.values())
    assert not any("conv3_2" in k or "conv4" in k for k in sd)               # cut after relu3_1
    assert torch.equal(sd["convs.conv2_1.weight"], torch.load(full, weights_only=True)["convs.conv2_1.weight"].half())
    net = load_vgg19_features(tmp_path / "pack" / "vgg.pth", "relu3_1")   # loads: nothing missing
    assert net.last_layer == "relu3_1"

    # A failed repack (here: no train images) says so in one line and keeps the previous pack.
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "val").mkdir()
    assert pack_data.main(["--corpus", str(empty), "--out", str(tmp_path / "pack")]) == 1
    assert len(list((tmp_path / "pack" / "train").iterdir())) == 3
    assert not (tmp_path / "pack.tmp").exists()
