"""Transposer for Blender: grow a texture into a larger one of the same material.

Everything Blender registers is listed in `classes`, in order; `unregister` undoes it in
reverse. The property group lives on the Scene and is removed on unregister, the menu entries
are appended and removed again, and the cached onnxruntime sessions are dropped.
"""

from . import operators, preferences, props, worker
from .ui import menus, panels

classes = (
    preferences.TransposerPreferences,
    props.TransposerSettings,
    *operators.classes,
    *panels.classes,
)


def register():
    import bpy

    for cls in classes:
        bpy.utils.register_class(cls)
    props.register()
    menus.register()


def unregister():
    import bpy

    menus.unregister()
    props.unregister()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    worker.clear_expanders()
