"""Sidebar (N panel) tabs named "Transposer" in the Image Editor and the Shader Editor."""

from __future__ import annotations

import bpy

from .. import props, worker
from ..operators import expand
from ..operators.task import is_normal_map


def draw_running(layout, task) -> bool:
    """Progress bar and Cancel button while an expansion runs; True if one is running."""
    if task is None or task.background is None:
        return False
    done, total = task.background.progress
    text = "Cancelling..." if task.background.cancel_requested else f"{task.label}: {done}/{total}"
    layout.progress(factor=done / total, type="BAR", text=text)
    layout.operator("wm.transposer_cancel", icon="CANCEL")
    return True


def draw_source(layout, image) -> None:
    width, height = image.size
    kind = "float" if image.is_float else "8-bit"
    layout.label(text=f"{image.name}", icon="IMAGE_DATA")
    layout.label(text=f"{width} x {height}, {kind}, {image.colorspace_settings.name}")


def draw_result_size(layout, image, settings) -> None:
    """The size the runtime will produce, or its complaint about the options, before running."""
    runtime = worker.load_runtime()
    width, height = image.size
    try:
        out_h, out_w = props.expand_options(settings).target_size(width, height)
    except runtime.ExpandError as error:
        layout.label(text=str(error), icon="ERROR")
        return
    layout.label(text=f"Result: {out_w} x {out_h}", icon="IMAGE_PLANE")


class TRANSPOSER_PT_image(bpy.types.Panel):
    bl_idname = "IMAGE_PT_transposer"
    bl_label = "Expand Texture"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Transposer"

    def draw(self, context):
        layout = self.layout
        if draw_running(layout, expand.active_task()):
            return
        image = context.space_data.image
        if image is None:
            layout.label(text="Open an image to expand it", icon="INFO")
            return
        draw_source(layout, image)
        settings = props.get_settings(context)
        props.draw_options(layout.column(), settings)
        draw_result_size(layout, image, settings)
        layout.operator(expand.IMAGE_OT_transposer_expand.bl_idname, icon="FULLSCREEN_ENTER")


class TRANSPOSER_PT_node(bpy.types.Panel):
    bl_idname = "NODE_PT_transposer"
    bl_label = "Expand Texture"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Transposer"

    @classmethod
    def poll(cls, context):
        return context.space_data.tree_type == "ShaderNodeTree"

    def draw(self, context):
        layout = self.layout
        if draw_running(layout, expand.active_task()):
            return
        node = expand.context_image_node(context)
        if node is None or node.image is None:
            layout.label(text="Select an Image Texture node", icon="INFO")
            return
        draw_source(layout, node.image)
        settings = props.get_settings(context)
        props.draw_options(layout.column(), settings, node_options=True)
        draw_result_size(layout, node.image, settings)
        if settings.companions:
            others = sorted(
                {n.image.name: is_normal_map(n) for n in node.id_data.nodes
                 if n.bl_idname == "ShaderNodeTexImage" and n.image is not None and n.image != node.image}.items()
            )
            box = layout.box()
            box.label(text=f"Companion maps: {len(others) or 'none'}")
            for name, normal in others:  # normal maps get renormalised after expansion
                box.label(text=name, icon="NORMALS_FACE" if normal else "NODE_TEXTURE")
        layout.operator(expand.NODE_OT_transposer_expand.bl_idname, icon="FULLSCREEN_ENTER")


classes = (TRANSPOSER_PT_image, TRANSPOSER_PT_node)
