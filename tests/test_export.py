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


# ---------------------------------------------------------------------------- `transposer export`
# Through the real click group (transposer.cli), with export.onnx.export replaced by a synthetic
# model: the export itself is tested above; these check the command's wiring and its errors.

def _cli(*args):
    from click.testing import CliRunner

    from transposer.cli import cli

    return CliRunner().invoke(cli, ["export", *args])


@pytest.fixture
def fake_export(monkeypatch):
    """export.onnx.export writing the synthetic "tile" model and recording how it was called."""
    from transposer.runtime.session import sha256
    from transposer.runtime.synthetic import write_synthetic_model

    calls = []

    def fake(model, out_path, opset=18, fp16=False, name=None, **_):
        calls.append({"config": model.config.name, "opset": opset, "fp16": fp16, "name": name})
        write_synthetic_model(out_path, "tile")
        return {"1x64x64": {"output_max_abs": 0.0}, "sha256": sha256(out_path), "bytes": out_path.stat().st_size}

    monkeypatch.setattr(export_onnx, "export", fake)
    return calls


@pytest.fixture
def run_folder(tmp_path):
    from transposer.model.snapshot import save_snapshot

    run = tmp_path / "run"
    run.mkdir()
    model = build_model("tiny")
    save_snapshot(run / "snapshot.safetensors", model, model.config, metadata={"step": 7})
    (run / "runs.jsonl").write_text(json.dumps({"end_step": 7, "device": "cpu", "wall_seconds": 2.0}) + "\n")
    return run


def test_transposer_export_writes_the_file_and_prints_the_report(tmp_path, fake_export, run_folder):
    out = tmp_path / "m.onnx"
    result = _cli("--checkpoint", str(run_folder / "snapshot.safetensors"), "--out", str(out),
                  "--fp16", "--opset", "19")
    assert result.exit_code == 0, result.output
    assert fake_export == [{"config": "tiny", "opset": 19, "fp16": True, "name": None}]
    report = json.loads(result.stdout)
    from transposer.runtime.session import sha256

    assert report["sha256"] == sha256(out) and report["bytes"] == out.stat().st_size


def test_transposer_export_ship_installs_into_the_registry(tmp_path, fake_export, run_folder, monkeypatch):
    from export import ship as ship_module
    from transposer.runtime import session

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(ship_module, "MODELS_DIR", models)   # never the package's own registry
    result = _cli("--checkpoint", str(run_folder), "--ship", "mine", "--provisional")
    assert result.exit_code == 0, result.output
    registry = json.loads((models / "registry.json").read_text())
    assert registry["mine"]["file"] == "mine.onnx" and registry["mine"]["provisional"] is True
    assert registry["mine"]["sha256"] == session.sha256(models / "mine.onnx")
    assert registry["mine"]["training"]["steps"] == 7


@pytest.mark.parametrize("args, message", [
    ([], "give exactly one of --out FILE.onnx or --ship NAME"),
    (["--out", "OUT/m.onnx", "--ship", "x"], "give exactly one of --out"),
    (["--out", "OUT/m.txt"], "--out must end in .onnx; got 'm.txt'"),
    (["--out", "OUT/nowhere/m.onnx"], "output folder"),
    (["--out", "OUT/m.onnx", "--opset", "17"], "--opset"),
    (["--ship", "x", "--fp16"], "--fp16 and --opset apply to --out only"),
    (["--ship", "../x"], "--name must be letters"),
    (["--ship", "x", "--checkpoint-is-file"], "--ship needs a run folder"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_transposer_export_errors_are_one_line(tmp_path, fake_export, run_folder, monkeypatch, args, message):
    from export import ship as ship_module

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(ship_module, "MODELS_DIR", models)
    checkpoint = str(run_folder)
    if "--checkpoint-is-file" in args:
        args = [a for a in args if a != "--checkpoint-is-file"]
        checkpoint = str(run_folder / "snapshot.safetensors")
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    result = _cli("--checkpoint", checkpoint, *args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output and fake_export == []
    assert not list(tmp_path.glob("*.onnx")) and not list(models.iterdir())


def test_transposer_export_missing_checkpoint_is_one_line(tmp_path):
    result = _cli("--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "m.onnx"))
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "missing" in lines[0], result.stderr
