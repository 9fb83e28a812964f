"""Sidebar tabs in the Sequencer and the 3D Viewport. Drawing only: no logic here.

The same panels appear in both editors (the "Neural" tab): a parent panel with the
running job, and sub-panels Style, Train, Audio, Bake and Use.
"""

from __future__ import annotations

import bpy

from ..core.render.mapping import EFFECTS
from ..operators import live_preview as preview
from ..operators.blender import strips
from ..operators.verbs import train_style as training
from ..operators.verbs.audio_features import NEURAL_AESTHETICS_OT_bake_audio_features as BakeAudioFeatures
from ..operators.verbs import song_map
from ..operators.verbs.resync import NEURAL_AESTHETICS_OT_resync as Resync
from ..operators.verbs.train_style import NEURAL_AESTHETICS_OT_train_style as TrainStyle
from ..operators.verbs.add_visualizer import NEURAL_AESTHETICS_OT_add_visualizer_strip as AddVisualizer
from ..operators.verbs.use_frames import NEURAL_AESTHETICS_OT_add_to_compositor as AddToCompositor
from ..operators.verbs.use_frames import NEURAL_AESTHETICS_OT_apply_to_material as ApplyToMaterial

CATEGORY = "Neural"
SPACES = {"SEQUENCE_EDITOR": "sequencer", "VIEW_3D": "view3d"}


def _split(layout):
    layout.use_property_split = True
    layout.use_property_decorate = False
    return layout


def draw_main(panel, context):
    job = context.window_manager.neural_aesthetics_job
    layout = panel.layout
    if job.status == "RUNNING":
        row = layout.row(align=True)
        row.progress(factor=job.progress, type="BAR", text=job.message or "Working")
        row.operator("neural_aesthetics.cancel_job", text="", icon="CANCEL")
    elif job.status == "FAILED":
        layout.label(text=job.message, icon="ERROR")
    elif job.status == "CANCELLED":
        layout.label(text="Cancelled: finished frames are kept", icon="CANCEL")


def draw_style(panel, context):
    settings = context.scene.neural_aesthetics
    layout = panel.layout
    layout.template_icon_view(settings, "style", show_labels=True, scale=6.0, scale_popup=5.0)
    _split(layout).prop(settings, "style", text="Style")
    row = layout.row(align=True)
    row.operator("neural_aesthetics.import_style", icon="IMPORT")
    row.operator("neural_aesthetics.export_style", icon="EXPORT")


def draw_train(panel, context):
    settings = context.scene.neural_aesthetics_train
    layout = _split(panel.layout.column())
    layout.prop(settings, "prompt")
    layout.prop(settings, "negative_prompt")
    layout.prop(settings, "palette")
    layout.prop(settings, "reference_dir")
    layout.prop(settings, "steps")
    layout.prop(settings, "seed")
    layout.prop(settings, "name")
    icon, caption, _path = training.preview_status()
    if icon:
        panel.layout.template_icon(icon_value=icon, scale=6.0)
    if caption:
        panel.layout.label(text=caption, icon="SHADERFX")
    panel.layout.operator(TrainStyle.bl_idname, icon="SHADERFX")


def draw_audio(panel, context):
    scene = context.scene
    settings = scene.neural_aesthetics
    layout = panel.layout
    strip = strips.source_sound_strip(scene)
    if strip is None:
        layout.label(text=strips.active_sound_strip_problem(context) or "Click a sound strip", icon="INFO")
    else:
        layout.label(text=f"Source: {strip.name}", icon="SOUND")
        if strip.mute:
            layout.label(text=f"'{strip.name}' is muted: unmute it to bake its features", icon="ERROR")
    column = _split(layout.column())
    column.prop(settings, "preset")
    column.prop(settings, "strength", slider=True)
    column.prop(settings, "use_custom_strengths")
    strengths = column.column(align=True)
    strengths.active = settings.use_custom_strengths
    for effect in EFFECTS:
        strengths.prop(settings, f"strength_{effect}", slider=True)
    column.prop(settings, "use_custom_smoothing")
    smoothing = column.column(align=True)
    smoothing.active = settings.use_custom_smoothing
    for effect in EFFECTS:
        smoothing.prop(settings, f"smoothing_{effect}")
    listen = column.column(heading="Listen To", align=True)
    for effect in EFFECTS:
        listen.prop(settings, f"source_{effect}", icon="SOUND")
    layout.prop(settings, "live_preview", icon="PLAY")
    text, icon = preview.status(scene)
    if text:
        layout.label(text=text, icon=icon)
    layout.operator(BakeAudioFeatures.bl_idname, icon="GRAPH")
    layout.operator(song_map.NEURAL_AESTHETICS_OT_song_map.bl_idname, icon="IMAGE_DATA")
    image = song_map.map_image(strip)
    if image is not None:
        layout.template_icon(icon_value=layout.icon(image), scale=8.0)


def draw_bake(panel, context):
    scene = context.scene
    settings = scene.neural_aesthetics
    layout = _split(panel.layout)
    layout.prop(settings, "seed")
    layout.prop(settings, "output_dir")
    folder = strips.output_folder_setting(settings)
    if folder != settings.output_dir:
        layout.label(text=f"From the preferences: {folder}", icon="PREFERENCES")
    layout.prop(settings, "use_scene_resolution")
    sub = layout.column(align=True)
    sub.active = not settings.use_scene_resolution
    sub.prop(settings, "resolution_x")
    sub.prop(settings, "resolution_y")
    layout.prop(settings, "use_custom_range")
    if settings.use_custom_range:
        sub = layout.column(align=True)
        sub.prop(settings, "frame_range_start")
        sub.prop(settings, "frame_range_end")
    else:
        strip = strips.source_sound_strip(scene)
        if strip is not None:
            layout.label(text=f"Whole strip: frames {strip.frame_final_start}-{strip.frame_final_end - 1}")
    layout.prop(settings, "image_format")
    layout.prop(settings, "backend")
    panel.layout.operator(AddVisualizer.bl_idname, icon="SEQ_STRIP_DUPLICATE")


def draw_use(panel, context):
    layout = panel.layout
    visualizer = strips.visualizer_strip(context.scene)
    if visualizer is not None:
        reason = strips.out_of_sync(context.scene, visualizer)
        box = layout.box()
        if reason is None:
            box.label(text=f"'{visualizer.name}' is in sync", icon="CHECKMARK")
        else:
            box.label(text=f"Out of sync: {reason}", icon="ERROR")
            row = box.row(align=True)
            row.operator(Resync.bl_idname, text="Re-sync", icon="FILE_REFRESH").rebake = False
            row.operator(Resync.bl_idname, text="Re-bake", icon="RENDER_ANIMATION").rebake = True
    layout.operator(ApplyToMaterial.bl_idname, icon="MATERIAL")
    layout.operator(AddToCompositor.bl_idname, icon="NODE_COMPOSITING")


def _panel_classes() -> list:
    classes = []
    for space, short in SPACES.items():
        parent_id = f"NEURAL_AESTHETICS_PT_{short}"
        specs = [
            (parent_id, "Neural Aesthetics", None, draw_main),
            (f"{parent_id}_style", "Style", parent_id, draw_style),
            (f"{parent_id}_train", "Train", parent_id, draw_train),
            (f"{parent_id}_audio", "Audio", parent_id, draw_audio),
            (f"{parent_id}_bake", "Bake", parent_id, draw_bake),
            (f"{parent_id}_use", "Use", parent_id, draw_use),
        ]
        for idname, label, parent, draw in specs:
            attributes = {
                "bl_idname": idname, "bl_label": label, "bl_space_type": space,
                "bl_region_type": "UI", "bl_category": CATEGORY, "draw": draw,
            }
            if parent:
                attributes["bl_parent_id"] = parent
            classes.append(type(idname, (bpy.types.Panel,), attributes))
    return classes


CLASSES = _panel_classes()


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
