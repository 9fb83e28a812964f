"""The Style panel's timeline: a list of (moment, style, transition) entries. Drawing only."""

from __future__ import annotations

import bpy

from ..operators.blender import style_timeline
from ..operators.verbs import style_timeline as verbs


class NEURAL_AESTHETICS_UL_style_map(bpy.types.UIList):
    """One row per timeline entry: moment, style (with its thumbnail) and transition."""

    def draw_item(self, _context, layout, _data, item, _icon, _active_data, _active_property, _index=0, _flt_flag=0):
        row = layout.row(align=True)
        row.prop(item, "moment", text="", emboss=False, icon="MARKER_HLT")
        row.prop(item, "style", text="")
        row.prop(item, "transition", text="")


def draw_morph_partners(layout, settings) -> None:
    """Which styles the current style morphs with (the style browser's note)."""
    if settings.style == "NONE":
        return
    partners = style_timeline.morph_partners_of(settings.style)
    text = f"Morphs with: {', '.join(partners)}" if partners else "Morphs with no other style (crossfades)"
    layout.label(text=text, icon="MOD_SMOOTH")


def draw_timeline(layout, context) -> None:
    settings = context.scene.neural_aesthetics
    box = layout.box()
    box.prop(settings, "use_style_map")
    if not settings.use_style_map:
        return
    row = box.row()
    row.template_list(NEURAL_AESTHETICS_UL_style_map.__name__, "", settings, "style_map", settings, "style_map_index",
                      rows=3)
    buttons = row.column(align=True)
    buttons.operator(verbs.NEURAL_AESTHETICS_OT_style_map_add.bl_idname, text="", icon="ADD")
    buttons.operator(verbs.NEURAL_AESTHETICS_OT_style_map_remove.bl_idname, text="", icon="REMOVE")
    buttons.separator()
    buttons.operator(verbs.NEURAL_AESTHETICS_OT_style_map_move.bl_idname, text="", icon="TRIA_UP").direction = "UP"
    buttons.operator(verbs.NEURAL_AESTHETICS_OT_style_map_move.bl_idname, text="", icon="TRIA_DOWN").direction = "DOWN"
    box.operator(verbs.NEURAL_AESTHETICS_OT_style_map_fill.bl_idname, icon="SEQ_SEQUENCER")
    index = settings.style_map_index
    if not 0 <= index < len(settings.style_map):
        if not len(settings.style_map):
            box.label(text="Add entries, or give each section a style", icon="INFO")
        return
    entry = settings.style_map[index]
    column = box.column()
    column.use_property_split = True
    column.use_property_decorate = False
    column.prop(entry, "moment")
    column.template_icon_view(entry, "style", show_labels=True, scale=3.0, scale_popup=5.0)
    column.prop(entry, "transition")
    if entry.transition != "cut":
        length = column.row(align=True)
        length.prop(entry, "transition_length")
        length.prop(entry, "transition_unit", text="")
    note = style_timeline.morph_note(settings, index)
    if note:
        column.label(text=note, icon="INFO")


CLASSES = (NEURAL_AESTHETICS_UL_style_map,)
