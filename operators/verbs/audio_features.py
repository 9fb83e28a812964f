"""Bake Audio Features: a sound strip's features as F-curves and its beats as markers.

The operator analyses a sound strip (``core.audio``, cached on disk in the extension's
user folder) and writes:

- each chosen channel as an F-curve on a custom property of the scene, named
  ``<prefix><stem>_<channel>`` (e.g. ``na_music_bass``), one key per frame of the strip
  with linear interpolation, so any property in Blender can be driven by it
  (driver variable: Single Property, ID type Scene, path ``["na_music_bass"]``);
- optionally beats, downbeats (bars), section starts and chord changes as timeline markers
  named ``<marker prefix> beat 12``, ``<marker prefix> bar 3``, ``<marker prefix> section 2``,
  ``<marker prefix> chord Am7``.

Running it again replaces that strip's curves and the markers it made (markers are
recognised by their name prefix). A *muted* strip is refused with a message: it plays
silence, so features baked from it would not match what is heard; unmute it first.
The analysis runs in the Blender process (a first analysis of a 6-minute song takes a
few seconds; repeats come from the cache).
"""

from __future__ import annotations

import bpy
import numpy as np

from ...core import audio
from ...core.errors import UserError
from ..blender import compat, strips
from ..settings import preferences
from .job_progress import ExplainsPoll

DEFAULT_FEATURES = ("loudness,onset,beat,downbeat,beat_phase,bass,treble,percussive,harmonic,section,"
                    "chord_change,chord_root,key_index")


def stem_name(strip) -> str:
    """The name a strip's features are addressed by: its name, lower-case, safe for paths."""
    return bpy.path.clean_name(strip.name).lower()


def muted_problem(strip) -> str | None:
    if strip.mute:
        return (f"The sound strip '{strip.name}' is muted: it plays silence, so its features would not "
                "match what you hear — unmute it first")
    return None


def parse_features(text: str, params: audio.AnalysisParams) -> list[str]:
    """Channel names from a comma-separated list; a sentence naming the valid ones if one is unknown."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    valid = params.channel_names()
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise UserError(f"Unknown feature(s) {', '.join(unknown)}: choose from {', '.join(valid)}")
    if not names:
        raise UserError("No features chosen: list channel names separated by commas, e.g. loudness,beat,bass")
    return names


def analyse_strip(scene, strip, params: audio.AnalysisParams = audio.AnalysisParams()) -> audio.FeatureTrack:
    """The strip's features for the frames it plays (one row per frame), cached on disk."""
    problem = strips.sound_strip_problem(strip, called="strip") or muted_problem(strip)
    if problem:
        raise UserError(problem)
    path = strips.sound_file(strip)
    timing = strips.strip_timing(scene, strip)
    return audio.analyze(path, timing, params, cache_dir=preferences.analysis_cache_dir())


def write_property_curve(scene, name: str, frames: np.ndarray, values: np.ndarray):
    """Animate ``scene[name]`` with one linear key per frame; replaces earlier keys."""
    scene[name] = float(values[0]) if len(values) else 0.0
    data_path = f'["{name}"]'
    curve = compat.scene_property_fcurve(scene, data_path)
    points = curve.keyframe_points
    while len(points):  # (clear() is not in every supported version)
        points.remove(points[-1], fast=True)
    points.add(len(frames))
    coordinates = np.empty(2 * len(frames), dtype=np.float32)
    coordinates[0::2] = frames
    coordinates[1::2] = values
    points.foreach_set("co", coordinates)
    interpolation = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
    points.foreach_set("interpolation", np.full(len(frames), interpolation, dtype=np.int32))
    curve.update()
    return curve


def replace_markers(scene, prefix: str, named_frames: list[tuple[str, int]]) -> int:
    """Remove the markers named ``prefix ...`` and add ``named_frames``; returns how many were added."""
    markers = scene.timeline_markers
    for marker in [m for m in markers if m.name.startswith(prefix + " ")]:
        markers.remove(marker)
    for name, frame in named_frames:
        markers.new(f"{prefix} {name}", frame=int(frame))
    return len(named_frames)


def event_frames(track: audio.FeatureTrack, channel: str) -> list[int]:
    return [int(frame) for frame in track.timing.frames()[track[channel] >= 0.5]]


def chord_markers(track: audio.FeatureTrack) -> list[tuple[str, int]]:
    """``("chord <name>", frame)`` for every chord that starts within the track's frames
    (of two starting in one frame, the later: the one the frame's ``chord_root`` shows)."""
    if track.harmony is None:
        return []
    times, labels = track.harmony.chord_starts()
    rows = np.searchsorted(track.timing.frame_edges_s(), times, side="right") - 1
    named = {int(row): label for row, label in zip(rows, labels) if 0 <= row < track.timing.n_frames}
    return [(f"chord {label}", track.timing.frame_first + row) for row, label in named.items()]


class NEURAL_AESTHETICS_OT_bake_audio_features(ExplainsPoll, bpy.types.Operator):
    """Write a sound strip's audio features as F-curves on scene properties (to drive anything), and beats as markers"""

    bl_idname = "neural_aesthetics.bake_audio_features"
    bl_label = "Bake Audio Features"
    bl_options = {"REGISTER", "UNDO"}

    strip_name: bpy.props.StringProperty(
        name="Strip", description="Sound strip to analyse (empty: the active strip)", default="")
    features: bpy.props.StringProperty(
        name="Features", description="Channels to write, separated by commas", default=DEFAULT_FEATURES)
    prefix: bpy.props.StringProperty(
        name="Property Prefix", description="Scene property names start with this, then the strip's name",
        default="na_")
    beat_markers: bpy.props.BoolProperty(name="Beat Markers", default=False)
    downbeat_markers: bpy.props.BoolProperty(name="Bar Markers", default=True)
    section_markers: bpy.props.BoolProperty(name="Section Markers", default=True)
    chord_markers: bpy.props.BoolProperty(
        name="Chord Markers", description="A marker named after the chord (e.g. 'Am7') where each chord starts",
        default=False)
    marker_prefix: bpy.props.StringProperty(
        name="Marker Prefix", description="Markers made here are named with this first, then replaced on re-bake",
        default="NA")

    @classmethod
    def problem(cls, context):
        return strips.active_sound_strip_problem(context)

    def _strip(self, context):
        scene = context.scene
        if self.strip_name:
            return strips.find_sound_strip(scene, self.strip_name)
        strip, problem = strips.bake_source(scene)
        if problem:
            raise UserError(problem)
        return strip

    def execute(self, context):
        scene = context.scene
        try:
            strip = self._strip(context)
            # (the meter and tempo the Audio panel gives the bake)
            params = audio.AnalysisParams().with_song_hints(**strips.song_hints(scene.neural_aesthetics))
            names = parse_features(self.features, params)
            track = analyse_strip(scene, strip, params)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        stem = stem_name(strip)
        frames = track.timing.frames().astype(np.float32)
        for name in names:
            write_property_curve(scene, f"{self.prefix}{stem}_{name}", frames, track[name])
        markers = []
        if self.beat_markers:
            markers += [(f"beat {i + 1}", f) for i, f in enumerate(event_frames(track, "beat"))]
        if self.downbeat_markers:
            markers += [(f"bar {i + 1}", f) for i, f in enumerate(event_frames(track, "downbeat"))]
        if self.section_markers:
            markers += [(f"section {i + 1}", f) for i, f in enumerate(event_frames(track, "section_change"))]
        if self.chord_markers:
            markers += chord_markers(track)
        added = replace_markers(scene, f"{self.marker_prefix} {stem}".strip(), markers)
        self.report({"INFO"}, f"Wrote {len(names)} feature curve(s) for '{strip.name}' over "
                              f"{track.timing.n_frames} frames and {added} marker(s)")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_bake_audio_features,)
