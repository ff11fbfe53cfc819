"""One expansion, from Blender data to a job and from the job's result back to Blender data.

Runs on the main thread only. The operators build a task (pixels copied into numpy arrays,
options frozen into the runtime's ExpandOptions and SessionOptions), hand its job to `worker` (in a thread, or inline when Blender
has no window), and call `apply_result` with what comes back. Datablocks are referred to by
name in between: the artist may rename or delete them while the worker runs, and a stale
Python reference to a freed datablock would crash Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy

from .. import image_data
from ..image_data import ImageDataError, ImageFormat
from ..worker import BackgroundJob, CompanionMap, ExpandJob, JobResult, runtime_files

_ID_COLLECTIONS = {"MATERIAL": "materials", "WORLD": "worlds", "LIGHT": "lights", "NODETREE": "node_groups"}


@dataclass
class NodeTarget:
    """Where results go back in a node tree: `owner` is (bpy.data collection, name)."""

    owner: tuple[str, str]
    node_names: list[str]  # the chosen node, then the tree's other nodes showing the same image
    companion_nodes: list[list[str]] = field(default_factory=list)  # node names per companion map
    assign: bool = True


@dataclass
class ExpandTask:
    job: ExpandJob
    formats: list[ImageFormat]  # the colour map's, then one per companion map
    node_target: NodeTarget | None = None
    background: BackgroundJob | None = None  # set while it runs in a thread

    @property
    def label(self) -> str:
        extra = len(self.job.companions)
        return f"'{self.job.source_name}'" + (f" + {extra} map{'s' * (extra > 1)}" if extra else "")


def image_task(image: bpy.types.Image, options, session) -> ExpandTask:
    """options, session: the runtime's ExpandOptions and SessionOptions (props.to_options)."""
    pixels = image_data.read_pixels(image)
    job = ExpandJob(source_name=image.name, pixels=pixels, options=options, session=session)
    return ExpandTask(job=job, formats=[image_data.image_format(image)])


def is_normal_map(node: bpy.types.Node) -> bool:
    """An Image Texture node feeds a normal map when its colour goes into a Normal Map node;
    failing that, its image name says so (e.g. `bricks_normal.png`, `rock_nrm`)."""
    for output in node.outputs:
        for link in output.links:
            if link.to_node.bl_idname == "ShaderNodeNormalMap":
                return True
    return runtime_files().is_normal_map_name(node.image.name)  # the rule the CLI and the app use


def tree_owner(tree: bpy.types.NodeTree, space_id: bpy.types.ID | None) -> tuple[str, str]:
    """A material's node tree is embedded in the material: store the material's name."""
    owner = space_id if tree.is_embedded_data else tree
    if owner is None:
        raise ImageDataError(f"Cannot tell which datablock owns node tree '{tree.name}'")
    collection = _ID_COLLECTIONS.get(owner.id_type)
    if collection is None:
        raise ImageDataError(f"Node trees of a {owner.id_type.lower()} are not supported")
    return collection, owner.name


def resolve_tree(owner: tuple[str, str]) -> bpy.types.NodeTree | None:
    collection, name = owner
    datablock = getattr(bpy.data, collection).get(name)
    if datablock is None:
        return None
    return datablock if collection == "node_groups" else datablock.node_tree


def node_task(
    node: bpy.types.Node,
    owner: tuple[str, str],
    options,
    session,
    companions: bool,
    assign: bool,
) -> tuple[ExpandTask, list[str]]:
    """A task for an Image Texture node, with the tree's other Image Texture maps as companion
    maps when asked. Returns the task and warnings about maps left out."""
    if node.bl_idname != "ShaderNodeTexImage":
        raise ImageDataError(f"Node '{node.name}' is not an Image Texture node")
    if node.image is None:
        raise ImageDataError(f"Image Texture node '{node.name}' has no image")
    task = image_task(node.image, options, session)
    same_image = [
        other.name for other in node.id_data.nodes
        if other != node and other.bl_idname == "ShaderNodeTexImage" and other.image == node.image
    ]
    target = NodeTarget(owner=owner, node_names=[node.name, *same_image], assign=assign)
    task.node_target = target
    warnings: list[str] = []
    if not companions:
        return task, warnings

    height, width = task.job.pixels.shape[:2]
    by_image: dict[str, list[bpy.types.Node]] = {}
    for other in node.id_data.nodes:
        if other.bl_idname == "ShaderNodeTexImage" and other.image is not None and other.image != node.image:
            by_image.setdefault(other.image.name, []).append(other)
    for image_name in sorted(by_image):
        nodes = by_image[image_name]
        pixels = image_data.read_pixels(nodes[0].image)
        if pixels.shape[:2] != (height, width):
            warnings.append(
                f"Skipped '{image_name}': {pixels.shape[1]}x{pixels.shape[0]} differs from the "
                f"colour map's {width}x{height}, so the same arrangement cannot apply"
            )
            continue
        task.job.companions.append(
            CompanionMap(image_name=image_name, pixels=pixels, is_normal=any(is_normal_map(n) for n in nodes))
        )
        task.formats.append(image_data.image_format(nodes[0].image))
        target.companion_nodes.append([n.name for n in nodes])
    return task, warnings


def apply_result(task: ExpandTask, result: JobResult) -> tuple[list[bpy.types.Image], list[str]]:
    """Create the new images (the sources are never modified) and, when asked, point the nodes
    at them. Returns the images and warnings."""
    images = [image_data.create_image(task.formats[0], result.image)]
    for fmt, pixels in zip(task.formats[1:], result.companions):
        images.append(image_data.create_image(fmt, pixels))
    warnings: list[str] = []
    target = task.node_target
    if target is None or not target.assign:
        return images, warnings
    tree = resolve_tree(target.owner)
    if tree is None:
        warnings.append(f"'{target.owner[1]}' was removed while expanding; the new images are not assigned")
        return images, warnings
    assignments = [(target.node_names, images[0]), *zip(target.companion_nodes, images[1:])]
    for node_names, image in assignments:
        for name in node_names:
            node = tree.nodes.get(name)
            if node is None or node.bl_idname != "ShaderNodeTexImage":
                warnings.append(f"Node '{name}' was removed while expanding; '{image.name}' is not assigned")
            else:
                node.image = image
    return images, warnings


def summary(task: ExpandTask, result: JobResult, images: list[bpy.types.Image]) -> str:
    width, height = images[0].size
    names = ", ".join(f"'{image.name}'" for image in images)
    return f"Expanded {task.label} to {width}x{height} in {result.seconds:.1f} s on {result.provider}: {names}"
