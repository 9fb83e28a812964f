"""The Style panel's timeline list: add, remove and reorder entries, and fill it from the song's sections."""

from __future__ import annotations

import bpy

from ...core.errors import UserError
from ..blender import strips, style_timeline
from .audio_features import analyse_strip


def _entries(context):
    return context.scene.neural_aesthetics.style_map


def _has_active_entry(cls, context) -> bool:
    settings = context.scene.neural_aesthetics
    if not 0 <= settings.style_map_index < len(settings.style_map):
        cls.poll_message_set("Select an entry of the style timeline first")
        return False
    return True


class NEURAL_AESTHETICS_OT_style_map_add(bpy.types.Operator):
    """Add an entry to the style timeline: the current style from the next section on"""

    bl_idname = "neural_aesthetics.style_map_add"
    bl_label = "Add Timeline Entry"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.neural_aesthetics
        entries = settings.style_map
        taken = {entry.moment for entry in entries}
        number = 1
        while f"section {number}" in taken:
            number += 1
        entry = entries.add()
        entry.moment = f"section {number}"
        if settings.style != "NONE":
            entry.style = settings.style
        settings.style_map_index = len(entries) - 1
        settings.use_style_map = True
        return {"FINISHED"}


class NEURAL_AESTHETICS_OT_style_map_remove(bpy.types.Operator):
    """Remove the selected entry from the style timeline"""

    bl_idname = "neural_aesthetics.style_map_remove"
    bl_label = "Remove Timeline Entry"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _has_active_entry(cls, context)

    def execute(self, context):
        settings = context.scene.neural_aesthetics
        settings.style_map.remove(settings.style_map_index)
        settings.style_map_index = max(0, min(settings.style_map_index, len(settings.style_map) - 1))
        return {"FINISHED"}


class NEURAL_AESTHETICS_OT_style_map_move(bpy.types.Operator):
    """Move the selected entry of the style timeline up or down"""

    bl_idname = "neural_aesthetics.style_map_move"
    bl_label = "Move Timeline Entry"
    bl_options = {"REGISTER", "UNDO"}

    direction: bpy.props.EnumProperty(items=(("UP", "Up", "Move it up"), ("DOWN", "Down", "Move it down")))

    @classmethod
    def poll(cls, context):
        return _has_active_entry(cls, context)

    def execute(self, context):
        settings = context.scene.neural_aesthetics
        index = settings.style_map_index
        target = index - 1 if self.direction == "UP" else index + 1
        if not 0 <= target < len(settings.style_map):
            return {"CANCELLED"}
        settings.style_map.move(index, target)
        settings.style_map_index = target
        return {"FINISHED"}


def cycle_styles(settings) -> list[str]:
    """The styles a fill cycles through: the timeline's own (in order), else the current
    style and the styles it morphs with."""
    chosen = list(dict.fromkeys(entry.style for entry in settings.style_map))
    if len(chosen) >= 2:
        return chosen
    current = chosen[0] if chosen else settings.style
    if current == "NONE":
        raise UserError("No style is selected: pick a style first")
    return [current] + style_timeline.morph_partners_of(current)[:3]


class NEURAL_AESTHETICS_OT_style_map_fill(bpy.types.Operator):
    """Analyse the sound strip and give each of its sections a style, cycling through the timeline's styles
    (or the current style and the styles it morphs with)"""

    bl_idname = "neural_aesthetics.style_map_fill"
    bl_label = "A Style per Section"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if strips.source_sound_strip(context.scene) is None:
            cls.poll_message_set("Click a sound strip first: its sections become the timeline's moments")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        settings = scene.neural_aesthetics
        try:
            cycle = cycle_styles(settings)
            track = analyse_strip(scene, strips.source_sound_strip(scene))
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        first = settings.style_map[0] if len(settings.style_map) else None
        transition = ((first.transition, first.transition_length, first.transition_unit) if first is not None
                      else ("crossfade", 2.0, "b"))
        labels = [str(label) for label in getattr(track, "section_labels", ()) or ()]
        count = 1 + len(track.sections_s)
        settings.style_map.clear()
        for number in range(count):
            entry = settings.style_map.add()
            entry.moment = labels[number] if number < len(labels) and labels.count(labels[number]) == 1 \
                else f"section {number + 1}"
            entry.style = cycle[number % len(cycle)]
            entry.transition, entry.transition_length, entry.transition_unit = transition
        settings.style_map_sections = count
        settings.style_map_index = 0
        settings.use_style_map = True
        self.report({"INFO"}, f"{count} section(s): styles {', '.join(cycle)} in turn")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_style_map_add, NEURAL_AESTHETICS_OT_style_map_remove,
           NEURAL_AESTHETICS_OT_style_map_move, NEURAL_AESTHETICS_OT_style_map_fill)
