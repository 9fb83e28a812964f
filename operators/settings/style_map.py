"""The scene's style timeline: one entry per moment of the song (see ``core.render.timeline``)."""

from __future__ import annotations

import bpy

from ...core.render import timeline
from ..blender import style_previews as styles

TRANSITION_ITEMS = (
    ("cut", "Cut", "The new style starts on the moment's frame"),
    ("crossfade", "Crossfade", "The two styles' frames blend in linear light over the transition, ending on "
     "the moment"),
    ("morph", "Morph", "The networks themselves blend: the picture flows from one style into the other "
     "(styles of the same network only; others crossfade)"),
)
UNIT_ITEMS = (
    ("b", "Beats", "The transition's length in beats of the song"),
    ("s", "Seconds", "The transition's length in seconds"),
)


def _style_items(_self, _context):
    return styles.enum_items()


def _moment_names(_self, context, _edit_text):
    """Search list of a moment: the scene's markers, then the song's sections."""
    settings = context.scene.neural_aesthetics
    markers = sorted(marker.name for marker in context.scene.timeline_markers)
    return markers + [f"section {number}" for number in range(1, max(1, settings.style_map_sections) + 1)]


class NeuralAestheticsStyleMapEntry(bpy.types.PropertyGroup):
    """From a moment of the song on, this style paints; it comes in by the transition."""

    moment: bpy.props.StringProperty(
        name="Moment",
        description="Where this style takes over: a timeline marker's name, 'section 2' (the song's second "
        "section), or a time in the song such as 45s or 1:30",
        default="section 1",
        search=_moment_names,
    )
    style: bpy.props.EnumProperty(name="Style", description="The style from this moment on", items=_style_items)
    transition: bpy.props.EnumProperty(name="Transition", description="How this style comes in",
                                       items=TRANSITION_ITEMS, default="crossfade")
    transition_length: bpy.props.FloatProperty(
        name="Length", description="How long the transition into this style lasts, ending on the moment",
        default=2.0, min=0.01, max=256.0, soft_max=16.0)
    transition_unit: bpy.props.EnumProperty(name="Unit", items=UNIT_ITEMS, default="b")

    def as_transition(self) -> timeline.Transition:
        if self.transition == "cut":
            return timeline.CUT
        return timeline.Transition(self.transition, float(self.transition_length), self.transition_unit)


SETTINGS_ANNOTATIONS = {
    "use_style_map": bpy.props.BoolProperty(
        name="Style Timeline",
        description="Change style along the song: one style per moment (section, marker or time) with "
        "crossfades or morphs between them, instead of one style for the whole song",
        default=False),
    "style_map": bpy.props.CollectionProperty(type=NeuralAestheticsStyleMapEntry),
    "style_map_index": bpy.props.IntProperty(name="Active Entry", default=0, min=0),
    "style_map_sections": bpy.props.IntProperty(
        name="Sections", description="How many sections the song's analysis found (offered as moments)",
        default=0, min=0),
}
"""The style timeline's properties of the scene settings (``properties.NeuralAestheticsSettings``)."""

CLASSES = (NeuralAestheticsStyleMapEntry,)
