"""Every difference between the Blender versions we support (4.2 LTS to 5.0), in one place.

| | 4.2 / 4.3 | 4.4+ / 5.0 |
|---|---|---|
| VSE top-level strips | ``sequence_editor.sequences`` | ``sequence_editor.strips`` |
| every strip, meta contents too | ``sequences_all`` | ``strips_all`` |
| video output | ``image_settings.file_format = 'FFMPEG'`` | 5.0: ``media_type = 'VIDEO'`` first |
| sound strip's file offset | none | ``strip.sound_offset`` (seconds) |
| a path setting that accepts ``//`` | any ``DIR_PATH`` string | ``options={'PATH_SUPPORTS_BLEND_RELATIVE'}`` (else a warning) |
| linear colour space name | ``Linear Rec.709`` (``Linear`` in older OCIO configs) | ``Linear Rec.709`` |

Nothing outside this module tests ``bpy.app.version`` or probes for these names.
"""

from __future__ import annotations

import bpy


def _editor(scene: bpy.types.Scene):
    return scene.sequence_editor


def top_level_strips(scene: bpy.types.Scene):
    """The scene's top-level strip collection (has ``new_image``, ``new_sound``, ``remove``)."""
    editor = _editor(scene)
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def all_strips(scene: bpy.types.Scene) -> list:
    """Every strip of the scene, including strips inside meta strips; empty if no editor."""
    editor = _editor(scene)
    if editor is None:
        return []
    return list(editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)


def new_image_strip(scene, name: str, filepaths: list[str], channel: int, frame_start: int):
    """Add an image-sequence strip showing ``filepaths`` (same folder) from ``frame_start``."""
    strip = top_level_strips(scene).new_image(
        name=name, filepath=filepaths[0], channel=channel, frame_start=frame_start
    )
    for path in filepaths[1:]:
        strip.elements.append(bpy.path.basename(path))
    return strip


def new_sound_strip(scene, name: str, filepath: str, channel: int, frame_start: int):
    """Add a sound strip (needs a Blender built with audio support)."""
    scene.sequence_editor_create()
    return top_level_strips(scene).new_sound(
        name=name, filepath=filepath, channel=channel, frame_start=frame_start
    )


def set_video_output(scene, filepath: str) -> None:
    """Make ``scene`` render an H.264 + AAC MP4 to ``filepath`` (absolute or ``//``)."""
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    ffmpeg = scene.render.ffmpeg
    ffmpeg.format = "MPEG4"
    ffmpeg.codec = "H264"
    ffmpeg.audio_codec = "AAC"
    ffmpeg.audio_channels = "STEREO"
    scene.render.filepath = filepath


def sound_offset_s(strip) -> float:
    """Seconds of the sound file skipped at the strip's content start (4.2 has no such offset)."""
    return float(getattr(strip, "sound_offset", 0.0))


def ensure_material_nodes(material) -> None:
    """Give ``material`` a node tree (5.0 materials always have one; 4.2 needs use_nodes)."""
    if material.node_tree is None:
        material.use_nodes = True


def compositor_tree(scene):
    """The scene's compositor node tree, created if missing, and the input socket its
    final image goes into (4.2: the Composite node; 5.0: the group output)."""
    if hasattr(scene, "compositing_node_group"):
        tree = scene.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            scene.compositing_node_group = tree
        output = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"), None)
        if output is None:
            output = tree.nodes.new("NodeGroupOutput")
        if not tree.interface.items_tree:
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        return tree, output.inputs[0]
    scene.use_nodes = True
    tree = scene.node_tree
    output = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeComposite"), None)
    if output is None:
        output = tree.nodes.new("CompositorNodeComposite")
    return tree, output.inputs["Image"]


def existing_compositor_tree(scene):
    """The scene's compositor node tree, or None when it has none (nothing is created)."""
    if hasattr(scene, "compositing_node_group"):
        return scene.compositing_node_group
    return scene.node_tree if scene.use_nodes else None


def new_compositor_mix(tree, blend_type: str, factor: float):
    """A colour-mix node in the compositor: returns (node, factor, background, foreground, result)
    sockets. 4.2 has MixRGB; 5.0 uses the shared Mix node in RGBA mode."""
    if hasattr(bpy.types, "CompositorNodeMixRGB"):
        node = tree.nodes.new("CompositorNodeMixRGB")
        node.blend_type = blend_type
        sockets = node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]
    else:
        node = tree.nodes.new("ShaderNodeMix")
        node.data_type = "RGBA"
        node.blend_type = blend_type
        by_id = {socket.identifier: socket for socket in node.inputs}
        result = next(s for s in node.outputs if s.identifier == "Result_Color")
        sockets = by_id["Factor_Float"], by_id["A_Color"], by_id["B_Color"], result
    sockets[0].default_value = factor
    return (node, *sockets)


def scene_property_fcurve(scene, data_path: str):
    """The F-curve animating ``scene``'s ``data_path`` (index 0), created with the scene's
    action if missing (4.4+ layered actions: ``fcurve_ensure_for_datablock``)."""
    animation = scene.animation_data or scene.animation_data_create()
    if animation.action is None:
        animation.action = bpy.data.actions.new(f"{scene.name} Audio Features")
    action = animation.action
    if hasattr(action, "fcurve_ensure_for_datablock"):
        return action.fcurve_ensure_for_datablock(scene, data_path, index=0)
    return action.fcurves.find(data_path, index=0) or action.fcurves.new(data_path, index=0)


SRGB_COLORSPACE = "sRGB"
LINEAR_COLORSPACE_NAMES = ("Linear Rec.709", "Linear", "scene_linear")
"""Names Blender's colour configurations give scene-linear Rec.709, first match wins."""


def linear_colorspace(colorspace_settings) -> str:
    """The name of the scene-linear (Rec.709) colour space in ``colorspace_settings``' choices.

    ``colorspace_settings`` is an image's or image strip's ``colorspace_settings``: its
    enum lists what this Blender's OCIO configuration calls its colour spaces.
    """
    available = colorspace_settings.bl_rna.properties["name"].enum_items.keys()
    return next((name for name in LINEAR_COLORSPACE_NAMES if name in available), available[0])


def set_colorspace(colorspace_settings, linear: bool) -> None:
    """Tag pixels as scene-linear (EXR frames) or sRGB-encoded (PNG, JPEG frames).

    Only writes when the name changes: a change makes Blender reload the image.
    """
    name = linear_colorspace(colorspace_settings) if linear else SRGB_COLORSPACE
    if colorspace_settings.name != name:
        colorspace_settings.name = name


BLEND_RELATIVE_PATH_OPTIONS = (
    {"PATH_SUPPORTS_BLEND_RELATIVE"}
    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties else set()
)
"""``options`` of a path property whose value may start with ``//`` (next to the .blend)."""
