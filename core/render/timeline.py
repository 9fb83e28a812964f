"""A style timeline: which style paints which part of a song, and how one turns into the next.

A *style map* is an ordered list of entries ``moment -> style``, each with the
*transition* into it:

- a **moment** is where the entry's style takes over: a timeline marker (by name), a
  section of the song map (by label, or ``section N``, 1-based as the section markers are
  named), or a time in the song (``45s``, ``1:30``, ``1:30.5``);
- a **transition** is ``cut``, ``crossfade:LEN`` or ``morph:LEN`` with ``LEN`` in seconds
  (``1.5s``) or beats (``2b``). It runs over the ``LEN`` just *before* the moment and
  ends on it, so the new style is whole on the section's first frame (the drop hits in
  the new look). Crossfade blends the two styles' frames in linear light; morph
  interpolates the two networks' weights (``morphable``), and falls back to a crossfade
  for styles of different architectures.

The first style (by moment) also paints the song before its moment. Text forms, for the
command line and the Flamenco job: ``"verse=nebula,chorus=lava,drop=glitch"`` or a JSON
file (``parse_style_map``). ``resolve`` turns a map into one ``FrameLook`` per frame of the
song (pure arithmetic on its content index), whose ``identity`` names what the frame shows:
a bake keeps a frame whose identity did not change, so editing one entry rebakes only the
frames of that entry and of its transitions.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

TRANSITION_KINDS = ("cut", "crossfade", "morph")
MAX_TRANSITION_S = 600.0
MAX_TRANSITION_BEATS = 256.0
MAX_ENTRIES = 256
_TRANSITION = re.compile(r"^\s*(cut|crossfade|morph)\s*(?::\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|b)?\s*)?$", re.IGNORECASE)
_SECTION = re.compile(r"^\s*section\s*#?\s*(\d+)\s*$", re.IGNORECASE)
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$", re.IGNORECASE)
_CLOCK = re.compile(r"^\s*(\d+):([0-5]?\d(?:\.\d*)?)\s*$")


@dataclass(frozen=True)
class Transition:
    """How the style of an entry comes in: ``kind`` over ``length`` seconds or beats.

    Attributes:
        kind: ``cut``, ``crossfade`` or ``morph`` (``TRANSITION_KINDS``).
        length: its length (0 for a cut), in ``unit``.
        unit: ``s`` (seconds) or ``b`` (beats of the song).
    """

    kind: str = "cut"
    length: float = 0.0
    unit: str = "s"

    def __str__(self) -> str:
        if self.kind == "cut" or self.length <= 0:
            return "cut"
        return f"{self.kind}:{self.length:g}{self.unit}"


CUT = Transition()


def parse_transition(text: str) -> Transition:
    """``cut``, ``crossfade:2b``, ``morph:1.5s`` (a length without unit is seconds).

    Raises:
        UserError: anything else, naming the forms that work.
    """
    match = _TRANSITION.match(str(text))
    if match is None:
        raise UserError(f"Bad transition '{text}': use cut, crossfade:LEN or morph:LEN with LEN in seconds "
                        f"or beats, e.g. crossfade:2b or morph:1.5s")
    kind, length, unit = match.group(1).lower(), match.group(2), (match.group(3) or "s").lower()
    if kind == "cut":
        if length is not None:
            raise UserError(f"Bad transition '{text}': a cut has no length (write just cut)")
        return CUT
    if length is None:
        raise UserError(f"Bad transition '{text}': give its length, e.g. {kind}:2b (beats) or {kind}:1.5s")
    value = float(length)
    limit = MAX_TRANSITION_S if unit == "s" else MAX_TRANSITION_BEATS
    if not 0 < value <= limit:
        raise UserError(f"Bad transition '{text}': its length must be above 0 and at most {limit:g}{unit}")
    return Transition(kind, value, unit)


@dataclass(frozen=True)
class Entry:
    """One row of a style map: from ``moment`` on, ``style`` paints, coming in by ``transition``.

    Attributes:
        moment: a marker name, section label, ``section N`` or a time (see the module).
        style: a style name or a style file path.
        transition: the transition into this entry, or None for the map's default.
    """

    moment: str
    style: str
    transition: Transition | None = None


@dataclass(frozen=True)
class StyleMap:
    """An ordered list of entries and the transition of entries that name none."""

    entries: tuple[Entry, ...]
    transition: Transition = CUT

    def transition_of(self, entry: Entry) -> Transition:
        return entry.transition if entry.transition is not None else self.transition

    def to_json(self) -> dict:
        """A JSON form that ``style_map_from_json`` reads back (the worker and the Flamenco job)."""
        return {"transition": str(self.transition),
                "entries": [{"at": entry.moment, "style": entry.style,
                             **({"transition": str(entry.transition)} if entry.transition is not None else {})}
                            for entry in self.entries]}


def with_styles(style_map: StyleMap, resolve) -> StyleMap:
    """The map with each entry's style replaced by ``resolve(style)`` (e.g. a name by its file)."""
    return StyleMap(tuple(Entry(entry.moment, str(resolve(entry.style)), entry.transition)
                          for entry in style_map.entries), style_map.transition)


def _entry(moment, style, transition=None, where: str = "style map") -> Entry:
    if not isinstance(moment, str) or not moment.strip():
        raise UserError(f"An entry of the {where} has no moment: give a marker, a section or a time")
    if not isinstance(style, str) or not style.strip():
        raise UserError(f"The entry '{moment}' of the {where} has no style: give a style name, e.g. {moment}=nebula")
    if transition is not None and not isinstance(transition, Transition):
        transition = parse_transition(str(transition))
    return Entry(moment.strip(), style.strip(), transition)


def style_map_from_json(data, where: str = "style map") -> StyleMap:
    """A map from its JSON form: ``{"transition": ..., "entries": [{"at", "style",
    "transition"?}, ...]}``, a plain list of such entries, or ``{"verse": "nebula", ...}``."""
    transition = CUT
    if isinstance(data, dict) and "entries" in data:
        transition = parse_transition(data.get("transition") or "cut")
        data = data["entries"]
    if isinstance(data, dict):
        entries = [_entry(moment, style, where=where) for moment, style in data.items()]
    elif isinstance(data, list):
        entries = []
        for item in data:
            if not isinstance(item, dict):
                raise UserError(f"Every entry of the {where} must be an object like "
                                f'{{"at": "chorus", "style": "lava"}}, not {item!r}')
            entries.append(_entry(item.get("at"), item.get("style"), item.get("transition"), where))
    else:
        raise UserError(f"The {where} must be a list of entries or an object of moment: style")
    return _checked(StyleMap(tuple(entries), transition), where)


def _checked(style_map: StyleMap, where: str) -> StyleMap:
    if not style_map.entries:
        raise UserError(f"The {where} is empty: give at least one moment=style entry")
    if len(style_map.entries) > MAX_ENTRIES:
        raise UserError(f"The {where} has {len(style_map.entries)} entries: at most {MAX_ENTRIES} are allowed")
    seen = set()
    for entry in style_map.entries:
        if entry.moment.lower() in seen:
            raise UserError(f"The {where} names the moment '{entry.moment}' twice: give each moment one style")
        seen.add(entry.moment.lower())
    return style_map


def parse_style_map(text: str, transition: str | None = None) -> StyleMap:
    """A map from the command line: ``"verse=nebula,chorus=lava"`` or a ``.json`` file.

    ``transition`` (e.g. ``crossfade:2b``) is the default of entries that name none; in
    the inline form an entry may name its own after a second ``=``:
    ``chorus=lava=morph:1s``.
    """
    text = str(text).strip()
    if text.lower().endswith(".json") or (Path(text).is_file() and "=" not in text):
        path = Path(text)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise UserError(f"Cannot read the style map {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise UserError(f"The style map {path} is not valid JSON ({error})") from None
        style_map = style_map_from_json(data, where=f"style map {path.name}")
    else:
        entries = []
        for part in (piece for piece in text.split(",") if piece.strip()):
            pieces = part.split("=")
            if len(pieces) not in (2, 3):
                raise UserError(f"Bad style map entry '{part.strip()}': write MOMENT=STYLE, e.g. chorus=lava")
            entries.append(_entry(*pieces))
        style_map = _checked(StyleMap(tuple(entries)), "style map")
    if transition is not None:
        style_map = StyleMap(style_map.entries, parse_transition(transition))
    return style_map


# --- moments -> frames ------------------------------------------------------------------


@dataclass(frozen=True)
class SongMoments:
    """What moments of one song can be named, all in song seconds (t = 0: the file's start).

    Attributes:
        duration_s: the song's length.
        sections_s: the start of every section after the first (as the analysis gives them).
        section_labels: a label per section (the first included), or empty when the
            song map has none.
        markers: timeline marker name -> its time in the song.
        beats_s: beat times (for transitions measured in beats).
    """

    duration_s: float
    sections_s: tuple[float, ...] = ()
    section_labels: tuple[str, ...] = ()
    markers: dict = field(default_factory=dict)
    beats_s: tuple[float, ...] = ()

    def section_starts(self) -> list[float]:
        return [0.0] + [float(t) for t in self.sections_s]

    def time_of(self, moment: str) -> float:
        """The song time (seconds) of a moment's text (``UserError`` when it names nothing)."""
        for name, time_s in self.markers.items():
            if name == moment:
                return float(time_s)
        lowered = moment.lower()
        for name, time_s in self.markers.items():
            if name.lower() == lowered:
                return float(time_s)
        starts = self.section_starts()
        for index, label in enumerate(self.section_labels):
            if str(label).lower() == lowered and index < len(starts):
                return starts[index]
        section = _SECTION.match(moment)
        if section is not None:
            number = int(section.group(1))
            if not 1 <= number <= len(starts):
                raise UserError(f"The style map names {moment}, but the song has {len(starts)} section(s): "
                                f"use section 1 to section {len(starts)}, or analyse the song again")
            return starts[number - 1]
        seconds, clock = _SECONDS.match(moment), _CLOCK.match(moment)
        if seconds is not None:
            time_s = float(seconds.group(1))
        elif clock is not None:
            time_s = 60.0 * int(clock.group(1)) + float(clock.group(2))
        else:
            known = list(self.markers) + [str(label) for label in self.section_labels]
            offer = f" (markers and sections here: {', '.join(known[:12])})" if known else ""
            raise UserError(f"The style map's moment '{moment}' is no marker, section or time{offer}: "
                            f"use a marker name, 'section 2' or a time like 45s or 1:30")
        if time_s > self.duration_s:
            raise UserError(f"The style map's moment '{moment}' ({time_s:g} s) is after the end of the song "
                            f"({self.duration_s:.1f} s)")
        return time_s

    def beats_before(self, moment_s: float, beats: float) -> float:
        """The time ``beats`` beats before ``moment_s`` on the song's beat grid (seconds)."""
        grid = sorted(float(t) for t in self.beats_s)
        if len(grid) < 2:
            raise UserError("The song has no beats to measure a transition in: give its length in seconds, "
                            "e.g. crossfade:1.5s")
        intervals = [b - a for a, b in zip(grid, grid[1:]) if b > a]
        period = sorted(intervals)[len(intervals) // 2]
        # the beat position of the moment, from the beat at or before it (extrapolated outside the grid)
        before = [t for t in grid if t <= moment_s + 1e-6]
        anchor = before[-1] if before else grid[0]
        index = grid.index(anchor)
        position = index + (moment_s - anchor) / period
        target = position - beats
        whole = math.floor(target)
        if whole < 0:
            return grid[0] + target * period
        if whole >= len(grid) - 1:
            return grid[-1] + (target - (len(grid) - 1)) * period
        return grid[whole] + (target - whole) * (grid[whole + 1] - grid[whole])


@dataclass(frozen=True)
class FrameLook:
    """What one frame shows: style ``first`` alone, or ``weight`` of the way to ``second``.

    Attributes:
        first: index of a style (into the resolved styles).
        second: index of the style coming in, or None for a frame of one style.
        weight: 0..1, how far towards ``second`` (0 exactly only without ``second``).
        kind: ``crossfade`` or ``morph`` while two styles meet, else ``cut``.
    """

    first: int
    second: int | None = None
    weight: float = 0.0
    kind: str = "cut"

    def identity(self, style_digests: list[str]) -> str:
        """A short digest of what the frame shows (styles by content, the weight, the kind)."""
        if self.second is None:
            text = style_digests[self.first]
        else:
            text = f"{style_digests[self.first]}>{style_digests[self.second]}:{self.kind}:{self.weight!r}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class ResolvedEntry:
    """An entry placed on the song: its style's index, its moment and its transition window."""

    style: int
    moment_s: float
    transition: Transition
    start_s: float
    kind: str


def resolve(style_map: StyleMap, moments: SongMoments, style_keys: list[str],
            morphable_pairs: set[tuple[int, int]] | None = None) -> list[ResolvedEntry]:
    """Place each entry of ``style_map`` on the song, in time order.

    Args:
        style_keys: one key per entry (in map order) saying which distinct style it
            uses; entries with equal keys share a style index.
        morphable_pairs: pairs of style indices whose networks morph (``morphable``);
            a morph between any other two styles becomes a crossfade.

    Raises:
        UserError: a moment names nothing, or two entries start at the same time.
    """
    distinct = list(dict.fromkeys(style_keys))
    placed = sorted(((moments.time_of(entry.moment), order, entry) for order, entry in enumerate(style_map.entries)),
                    key=lambda item: (item[0], item[1]))
    for (time_a, _, a), (time_b, _, b) in zip(placed, placed[1:]):
        if abs(time_b - time_a) < 1e-9:
            raise UserError(f"The style map's moments '{a.moment}' and '{b.moment}' are both at {time_a:g} s: "
                            f"give each part of the song one style")
    resolved, previous_s = [], 0.0
    for position, (time_s, order, entry) in enumerate(placed):
        transition = style_map.transition_of(entry) if position else CUT
        style = distinct.index(style_keys[order])
        start_s = time_s
        if transition.kind != "cut":
            if transition.unit == "b":
                start_s = moments.beats_before(time_s, transition.length)
            else:
                start_s = time_s - transition.length
            start_s = max(start_s, previous_s)
        kind = transition.kind
        if kind == "morph" and resolved:
            pair = tuple(sorted((resolved[-1].style, style)))
            if pair[0] != pair[1] and pair not in (morphable_pairs or set()):
                kind = "crossfade"
        resolved.append(ResolvedEntry(style, time_s, transition, start_s, kind if start_s < time_s else "cut"))
        previous_s = time_s
    return resolved


def frame_looks(resolved: list[ResolvedEntry], fps: float, content_indices) -> list[FrameLook]:
    """The look of each frame, by its content index (frame ``i`` shows song time ``i / fps``).

    A frame inside a transition window ``[start, moment)`` is ``weight = (t - start) /
    (moment - start)`` of the way from the previous entry's style to this one's.
    """
    looks = []
    moments_s = [entry.moment_s for entry in resolved]
    for index in content_indices:
        time_s = int(index) / float(fps)
        current = max(0, bisect.bisect_right(moments_s, time_s + 1e-9) - 1)
        look = FrameLook(resolved[current].style)
        following = current + 1
        if following < len(resolved):
            entry = resolved[following]
            if entry.kind != "cut" and entry.start_s <= time_s < entry.moment_s - 1e-9:
                weight = (time_s - entry.start_s) / (entry.moment_s - entry.start_s)
                if weight > 0 and entry.style != resolved[current].style:
                    look = FrameLook(resolved[current].style, entry.style, round(weight, 6), entry.kind)
        looks.append(look)
    return looks


def stale_frames(previous_looks: dict, new_looks: dict) -> list[str]:
    """Frame names recorded with a look (``previous_looks``: name -> identity) other than
    the one the new timeline gives them (names it does not give a look are stale too)."""
    return sorted(name for name, identity in previous_looks.items() if new_looks.get(name) != identity)
