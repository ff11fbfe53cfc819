"""export/ship.py's record of how a shipped model was trained: a fine-tuning run counts the runs
behind the snapshot it started from (train.init)."""
from __future__ import annotations

import dataclasses
import json

from export.ship import _lineage
from transposer.model import build_model
from transposer.model.snapshot import save_snapshot
from transposer.train.config import dump_config, load_config


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
