"""Blind side-by-side comparison: `transposer eval pairs` sheets and key, `transposer eval score`.

Tiny synthetic images (S = 32) in tmp_path; methods are baselines or folders of made-up outputs, so
the file runs in seconds without the shipped model.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from transposer.cli import main
from transposer.eval import EvalError
from transposer.eval.blind_methods import parse_method
from transposer.eval.blind_score import parse_answers, score, sign_test, wilson
from transposer.eval.blind_sheets import make_pairs, sheet_boxes

S = 32


def images(folder: Path, count: int, size: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(folder / f"img{i:02d}.png")
    return folder


def flat_outputs(folder: Path, data: Path, value: int) -> Path:
    """A folder method whose every output is one flat grey level (0 black, 255 white)."""
    folder.mkdir(parents=True)
    for path in data.iterdir():
        Image.fromarray(np.full((S, S, 3), value, np.uint8)).save(folder / f"{path.stem}.png")
    return folder


def cli(args):
    result = CliRunner().invoke(main, ["eval", *args])
    return result


def panel(sheet: np.ndarray, name: str) -> np.ndarray:
    x, y, w, h = sheet_boxes(S)[name]
    return sheet[y:y + h, x:x + w]


def png_chunks(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        assert zlib.crc32(data[at + 4:at + 8 + length]) == int.from_bytes(data[at + 8 + length:at + 12 + length], "big")
        chunks.append(kind)
        at += 12 + length
    return chunks


@pytest.fixture
def black_white(tmp_path):
    data = images(tmp_path / "data", 10)
    black = flat_outputs(tmp_path / "black", data, 0)
    white = flat_outputs(tmp_path / "white", data, 255)
    (tmp_path / "cmp").mkdir()
    key = make_pairs(f"folder:{black}", str(white), [data], tmp_path / "sheets", tmp_path / "cmp" / "key.json",
                     size=S, n=8, seed=3, judges=2)
    return tmp_path, key


def test_sides_on_the_sheet_match_the_key_and_are_shuffled(black_white):
    tmp_path, key = black_white
    assert key["methods"]["A"].startswith("folder:") and key["methods"]["A"].endswith("black")
    orders = {}
    for name, entry in key["sets"].items():
        sides = []
        for sheet_id, truth in entry["sheets"].items():
            with Image.open(tmp_path / "sheets" / name / f"{sheet_id}.png") as im:
                sheet = np.asarray(im.convert("RGB"))
            assert sheet.shape[:2][::-1] == sheet_boxes(S)["sheet"][2:]
            left, right = panel(sheet, "left"), panel(sheet, "right")
            white_side = "left" if (left == 255).all() else "right"
            assert ((right if white_side == "left" else left) == 0).all()
            assert truth[white_side] == "B" and truth["right" if white_side == "left" else "left"] == "A"
            sides.append(white_side)
        # Balanced sides, and every case once per judge.
        assert sides.count("left") == sides.count("right") == 4
        assert sorted(e["case"] for e in entry["sheets"].values()) == sorted(
            e["case"] for e in key["sets"]["judge1"]["sheets"].values())
        orders[name] = [(e["case"], e["left"]) for e in entry["sheets"].values()]
    assert orders["judge1"] != orders["judge2"]           # independent order and sides per judge


def test_sheet_shows_the_input_at_2x_and_no_method_hint(black_white):
    tmp_path, key = black_white
    sheet_path = tmp_path / "sheets" / "judge1" / "001.png"
    # Only image data in the PNG: no tEXt / iTXt / zTXt / tIME / eXIf chunks that could name a method.
    assert set(png_chunks(sheet_path)) <= {b"IHDR", b"IDAT", b"IEND"}
    with Image.open(sheet_path) as im:
        assert not im.info or set(im.info) <= {"dpi"}
        sheet = np.asarray(im.convert("RGB"))
    case = key["sets"]["judge1"]["sheets"]["001"]["case"]
    with Image.open(tmp_path / "data" / case) as im:
        source = np.asarray(im.convert("RGB"))
    given = source[4 + S // 4:4 + 3 * S // 4, 4 + S // 4:4 + 3 * S // 4]   # centre S of 40, its centre S/2
    np.testing.assert_array_equal(panel(sheet, "input"), given.repeat(2, axis=0).repeat(2, axis=1))
    # Sheet names say nothing: numbers only, in judge folders; the key lies outside the sheets.
    names = sorted(p.relative_to(tmp_path / "sheets").as_posix() for p in (tmp_path / "sheets").rglob("*"))
    assert names == ["judge1", *[f"judge1/{i:03d}.png" for i in range(1, 9)],
                     "judge2", *[f"judge2/{i:03d}.png" for i in range(1, 9)]]
    assert not list((tmp_path / "sheets").rglob("*.json"))


def test_key_inside_sheets_and_existing_outputs_are_refused(tmp_path):
    data = images(tmp_path / "data", 3)
    args = ["pairs", "--a", "mirror", "--b", "wrap", "--data", str(data), "--size", str(S), "--n", "3"]
    inside = cli(args + ["--sheets", str(tmp_path / "s"), "--key", str(tmp_path / "s" / "judge1" / "key.json")])
    assert inside.exit_code == 1 and "inside the sheets folder" in inside.output
    assert not (tmp_path / "s").exists()
    ok = cli(args + ["--sheets", str(tmp_path / "s"), "--key", str(tmp_path / "key.json")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "renders" / "baseline-mirror_s32" / "img00.png").is_file()   # cached beside the key
    before = (tmp_path / "s" / "judge1" / "001.png").read_bytes()
    again = cli(args + ["--sheets", str(tmp_path / "s"), "--key", str(tmp_path / "key2.json")])
    assert again.exit_code == 1 and "--sheets" in again.output and "not empty" in again.output
    again = cli(args + ["--sheets", str(tmp_path / "s2"), "--key", str(tmp_path / "key.json")])
    assert again.exit_code == 1 and "--key" in again.output and "exists" in again.output
    assert not (tmp_path / "s2").exists()
    replaced = cli(args + ["--sheets", str(tmp_path / "s"), "--key", str(tmp_path / "key.json"), "--overwrite",
                           "--seed", "1"])
    assert replaced.exit_code == 0, replaced.output
    assert (tmp_path / "s" / "judge1" / "001.png").read_bytes() != before
    for result in (inside, again):
        assert "Traceback" not in result.output and result.output.count("Error:") == 1


def test_renders_are_reused_from_the_cache(tmp_path):
    data = images(tmp_path / "data", 2)
    renders = tmp_path / "renders"
    make_pairs("bicubic", "wrap", [data], tmp_path / "s1", tmp_path / "k1.json", size=S, n=2, judges=1,
               renders=renders)
    cached = renders / "baseline-bicubic_s32" / "img00.png"
    Image.fromarray(np.full((S, S, 3), 7, np.uint8)).save(cached)          # a marked cache entry
    key = make_pairs("bicubic", "wrap", [data], tmp_path / "s2", tmp_path / "k2.json", size=S, n=2, judges=1,
                     renders=renders)
    sheet_id, entry = next((i, e) for i, e in key["sets"]["judge1"]["sheets"].items() if e["case"] == "img00.png")
    side = "left" if entry["left"] == "A" else "right"
    with Image.open(tmp_path / "s2" / "judge1" / f"{sheet_id}.png") as im:
        assert (panel(np.asarray(im.convert("RGB")), side) == 7).all()
    make_pairs("bicubic", "wrap", [data], tmp_path / "s3", tmp_path / "k3.json", size=S, n=2, judges=1,
               renders=renders, rerender=True)
    with Image.open(cached) as im:
        assert not (np.asarray(im) == 7).all()


def test_method_specs():
    assert parse_method("mirror").label == "baseline:mirror"
    assert parse_method("model:default").label == "model:default,seed=0,synthesis=coherent"
    assert parse_method("model:x.onnx, synthesis=network,seed=07").label == "model:x.onnx,seed=7,synthesis=network"
    for text, match in [("model:default,synthesis=fast", "synthesis must be one of coherent, network"),
                        ("model:default,steps=3", "model options are"),
                        ("baseline:blur", "baseline must be one of"),
                        ("folder:/no/such/dir", "not a folder"),
                        ("nothing", "expected folder:DIR")]:
        with pytest.raises(EvalError, match=match):
            parse_method(text, "--b")


def test_folder_of_wrong_size_or_missing_output_is_one_line(tmp_path):
    data = images(tmp_path / "data", 3)
    small = tmp_path / "small"
    small.mkdir()
    for path in data.iterdir():
        Image.fromarray(np.zeros((S // 2, S // 2, 3), np.uint8)).save(small / f"{path.stem}.png")
    with pytest.raises(EvalError, match=r"--b folder:.*is 16 x 16, expected 32 x 32"):
        make_pairs("mirror", str(small), [data], tmp_path / "s", tmp_path / "k.json", size=S, n=3)
    gappy = flat_outputs(tmp_path / "gappy", data, 9)
    (gappy / "img01.png").unlink()
    with pytest.raises(EvalError, match=r"no output for this case: .*img01.png is missing"):
        make_pairs("mirror", str(gappy), [data], tmp_path / "s", tmp_path / "k.json", size=S, n=3)
    with pytest.raises(EvalError, match="--n 5: only 3 usable"):
        make_pairs("mirror", "wrap", [data], tmp_path / "s", tmp_path / "k.json", size=S, n=5)
    with pytest.raises(EvalError, match="name the same method"):
        make_pairs("mirror", "baseline:mirror", [data], tmp_path / "s", tmp_path / "k.json", size=S, n=3)
    assert not (tmp_path / "s").exists() and not (tmp_path / "k.json").exists()


# ---------------------------------------------------------------- scoring

def constructed_key(tmp_path: Path) -> Path:
    """Two judges, four cases; judge2 sees them in another order with other sides."""
    def sheets(rows):
        return {f"{i:03d}": {"case": c, "left": l, "right": "B" if l == "A" else "A"} for i, (c, l) in enumerate(rows, 1)}

    key = {"kind": "transposer blind comparison key", "format": 1,
           "methods": {"A": "model:default,seed=0,synthesis=coherent", "B": "folder:peer"},
           "sets": {"judge1": {"sheets": sheets([("c1", "A"), ("c2", "B"), ("c3", "A"), ("c4", "B")])},
                    "judge2": {"sheets": sheets([("c3", "B"), ("c1", "B"), ("c4", "A"), ("c2", "A")])}}}
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    return path


def test_scoring_counts_a_constructed_answers_file(tmp_path):
    key = constructed_key(tmp_path)
    # judge1: c1 A, c2 A, c3 B, c4 tie
    (tmp_path / "j1.txt").write_text("# judge one\n001 left  smoother\n  2 RIGHT: fewer seams\n\n003.png r\n4 same\n")
    # judge2: c3 B (left), c1 A (right), c4 B (right), c2 A (left)
    (tmp_path / "j2.txt").write_text("001 - Left\n002 right\n003 right. because\n004 L\n")
    result = score(key, [f"judge1={tmp_path / 'j1.txt'}", f"judge2={tmp_path / 'j2.txt'}"])
    a, b = result["methods"]["A"], result["methods"]["B"]
    j1, j2 = (j["methods"] for j in result["judges"])
    assert (j1[a]["wins"], j1[a]["losses"], j1[a]["ties"]) == (2, 1, 1)
    assert (j1[b]["wins"], j1[b]["losses"], j1[b]["ties"]) == (1, 2, 1)
    assert j1[a]["preference"] == pytest.approx(2 / 3)
    assert (j2[a]["wins"], j2[a]["losses"], j2[a]["ties"]) == (2, 2, 0)
    pooled = result["pooled"]["methods"][a]
    assert (pooled["wins"], pooled["losses"], pooled["ties"]) == (4, 3, 1) and result["pooled"]["n"] == 8
    assert pooled["p_value"] == pytest.approx(1.0)
    # Same verdict on c1 (A), c2 (A), c3 (B); c4 tie vs B.
    agreement = result["agreement"][0]
    assert (agreement["cases"], agreement["agree"], agreement["rate"]) == (4, 3, 0.75)
    assert agreement["kappa"] == pytest.approx((0.75 - 0.375) / (1 - 0.375))
    assert result["protocol"]["meets_minimum"] is False


def test_sign_test_and_wilson_known_values():
    assert sign_test(9, 1) == pytest.approx(22 / 1024)            # 2 * (1 + 10) / 2^10
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(30, 10) == pytest.approx(0.002221, abs=2e-6)
    low, high = wilson(30, 40)
    assert (low, high) == (pytest.approx(0.5980, abs=1e-4), pytest.approx(0.8581, abs=1e-4))
    assert wilson(0, 0) is None


@pytest.mark.parametrize("text, match", [
    ("001 left\n002 left\n003 left\n", "no answer for 1 sheet"),
    ("001 left\n002 left\n003 left\n004 left\n005 left\n", "line 5: no sheet 005"),
    ("001 left\n001 right\n002 left\n003 left\n004 left\n", "line 2: sheet 001 answered twice"),
    ("001 left\n002 maybe\n", "line 2: expected `ID left|right|same"),
])
def test_bad_answers_are_one_line(tmp_path, text, match):
    key = constructed_key(tmp_path)
    (tmp_path / "a.txt").write_text(text)
    with pytest.raises(EvalError, match=match):
        parse_answers(tmp_path / "a.txt", list(json.loads(key.read_text())["sets"]["judge1"]["sheets"]))
    result = cli(["score", "--key", str(key), "--answers", f"judge1={tmp_path / 'a.txt'}"])
    assert result.exit_code == 1 and result.output.count("Error:") == 1 and "Traceback" not in result.output


def test_score_cli_end_to_end(black_white):
    tmp_path, key = black_white
    answers = []
    for name, entry in key["sets"].items():
        # A judge who always prefers the white output, with reasons.
        lines = [f"{i} {'right' if e['right'] == 'B' else 'left'} brighter" for i, e in entry["sheets"].items()]
        (tmp_path / f"{name}.txt").write_text("\n".join(lines) + "\n")
        answers += ["--answers", f"{name}={tmp_path / f'{name}.txt'}"]
    key_path = str(tmp_path / "cmp" / "key.json")
    result = cli(["score", "--key", key_path, *answers, "--json", str(tmp_path / "score.json")])
    assert result.exit_code == 0, result.output
    assert "pooled:" in result.output and "in 0 of 16" in result.output
    saved = json.loads((tmp_path / "score.json").read_text())
    white = saved["methods"]["B"]
    assert saved["pooled"]["methods"][white]["wins"] == 16 and saved["agreement"][0]["rate"] == 1.0
    assert saved["pooled"]["methods"][white]["p_value"] == pytest.approx(2 / 2 ** 16)
    ambiguous = cli(["score", "--key", key_path, "--answers", str(tmp_path / "judge1.txt")])
    assert ambiguous.exit_code == 1 and "write SET=FILE" in ambiguous.output
    for bad in (["--key", str(tmp_path / "nope.json")], ["--key", str(tmp_path / "judge1.txt")]):
        result = cli(["score", *bad, "--answers", "x.txt"])
        assert result.exit_code == 1 and result.output.count("Error:") == 1


def test_metric_eval_options_stay_with_the_metric_eval(tmp_path):
    result = cli(["--model", "default", "score", "--key", "k", "--answers", "a"])
    assert result.exit_code == 2 and "--model is an option of the metric evaluation" in result.output
    result = cli([])
    assert result.exit_code == 2 and "Missing option '--data'" in result.output


PEERS = Path("/work/shared/peers/val256")
VAL = Path("/work/shared/corpus/val")


@pytest.mark.skipif(not (PEERS / "resynth").is_dir() or not VAL.is_dir(), reason="peer outputs not on this machine")
def test_peer_outputs_line_up_with_the_cases():
    from transposer.eval.blind_methods import Method
    from transposer.eval.blind_sheets import select_cases

    warnings = []
    for peer in ("embark", "resynth"):
        method = Method(parse_method(str(PEERS / peer)), 256, "--b", warn=warnings.append)
        for case in select_cases([VAL], 256, 3, 0, warnings.append):
            centre = method.output(case)[64:192, 64:192].astype(np.float32) / 255
            assert np.abs(centre - case.given).max() <= 0.5 / 255 + 1e-6
    assert warnings == []


def test_model_spec_renders_through_the_runtime_with_its_options(tmp_path):
    from transposer.runtime import Expander

    data = images(tmp_path / "data", 2, size=64)
    key = make_pairs("model:default,synthesis=network,seed=3", "mirror", [data], tmp_path / "s", tmp_path / "k.json",
                     size=64, n=2, judges=1, renders=tmp_path / "renders", device="cpu")
    folder = tmp_path / "renders" / "model-default-seed-3-synthesis-network_s64"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["method"] == key["methods"]["A"] == "model:default,seed=3,synthesis=network"
    assert len(manifest["model_sha256"]) == 64
    with Image.open(data / "img00.png") as im:
        given = np.asarray(im.convert("RGB"), np.float32)[16:48, 16:48] / 255
    expected = Expander(model="default", device="cpu").expand(given, scale=2.0, seed=3, synthesis="network").image
    with Image.open(folder / "img00.png") as im:
        rendered = np.asarray(im)
    np.testing.assert_array_equal(rendered, np.clip(np.rint(expected * 255), 0, 255).astype(np.uint8))
