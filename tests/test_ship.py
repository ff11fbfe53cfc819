"""export/ship.py: the record of how a shipped model was trained (a fine-tuning run counts the
runs behind the snapshot it started from), and the all-or-nothing install: a ship killed at any
point, or failing, leaves a registry whose model the runtime loads with a matching sha256.

The kill tests run the real `export.ship` main in a subprocess that SIGKILLs itself at a chosen
step (export.ship.KILL_ENV). Only the torch -> ONNX export is replaced, by a synthetic model
(tests/test_export.py covers the export; on a 2-core machine it takes over a minute)."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export import ship as ship_module
from export.ship import _lineage
from transposer.model import build_model
from transposer.model.snapshot import save_snapshot
from transposer.runtime import session as session_module
from transposer.runtime.synthetic import write_synthetic_model
from transposer.train.config import dump_config, load_config

REPO = Path(__file__).resolve().parents[1]

# `python -m export.ship ARGS` with export.onnx.export writing the synthetic "tile" model.
SHIP_WITH_FAKE_EXPORT = """
import sys
import export.onnx
from transposer.runtime.session import sha256
from transposer.runtime.synthetic import write_synthetic_model

def fake_export(model, out_path, name=None, **_):
    write_synthetic_model(out_path, "tile")
    return {"1x64x64": {"output_max_abs": 0.0}, "sha256": sha256(out_path),
            "bytes": out_path.stat().st_size}

export.onnx.export = fake_export
from export.ship import main
sys.exit(main(sys.argv[1:]))
"""


def _run(folder, step, records, init=""):
    folder.mkdir()
    model = build_model("tiny")
    save_snapshot(folder / "snapshot.safetensors", model, model.config, metadata={"step": step})
    cfg = dataclasses.replace(load_config("tiny"), init=init)
    (folder / "config.toml").write_text(dump_config(cfg))
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_lineage_follows_init_back_to_the_base_run(tmp_path):
    _run(tmp_path / "base", 424, [{"end_step": 424, "device": "cpu"}])
    _run(tmp_path / "ft", 300, [{"end_step": 200, "device": "cpu"}, {"end_step": 300, "device": "cuda"}],
         init=str(tmp_path / "base" / "snapshot.safetensors"))
    history, steps = _lineage(tmp_path / "ft")
    assert steps == 724
    assert [h["end_step"] for h in history] == [424, 200, 300]
    history, steps = _lineage(tmp_path / "base")
    assert steps == 424 and len(history) == 1


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A models folder shipping the synthetic "edge" model as `default` beside a second model,
    and the runtime pointed at it. Returns (folder, sha256 of the old default)."""
    models = tmp_path / "models"
    models.mkdir()
    old = session_module.sha256(write_synthetic_model(models / "default.onnx", "edge"))
    other = session_module.sha256(write_synthetic_model(models / "other.onnx", "edge", input_multiple=16))
    (models / "registry.json").write_text(json.dumps({
        "default": {"file": "default.onnx", "sha256": old, "description": "the old one"},
        "other": {"file": "other.onnx", "sha256": other}}))
    monkeypatch.setattr(session_module, "MODELS_DIR", models)
    monkeypatch.setattr(session_module, "REGISTRY", models / "registry.json")
    return models, old


def _loads(name="default") -> str:
    """What the runtime does with a registry name: resolve it (sha256 checked) and run it.
    Returns the file's sha256."""
    import onnxruntime as ort

    resolved = session_module.resolve_model(name)
    sess = ort.InferenceSession(str(resolved.path), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    out, _ = sess.run(None, {"image": image, "wrap": np.zeros(2, np.float32),
                             "noise_mix": np.zeros(1, np.float32), "noise": np.zeros((1, 1, 5, 5), np.float32)})
    assert out.shape == (1, 3, 32, 32)
    return session_module.sha256(resolved.path)


def _ship_subprocess(run, models, kill_at=None, *extra):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(ship_module.KILL_ENV, None)
    if kill_at:
        env[ship_module.KILL_ENV] = kill_at
    args = ["--models-dir", str(models), *(["--run", str(run)] if run else []), *extra]
    return subprocess.run([sys.executable, "-c", SHIP_WITH_FAKE_EXPORT, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def _leftovers(models):
    return sorted(p.name for p in models.iterdir() if p.name.startswith("."))


# Killed after these steps the registry names the staged file: --recover finishes the install.
STEPS_BEFORE_FINAL = ("registry-names-staged", "model-replaced")


@pytest.mark.parametrize("kill_at", ship_module.STEPS)
def test_a_ship_killed_at_any_step_leaves_a_model_the_runtime_loads(tmp_path, shipped, kill_at):
    models, old = shipped
    _run(tmp_path / "run", 10, [{"end_step": 10, "device": "cpu"}])
    new = session_module.sha256(write_synthetic_model(tmp_path / "new.onnx", "tile"))
    assert new != old

    killed = _ship_subprocess(tmp_path / "run", models, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    committed = ship_module.STEPS.index(kill_at) >= ship_module.STEPS.index("registry-names-staged")
    assert _loads() == (new if committed else old)          # never a missing or mismatched file
    assert _loads("other") == session_module.sha256(models / "other.onnx")
    if not committed:
        assert session_module.registry()["default"]["description"] == "the old one"

    finished = _ship_subprocess(None, models, None, "--recover")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["finished"] == (["default"] if kill_at in STEPS_BEFORE_FINAL else [])
    assert _loads() == (new if committed else old)
    assert session_module.registry()["default"]["file"] == "default.onnx"
    assert _leftovers(models) == []


def test_a_whole_ship_installs_the_model_and_records_its_snapshot(tmp_path, shipped):
    models, old = shipped
    _run(tmp_path / "run", 10, [{"end_step": 10, "device": "cpu", "wall_seconds": 3.5}])
    result = _ship_subprocess(tmp_path / "run", models, None, "--provisional")
    assert result.returncode == 0, result.stderr
    entry = session_module.registry()["default"]
    assert _loads() == entry["sha256"] != old
    assert entry["file"] == "default.onnx" and entry["provisional"] is True
    assert entry["snapshot"] == str((tmp_path / "run" / "snapshot.safetensors").resolve())
    assert entry["snapshot_sha256"] == session_module.sha256(tmp_path / "run" / "snapshot.safetensors")
    assert entry["training"] == {"runs": 1, "steps": 10, "wall_seconds": 3.5, "devices": ["cpu"]}
    assert _leftovers(models) == []


@pytest.mark.parametrize("failure", ["export", "too-large", "not-the-contract"])
def test_a_failing_ship_leaves_the_shipped_model_as_it_was(tmp_path, shipped, monkeypatch, failure):
    import export.onnx

    models, old = shipped
    registry_before = (models / "registry.json").read_bytes()
    _run(tmp_path / "run", 10, [])

    def fake_export(model, out_path, name=None, **_):
        if failure == "export":
            out_path.write_bytes(b"half a model")
            raise RuntimeError("ONNX/PyTorch mismatch at 1x64x64")
        if failure == "not-the-contract":   # an ONNX file, but not one the runtime can use
            import onnx
            from onnx import TensorProto, helper

            x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
            graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
            onnx.save(helper.make_model(graph), str(out_path))
        else:
            write_synthetic_model(out_path, "tile")
        return {"sha256": session_module.sha256(out_path), "bytes": out_path.stat().st_size}

    monkeypatch.setattr(export.onnx, "export", fake_export)
    if failure == "too-large":
        monkeypatch.setattr(ship_module, "MAX_BYTES", 100)
    with pytest.raises((RuntimeError, ValueError), match={"export": "mismatch", "too-large": "over the 100",
                                                          "not-the-contract": "the runtime needs"}[failure]):
        ship_module.ship(tmp_path / "run", "default", False, "new", models_dir=models)
    assert (models / "registry.json").read_bytes() == registry_before
    assert _loads() == old and _leftovers(models) == []


def test_bad_names_and_missing_runs_are_one_line_errors(tmp_path, shipped, capsys):
    models, _ = shipped
    _run(tmp_path / "run", 10, [])
    assert ship_module.main(["--run", str(tmp_path / "run"), "--name", "../evil", "--models-dir", str(models)]) == 1
    assert ship_module.main(["--run", str(tmp_path / "nothing"), "--models-dir", str(models)]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("Error: ") for e in errors)
    assert "--name must be" in errors[0] and "no snapshot at" in errors[1]


def test_the_shipped_registry_names_committed_files():
    """The package's own registry: the model file is there with its sha256, and the snapshot it
    was exported from is committed once, in its run folder under checkpoints/."""
    registry = json.loads((REPO / "transposer" / "runtime" / "models" / "registry.json").read_text())
    for name, entry in registry.items():
        model = REPO / "transposer" / "runtime" / "models" / entry["file"]
        assert entry["file"] == f"{name}.onnx" and model.is_file()
        assert session_module.sha256(model) == entry["sha256"]
        snapshot = REPO / entry["snapshot"]
        assert entry["snapshot"].startswith("checkpoints/") and snapshot.is_file(), entry["snapshot"]
        assert session_module.sha256(snapshot) == entry["snapshot_sha256"]
    assert not list((REPO / "transposer" / "runtime" / "models").glob("*.safetensors"))
