"""The image nodes that play a visualizer's frames outside the Sequencer, kept in step with it.

Apply to Material and Add to Compositor show a visualizer strip's frames through an image
datablock (an image sequence) and an image node (a material's Image Texture, a compositor
Image node). Both are tagged with the folder of the frames they play (``FRAMES_TAG``), so
that when the strip is moved, trimmed or baked again in place, every node the extension
made follows it (``follow_strip``), and a second Apply to Material reuses its node.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ...core.errors import UserError
from . import compat

FRAMES_TAG = "neural_aesthetics_frames"
"""Custom property of the images and nodes made here: the absolute frames folder they play."""


def frames_folder(strip) -> str:
    """The absolute folder of an image strip's frames, as the tags store it."""
    return str(Path(bpy.path.abspath(strip.directory)))


def is_linear_frame(path) -> bool:
    """True for frames holding scene-linear values (EXR); PNG and JPEG frames are sRGB."""
    return str(path).lower().endswith(".exr")


def _first_frame(strip) -> Path:
    first = Path(frames_folder(strip)) / strip.elements[0].filename
    if not first.is_file():
        raise UserError(f"The frames of '{strip.name}' are missing ({first}): bake the visualizer again")
    return first


def _point_at(image, strip, first: Path) -> None:
    """Make ``image`` the sequence of ``strip``'s frames (path, colour space, tag)."""
    filepath = bpy.path.relpath(str(first)) if bpy.data.filepath else str(first)
    if image.filepath != filepath:
        image.filepath = filepath
    image[FRAMES_TAG] = frames_folder(strip)
    compat.set_colorspace(image.colorspace_settings, linear=is_linear_frame(first))


def _tagged_images(folder: str) -> list:
    return [image for image in bpy.data.images if image.source == "SEQUENCE" and image.get(FRAMES_TAG) == folder]


def sequence_image(strip):
    """The image datablock playing the strip's frames as a sequence (one, shared by all users)."""
    first = _first_frame(strip)
    found = _tagged_images(frames_folder(strip))
    image = found[0] if found else None
    if image is None:
        image = bpy.data.images.load(str(first), check_existing=False)
        image.source = "SEQUENCE"
        image.name = strip.name
    _point_at(image, strip, first)
    return image


def play_in_step(image_user_or_node, strip) -> None:
    """Make an image user (or compositor Image node) show frame k of the strip at its frame k.

    Blender shows file number ``frame - frame_start + 1 + frame_offset``; the strip's
    first file is number ``first_number`` (its content index).
    """
    first_number = int(Path(strip.elements[0].filename).stem)
    image_user_or_node.frame_duration = len(strip.elements)
    image_user_or_node.frame_start = strip.frame_final_start
    image_user_or_node.frame_offset = first_number - 1
    image_user_or_node.use_auto_refresh = True


def _node_trees(scene) -> list:
    trees = [material.node_tree for material in bpy.data.materials if material.node_tree is not None]
    compositor = compat.existing_compositor_tree(scene)
    return trees + ([compositor] if compositor is not None else [])


def image_nodes(scene, folder: str) -> list[tuple]:
    """``(node, image user or node)`` of every image node made here that plays ``folder``'s frames."""
    found = []
    for tree in _node_trees(scene):
        for node in tree.nodes:
            if node.get(FRAMES_TAG) != folder:
                continue
            if node.bl_idname == "ShaderNodeTexImage":
                found.append((node, node.image_user))
            elif node.bl_idname == "CompositorNodeImage":
                found.append((node, node))
    return found


def material_node(material, strip):
    """The Image Texture node of ``material`` that already plays ``strip``'s frames, or None."""
    folder = frames_folder(strip)
    return next((node for node in material.node_tree.nodes
                 if node.bl_idname == "ShaderNodeTexImage" and node.get(FRAMES_TAG) == folder), None)


def tag_node(node, strip) -> None:
    """Mark an image node as playing ``strip``'s frames (so it follows the strip)."""
    node[FRAMES_TAG] = frames_folder(strip)


def follow_strip(scene, strip, old_folder: str) -> int:
    """Point every image and node that played ``old_folder``'s frames at ``strip`` as it is
    now (moved, trimmed, or baked again elsewhere): returns how many nodes were shifted."""
    images = _tagged_images(old_folder)
    nodes = image_nodes(scene, old_folder)
    if not images and not nodes:
        return 0
    first = _first_frame(strip)
    for image in images:
        _point_at(image, strip, first)
    for node, user in nodes:
        tag_node(node, strip)
        play_in_step(user, strip)
    return len(nodes)
