"""Runs inside the bpy venv (Blender 4.5 as a Python module, no window), driven by
tests/test_blender.py:

    BLENDER_USER_RESOURCES=TMP .venv-blender/bin/python tests/blender_scenario.py \
        --zip build/blender/dist/transposer-0.1.0-linux_x64.zip --out result.json [--model tiny.onnx]

Installs the built extension the way Blender's Install from Disk does, then exercises it on
small images and writes what it measured as JSON (the pytest side makes the assertions, so a
failure says which measurement was wrong). Each scenario runs in its own try block: one broken
scenario records its error and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import bpy
import numpy as np

EXT_MODULE = "bl_ext.user_default.transposer"


def texture(height: int, width: int, channels: int = 4, seed: int = 0) -> np.ndarray:
    """A small structured texture (bricks of varying tone plus grain), rows top-down."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    row = (y // 8).astype(int)
    brick = ((x + 6 * (row % 2)) // 12).astype(int)
    tone = rng.uniform(0.35, 0.85, size=(row.max() + 1, brick.max() + 1))[row, brick]
    mortar = ((y % 8) < 1) | (((x + 6 * (row % 2)) % 12) < 1)
    base = np.where(mortar, 0.15, tone) + rng.normal(0, 0.03, size=(height, width))
    rgb = np.stack([base, base * 0.8 + 0.05, base * 0.6 + 0.1], axis=-1)
    out = np.ones((height, width, channels), dtype=np.float32)
    out[..., :3] = np.clip(rgb, 0, 1)[..., : min(3, channels)] if channels >= 3 else np.clip(base, 0, 1)[..., None]
    return out


def set_pixels(image, top_down: np.ndarray) -> None:
    image.pixels.foreach_set(np.ascontiguousarray(top_down[::-1]).ravel())
    image.update()


def get_pixels(image) -> np.ndarray:
    width, height = image.size
    buffer = np.empty(width * height * image.channels, dtype=np.float32)
    image.pixels.foreach_get(buffer)
    return buffer.reshape(height, width, image.channels)[::-1].copy()


def measure(source_before: np.ndarray, source_after: np.ndarray, result_image) -> dict:
    """Size, content and centre agreement of an expanded image against its source."""
    out = get_pixels(result_image)
    height, width = source_before.shape[:2]
    out_h, out_w = out.shape[:2]
    top, left = (out_h - height) // 2, (out_w - width) // 2
    centre = out[top:top + height, left:left + width, :3]
    ring = out[..., :3].copy()
    ring[top:top + height, left:left + width] = np.nan
    # What the test's tiny model must give: the source wrapped around itself.
    wrapped = np.pad(source_before[..., :3], ((top, out_h - height - top), (left, out_w - width - left), (0, 0)), mode="wrap")
    return {
        "name": result_image.name,
        "size": [out_w, out_h],
        "source_size": [width, height],
        "is_float": bool(result_image.is_float),
        "colorspace": result_image.colorspace_settings.name,
        "packed": result_image.packed_file is not None,
        "std": float(out[..., :3].std()),
        "ring_std": float(np.nanstd(ring)),
        "source_std": float(source_before[..., :3].std()),
        "max": float(out[..., :3].max()),
        "centre_mean_abs_diff": float(np.abs(centre - source_before[..., :3]).mean()),
        "wrap_mean_abs_diff": float(np.abs(out[..., :3] - wrapped).mean()),
        "source_changed_max": float(np.abs(source_after - source_before).max()),
    }


def new_images(before: set[str]) -> list[str]:
    return sorted(set(bpy.data.images.keys()) - before)


def install(zip_path: str, model: str | None) -> dict:
    started = time.perf_counter()
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    info = {"install": sorted(result), "seconds": round(time.perf_counter() - started, 2)}
    info["enabled"] = EXT_MODULE in bpy.context.preferences.addons
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    if model:
        prefs.model_path = model
    ext = importlib.import_module(EXT_MODULE)
    worker = importlib.import_module(EXT_MODULE + ".worker")
    runtime = worker.load_runtime()
    info["runtime_module"] = runtime.__name__
    info["vendored"] = runtime.__name__.startswith(EXT_MODULE)
    info["onnxruntime_file"] = importlib.import_module("onnxruntime").__file__
    info["pillow_file"] = importlib.import_module("PIL").__file__
    info["classes"] = [cls.__name__ for cls in ext.classes]
    info["shipped_models"] = sorted(p.name for p in Path(runtime.__file__).parent.glob("models/*.onnx"))
    return info


def scenario_byte_image(workdir: Path) -> dict:
    """An 8-bit sRGB PNG loaded from disk, expanded 2x by name and through the Image Editor."""
    path = workdir / "bricks.png"
    source = bpy.data.images.new("bricks_src", 48, 40, alpha=True)
    set_pixels(source, texture(40, 48))
    source.filepath_raw = str(path)
    source.file_format = "PNG"
    source.save()
    bpy.data.images.remove(source)
    image = bpy.data.images.load(str(path))
    before_pixels = get_pixels(image)
    before = set(bpy.data.images.keys())
    result = bpy.ops.image.transposer_expand(image=image.name, scale=2.0, seed=1)
    created = new_images(before)
    out = {"operator": sorted(result), "created": created, "source_name": image.name}
    out.update(measure(before_pixels, get_pixels(image), bpy.data.images[created[0]]))

    # The same operator without image=, the way the menu runs it: the Image Editor's image.
    area = bpy.context.window.screen.areas[0]
    area.type = "IMAGE_EDITOR"
    area.spaces.active.image = image
    region = next(r for r in area.regions if r.type == "WINDOW")
    before = set(bpy.data.images.keys())
    with bpy.context.temp_override(area=area, region=region, space_data=area.spaces.active):
        out["poll_with_image"] = bpy.ops.image.transposer_expand.poll()
        result = bpy.ops.image.transposer_expand(mode="SIZE", width=80, height=56)
        area.spaces.active.image = None
        out["poll_without_image"] = bpy.ops.image.transposer_expand.poll()
    created = new_images(before)
    out["editor_operator"] = sorted(result)
    out["editor_created"] = created
    out["editor_size"] = list(bpy.data.images[created[0]].size) if created else None
    area.type = "VIEW_3D"
    return out


def scenario_float_image(workdir: Path) -> dict:
    """A float (HDR) Non-Color image: the new image must be float, Non-Color, values above 1 kept."""
    image = bpy.data.images.new("height_hdr", 40, 32, alpha=True, float_buffer=True)
    image.colorspace_settings.name = "Non-Color"
    pixels = texture(32, 40, seed=3)
    pixels[..., :3] *= 2.5  # HDR values up to ~2
    set_pixels(image, pixels)
    before_pixels = get_pixels(image)
    before = set(bpy.data.images.keys())
    result = bpy.ops.image.transposer_expand(image=image.name, scale=2.0)
    created = new_images(before)
    out = {"operator": sorted(result), "created": created, "source_max": float(before_pixels[..., :3].max())}
    out.update(measure(before_pixels, get_pixels(image), bpy.data.images[created[0]]))
    return out


def scenario_material(workdir: Path) -> dict:
    """The Shader Editor path: colour map + normal map (through a Normal Map node) + a
    Non-Color roughness map, expanded together and the nodes re-pointed."""
    material = bpy.data.materials.new("Bricks")
    material.use_nodes = True
    tree = material.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    maps = {}
    for name, colorspace, seed in (("bricks_col", "sRGB", 5), ("bricks_nrm", "Non-Color", 6), ("bricks_rough", "Non-Color", 7)):
        image = bpy.data.images.new(name, 32, 32, alpha=True)
        image.colorspace_settings.name = colorspace
        pixels = texture(32, 32, seed=seed)
        if name == "bricks_nrm":  # unit tangent-space normals tilted by the brick pattern
            tilt = (pixels[..., 0] - 0.5) * 0.8
            vectors = np.stack([tilt, tilt * 0.5, np.ones_like(tilt)], axis=-1)
            vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
            pixels[..., :3] = vectors * 0.5 + 0.5
        set_pixels(image, pixels)
        node = tree.nodes.new("ShaderNodeTexImage")
        node.name = name
        node.image = image
        maps[name] = get_pixels(image)
    normal_map = tree.nodes.new("ShaderNodeNormalMap")
    tree.links.new(tree.nodes["bricks_col"].outputs["Color"], bsdf.inputs["Base Color"])
    tree.links.new(tree.nodes["bricks_nrm"].outputs["Color"], normal_map.inputs["Color"])
    tree.links.new(normal_map.outputs["Normal"], bsdf.inputs["Normal"])
    tree.links.new(tree.nodes["bricks_rough"].outputs["Color"], bsdf.inputs["Roughness"])
    tree.nodes.active = tree.nodes["bricks_col"]

    before = set(bpy.data.images.keys())
    result = bpy.ops.node.transposer_expand(material="Bricks", node="bricks_col", companions=True, assign=True)
    out = {"operator": sorted(result), "created": new_images(before), "maps": {}}
    for name, source in maps.items():
        node_image = tree.nodes[name].image
        entry = measure(source, get_pixels(bpy.data.images[name]), node_image)
        if name == "bricks_nrm":
            vectors = get_pixels(node_image)[..., :3] * 2 - 1
            entry["normal_length_error"] = float(np.abs(np.linalg.norm(vectors, axis=-1) - 1).max())
        out["maps"][name] = entry
    return out


def scenario_worker_thread(workdir: Path) -> dict:
    """What the modal operator does, minus Blender's event loop: the task built on the main
    thread, the worker thread, polling as the timer does, apply_result; and cancelling."""
    tasks = importlib.import_module(EXT_MODULE + ".operators.task")
    worker = importlib.import_module(EXT_MODULE + ".worker")
    props = importlib.import_module(EXT_MODULE + ".props")
    settings = bpy.context.scene.transposer
    settings.scale = 2.0
    image = bpy.data.images.new("thread_src", 32, 24, alpha=True)
    set_pixels(image, texture(24, 32, seed=11))
    source = get_pixels(image)  # as stored: 8-bit quantised
    main_thread = __import__("threading").get_ident()

    task = tasks.image_task(image, *props.to_options(settings, bpy.context))
    threads_seen = set()
    background = worker.BackgroundJob(task.job)
    original = background._on_progress
    background._on_progress = lambda done, total: threads_seen.add(__import__("threading").get_ident()) or original(done, total)
    task.background = background.start()
    polls = 0
    while not background.finished and polls < 600:  # the modal timer's job, 50 ms apart
        time.sleep(0.05)
        polls += 1
    out = {"finished": background.finished, "error": repr(background.error), "cancelled": background.cancelled}
    before = set(bpy.data.images.keys())
    images, warnings = tasks.apply_result(task, background.result)
    out.update(measure(source, get_pixels(image), images[0]))
    out["progress"] = list(background.progress)
    out["progress_off_main_thread"] = bool(threads_seen) and main_thread not in threads_seen
    out["created"] = new_images(before)

    # Cancel at the first progress report (what Esc does): nothing comes back, nothing is created.
    before = set(bpy.data.images.keys())
    cancelled = worker.BackgroundJob(tasks.image_task(image, *props.to_options(settings, bpy.context)).job)
    original_cancel = cancelled._on_progress
    cancelled._on_progress = lambda done, total: (cancelled.cancel(), original_cancel(done, total))[1]
    cancelled.start()
    out["cancel_finished"] = cancelled.wait(30)
    out["cancel_cancelled"] = cancelled.cancelled
    out["cancel_result_is_none"] = cancelled.result is None
    out["cancel_error"] = repr(cancelled.error)
    out["cancel_created"] = new_images(before)
    return out


def scenario_errors(workdir: Path) -> dict:
    """Bad input gives a Blender error report (a RuntimeError from bpy.ops in background mode)
    and creates nothing."""
    out = {}
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    image = bpy.data.images.new("err_src", 16, 16, alpha=True)
    set_pixels(image, texture(16, 16))
    before = set(bpy.data.images.keys())
    for key, call in (
        ("missing_image", lambda: bpy.ops.image.transposer_expand(image="no such image")),
        ("missing_model", lambda: bpy.ops.image.transposer_expand(image="err_src")),
    ):
        saved = prefs.model_path
        if key == "missing_model":
            prefs.model_path = str(workdir / "missing.onnx")
        try:
            out[key] = {"result": sorted(call())}
        except RuntimeError as error:
            out[key] = {"error": str(error).strip()}
        finally:
            prefs.model_path = saved
    out["created"] = new_images(before)
    return out


class RecordingLayout:
    """Stands in for a bpy UILayout: records prop() and label() calls, nests rows and columns."""

    def __init__(self, calls=None):
        self.calls = [] if calls is None else calls

    def __getattr__(self, name):
        return None

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)

    def row(self, **_):
        return RecordingLayout(self.calls)

    column = row

    def prop(self, data, name, **_):
        self.calls.append(["prop", name])

    def label(self, text="", **_):
        self.calls.append(["label", text])


def _rna_properties(rna, names) -> dict:
    """What Blender really registered for these properties: ranges, defaults, enum items."""
    out = {}
    for name in names:
        prop = rna.properties[name]
        entry = {"type": prop.type, "name": prop.name, "description": prop.description, "subtype": prop.subtype}
        if prop.type in ("INT", "FLOAT"):
            entry.update(hard_min=prop.hard_min, hard_max=prop.hard_max, default=prop.default)
        if prop.type == "FLOAT":
            entry.update(precision=prop.precision, step=prop.step)
        if prop.type == "ENUM":
            entry.update(default=prop.default, items=[[i.identifier, i.name, i.description] for i in prop.enum_items])
        out[name] = entry
    return out


def scenario_properties(workdir: Path) -> dict:
    """The option properties of the scene settings, of both operators and of the preferences,
    as Blender registered them (the pytest side compares them with the runtime's table)."""
    names = ("scale", "width", "height", "variation", "seed", "synthesis", "device")
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    # The panel's drawing code, on a recording stand-in for a layout (bpy has no window to draw in).
    panels = importlib.import_module(EXT_MODULE + ".ui.panels")
    props = importlib.import_module(EXT_MODULE + ".props")
    settings = bpy.context.scene.transposer
    image = bpy.data.images.new("panel_src", 40, 24, alpha=True)
    drawn = {}
    for mode, scale, size in (("SCALE", 3.0, (0, 0)), ("SIZE", 2.0, (20, 20))):
        settings.mode, settings.scale, (settings.width, settings.height) = mode, scale, size
        layout = RecordingLayout()
        props.draw_options(layout, settings)
        panels.draw_result_size(layout, image, settings)
        drawn[mode] = layout.calls
    return {
        "drawn": drawn,
        "settings": _rna_properties(bpy.context.scene.transposer.bl_rna, names),
        "image_operator": _rna_properties(bpy.ops.image.transposer_expand.get_rna_type(), names),
        "node_operator": _rna_properties(bpy.ops.node.transposer_expand.get_rna_type(), names),
        "preferences": _rna_properties(prefs.bl_rna, ("default_scale", "device", "threads")),
    }


def scenario_seed_variation(workdir: Path) -> dict:
    """The operator with seed and variation, as a script or the sidebar passes them: the max
    difference between results (meaningful with the shipped model; the tiny test graph
    ignores its noise input)."""
    image = bpy.data.images.new("seed_src", 32, 32, alpha=True)
    set_pixels(image, texture(32, 32, seed=13))
    runs = {
        "v50_seed1": dict(variation=0.5, seed=1), "v50_seed2": dict(variation=0.5, seed=2),
        "v50_seed1_again": dict(variation=0.5, seed=1),
        "v0_seed1": dict(variation=0.0, seed=1), "v0_seed2": dict(variation=0.0, seed=2),
        "network_seed1": dict(variation=0.5, seed=1, synthesis="network"),
        "network_seed2": dict(variation=0.5, seed=2, synthesis="network"),
        "network_v0_seed1": dict(variation=0.0, seed=1, synthesis="network"),
        "network_v0_seed2": dict(variation=0.0, seed=2, synthesis="network"),
    }
    results, out = {}, {}
    for key, options in runs.items():
        before = set(bpy.data.images.keys())
        out[key] = sorted(bpy.ops.image.transposer_expand(image=image.name, scale=2.0, **options))
        created = new_images(before)
        results[key] = get_pixels(bpy.data.images[created[0]]) if created else None

    def diff(a, b):
        return None if results[a] is None or results[b] is None else float(np.abs(results[a] - results[b]).max())

    out["size"] = list(results["v50_seed1"].shape[1::-1]) if results["v50_seed1"] is not None else None
    out["diff_other_seed"] = diff("v50_seed1", "v50_seed2")
    out["diff_same_seed"] = diff("v50_seed1", "v50_seed1_again")
    out["diff_seed_without_variation"] = diff("v0_seed1", "v0_seed2")
    out["diff_network_other_seed"] = diff("network_seed1", "network_seed2")
    out["diff_network_seed_without_variation"] = diff("network_v0_seed1", "network_v0_seed2")
    # The sidebar's way: the scene settings turned into the runtime's options for the job.
    props = importlib.import_module(EXT_MODULE + ".props")
    settings = bpy.context.scene.transposer
    settings.variation, settings.seed, settings.synthesis = 0.25, 9, "network"
    options, session = props.to_options(settings, bpy.context)
    out["settings_options"] = {"seed": options.seed, "variation": options.variation, "synthesis": options.synthesis,
                               "type": type(options).__name__, "session_type": type(session).__name__}
    return out


def scenario_unregister(workdir: Path) -> dict:
    """Disabling removes everything it registered; enabling again works."""
    bpy.ops.preferences.addon_disable(module=EXT_MODULE)
    out = {
        "scene_prop_after_disable": hasattr(bpy.types.Scene, "transposer"),
        "operator_after_disable": hasattr(bpy.types, "IMAGE_OT_transposer_expand"),
        "panel_after_disable": hasattr(bpy.types, "IMAGE_PT_transposer"),
    }
    bpy.ops.preferences.addon_enable(module=EXT_MODULE)
    out["operator_after_enable"] = hasattr(bpy.types, "IMAGE_OT_transposer_expand")
    out["scene_prop_after_enable"] = hasattr(bpy.types.Scene, "transposer")
    return out


SCENARIOS = {
    "byte_image": scenario_byte_image,
    "float_image": scenario_float_image,
    "material": scenario_material,
    "worker_thread": scenario_worker_thread,
    "errors": scenario_errors,
    "properties": scenario_properties,
    "seed_variation": scenario_seed_variation,
    "unregister": scenario_unregister,
}
# seed_variation needs a model that uses its noise input (the shipped one): run on request.
DEFAULT_SCENARIOS = [name for name in SCENARIOS if name != "seed_variation"]


# ---------------------------------------------------------------- a real window (Blender 3.4 GUI)
# The `bpy` module has no event loop, so the modal operator cannot run there. With a windowed
# Blender (Debian's 3.4 under Xvfb) it can: the staged extension is loaded as a classic add-on
# and its wheel unpacked onto sys.path (what Blender 4.2+ does on install), then the operator is
# invoked as a button would, and timers watch it run, finish, and stop on a real Esc key.


def load_as_classic_addon(stage: Path, workdir: Path) -> str:
    import addon_utils
    import zipfile

    parent = workdir / "classic_addon"
    shutil.rmtree(parent, ignore_errors=True)
    shutil.copytree(stage, parent / "transposer", ignore=shutil.ignore_patterns("wheels"))
    with open(parent / "transposer" / "__init__.py", "a", encoding="utf-8") as init:
        init.write('\nbl_info = {"name": "Transposer", "blender": (3, 4, 0), "category": "Material"}\n')
    site = workdir / "classic_site"
    for wheel in (stage / "wheels").glob("*linux*x86_64.whl"):
        zipfile.ZipFile(wheel).extractall(site)
    sys.path[:0] = [str(parent), str(site)]
    addon_utils.enable("transposer", default_set=True, handle_error=None)
    return "transposer"


class GuiRun:
    """Steps chained by bpy.app.timers, so Blender's event loop runs in between."""

    def __init__(self, args):
        self.args = args
        self.workdir = Path(args.workdir)
        self.report = {"blender": bpy.app.version_string, "timer_ticks_while_running": 0}

    def start(self):
        subprocess.run(["xdotool", "key", "Escape"], check=True)  # close the splash screen
        bpy.context.preferences.filepaths.temporary_directory = str(self.workdir)  # quit.blend goes here
        module = load_as_classic_addon(Path(self.args.stage), self.workdir)
        self.expand = importlib.import_module(module + ".operators.expand")
        self.worker = importlib.import_module(module + ".worker")
        bpy.context.preferences.addons[module].preferences.model_path = self.args.model
        self.image = bpy.data.images.new("gui_src", 32, 24, alpha=True)
        set_pixels(self.image, texture(24, 32, seed=21))
        self.source = get_pixels(self.image)
        screen = bpy.context.window.screen
        self.area = max(screen.areas, key=lambda a: a.width * a.height)
        self.area.type = "IMAGE_EDITOR"
        self.area.spaces.active.image = self.image
        self.before = set(bpy.data.images.keys())
        self.report["invoke"] = sorted(self.invoke())
        self.started = time.perf_counter()
        return self.wait_finished

    def invoke(self, **options):
        region = next(r for r in self.area.regions if r.type == "WINDOW")
        with bpy.context.temp_override(window=bpy.context.window, area=self.area, region=region):
            return bpy.ops.image.transposer_expand("INVOKE_DEFAULT", **options)

    def wait_finished(self):
        if self.expand.active_task() is not None and time.perf_counter() - self.started < 30:
            self.report["timer_ticks_while_running"] += 1
            return 0.05
        created = new_images(self.before)
        self.report["created"] = created
        self.report["last_run"] = self.expand.last_run_summary()
        if created:
            self.report["result"] = measure(self.source, get_pixels(self.image), bpy.data.images[created[0]])
        # Now a slow job (the runtime replaced by one that reports progress every 50 ms for
        # 10 s) to show that Blender keeps running while it works and that Esc stops it.
        runtime = self.worker.load_runtime()

        def slow_run_job(job, progress=None):
            for step in range(200):
                if progress is not None and progress(step, 200) is False:
                    raise runtime.ExpandCancelled("cancelled")
                time.sleep(0.05)
            raise AssertionError("the slow job was not cancelled")

        self.real_run_job = self.worker.run_job
        self.worker.run_job = slow_run_job
        self.before = set(bpy.data.images.keys())
        self.report["slow_invoke"] = sorted(self.invoke())
        self.started = time.perf_counter()
        self.ticks = 0
        return self.press_escape

    def press_escape(self):
        self.ticks += 1
        task = self.expand.active_task()
        if self.ticks < 10:  # ~0.5 s of Blender running its event loop beside the worker
            return 0.05
        self.report["slow_progress_before_escape"] = list(task.background.progress) if task else None
        self.report["timer_ticks_during_slow_job"] = self.ticks  # Blender's loop kept running
        x = self.area.x + self.area.width // 2
        y = bpy.context.window.height - (self.area.y + self.area.height // 2)
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "key", "Escape"], check=True)
        self.escape_time = time.perf_counter()
        return self.wait_cancelled

    def wait_cancelled(self):
        if self.expand.active_task() is not None and time.perf_counter() - self.escape_time < 10:
            return 0.05
        self.report["cancel_seconds"] = round(time.perf_counter() - self.escape_time, 2)
        self.report["cancel_still_running"] = self.expand.active_task() is not None
        self.report["cancel_created"] = new_images(self.before)
        # The menu entry's way: the options dialog, confirmed with Return, then the modal run.
        self.worker.run_job = self.real_run_job
        self.before = set(bpy.data.images.keys())
        self.report["dialog_invoke"] = sorted(self.invoke(dialog=True, scale=3.0))
        self.started = time.perf_counter()
        return self.confirm_dialog

    def confirm_dialog(self):
        subprocess.run(["xdotool", "key", "Return"], check=True)
        return self.wait_dialog_run

    def wait_dialog_run(self):
        created = new_images(self.before)
        if (not created or self.expand.active_task() is not None) and time.perf_counter() - self.started < 15:
            return 0.05
        self.report["dialog_created"] = created
        self.report["dialog_size"] = list(bpy.data.images[created[0]].size) if created else None
        return self.finish()

    def finish(self):
        Path(self.args.out).write_text(json.dumps(self.report, indent=2))
        bpy.ops.wm.quit_blender()

    def step(self, function):
        def run():
            try:
                following = function()
            except Exception:
                self.report["exception"] = traceback.format_exc()
                return self.finish()
            if callable(following):
                bpy.app.timers.register(self.step(following), first_interval=0.05)
                return None
            return following
        return run


def main_gui(args) -> None:
    run = GuiRun(args)
    bpy.app.timers.register(run.step(run.start), first_interval=1.0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gui", action="store_true", help="run the modal operator in a windowed Blender")
    parser.add_argument("--stage", help="--gui: the staged extension folder (build/blender/stage)")
    parser.add_argument("--zip")
    parser.add_argument("--out", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--model", default="", help="model override path (empty: the shipped model)")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help="comma-separated subset")
    args = parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
    if args.gui:
        main_gui(args)
        return 0
    workdir = Path(args.workdir)
    report = {"blender": bpy.app.version_string}
    try:
        report["install"] = install(args.zip, args.model)
    except Exception:
        report["install_error"] = traceback.format_exc()
        Path(args.out).write_text(json.dumps(report, indent=2))
        return 1
    for name in args.scenarios.split(","):
        scenario = SCENARIOS[name]
        started = time.perf_counter()
        try:
            report[name] = scenario(workdir)
        except Exception:
            report[name] = {"exception": traceback.format_exc()}
        report[name]["seconds"] = round(time.perf_counter() - started, 2)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    if "--gui" in sys.argv:
        main()  # returns at once; the timers do the work inside Blender's event loop
    else:
        sys.exit(main())
