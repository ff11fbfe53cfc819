"""Expansion options, declared once and shared by the operators and the sidebar panels.

`ExpandOptionProps` holds the annotations. The operators inherit them (so scripts can pass
them: `bpy.ops.image.transposer_expand(scale=4, seamless_x=True)`), and `TransposerSettings`,
the property group the panels show, inherits them too. It is registered on the Scene, so the
choices are saved with the .blend file, and removed again on unregister.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty

from . import preferences
from .worker import ExpandOptions

SIZE_MAX = 16384

DEVICE_ITEMS = (("PREFERENCES", "Preferences", "The device chosen in the add-on preferences"),) + preferences.DEVICE_ITEMS


class ExpandOptionProps:
    """Annotations only: both an Operator and a PropertyGroup derive from this."""

    mode: EnumProperty(
        name="Size",
        description="How the output size is given",
        items=(
            ("SCALE", "Scale", "A multiple of the source size"),
            ("SIZE", "Pixels", "An exact width and height in pixels"),
        ),
        default="SCALE",
    )
    scale: FloatProperty(
        name="Scale",
        description="Output side length / input side length",
        default=2.0, min=preferences.SCALE_MIN, max=preferences.SCALE_MAX, soft_max=8.0, precision=2,
    )
    width: IntProperty(name="Width", description="Output width in pixels", default=2048, min=1, max=SIZE_MAX, subtype="PIXEL")
    height: IntProperty(name="Height", description="Output height in pixels", default=2048, min=1, max=SIZE_MAX, subtype="PIXEL")
    seamless_x: BoolProperty(name="Seamless X", description="Make the output tile seamlessly left to right", default=False)
    seamless_y: BoolProperty(name="Seamless Y", description="Make the output tile seamlessly top to bottom", default=False)
    seed: IntProperty(name="Seed", description="Random seed (the same seed gives the same result)", default=0, min=0)
    device: EnumProperty(name="Device", description="Where the network runs", items=DEVICE_ITEMS, default="PREFERENCES")


class NodeOptionProps:
    """Options that only make sense for an Image Texture node of a material."""

    assign: BoolProperty(
        name="Use in Material",
        description="Point the Image Texture node (and the companion maps' nodes) at the expanded images",
        default=True,
    )
    companions: BoolProperty(
        name="Companion Maps",
        description="Also expand the material's other Image Texture maps (normal, roughness...) "
                    "with the same arrangement as the colour map",
        default=True,
    )


OPTION_NAMES = ("mode", "scale", "width", "height", "seamless_x", "seamless_y", "seed", "device")
NODE_OPTION_NAMES = ("assign", "companions")


def _get_scale(self):
    # Until an artist changes it, the scene's scale follows the preferences' default scale.
    value = self.get("scale_value")
    return preferences.get().default_scale if value is None else value


def _set_scale(self, value):
    self["scale_value"] = value


class TransposerSettings(ExpandOptionProps, NodeOptionProps, bpy.types.PropertyGroup):
    scale: FloatProperty(
        name="Scale",
        description="Output side length / input side length",
        min=preferences.SCALE_MIN, max=preferences.SCALE_MAX, soft_max=8.0, precision=2,
        get=_get_scale, set=_set_scale,
    )


def copy_options(source, target, names=OPTION_NAMES) -> None:
    for name in names:
        setattr(target, name, getattr(source, name))


def to_options(props, context) -> ExpandOptions:
    """Turn Blender properties (an operator's or the settings') into the plain dataclass the
    worker thread gets; runs on the main thread."""
    prefs = preferences.get(context)
    device_id = prefs.device if props.device == "PREFERENCES" else props.device
    seamless = ("x" if props.seamless_x else "") + ("y" if props.seamless_y else "")
    by_size = props.mode == "SIZE"
    return ExpandOptions(
        scale=None if by_size else float(props.scale),
        size=(int(props.width), int(props.height)) if by_size else None,
        seamless=seamless or None,
        seed=int(props.seed),
        device=preferences.DEVICES[device_id],
        model=preferences.model_name(prefs),
        threads=prefs.threads or None,
    )


def draw_options(layout, props, node_options=False) -> None:
    """The option widgets, shared by the panels and the operators' dialogs."""
    layout.use_property_split = True
    layout.use_property_decorate = False
    layout.row().prop(props, "mode", expand=True)
    if props.mode == "SCALE":
        layout.prop(props, "scale")
    else:
        column = layout.column(align=True)
        column.prop(props, "width")
        column.prop(props, "height", text="Height")
    row = layout.row(heading="Seamless", align=True)
    row.prop(props, "seamless_x", text="X", toggle=True)
    row.prop(props, "seamless_y", text="Y", toggle=True)
    layout.prop(props, "seed")
    layout.prop(props, "device")
    if node_options:  # long checkbox labels: no split column, or Blender truncates them
        column = layout.column(align=True)
        column.use_property_split = False
        column.prop(props, "companions")
        column.prop(props, "assign")


def get_settings(context) -> TransposerSettings:
    return context.scene.transposer


def register() -> None:
    bpy.types.Scene.transposer = PointerProperty(type=TransposerSettings)


def unregister() -> None:
    del bpy.types.Scene.transposer
