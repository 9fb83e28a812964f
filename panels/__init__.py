"""Sidebar tabs in the Sequencer and the 3D Viewport. Drawing only: no logic here.

The same panels appear in both editors (the "Neural" tab), top to bottom in the order a
first visualizer needs them (``PANELS``):

- the parent panel: the running job (bar and Cancel) and the help link;
- **Style**: the thumbnails, and Preview All Styles (every style on your song);
- **Bake**: the one obvious button, Add Visualizer Strip; under it why it is greyed,
  what it will cost (frames, size, time on this machine), Draft, and a colour warning;
- **Use**: the visualizer strip (in sync?, opacity, blend) and where else to show it;
- closed by default: **Audio** (how the music moves the picture), **Bake Details**
  (seed, folder, size, range, format, compute) and **Train**.

Each sub-panel draws in sections (``draw_*`` functions); a new one-line widget goes in
the section it belongs to. A greyed button always has its reason as a line under it
(``_button``), from the same ``problem`` its tooltip shows.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..operators import gpu_render
from ..core.render.mapping import EFFECTS
from ..operators import live_preview as preview
from ..operators.blender import colour, cost, strips, style_previews as styles
from . import style_timeline
from ..operators.verbs import train_style as training
from ..operators.verbs.add_visualizer import NEURAL_AESTHETICS_OT_add_visualizer_strip as AddVisualizer
from ..operators.verbs.audio_features import NEURAL_AESTHETICS_OT_bake_audio_features as BakeAudioFeatures
from ..operators.verbs import song_map
from ..operators.verbs.resync import NEURAL_AESTHETICS_OT_resync as Resync
from ..operators.verbs.style_sheet import NEURAL_AESTHETICS_OT_preview_styles as PreviewStyles
from ..operators.verbs.train_style import NEURAL_AESTHETICS_OT_train_style as TrainStyle
from ..operators.verbs.use_frames import NEURAL_AESTHETICS_OT_add_to_compositor as AddToCompositor
from ..operators.verbs.use_frames import NEURAL_AESTHETICS_OT_apply_to_material as ApplyToMaterial
from ..operators.verbs.view_transform import NEURAL_AESTHETICS_OT_use_standard_view as UseStandard

CATEGORY = "Neural"
SPACES = {"SEQUENCE_EDITOR": "sequencer", "VIEW_3D": "view3d"}
HELP_URL = (Path(__file__).resolve().parents[1] / "README.md").as_uri() + "#the-sidebar"
"""The README's section about this sidebar (the README ships inside the extension)."""


def _split(layout):
    layout.use_property_split = True
    layout.use_property_decorate = False
    return layout


def _button(layout, operator_class, context, icon: str, text: str | None = None, scale_y: float = 1.0):
    """A button, and under it the sentence saying why it is greyed (when it is)."""
    row = layout.row()
    row.scale_y = scale_y
    props = row.operator(operator_class.bl_idname, icon=icon, **({"text": text} if text is not None else {}))
    problem = operator_class.problem(context)
    if problem:
        layout.label(text=problem, icon="INFO")
    return props


# --- the parent panel ---------------------------------------------------------------------------

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


def draw_main_header(panel, _context):
    panel.layout.operator("wm.url_open", text="", icon="HELP", emboss=False).url = HELP_URL


# --- Style ------------------------------------------------------------------------------------

def draw_style(panel, context):
    settings = context.scene.neural_aesthetics
    layout = panel.layout
    layout.template_icon_view(settings, "style", show_labels=True, scale=6.0, scale_popup=5.0)
    _split(layout).prop(settings, "style", text="Style")
    row = layout.row(align=True)
    row.prop(settings, "thumbnails", expand=True)
    _button(layout, PreviewStyles, context, icon="IMGDISPLAY")
    sheet = styles.sheet_icon()
    if sheet and settings.thumbnails == "SONG":
        layout.template_icon(icon_value=sheet, scale=8.0)
    row = layout.row(align=True)
    row.operator("neural_aesthetics.import_style", icon="IMPORT")
    row.operator("neural_aesthetics.export_style", icon="EXPORT")
    style_timeline.draw_morph_partners(layout, settings)
    style_timeline.draw_timeline(layout, context)
    report_path = training.report_of_scene_style(context)
    if report_path:
        layout.operator("wm.path_open", text="Training Report", icon="IMAGE_DATA").filepath = report_path


# --- Bake: the one obvious button ---------------------------------------------------------------

def draw_cost(layout, context):
    """Frames, size and time of the next bake, the Draft toggle, and the colour warning."""
    scene = context.scene
    settings = scene.neural_aesthetics
    strip, _problem = strips.bake_source(scene)
    if strip is not None:
        layout.label(text=cost.cost_text(cost.bake_cost(scene, settings, strip)), icon="TIME")
    layout.prop(settings, "draft")
    warning = colour.view_warning(scene, settings.image_format)
    if warning:
        layout.label(text=warning, icon="ERROR")
        layout.operator(UseStandard.bl_idname, icon="COLOR")


def draw_bake(panel, context):
    layout = panel.layout
    _button(layout, AddVisualizer, context, icon="SEQ_STRIP_DUPLICATE", scale_y=1.5)
    draw_cost(layout, context)


# --- Use --------------------------------------------------------------------------------------

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
        if visualizer[strips.STRIP_TAG].get("draft", False):
            box.label(text="Draft (half size): bake with Draft off for the final frames", icon="INFO")
        heard = strips.heard_line(visualizer)
        if heard:
            box.label(text=heard, icon="SOUND")
        column = _split(box.column())
        column.prop(visualizer, "blend_alpha", text="Opacity", slider=True)
        column.prop(visualizer, "blend_type", text="Blend")
    _button(layout, ApplyToMaterial, context, icon="MATERIAL")
    _button(layout, AddToCompositor, context, icon="NODE_COMPOSITING")


# --- Audio (closed) ------------------------------------------------------------------------------

def draw_audio(panel, context):
    scene = context.scene
    settings = scene.neural_aesthetics
    layout = panel.layout
    strip, problem = strips.bake_source(scene)
    if strip is None:
        layout.label(text=problem, icon="INFO")
    else:
        layout.label(text=f"Source: {strip.name}", icon="SOUND")
        if strip.mute:
            layout.label(text=f"'{strip.name}' is muted: unmute it to bake its features", icon="ERROR")
    column = _split(layout.column())
    column.prop(settings, "preset")
    column.prop(settings, "beats_per_bar")
    tempo = column.row(heading="Tempo")
    tempo.prop(settings, "use_tempo", text="")
    value = tempo.row()
    value.active = settings.use_tempo
    value.prop(settings, "tempo_bpm", text="")
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
    _button(layout, BakeAudioFeatures, context, icon="GRAPH")
    layout.operator(song_map.NEURAL_AESTHETICS_OT_song_map.bl_idname, icon="IMAGE_DATA")
    image = song_map.map_image(strip)
    if image is not None:
        layout.template_icon(icon_value=layout.icon(image), scale=8.0)


# --- Bake Details (closed) -------------------------------------------------------------------------

def draw_bake_details(panel, context):
    scene = context.scene
    settings = scene.neural_aesthetics
    layout = _split(panel.layout)
    layout.prop(settings, "seed")
    layout.prop(settings, "output_dir")
    folder = strips.output_folder_setting(settings)
    if folder != settings.output_dir:
        layout.label(text=f"From the preferences: {folder}", icon="PREFERENCES")
    layout.prop(settings, "use_scene_resolution")
    width, height = strips.bake_size(scene, settings)
    if settings.use_scene_resolution:
        layout.label(text=f"Baked at {width} x {height} px" + (" (Draft: half size)" if settings.draft else ""))
    else:
        sub = layout.column(align=True)
        sub.prop(settings, "resolution_x")
        sub.prop(settings, "resolution_y")
        if settings.draft:
            layout.label(text=f"Draft: baked at {width} x {height} px")
    layout.prop(settings, "use_custom_range")
    if settings.use_custom_range:
        sub = layout.column(align=True)
        sub.prop(settings, "frame_range_start")
        sub.prop(settings, "frame_range_end")
    else:
        strip, _problem = strips.bake_source(scene)
        if strip is not None:
            layout.label(text=f"Whole strip: frames {strip.frame_final_start}-{strip.frame_final_end - 1}")
    layout.prop(settings, "image_format")
    layout.prop(settings, "backend")
    layout.label(text=gpu_render.device_label(settings.backend))


# --- Train (closed) ---------------------------------------------------------------------------------

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
    report_icon, report_path = training.report_status()
    if report_path:
        if report_icon:
            panel.layout.template_icon(icon_value=report_icon, scale=8.0)
        panel.layout.operator("wm.path_open", text="Open Training Report", icon="IMAGE_DATA").filepath = report_path
    panel.layout.operator(TrainStyle.bl_idname, icon="SHADERFX")


PANELS = (
    # (id suffix, label, draw, open by default)
    ("style", "Style", draw_style, True),
    ("bake", "Bake", draw_bake, True),
    ("use", "Use", draw_use, True),
    ("audio", "Audio", draw_audio, False),
    ("bake_details", "Bake Details", draw_bake_details, False),
    ("train", "Train", draw_train, False),
)
"""The sub-panels, top to bottom."""


def _panel_class(idname: str, label: str, space: str, draw, parent: str | None = None, is_open: bool = True,
                 draw_header=None):
    attributes = {
        "bl_idname": idname, "bl_label": label, "bl_space_type": space,
        "bl_region_type": "UI", "bl_category": CATEGORY, "draw": draw,
    }
    if parent:
        attributes["bl_parent_id"] = parent
    if not is_open:
        attributes["bl_options"] = {"DEFAULT_CLOSED"}
    if draw_header:
        attributes["draw_header"] = draw_header
    return type(idname, (bpy.types.Panel,), attributes)


def _panel_classes() -> list:
    classes = []
    for space, short in SPACES.items():
        parent_id = f"NEURAL_AESTHETICS_PT_{short}"
        classes.append(_panel_class(parent_id, "Neural Aesthetics", space, draw_main, draw_header=draw_main_header))
        for suffix, label, draw, is_open in PANELS:
            classes.append(_panel_class(f"{parent_id}_{suffix}", label, space, draw, parent_id, is_open))
    return classes


CLASSES = [*style_timeline.CLASSES, *_panel_classes()]


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
