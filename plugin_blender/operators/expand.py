"""The Expand Texture operators: one for the Image Editor's image, one for the Shader Editor's
active Image Texture node (which can also expand the material's other maps and re-point the
nodes).

With a window, the operator is modal: the work runs in a worker thread and a timer brings
progress and the result back to the main thread, so Blender never freezes; Esc cancels.
Without one (background mode, `blender -b`, the `bpy` module), `execute` runs the very same
task inline: the same job, the same worker function, the same `apply_result`.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty

from .. import props, worker
from ..image_data import ImageDataError
from . import task as tasks

_TIMER_SECONDS = 0.1

# At most one expansion at a time: the sidebar shows its progress and a Cancel button.
_active: tasks.ExpandTask | None = None
_last_run = ""


def active_task() -> tasks.ExpandTask | None:
    return _active


def last_run_summary() -> str:
    return _last_run


def _progress_text(task: tasks.ExpandTask) -> str:
    done, total = task.background.progress
    if task.background.cancel_requested:
        return f"Transposer: cancelling {task.label}..."
    return f"Transposer: expanding {task.label}, step {done}/{total} (Esc to cancel)"


class ExpandOperatorBase(props.ExpandOptionProps):
    """Shared by both operators; subclasses say where the pixels come from (`build_task`)."""

    bl_options = {"UNDO"}

    dialog: BoolProperty(name="Dialog", description="Show the options before running", default=False, options={"HIDDEN", "SKIP_SAVE"})

    option_names = props.OPTION_NAMES
    node_options = False  # whether the dialog shows the node-only options

    @classmethod
    def poll(cls, context):
        if _active is not None:
            cls.poll_message_set("An expansion is already running")
            return False
        return True

    def invoke(self, context, event):
        # Options not given by the caller start from the scene's settings (the sidebar's).
        settings = props.get_settings(context)
        for name in self.option_names:
            if not self.properties.is_property_set(name):
                setattr(self, name, getattr(settings, name))
        if self.dialog:
            return context.window_manager.invoke_props_dialog(self, width=320)
        return self.execute(context)

    def draw(self, context):
        props.draw_options(self.layout, self, node_options=self.node_options)

    def execute(self, context):
        global _active
        if _active is not None:
            self.report({"ERROR"}, "An expansion is already running; wait for it or press Esc")
            return {"CANCELLED"}
        if self.dialog:  # the artist's dialog choices become the next defaults
            props.copy_options(self, props.get_settings(context), self.option_names)
        try:
            task, warnings = self.build_task(context)
        except (ImageDataError, worker.load_runtime().ExpandError) as error:  # bad input or option value
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for warning in warnings:
            self.report({"WARNING"}, warning)

        if bpy.app.background or context.window is None:
            return self._run_inline(task)
        return self._start_modal(context, task)

    def build_task(self, context) -> tuple[tasks.ExpandTask, list[str]]:
        raise NotImplementedError

    # -- inline (no window: nothing to keep responsive, no events to drive a modal operator)
    def _run_inline(self, task):
        try:
            result = worker.run_job(task.job)
        except Exception as error:
            cancelled = isinstance(error, worker.load_runtime().ExpandCancelled)
            return self._finish(task, None, None if cancelled else error, cancelled)
        return self._finish(task, result, None, False)

    # -- modal
    def _start_modal(self, context, task):
        global _active
        _active = task
        task.background = worker.BackgroundJob(task.job).start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(_TIMER_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        context.workspace.status_text_set(_progress_text(task))
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        task = _active
        if task is None:  # should not happen; never leave a handler behind
            self._stop(context)
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            task.background.cancel()
            context.workspace.status_text_set(_progress_text(task))
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}  # Blender stays usable while the worker runs
        background = task.background
        if not background.finished:
            done, total = background.progress
            context.window_manager.progress_update(100.0 * done / total)
            context.workspace.status_text_set(_progress_text(task))
            _redraw_sidebars(context)
            return {"PASS_THROUGH"}
        self._stop(context)
        return self._finish(task, background.result, background.error, background.cancelled)

    def cancel(self, context):
        # Blender ends modal operators itself when a file is loaded or it quits.
        if _active is not None and _active.background is not None:
            _active.background.cancel()
        self._stop(context)

    def _stop(self, context):
        global _active
        _active = None
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:  # None while Blender is loading a file or quitting
            context.workspace.status_text_set(None)
        _redraw_sidebars(context)

    # -- shared end
    def _finish(self, task, result, error, cancelled):
        global _last_run
        if cancelled:
            self.report({"WARNING"}, f"Expansion of {task.label} cancelled; no image was created")
            return {"CANCELLED"}
        if error is not None:
            details = getattr(task.background, "error_details", "") if task.background else ""
            if not isinstance(error, worker.load_runtime().ExpandError):
                # An unexpected failure: one line for the artist, the traceback for a bug report.
                import traceback

                print(details or "".join(traceback.format_exception(error)))
            self.report({"ERROR"}, f"Transposer: {worker.describe_error(error)}")
            return {"CANCELLED"}
        images, warnings = tasks.apply_result(task, result)
        for warning in warnings:
            self.report({"WARNING"}, warning)
        _last_run = f"Last run: {result.provider}, {result.seconds:.1f} s"
        self.report({"INFO"}, tasks.summary(task, result, images))
        return {"FINISHED"}


def _redraw_sidebars(context):
    screen = context.screen
    for area in screen.areas if screen else ():
        if area.type in {"IMAGE_EDITOR", "NODE_EDITOR"}:
            area.tag_redraw()


def context_image(context) -> bpy.types.Image | None:
    space = context.space_data
    if space is not None and space.type == "IMAGE_EDITOR":
        return space.image
    return None


def context_image_node(context) -> bpy.types.Node | None:
    space = context.space_data
    if space is None or space.type != "NODE_EDITOR" or space.tree_type != "ShaderNodeTree":
        return None
    node = getattr(context, "active_node", None)
    if node is not None and node.bl_idname == "ShaderNodeTexImage":
        return node
    return None


class IMAGE_OT_transposer_expand(ExpandOperatorBase, bpy.types.Operator):
    """Grow the image into a larger texture of the same material (a new image; the source is kept)"""

    bl_idname = "image.transposer_expand"
    bl_label = "Expand Texture"

    image: StringProperty(name="Image", description="Image to expand (empty: the Image Editor's image)", default="")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        space = context.space_data
        if space is not None and space.type == "IMAGE_EDITOR" and space.image is None:
            cls.poll_message_set("Open an image first")
            return False
        return True

    def build_task(self, context):
        if self.image:
            image = bpy.data.images.get(self.image)
            if image is None:
                raise ImageDataError(f"image: no image named '{self.image}'")
        else:
            image = context_image(context)
            if image is None:
                raise ImageDataError("No image to expand: open one in the Image Editor or pass image='name'")
        return tasks.image_task(image, *props.to_options(self, context)), []


class NODE_OT_transposer_expand(ExpandOperatorBase, props.NodeOptionProps, bpy.types.Operator):
    """Expand the active Image Texture node's image (and, optionally, the material's other maps with the same arrangement)"""

    bl_idname = "node.transposer_expand"
    bl_label = "Expand Texture"

    option_names = props.OPTION_NAMES + props.NODE_OPTION_NAMES
    node_options = True

    material: StringProperty(name="Material", description="Material whose node to expand (empty: the Shader Editor's)", default="")
    node: StringProperty(name="Node", description="Image Texture node to expand (empty: the active node)", default="")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        space = context.space_data
        if space is not None and space.type == "NODE_EDITOR":
            node = context_image_node(context)
            if node is None or node.image is None:
                cls.poll_message_set("Select an Image Texture node with an image")
                return False
        return True

    def build_task(self, context):
        if self.material:
            material = bpy.data.materials.get(self.material)
            if material is None or material.node_tree is None:
                raise ImageDataError(f"material: no material with nodes named '{self.material}'")
            tree = material.node_tree
            node = tree.nodes.get(self.node) if self.node else tree.nodes.active
            owner = ("materials", material.name)
        else:
            node = context_image_node(context)
            if node is not None and self.node:
                node = node.id_data.nodes.get(self.node)
            owner = tasks.tree_owner(node.id_data, context.space_data.id) if node is not None else None
        if node is None:
            raise ImageDataError("No Image Texture node to expand: select one or pass material= and node=")
        return tasks.node_task(node, owner, *props.to_options(self, context), self.companions, self.assign)


class WM_OT_transposer_cancel(bpy.types.Operator):
    """Stop the running expansion (no image is created)"""

    bl_idname = "wm.transposer_cancel"
    bl_label = "Cancel Expansion"

    @classmethod
    def poll(cls, context):
        return _active is not None and _active.background is not None

    def execute(self, context):
        _active.background.cancel()
        return {"FINISHED"}
