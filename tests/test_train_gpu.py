"""The GPU-lease kit: scripts/pack_for_gpu.py packs, scripts/gpu_session.sh runs every stage.

A lease is 15 minutes and starts bare, so the kit must work the first time there; these tests run
it end to end on the CPU with tiny sizes (SMOKE=1) over a synthetic pack.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
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


def test_gpu_session_smoke_runs_every_stage_and_packs_the_results(pack, tmp_path):
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = dict(os.environ, SMOKE="1", DEVICE="cpu", PACK=str(pack), RUNS=str(runs), OUT=str(out),
               PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_session.sh")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    log = (out / "log.txt").read_text() if (out / "log.txt").exists() else proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "failed stages: 0" in log

    # What comes back fits the device tool: at most 8 files, none over 16 MiB.
    files = sorted(p for p in out.iterdir())
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in files), files
    with tarfile.open(out / "results.tar") as tar:
        names = set(tar.getnames())
        assert {"bench_train.json", "eval-gpu-encoder.json", "eval-gpu-decoder.json", "eval-shipped.json"} <= names
        bench = json.load(tar.extractfile("bench_train.json"))
        report = json.load(tar.extractfile("eval-gpu-decoder.json"))
    assert bench["benchmark"] == "train_step" and bench["samples_per_s"] > 0
    assert bench["vgg_weights"] == "random (timing only)"
    assert "model" in json.dumps(report)

    # Stage 2 started from stage 1 and froze the copy choice; both come back whole.
    for name in ("gpu-encoder", "gpu-decoder"):
        pieces = sorted(out.glob(f"{name}.tar.*"))
        assert pieces, name
        joined = tmp_path / f"{name}.tar"
        joined.write_bytes(b"".join(p.read_bytes() for p in pieces))
        with tarfile.open(joined) as tar:
            members = set(tar.getnames())
        assert {f"{name}/state.pt", f"{name}/snapshot.safetensors", f"{name}/config.toml"} <= members
    decoder_config = (runs / "gpu-decoder" / "config.toml").read_text()
    assert str(runs / "gpu-encoder" / "snapshot.safetensors") in decoder_config
    assert "map2" in decoder_config and '"ranked"' in decoder_config


def test_gpu_session_refuses_without_a_pack(tmp_path):
    env = dict(os.environ, PACK=str(tmp_path / "nothing"), RUNS=str(tmp_path / "runs"),
               OUT=str(tmp_path / "out"), PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_session.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1


def test_pack_for_gpu_shrinks_the_train_split_and_cuts_vgg(tmp_path, monkeypatch):
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
        import pack_for_gpu
    finally:
        sys.path.pop(0)
    rc = pack_for_gpu.main(["--corpus", str(corpus), "--out", str(tmp_path / "pack"), "--side", "128"])
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
    assert pack_for_gpu.main(["--corpus", str(empty), "--out", str(tmp_path / "pack")]) == 1
    assert len(list((tmp_path / "pack" / "train").iterdir())) == 3
    assert not (tmp_path / "pack.tmp").exists()
