"""Add-on preferences: defaults an artist sets once (Edit > Preferences > Add-ons > Transposer)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from .worker import load_runtime

_SPECS = load_runtime().OPTION_SPECS

# Blender enum id -> runtime device name. "auto" lets the runtime pick the best execution
# provider the bundled onnxruntime offers and fall back to the CPU; "cpu" forces the CPU.
# ("cuda" is left out: the bundled onnxruntime builds have no CUDA provider.)
DEVICES = {"AUTO": "auto", "CPU": "cpu"}
_DEVICE = _SPECS["device"]
DEVICE_ITEMS = tuple((key, *_DEVICE.choice_labels[_DEVICE.choices.index(value)]) for key, value in DEVICES.items())

# The runtime takes scales in (1, 16]: the result must be larger than the source.
SCALE_MIN, SCALE_MAX = _SPECS["scale"].widget_range()


class TransposerPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    default_scale: FloatProperty(
        name="Default Scale",
        description="Scale the Expand Texture options start with (output side / input side)",
        default=_SPECS["scale"].default, min=SCALE_MIN, max=SCALE_MAX, soft_max=8.0,
        precision=_SPECS["scale"].decimals,
    )
    device: EnumProperty(
        name="Device",
        description="Where the network runs unless an operator overrides it",
        items=DEVICE_ITEMS, default="AUTO",
    )
    model_path: StringProperty(
        name="Model Override",
        description="An .onnx model to use instead of the one shipped with the extension (empty: shipped model)",
        subtype="FILE_PATH", default="",
    )
    threads: IntProperty(
        name="CPU Threads",
        description="Threads onnxruntime may use on the CPU (0: as many as it likes)",
        default=0, min=0, max=_SPECS["threads"].high,
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "default_scale")
        layout.prop(self, "device")
        layout.prop(self, "threads")
        layout.prop(self, "model_path")
        # Tell what really ran last time, so a silent fall back to the CPU cannot go unnoticed.
        from .operators.expand import last_run_summary

        summary = last_run_summary()
        if summary:
            layout.label(text=summary, icon="INFO")


def get(context=None) -> TransposerPreferences:
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def model_name(prefs: TransposerPreferences) -> str:
    """The runtime `model` argument: the override path (made absolute, Blender paths may start
    with //) or the shipped default."""
    path = prefs.model_path.strip()
    return bpy.path.abspath(path) if path else "default"
