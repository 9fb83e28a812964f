"""The scene's style timeline as plain values: the style map and markers a bake request takes."""

from __future__ import annotations

from ...core.render import timeline, transitions
from . import style_previews as styles


def scene_markers(scene) -> dict[str, float]:
    """Timeline marker name -> scene frame (a style map's moments may name them)."""
    return {marker.name: float(marker.frame) for marker in scene.timeline_markers}


def settings_style_map(settings) -> timeline.StyleMap | None:
    """The Style panel's timeline (None when it is off or empty), with style names."""
    if not settings.use_style_map or not len(settings.style_map):
        return None
    entries = tuple(timeline.Entry(entry.moment.strip(), entry.style, entry.as_transition())
                    for entry in settings.style_map)
    return timeline.style_map_from_json(timeline.StyleMap(entries).to_json(), "style timeline")


def with_transition(style_map: timeline.StyleMap, transition: str) -> timeline.StyleMap:
    """Every entry of the map coming in by ``transition`` (e.g. ``crossfade:2b``)."""
    parsed = timeline.parse_transition(transition)
    return timeline.StyleMap(tuple(timeline.Entry(entry.moment, entry.style) for entry in style_map.entries), parsed)


def request_style_map(style_map: timeline.StyleMap | None) -> dict | None:
    """A bake request's ``style_map``: the map with each style name replaced by its file."""
    if style_map is None:
        return None
    return timeline.with_styles(style_map, styles.resolve).to_json()


def morph_note(settings, index: int) -> str | None:
    """Why entry ``index``'s morph will crossfade (its style and the previous one's are
    different networks), or None."""
    entries = settings.style_map
    if not 0 < index < len(entries) or entries[index].transition != "morph":
        return None
    previous, entry = entries[index - 1].style, entries[index].style
    found = {info.name: info for info in styles.available()}
    if previous not in found or entry not in found or previous == entry:
        return None
    if transitions.morphable(found[previous].architecture, found[entry].architecture):
        return None
    return f"{entry} and {previous} are different networks: this morph crossfades"


def morph_partners_of(name: str) -> list[str]:
    """The installed styles that morph with style ``name``."""
    return transitions.morph_partners(styles.available()).get(name, [])
