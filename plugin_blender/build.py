"""Build the Blender extension zips: one per platform, each with its onnxruntime wheel.

    python plugin_blender/build.py                      # every platform in the manifest
    python plugin_blender/build.py --platform linux-x64 # just one (what the tests do)

Steps: stage plugin_blender/ into build/blender/stage/, vendor transposer/__init__.py and
transposer/runtime/ (the .onnx models included) into it as the subpackage `transposer` (copied
at build time, so the runtime is never committed twice; what only training or the tests use is
left out, see RUNTIME_EXCLUDE), download the onnxruntime wheels the manifest
lists with pip into build/wheels/ (a cache; nothing is downloaded when Blender runs), then run
Blender's own `blender_ext.py build --split-platforms` and `validate` on every zip. Prints a
JSON summary (zip, platform, size, what the bundled onnxruntime accelerates with) and writes it
to build/blender/dist/summary.json.

`blender_ext.py` comes with the `bpy` wheel (pip install 'bpy==4.5.*'); it is looked up in
--blender-ext, $BLENDER_EXT_PY, $TRANSPOSER_BLENDER_VENV and ./.venv-blender.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "plugin_blender"
RUNTIME = REPO / "transposer" / "runtime"
BUILD = REPO / "build"
WHEEL_CACHE = BUILD / "wheels"
PYTHON_VERSION = "3.11"  # Blender 4.2 to 5.0 embed CPython 3.11

# Staged copies leave out caches and the development scripts.
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "build.py", "screenshot.py", "*.zip")
# Parts of transposer/runtime that inference never uses: the test-only synthetic graphs (they
# need the `onnx` package) and training snapshots (weights for torch, not onnxruntime).
RUNTIME_EXCLUDE = ("synthetic.py", "*.safetensors", "*.pt", "*.pth", "*.ckpt")
_IGNORE_RUNTIME = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*.zip", *RUNTIME_EXCLUDE)


class BuildError(Exception):
    pass


def wheel_platform(filename: str) -> str:
    """Blender's platform name for a wheel file name's platform tag."""
    tag = Path(filename).stem.split("-")[-1]
    rules = (
        (r"^win_amd64$", "windows-x64"),
        (r"^win_arm64$", "windows-arm64"),
        (r"^(many|musl)?linux.*_x86_64$", "linux-x64"),
        (r"^(many|musl)?linux.*_aarch64$", "linux-arm64"),
        (r"^macosx_.*_arm64$", "macos-arm64"),
        (r"^macosx_.*_x86_64$", "macos-x64"),
    )
    for pattern, platform in rules:
        if re.match(pattern, tag):
            return platform
    raise BuildError(f"wheel {filename}: unknown platform tag '{tag}'")


def accelerators(wheel: Path) -> list[str]:
    """What the bundled onnxruntime can run on besides the CPU, read from the wheel itself:
    the DirectML build ships DirectML.dll, the macOS builds link Apple's CoreML framework.
    (Every build's library names all providers, so those names prove nothing.)"""
    found = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        if any(name.endswith("/DirectML.dll") for name in names):
            found.append("DirectML")
        for name in names:
            if re.search(r"libonnxruntime[.\d]*\.dylib$", name) and b"CoreML.framework" in archive.read(name):
                found.append("CoreML")
                break
    return found + ["CPU"]


PROVIDERS = {"DirectML": "DmlExecutionProvider", "CoreML": "CoreMLExecutionProvider", "CPU": "CPUExecutionProvider"}


def unused_accelerators(stage: Path, offered: list[str]) -> list[str]:
    """Accelerators the wheel offers that the vendored runtime never asks onnxruntime for
    (then that platform runs on the CPU whatever the wheel can do)."""
    source = "".join(p.read_text(encoding="utf-8") for p in (stage / "transposer" / "runtime").rglob("*.py"))
    return [name for name in offered if name != "CPU" and PROVIDERS[name] not in source]


def find_blender_ext(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get("BLENDER_EXT_PY")]
    venvs = [os.environ.get("TRANSPOSER_BLENDER_VENV"), str(REPO / ".venv-blender")]
    for venv in filter(None, venvs):
        candidates += sorted(
            str(path) for path in Path(venv).glob("lib/python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py")
        )
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    raise BuildError(
        "blender_ext.py not found: pass --blender-ext PATH, or create the bpy venv with "
        "`python3.11 -m venv .venv-blender && .venv-blender/bin/pip install 'bpy==4.5.*'`"
    )


def read_version() -> str:
    text = (REPO / "transposer" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if not match:
        raise BuildError("transposer/__init__.py has no __version__")
    return match.group(1)


def select_wheels(manifest: dict, platforms: list[str]) -> dict[str, list[str]]:
    """{platform: [wheel paths as the manifest writes them]} for the platforms being built;
    every platform needs exactly one onnxruntime wheel."""
    by_platform: dict[str, list[str]] = {platform: [] for platform in platforms}
    for entry in manifest.get("wheels", []):
        platform = wheel_platform(entry)
        if platform in by_platform:
            by_platform[platform].append(entry)
    for platform, entries in by_platform.items():
        runtimes = [e for e in entries if Path(e).name.startswith("onnxruntime")]
        if len(runtimes) != 1:
            raise BuildError(f"the manifest must list one onnxruntime wheel for {platform}, not {len(runtimes)}")
    return by_platform


def download_wheel(entry: str) -> Path:
    """Fetch one wheel into the cache with pip (skipped when already there)."""
    filename = Path(entry).name
    target = WHEEL_CACHE / filename
    if target.is_file() and zipfile.is_zipfile(target):
        return target
    name, version, python_tag, abi_tag, platform_tags = Path(filename).stem.split("-")
    platform_tag = platform_tags.split(".")[-1]  # e.g. manylinux_2_27_x86_64.manylinux_2_28_x86_64
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", PYTHON_VERSION, "--implementation", python_tag[:2], "--abi", abi_tag,
        "--platform", platform_tag, "--dest", str(WHEEL_CACHE), f"{name}=={version}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0 or not target.is_file():
        raise BuildError(f"pip could not download {filename}:\n{completed.stderr.strip()[-2000:]}")
    return target


def restrict_manifest(text: str, platforms: list[str], wheels: list[str]) -> str:
    """The manifest with only the platforms and wheels being built (so a one-platform build
    does not need every platform's wheel)."""
    def toml_list(items):
        return "[\n" + "".join(f'  "{item}",\n' for item in items) + "]"

    text, count_p = re.subn(r"^platforms\s*=\s*\[.*?\]", "platforms = " + toml_list(platforms), text, flags=re.MULTILINE | re.DOTALL)
    text, count_w = re.subn(r"^wheels\s*=\s*\[.*?\]", "wheels = " + toml_list(wheels), text, flags=re.MULTILINE | re.DOTALL)
    if (count_p, count_w) != (1, 1):
        raise BuildError("blender_manifest.toml must have one `platforms = [...]` and one `wheels = [...]` entry")
    parsed = tomllib.loads(text)
    if parsed["platforms"] != platforms or parsed["wheels"] != wheels:
        raise BuildError("rewriting the manifest's platforms/wheels went wrong")
    return text


def vendor_runtime(stage: Path) -> list[str]:
    """Copy transposer/__init__.py and transposer/runtime/ into the stage. Returns warnings."""
    if not (RUNTIME / "__init__.py").is_file():
        raise BuildError(f"{RUNTIME} is missing: the extension bundles the torch-free runtime")
    package = stage / "transposer"
    package.mkdir()
    shutil.copy2(REPO / "transposer" / "__init__.py", package / "__init__.py")
    shutil.copytree(RUNTIME, package / "runtime", ignore=_IGNORE_RUNTIME)
    left_out = {Path(p).stem for p in RUNTIME_EXCLUDE if p.endswith(".py")}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(stage)
        for module in relative_imports(path):
            if module.split(".")[-1] in left_out:
                raise BuildError(f"{relative}: imports `{module}`, which the extension leaves out (RUNTIME_EXCLUDE)")
        for module in absolute_imports(path):
            top = module.split(".")[0]
            # Inside Blender the vendored package is `bl_ext.<repo>.transposer.transposer`, so
            # an absolute `import transposer...` would miss it (or pick up another install).
            if top == "transposer":
                raise BuildError(f"{relative}: imports `{module}` absolutely; the vendored runtime needs relative imports")
            if top in ("torch", "torchvision"):
                raise BuildError(f"{relative}: imports {module}; the runtime must stay torch-free")
    if not any((package / "runtime" / "models").glob("*.onnx")):
        return ["no model in transposer/runtime/models: the extension needs the preferences' model override"]
    return []


def absolute_imports(path: Path) -> list[str]:
    """Modules a file imports by absolute name (docstrings and comments do not count)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def relative_imports(path: Path) -> list[str]:
    """Modules a file imports relatively (`from .x import y` gives "x", `from . import x` gives "x")."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            found += [node.module] if node.module else [alias.name for alias in node.names]
    return found


def build(platforms: list[str] | None, output_dir: Path, blender_ext: Path) -> list[dict]:
    manifest_text = (SOURCE / "blender_manifest.toml").read_text(encoding="utf-8")
    manifest = tomllib.loads(manifest_text)
    version = read_version()
    if manifest["version"] != version:
        raise BuildError(f"manifest version {manifest['version']} != transposer.__version__ {version}")
    known = manifest["platforms"]
    platforms = platforms or known
    unknown = [p for p in platforms if p not in known]
    if unknown:
        raise BuildError(f"--platform: {', '.join(unknown)} not in the manifest's platforms ({', '.join(known)})")
    wheels = select_wheels(manifest, platforms)

    stage = output_dir / "stage"
    dist = output_dir / "dist"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(SOURCE, stage, ignore=_IGNORE)
    warnings = vendor_runtime(stage)
    (stage / "wheels").mkdir()
    wheel_files: dict[str, list[Path]] = {}
    for platform, entries in wheels.items():
        wheel_files[platform] = [download_wheel(entry) for entry in entries]
        for wheel in wheel_files[platform]:
            shutil.copy2(wheel, stage / "wheels" / wheel.name)
    selected = [entry for platform in platforms for entry in wheels[platform]]
    (stage / "blender_manifest.toml").write_text(restrict_manifest(manifest_text, platforms, selected), encoding="utf-8")

    dist.mkdir(parents=True, exist_ok=True)
    for old in dist.glob(f"{manifest['id']}-*.zip"):
        old.unlink()
    _run([sys.executable, str(blender_ext), "build", "--split-platforms", "--source-dir", str(stage), "--output-dir", str(dist)])

    summary = []
    for platform in platforms:
        matches = sorted(dist.glob(f"{manifest['id']}-{version}-{platform.replace('-', '_')}.zip"))
        if len(matches) != 1:
            raise BuildError(f"blender_ext.py made no zip for {platform} in {dist}")
        zip_path = matches[0]
        _run([sys.executable, str(blender_ext), "validate", str(zip_path)])
        offered = accelerators(next(w for w in wheel_files[platform] if w.name.startswith("onnxruntime")))
        unused = unused_accelerators(stage, offered)
        if unused:
            warnings.append(f"{platform}: the bundled onnxruntime offers {', '.join(unused)} but transposer.runtime "
                            f"never requests {', '.join(PROVIDERS[u] for u in unused)}, so it runs on the CPU")
        summary.append({
            "platform": platform,
            "zip": str(zip_path.relative_to(REPO) if zip_path.is_relative_to(REPO) else zip_path),
            "bytes": zip_path.stat().st_size,
            "mib": round(zip_path.stat().st_size / 2**20, 1),
            "wheels": [wheel.name for wheel in wheel_files[platform]],
            "accelerates_with": [name for name in offered if name not in unused],
            "wheel_offers": offered,
        })
    (dist / "summary.json").write_text(json.dumps({"zips": summary, "warnings": warnings}, indent=2) + "\n", encoding="utf-8")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return summary


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()[-3000:]
        raise BuildError(f"{' '.join(Path(c).name if os.sep in c else c for c in command[1:3])} failed:\n{output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", action="append", dest="platforms", metavar="NAME",
                        help="build only this platform (repeatable; default: every platform in the manifest)")
    parser.add_argument("--output-dir", type=Path, default=BUILD / "blender", help="default: build/blender")
    parser.add_argument("--blender-ext", help="path to blender_ext.py (default: found in the bpy venv)")
    args = parser.parse_args(argv)
    try:
        summary = build(args.platforms, args.output_dir.resolve(), find_blender_ext(args.blender_ext))
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
