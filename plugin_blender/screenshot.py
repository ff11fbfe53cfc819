"""Screenshot of the Image Editor's "Transposer" sidebar tab, taken from a real Blender window.

Not part of the extension (build.py leaves it out). Blender 4.2+ is not installable here
(PyPI's `bpy` module has no window), so this runs Debian's Blender 3.4 under Xvfb with the
staged extension folder loaded as a classic add-on; the panel's code is the same. xdotool
scrolls the sidebar's tabs with Ctrl+Wheel, the way an artist switches tabs.

    python plugin_blender/build.py --platform linux-x64
    xvfb-run -a -s "-screen 0 1600x900x24" blender --factory-startup \
        --python plugin_blender/screenshot.py -- build/blender/stage docs/images/blender_panel.png
"""

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import bpy

STAGE, OUT = (Path(arg).resolve() for arg in sys.argv[sys.argv.index("--") + 1:][:2])
TAB_Y = 272


def load_addon():
    import addon_utils

    parent = Path(tempfile.mkdtemp())
    shutil.copytree(STAGE, parent / "transposer", ignore=shutil.ignore_patterns("wheels"))
    # Blender 3.4 only enables add-ons that carry bl_info; 4.2+ extensions use the manifest.
    with open(parent / "transposer" / "__init__.py", "a", encoding="utf-8") as init:
        init.write('\nbl_info = {"name": "Transposer", "blender": (3, 4, 0), "category": "Material"}\n')
    sys.path.insert(0, str(parent))
    # What Blender 4.2+ does with the manifest's wheels on install: unpack them onto sys.path.
    site = parent / "site-packages"
    for wheel in (STAGE / "wheels").glob("*linux*x86_64.whl"):
        zipfile.ZipFile(wheel).extractall(site)
    sys.path.insert(0, str(site))
    addon_utils.enable("transposer", default_set=True, handle_error=None)


def bricks(size=256):
    import numpy as np

    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    row = (y // 24).astype(int)
    brick = ((x + 24 * (row % 2)) // 48).astype(int)
    tone = rng.uniform(0.45, 0.8, size=(row.max() + 1, brick.max() + 1))[row, brick]
    mortar = ((y % 24) < 3) | (((x + 24 * (row % 2)) % 48) < 3)
    base = np.where(mortar, 0.78, tone) + rng.normal(0, 0.04, size=(size, size))
    rgba = np.ones((size, size, 4), dtype=np.float32)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = base * 0.95, base * 0.55, base * 0.4
    image = bpy.data.images.new("bricks.png", size, size)
    image.pixels.foreach_set(np.clip(rgba, 0, 1)[::-1].ravel())
    image.pack()
    return image


def setup():
    load_addon()
    image = bricks()
    screen = bpy.context.window.screen
    area = max(screen.areas, key=lambda a: a.width * a.height)
    area.type = "IMAGE_EDITOR"
    space = area.spaces.active
    space.image = image
    space.show_region_ui = True
    bpy.app.timers.register(guarded(lambda: switch_tab(area)), first_interval=1.5)


def switch_tab(area):
    # The sidebar's tabs run down its right edge; "Transposer" is the fifth (after Tool,
    # Image, View and Scopes), its label centred about 270 px below the area's top at UI scale 1.
    sidebar = next(r for r in area.regions if r.type == "UI")
    area_top = bpy.context.window.height - (area.y + area.height)  # X11 counts from the top
    x = sidebar.x + sidebar.width - 10
    subprocess.run(["xdotool", "key", "Escape"], check=True)  # close the splash screen
    subprocess.run(["xdotool", "mousemove", str(x), str(area_top + TAB_Y), "click", "1"], check=True)
    bpy.app.timers.register(guarded(lambda: shoot(area)), first_interval=1.0)


def shoot(area):
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(area=area, region=region):
        bpy.ops.image.view_all(fit_view=True)
    bpy.app.timers.register(guarded(lambda: save(area)), first_interval=0.5)


def save(area):
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(area=area, region=region):
        bpy.ops.screen.screenshot_area(filepath=str(OUT))
    bpy.ops.wm.quit_blender()


def guarded(step):
    def run():
        try:
            return step()
        except Exception:
            import traceback

            traceback.print_exc()
            bpy.ops.wm.quit_blender()
    return run


bpy.app.timers.register(guarded(setup), first_interval=0.5)
