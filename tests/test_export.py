"""ONNX export (export/onnx.py): one export of the tiny model, reused by every test here; the graph
follows the model contract in docs/design.md and onnxruntime agrees with PyTorch at a size and
batch the exporter's own parity check did not use."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from export import onnx as export_onnx
from transposer import __version__
from transposer.model import ModelConfig, build_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, path, export report, parity report or the exporter's parity error).

    Exported without the built-in check and checked right after by the same verify_parity that
    export() calls in between (so a parity failure fails one test, not the whole file)."""
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    path = tmp_path_factory.mktemp("export") / "m.onnx"
    report = export_onnx.export(model, path, verify=False)
    try:
        parity = export_onnx.verify_parity(model, path)
    except RuntimeError as exc:
        parity = exc
    return model, path, report, parity


# The one export takes ~30 s on a busy 2-core machine: the tests that use it are "slow" (still CI).
@pytest.mark.slow
def test_export_writes_the_file_and_passes_parity(exported):
    model, path, report, parity = exported
    assert path.is_file() and not path.with_name(path.name + ".tmp").exists()
    assert report["bytes"] == path.stat().st_size < 16 * 2**20
    assert not isinstance(parity, Exception), str(parity)
    assert len(parity) == 2 and any(k.endswith("-wrap") for k in parity)   # two sizes, one seamless
    for key, diffs in parity.items():
        assert diffs["output_max_abs"] < 1e-3, key
        assert diffs["coords_max_rel"] < 1e-3, key


@pytest.mark.slow
def test_metadata_describes_the_model(exported):
    import onnx

    model, path = exported[:2]
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["transposer.name"] == "tiny"
    assert meta["transposer.version"] == __version__
    assert meta["transposer.scale"] == "2"
    assert meta["transposer.input_multiple"] == str(model.config.input_multiple) == "8"
    assert meta["transposer.config_hash"] == model.config.hash()
    assert ModelConfig.from_dict(json.loads(meta["transposer.config"])) == model.config
    assert [i.name for i in proto.graph.input] == ["image", "wrap", "noise_mix", "noise"]
    assert [o.name for o in proto.graph.output] == ["output", "coords"]


@pytest.mark.slow
@pytest.mark.parametrize("wrap, noise_mix", [((0, 0), 0.0), ((0, 1), 1.0)], ids=["plain", "wrap-x-noise"])
def test_onnxruntime_matches_torch_at_a_new_size_and_batch(exported, wrap, noise_mix):
    import onnxruntime as ort

    model, path = exported[:2]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    h, w = 40, 56                       # neither of the exporter's sizes (64 x 64, 48 x 80), batch 2
    feed = export_onnx._example_inputs(2, h, w, wrap, seed=1, noise_mix=noise_mix, noise_size=(7, 9))
    out, coords = sess.run(["output", "coords"], feed)
    assert out.shape == (2, 3, 2 * h, 2 * w) and coords.shape == (2, 2, 2 * h, 2 * w)
    graph = export_onnx.ExportWrapper.build(model)
    with torch.no_grad():
        args = (torch.from_numpy(feed[k]) for k in ("image", "wrap", "noise_mix", "noise"))
        want_out, want_coords = graph(*args)
    assert np.abs(out - want_out.numpy()).max() < 1e-3
    assert np.abs(coords - want_coords.numpy()).max() / max(h, w) < 1e-3
    assert out.min() >= 0.0 and out.max() <= 1.0
    if not noise_mix:
        # the contract: the centre reproduces the input (here away from its border, see test_model)
        centre = out[:, :, h // 2 + 4: h // 2 + h - 4, w // 2 + 4: w // 2 + w - 4]
        assert np.abs(centre - feed["image"][:, :, 4:-4, 4:-4]).mean() < 0.01
    else:
        # the noise input really drives the graph
        feed["noise"] = -feed["noise"]
        assert np.abs(sess.run(["output"], feed)[0] - out).mean() > 1e-3


def test_cli_missing_checkpoint_is_one_error_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "export.onnx", "--checkpoint", "missing", "--out", "x.onnx"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "missing" in lines[0], result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "x.onnx").exists()


def test_cli_rejects_bad_options_before_any_work(tmp_path, capsys):
    snapshot = tmp_path / "snapshot.safetensors"
    snapshot.write_bytes(b"not read: the options are checked first")
    out = str(tmp_path / "m.onnx")
    assert export_onnx.main(["--checkpoint", str(snapshot), "--out", out, "--opset", "17"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--opset" in err[0] and "17" in err[0]
    assert export_onnx.main(["--checkpoint", str(tmp_path), "--out", str(tmp_path / "no" / "m.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and str(tmp_path / "no") in err[0]
    assert not list(tmp_path.glob("**/*.onnx*"))
