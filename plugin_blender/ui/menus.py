"""Menu entries: Image Editor > Image > Expand Texture..., and the Shader Editor's node
context menu (right click) for an Image Texture node. Both open the options dialog."""

from __future__ import annotations

import bpy

from ..operators import expand


def draw_image_menu(self, context):
    self.layout.separator()
    op = self.layout.operator(expand.IMAGE_OT_transposer_expand.bl_idname, text="Expand Texture...", icon="FULLSCREEN_ENTER")
    op.dialog = True


def draw_node_context_menu(self, context):
    if expand.context_image_node(context) is None:
        return
    self.layout.separator()
    op = self.layout.operator(expand.NODE_OT_transposer_expand.bl_idname, text="Expand Texture...", icon="FULLSCREEN_ENTER")
    op.dialog = True


_MENUS = (
    (bpy.types.IMAGE_MT_image, draw_image_menu),
    (bpy.types.NODE_MT_context_menu, draw_node_context_menu),
)


def register() -> None:
    for menu, draw in _MENUS:
        menu.append(draw)


def unregister() -> None:
    for menu, draw in reversed(_MENUS):
        menu.remove(draw)
