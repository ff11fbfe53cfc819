"""Expansion options, declared once and shared by the operators and the sidebar panels.

`ExpandOptionProps` holds the annotations. The operators inherit them (so scripts can pass
them: `bpy.ops.image.transposer_expand(scale=4, seamless_x=True, seed=3, variation=0.5)`), and
`TransposerSettings`, the property group the panels show, inherits them too. It is registered
on the Scene, so the choices are saved with the .blend file, and removed again on unregister.

Every range, default, step, label and tooltip comes from the runtime's OPTION_SPECS, the table
the CLI's flags and the desktop app's widgets are built from (a test compares them), and
`to_options` turns the properties into the runtime's own ExpandOptions and SessionOptions,
which check themselves on the main thread before any work leaves it.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty

from . import preferences
from .worker import load_runtime

SPECS = load_runtime().OPTION_SPECS
DEVICE_ITEMS = (("PREFERENCES", "Preferences", "The device chosen in the add-on preferences"),) + preferences.DEVICE_ITEMS


def float_property(spec, **extra):
    """A FloatProperty with the spec's range, default, precision, step and help text."""
    low, high = spec.widget_range()
    settings = dict(name=spec.label, description=spec.help_text(), default=float(spec.default), min=low, max=high,
                    precision=spec.decimals, step=round(spec.step * 100))  # Blender's float step is in 1/100 units
    settings.update(extra)
    return FloatProperty(**settings)


def int_property(spec, **extra):
    low, high = spec.widget_range()
    settings = dict(name=spec.label, description=spec.help_text(), default=low if spec.default is None else spec.default,
                    min=low, max=high, step=int(spec.step))
    settings.update(extra)
    return IntProperty(**settings)


def enum_property(spec, **extra):
    """An EnumProperty whose identifiers are the runtime's values and whose names and
    descriptions are the table's labels."""
    items = tuple((value, label, description) for value, (label, description) in zip(spec.choices, spec.choice_labels))
    settings = dict(name=spec.label, description=spec.help_text(), items=items, default=spec.default)
    settings.update(extra)
    return EnumProperty(**settings)


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
    scale: float_property(SPECS["scale"], soft_max=8.0)
    width: int_property(SPECS["size"], name="Width", default=2048, subtype="PIXEL")
    height: int_property(SPECS["size"], name="Height", default=2048, subtype="PIXEL")
    seamless_x: BoolProperty(name="Seamless X", description="Make the output tile seamlessly left to right", default=False)
    seamless_y: BoolProperty(name="Seamless Y", description="Make the output tile seamlessly top to bottom", default=False)
    variation: float_property(SPECS["variation"], subtype="FACTOR")
    seed: int_property(SPECS["seed"])
    synthesis: enum_property(SPECS["synthesis"])
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


OPTION_NAMES = ("mode", "scale", "width", "height", "seamless_x", "seamless_y", "variation", "seed", "synthesis", "device")
NODE_OPTION_NAMES = ("assign", "companions")


def _get_scale(self):
    # Until an artist changes it, the scene's scale follows the preferences' default scale.
    value = self.get("scale_value")
    return preferences.get().default_scale if value is None else value


def _set_scale(self, value):
    self["scale_value"] = value


class TransposerSettings(ExpandOptionProps, NodeOptionProps, bpy.types.PropertyGroup):
    scale: float_property(SPECS["scale"], soft_max=8.0, get=_get_scale, set=_set_scale)


def copy_options(source, target, names=OPTION_NAMES) -> None:
    for name in names:
        setattr(target, name, getattr(source, name))


def expand_options(props):
    """The runtime's ExpandOptions for Blender properties (an operator's or the settings');
    raises the runtime's OptionError for a value it does not accept."""
    seamless = ("x" if props.seamless_x else "") + ("y" if props.seamless_y else "")
    by_size = props.mode == "SIZE"
    return load_runtime().ExpandOptions(
        scale=None if by_size else float(props.scale),
        size=(int(props.width), int(props.height)) if by_size else None,
        seamless=seamless or None,
        seed=int(props.seed),
        variation=float(props.variation),
        synthesis=props.synthesis,
    )


def to_options(props, context):
    """(ExpandOptions, SessionOptions), the runtime's own frozen types the worker thread gets;
    runs on the main thread, where a bad value becomes the operator's error report."""
    prefs = preferences.get(context)
    device_id = prefs.device if props.device == "PREFERENCES" else props.device
    session = load_runtime().SessionOptions(
        model=preferences.model_name(prefs),
        device=preferences.DEVICES[device_id],
        threads=prefs.threads or None,
    )
    return expand_options(props), session


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
    layout.prop(props, "variation", slider=True)
    row = layout.row()
    row.enabled = props.synthesis == "coherent" or props.variation > 0  # ExpandOptions.seed_matters
    row.prop(props, "seed")
    layout.prop(props, "synthesis")
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
