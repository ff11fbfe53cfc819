"""The Blender extension, end to end: build the zip with Blender's own tool, install it into
Blender 4.5 (PyPI's `bpy` module, run headless in a subprocess), expand images through the
operators and check the new images.

What runs for real: build.py (stage, vendored runtime, pip-downloaded onnxruntime wheel,
`blender_ext.py build --split-platforms` and `validate`), Blender's Install from Disk with the
bundled wheel, register/unregister, both operators (by name and from an Image Editor context),
pixel reading/writing, colour spaces, float images, companion maps and node re-pointing, error
reports, and the worker thread with polling and cancel exactly as the modal operator uses them.

`bpy` has no window and no event loop, so there `execute` takes the inline branch (same task,
same worker function, same apply_result). The modal branch (timer ticks, worker thread beside
Blender's event loop, a real Esc key) runs in test_modal_operator_in_a_real_window, in Debian's
windowed Blender 3.4 under Xvfb, with the staged extension loaded as a classic add-on (skipped
where blender/xvfb-run/xdotool are missing). Never exercised automatically: the panels' and
menus' drawing (plugin_blender/screenshot.py draws the real panel in that windowed Blender),
and the progress bar and status text, which nothing can read back.

The bpy venv (~950 MB) is created on first use at ./.venv-blender or $TRANSPOSER_BLENDER_VENV.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_build_script():
    # plugin_blender/build.py under its own name (a plain `import build` could find PyPI's `build`)
    spec = importlib.util.spec_from_file_location("transposer_blender_build", REPO / "plugin_blender" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_script()

pytestmark = pytest.mark.blender

VENV = Path(os.environ.get("TRANSPOSER_BLENDER_VENV", REPO / ".venv-blender"))
BPY_REQUIREMENT = "bpy==4.5.*"
SCENARIO = REPO / "tests" / "blender_scenario.py"
SHIPPED_MODEL = REPO / "transposer" / "runtime" / "models" / "default.onnx"


def _bpy_works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import bpy"], capture_output=True, timeout=120)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def bpy_python() -> Path:
    """The bpy venv's python, created when missing (a lock keeps parallel runs from racing)."""
    python = VENV / "bin" / "python"
    if _bpy_works(python):
        return python
    base = sys.executable if sys.version_info[:2] == (3, 11) else shutil.which("python3.11")
    if base is None:
        pytest.skip("cannot create the bpy venv: bpy 4.5 needs CPython 3.11 and none was found")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _bpy_works(python):
            steps = ([base, "-m", "venv", "--clear", str(VENV)], [str(python), "-m", "pip", "install", "--quiet", BPY_REQUIREMENT])
            for step in steps:
                done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
                if done.returncode != 0:
                    pytest.skip(f"cannot create the bpy venv ({' '.join(step[-2:])} failed): {done.stderr.strip()[-500:]}")
    return python


@pytest.fixture(scope="session")
def blender_ext(bpy_python) -> Path:
    return build.find_blender_ext(None)  # looks in $TRANSPOSER_BLENDER_VENV, then ./.venv-blender


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory, blender_ext) -> Path:
    out = tmp_path_factory.mktemp("blender_build")
    done = subprocess.run(
        [sys.executable, str(REPO / "plugin_blender" / "build.py"), "--platform", "linux-x64",
         "--output-dir", str(out), "--blender-ext", str(blender_ext)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [entry["platform"] for entry in summary] == ["linux-x64"]
    return REPO / summary[0]["zip"] if not Path(summary[0]["zip"]).is_absolute() else Path(summary[0]["zip"])


def tiny_model(path: Path) -> Path:
    """The runtime's contract-true stand-in for the network whose arrangement is known exactly
    ("tile": the input repeated around itself, with a placement that says so). So the expected
    result of every map, companions included, is np.pad(source, (H/2, W/2), mode="wrap")."""
    from transposer.runtime.synthetic import write_synthetic_model

    return write_synthetic_model(path, kind="tile")


def run_scenario(bpy_python, zip_path, workdir: Path, model: str, scenarios: str | None = None) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    resources = workdir / "blender_user"  # a fresh Blender user folder: the install lands here
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(resources))
    command = [str(bpy_python), str(SCENARIO), "--zip", str(zip_path), "--out", str(workdir / "result.json"),
               "--workdir", str(workdir), "--model", model]
    if scenarios:
        command += ["--scenarios", scenarios]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=workdir)
    result_file = workdir / "result.json"
    assert result_file.exists(), f"scenario wrote nothing (rc {done.returncode}):\n{done.stderr[-3000:]}"
    report = json.loads(result_file.read_text())
    assert "install_error" not in report, report["install_error"]
    report["log"] = done.stdout + done.stderr
    return report


@pytest.fixture(scope="module")
def scenario(bpy_python, extension_zip, tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("blender_run")
    return run_scenario(bpy_python, extension_zip, workdir, str(tiny_model(workdir / "tiny.onnx")))


def section(report: dict, name: str) -> dict:
    data = report[name]
    assert "exception" not in data, data["exception"]
    return data


def check_expanded(entry: dict, scale: int = 2, exact: bool = True) -> None:
    """Twice the size, not blank, centre equal to the source, source untouched."""
    width, height = entry["source_size"]
    assert entry["size"] == [width * scale, height * scale]
    assert entry["ring_std"] > 0.5 * entry["source_std"], "the grown border is blank"
    assert entry["centre_mean_abs_diff"] < (0.002 if exact else 0.03)
    assert entry["source_changed_max"] == 0.0, "the source image was modified"
    assert entry["packed"], "the new image would be lost on save"
    # (the arrangement itself is the synthesis stage's, tested in test_synthesis.py)


# ---------------------------------------------------------------- build


def test_build_zip_contents(extension_zip):
    with zipfile.ZipFile(extension_zip) as archive:
        names = set(archive.namelist())
        manifest = archive.read("blender_manifest.toml").decode()
    assert {"__init__.py", "worker.py", "operators/expand.py", "ui/panels.py", "transposer/__init__.py",
            "transposer/runtime/__init__.py"} <= names
    assert sorted(n for n in names if n.startswith("wheels/")) == [
        "wheels/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "wheels/pillow-13.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    ]
    assert not any(n.endswith(("build.py", "screenshot.py", ".pyc")) or "__pycache__" in n for n in names)
    assert 'platforms = [\n  "linux-x64",\n]' in manifest
    # Only what inference needs: every runtime file but the test-only graphs and training snapshots.
    runtime = REPO / "transposer" / "runtime"
    wanted = {f"transposer/runtime/{p.relative_to(runtime).as_posix()}" for p in runtime.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
              and p.name != "synthetic.py" and p.suffix not in (".safetensors", ".pt", ".pth", ".ckpt")}
    assert {n for n in names if n.startswith("transposer/runtime/") and not n.endswith("/")} == wanted
    assert "transposer/runtime/synthetic.py" not in names and "transposer/runtime/options.py" in names
    assert not any(n.endswith((".safetensors", ".pt", ".pth", ".ckpt")) for n in names)
    if SHIPPED_MODEL.exists():
        assert "transposer/runtime/models/default.onnx" in names


def test_build_refuses_a_runtime_that_imports_what_it_leaves_out(tmp_path, monkeypatch):
    runtime = tmp_path / "transposer" / "runtime"
    runtime.mkdir(parents=True)
    (tmp_path / "transposer" / "__init__.py").write_text("")
    (runtime / "__init__.py").write_text("from .synthetic import write_synthetic_model\n")
    (runtime / "synthetic.py").write_text("def write_synthetic_model(): pass\n")
    monkeypatch.setattr(build, "REPO", tmp_path)
    monkeypatch.setattr(build, "RUNTIME", runtime)
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(build.BuildError, match="imports `synthetic`, which the extension leaves out"):
        build.vendor_runtime(stage)


def test_manifest_helpers():
    assert build.wheel_platform("onnxruntime_directml-1.24.4-cp311-cp311-win_amd64.whl") == "windows-x64"
    assert build.wheel_platform("onnxruntime-1.23.2-cp311-cp311-macosx_13_0_x86_64.whl") == "macos-x64"
    assert build.wheel_platform("onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl") == "linux-x64"
    with pytest.raises(build.BuildError, match="unknown platform tag 'freebsd_x86_64'"):
        build.wheel_platform("x-1-cp311-cp311-freebsd_x86_64.whl")
    text = (REPO / "plugin_blender" / "blender_manifest.toml").read_text()
    manifest = build.tomllib.loads(text)
    # Every platform has one onnxruntime and one Pillow wheel; the version is the package's.
    for package in ("onnxruntime", "pillow"):
        wheels = [w for w in manifest["wheels"] if Path(w).name.startswith(package)]
        assert sorted(build.wheel_platform(w) for w in wheels) == sorted(manifest["platforms"]), package
    assert set(build.select_wheels(manifest, manifest["platforms"])) == set(manifest["platforms"])
    assert manifest["version"] == build.read_version()
    restricted = build.tomllib.loads(build.restrict_manifest(text, ["macos-arm64"], [manifest["wheels"][3]]))
    assert restricted["platforms"] == ["macos-arm64"] and restricted["permissions"]["files"]


@pytest.mark.slow
def test_build_every_platform(blender_ext, tmp_path):
    """All five zips build and validate, each with its own platform's wheels only (downloads
    ~130 MB of wheels into build/wheels the first time)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "plugin_blender" / "build.py"), "--output-dir", str(tmp_path), "--blender-ext", str(blender_ext)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr
    summary = {entry["platform"]: entry for entry in json.loads(done.stdout)}
    assert sorted(summary) == ["linux-x64", "macos-arm64", "macos-x64", "windows-arm64", "windows-x64"]
    assert summary["windows-x64"]["wheel_offers"] == ["DirectML", "CPU"]
    assert summary["macos-arm64"]["wheel_offers"] == summary["macos-x64"]["wheel_offers"] == ["CoreML", "CPU"]
    assert summary["linux-x64"]["wheel_offers"] == ["CPU"]
    for platform, entry in summary.items():
        with zipfile.ZipFile(entry["zip"]) as archive:
            wheels = sorted(n.split("/")[1] for n in archive.namelist() if n.startswith("wheels/"))
        assert wheels == sorted(entry["wheels"]) and len(wheels) == 2, platform
        assert all(build.wheel_platform(w) == platform for w in wheels), platform


def test_build_rejects_unknown_platform(blender_ext, tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "plugin_blender" / "build.py"), "--platform", "amiga-68k", "--output-dir", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: --platform: amiga-68k not in the manifest's platforms")
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- inside Blender


def test_install_registers_and_uses_bundled_packages(scenario):
    install = scenario["install"]
    assert install["install"] == ["FINISHED"] and install["enabled"]
    assert install["vendored"], f"runtime came from {install['runtime_module']}, not the extension"
    assert "/extensions/" in install["onnxruntime_file"], "onnxruntime must come from the bundled wheel"
    assert "/extensions/" in install["pillow_file"], "Pillow must come from the bundled wheel"
    assert install["classes"][:2] == ["TransposerPreferences", "TransposerSettings"]


def test_expand_byte_image(scenario):
    data = section(scenario, "byte_image")
    assert data["operator"] == ["FINISHED"]
    assert data["created"] == ["bricks_expanded"] and data["source_name"] == "bricks.png"
    check_expanded(data)
    assert data["is_float"] is False and data["colorspace"] == "sRGB"
    # From an Image Editor (no image= argument), with an exact target size.
    assert data["poll_with_image"] is True and data["poll_without_image"] is False
    assert data["editor_operator"] == ["FINISHED"] and data["editor_size"] == [80, 56]


def test_expand_float_image_keeps_float_colour_space_and_hdr(scenario):
    data = section(scenario, "float_image")
    assert data["operator"] == ["FINISHED"]
    check_expanded(data)
    assert data["is_float"] is True and data["colorspace"] == "Non-Color"
    assert data["max"] > 1.5 and abs(data["max"] - data["source_max"]) < 1e-3, "HDR values were clipped"


def test_material_companion_maps_follow_the_colour_map(scenario):
    data = section(scenario, "material")
    assert data["operator"] == ["FINISHED"]
    assert data["created"] == ["bricks_col_expanded", "bricks_nrm_expanded", "bricks_rough_expanded"]
    maps = data["maps"]
    for name, entry in maps.items():
        assert entry["name"] == f"{name}_expanded", "the node was not pointed at its expanded image"
        check_expanded(entry)
    assert maps["bricks_nrm"]["colorspace"] == maps["bricks_rough"]["colorspace"] == "Non-Color"
    assert maps["bricks_col"]["colorspace"] == "sRGB"
    assert maps["bricks_nrm"]["normal_length_error"] < 0.02


def test_worker_thread_progress_and_cancel(scenario):
    data = section(scenario, "worker_thread")
    assert data["finished"] and data["error"] == "None" and not data["cancelled"]
    assert data["progress"][0] == data["progress"][1] >= 1
    assert data["progress_off_main_thread"]
    assert data["created"] == ["thread_src_expanded"]
    check_expanded(data)
    assert data["cancel_finished"] and data["cancel_cancelled"] and data["cancel_result_is_none"]
    assert data["cancel_error"] == "None" and data["cancel_created"] == []


def test_bad_input_is_an_error_report_and_creates_nothing(scenario):
    data = section(scenario, "errors")
    assert data["missing_image"]["error"] == "Error: image: no image named 'no such image'"
    assert "missing.onnx" in data["missing_model"]["error"]
    assert "Traceback" not in data["missing_model"]["error"]
    assert data["created"] == []


def _blender_range(spec):
    low, high = spec.widget_range()
    return pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6)


def test_blender_properties_follow_the_runtime_table(scenario):
    """The same table drives the CLI's flags, the app's widgets (test_options.py) and these."""
    from transposer.runtime import OPTION_SPECS

    data = section(scenario, "properties")
    for where in ("settings", "image_operator", "node_operator"):
        props = data[where]
        for name, spec_name in (("scale", "scale"), ("width", "size"), ("height", "size"), ("seed", "seed"),
                                ("variation", "variation")):
            spec, prop = OPTION_SPECS[spec_name], props[name]
            assert (prop["hard_min"], prop["hard_max"]) == _blender_range(spec), (where, name)
            assert prop["description"] == spec.help_text(), (where, name)
            if spec.kind == "float":
                assert prop["precision"] == spec.decimals and prop["type"] == "FLOAT", (where, name)
            else:
                assert prop["type"] == "INT", (where, name)
        for name in ("seed", "variation"):
            assert props[name]["default"] == OPTION_SPECS[name].default, (where, name)
        synthesis = OPTION_SPECS["synthesis"]
        assert props["synthesis"]["items"] == [[v, label, text] for v, (label, text) in
                                               zip(synthesis.choices, synthesis.choice_labels)], where
        assert props["synthesis"]["default"] == synthesis.default
        assert props["synthesis"]["items"][1][1] == "Network only (raw Transposer)"
        device = OPTION_SPECS["device"]
        labels = {label for label, _ in device.choice_labels}
        assert [i[0] for i in props["device"]["items"]] == ["PREFERENCES", "AUTO", "CPU"]
        assert {i[1] for i in props["device"]["items"][1:]} <= labels
    # The sidebar draws variation, seed and synthesis, and the result size the runtime computes.
    for mode, calls in data["drawn"].items():
        assert {"variation", "seed", "synthesis"} <= {name for kind, name in calls if kind == "prop"}, mode
    assert ["label", "Result: 120 x 72"] in data["drawn"]["SCALE"]
    assert ["label", "size must be at least the input's 40 x 24 and larger on one axis; got 20 x 20"] \
        in data["drawn"]["SIZE"]
    prefs = data["preferences"]
    assert (prefs["default_scale"]["hard_min"], prefs["default_scale"]["hard_max"]) == _blender_range(OPTION_SPECS["scale"])
    assert prefs["threads"]["hard_min"] == 0 and prefs["threads"]["hard_max"] == OPTION_SPECS["threads"].high
    assert [i[1] for i in prefs["device"]["items"]] == [OPTION_SPECS["device"].label_of(v) for v in ("auto", "cpu")]


def test_disable_unregisters_everything(scenario):
    data = section(scenario, "unregister")
    assert not data["scene_prop_after_disable"] and not data["operator_after_disable"] and not data["panel_after_disable"]
    assert data["operator_after_enable"] and data["scene_prop_after_enable"]


GUI_TOOLS = ("blender", "xvfb-run", "xdotool")


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in GUI_TOOLS),
    reason="needs a windowed Blender, Xvfb and xdotool (Debian: apt-get install blender xvfb xauth xdotool)",
)
def test_modal_operator_in_a_real_window(bpy_python, extension_zip, tmp_path):
    """The modal path the bpy module cannot run: Blender's own event loop drives the timer,
    the worker thread runs beside it, the result arrives, and a real Esc key cancels."""
    stage = extension_zip.parent.parent / "stage"
    # Debian's Blender runs on the system Python 3.11, without numpy: lend it the bpy venv's.
    numpy_dir = tmp_path / "numpy_path"
    numpy_dir.mkdir()
    venv_numpy = subprocess.run([str(bpy_python), "-c", "import numpy, os; print(os.path.dirname(numpy.__file__))"],
                                capture_output=True, text=True, check=True).stdout.strip()
    (numpy_dir / "numpy").symlink_to(venv_numpy)
    env = dict(os.environ, PYTHONPATH=str(numpy_dir))
    out = tmp_path / "gui.json"
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", "blender", "--factory-startup", "--python", str(SCENARIO),
               "--", "--gui", "--stage", str(stage), "--out", str(out), "--workdir", str(tmp_path),
               "--model", str(tiny_model(tmp_path / "tiny.onnx"))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert out.exists(), f"the windowed run wrote nothing:\n{(done.stdout + done.stderr)[-3000:]}"
    report = json.loads(out.read_text())
    assert "exception" not in report, report["exception"]
    assert report["invoke"] == ["RUNNING_MODAL"], "the operator did not go modal"
    assert report["created"] == ["gui_src_expanded"]
    check_expanded(report["result"])
    assert report["last_run"].startswith("Last run: CPUExecutionProvider")
    # The slow job: Blender's timers kept firing while it ran, Esc stopped it, nothing was made.
    assert report["slow_invoke"] == ["RUNNING_MODAL"]
    assert report["timer_ticks_during_slow_job"] >= 10 and report["slow_progress_before_escape"][0] >= 1
    assert not report["cancel_still_running"] and report["cancel_seconds"] < 2
    assert report["cancel_created"] == []
    # The menu's way: options dialog (scale 3 given), Return, then the same modal run.
    assert report["dialog_invoke"] == ["RUNNING_MODAL"]
    assert report["dialog_created"] == ["gui_src_expanded.001"] and report["dialog_size"] == [96, 72]


@pytest.fixture(scope="module")
def shipped_scenario(bpy_python, extension_zip, tmp_path_factory) -> dict:
    if not SHIPPED_MODEL.exists():
        pytest.skip("the shipped model (transposer/runtime/models/default.onnx) is not there yet")
    return run_scenario(bpy_python, extension_zip, tmp_path_factory.mktemp("blender_shipped"), model="",
                        scenarios="byte_image,seed_variation")


def test_shipped_model_expands_in_blender(shipped_scenario):
    assert shipped_scenario["install"]["shipped_models"], "the zip carries no model"
    data = section(shipped_scenario, "byte_image")
    assert data["operator"] == ["FINISHED"]
    check_expanded(data, exact=False)


def test_seed_and_variation_work_in_blender(shipped_scenario):
    """As in the CLI and the app: another seed gives another image and the same seed the same
    image; with network only and no variation the seed changes nothing."""
    data = section(shipped_scenario, "seed_variation")
    runs = [k for k in data if k.startswith(("v50", "v0", "network"))]
    assert all(data[k] == ["FINISHED"] for k in runs), {k: data[k] for k in runs}
    assert data["size"] == [64, 64]
    assert data["diff_other_seed"] > 0.05, "two seeds with variation gave the same image"
    assert data["diff_same_seed"] == 0.0, "the same seed gave another image"
    assert data["diff_seed_without_variation"] > 0.05  # the synthesis stage draws from the seed
    assert data["diff_network_seed_without_variation"] == 0.0
    assert data["diff_network_other_seed"] > 0.05  # also with synthesis="network"
    assert data["settings_options"] == {"seed": 9, "variation": 0.25, "synthesis": "network",
                                        "type": "ExpandOptions", "session_type": "SessionOptions"}
