"""A bake that follows a style map: its styles, its frames' looks and what it keeps.

``core.render.visualizer`` bakes a request with a ``style_map`` through this module:

- ``load`` reads every style the map names (each style file once) and the map itself;
- ``song_moments`` says where the song's sections, markers and beats are;
- ``frame_looks_by_name`` gives every frame of the song its ``timeline.FrameLook``
  identity, stored in the folder's record: a bake again after one entry changed finds
  which frames show something else now and rebakes only those.

The part of the bake's identity common to all frames (``key_part``) holds no style: the
styles are in each frame's look instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import bake, style as style_io, timeline, transitions
from ..errors import UserError


@dataclass
class TimelineStyles:
    """The styles of one style map.

    Attributes:
        style_map: the parsed map (entries' styles are style file paths).
        styles: each distinct style file, loaded, in order of first use.
        digests: the SHA-256 of each style file (``styles`` order).
        entry_styles: the index into ``styles`` of each entry (map order).
    """

    style_map: timeline.StyleMap
    styles: list
    digests: list[str]
    entry_styles: list[int]

    @property
    def latent_dim(self) -> int:
        """The plan's latent size: the largest of the styles' (each takes its first dimensions)."""
        return max(int(loaded.architecture["latent_dim"]) for loaded in self.styles)

    def morphable_pairs(self) -> set[tuple[int, int]]:
        return {(a, b) for a in range(len(self.styles)) for b in range(a + 1, len(self.styles))
                if transitions.morphable(self.styles[a].architecture, self.styles[b].architecture)}


def load(style_map_json: dict, digest_of) -> TimelineStyles:
    """Parse a request's ``style_map`` and load its styles (``digest_of(path)``: a file's digest).

    Raises:
        UserError: a bad map, or a style file that is missing or unreadable.
    """
    style_map = timeline.style_map_from_json(style_map_json)
    paths: list[Path] = []
    entry_styles = []
    for entry in style_map.entries:
        path = Path(entry.style).resolve()
        if not path.is_file():
            raise UserError(f"The style of '{entry.moment}' in the style map is missing: {entry.style}")
        if path not in paths:
            paths.append(path)
        entry_styles.append(paths.index(path))
    styles = [style_io.load_style(path) for path in paths]
    return TimelineStyles(style_map, styles, [digest_of(path) for path in paths], entry_styles)


def key_part(styles: TimelineStyles) -> dict:
    """What a style map adds to the bake's common identity (the styles are per frame)."""
    return {"latent_dim": styles.latent_dim}


def song_moments(track, timing, duration_s: float, markers: dict) -> timeline.SongMoments:
    """The moments of a song from its analysis ``track`` (a ``FeatureTrack``) and the scene's
    markers (name -> scene frame), placed on the frame that shows them."""
    return timeline.SongMoments(
        duration_s=float(duration_s),
        sections_s=tuple(float(t) for t in track.sections_s),
        section_labels=tuple(str(label) for label in getattr(track, "section_labels", ()) or ()),
        markers={str(name): timing.content_index(round(float(frame))) / timing.fps for name, frame in markers.items()},
        beats_s=tuple(float(t) for t in track.beats_s),
    )


def resolved_entries(styles: TimelineStyles, moments: timeline.SongMoments) -> list[timeline.ResolvedEntry]:
    keys = [str(index) for index in styles.entry_styles]
    return timeline.resolve(styles.style_map, moments, keys, styles.morphable_pairs())


def frame_looks_by_name(styles: TimelineStyles, resolved, fps: float, content_indices,
                        image_format: str) -> dict[str, tuple[timeline.FrameLook, str]]:
    """Frame file name -> (its look, the look's identity) for each content index."""
    looks = timeline.frame_looks(resolved, fps, content_indices)
    return {bake.frame_filename(index, image_format): (look, look.identity(styles.digests))
            for index, look in zip(content_indices, looks)}


def drop_changed_frames(out_dir: Path, kept: list[str], previous_looks: dict, looks: dict) -> list[str]:
    """Delete the kept frames whose look changed (or is unknown); returns the names still kept."""
    known = {name: identity for name, identity in (previous_looks or {}).items() if name in set(kept)}
    known.update({name: None for name in kept if name not in known})
    stale = set(timeline.stale_frames(known, looks))
    for name in stale:
        (out_dir / name).unlink(missing_ok=True)
    return [name for name in kept if name not in stale]
