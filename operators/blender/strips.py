"""Reading a sound strip into plain values and wiring baked frames back as an image strip."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import bpy

from ...core import audio
from ...core.render import mapping
from ...core.render.frame_folder import reuse_problem
from ...core.errors import UserError
from ...core.audio.timing import Timing
from ...core.render.visualizer import BakeRequest, StemSource, VisualizerBake, pulse_words
from . import compat, frame_users, style_previews as styles, style_timeline
from ..settings import preferences

MAX_CHANNEL = 128
STRIP_TAG = "neural_aesthetics"
STRIP_ID = "neural_aesthetics_id"
"""Custom property of a sound strip: the name of its frame folder (its label and id), kept
from its first bake so that renaming the strip or Re-sync keep finding its frames."""


def sound_strip_problem(strip, called: str = "active strip") -> str | None:
    """Why ``strip`` cannot drive a visualizer, as a sentence with the fix; None if it can.

    ``called`` is how the sentence names the strip ("active strip", "strip").
    """
    if strip is None:
        return "No active strip: click a sound strip in the Sequencer first"
    if strip.type != "SOUND":
        return f"The {called} '{strip.name}' is {_a(strip.type.lower())} strip: select a sound strip"
    if strip.sound is None:
        return f"The sound strip '{strip.name}' has no sound: set its sound file"
    return None


def bake_source(scene) -> tuple:
    """The sound strip Add Visualizer Strip bakes, and why none can be (a sentence with the
    fix, or None). One rule for the button, its greyed reason and the panels:

    the active strip if it is a sound strip; the sound strip of the active visualizer
    strip; with nothing active, the scene's only sound strip. Any other active strip is
    refused (the user clicked something else).
    """
    editor = scene.sequence_editor
    if editor is None:
        return None, "This scene has no Sequencer strips: add a sound strip first"
    active = editor.active_strip
    if active is not None and active.type == "IMAGE" and STRIP_TAG in active:
        sound = sound_strip_of(scene, active)
        if sound is None:
            return None, f"The sound strip of '{active.name}' is gone: click a sound strip"
        active = sound
    if active is None:
        sounds = [strip for strip in compat.all_strips(scene) if strip.type == "SOUND"]
        if len(sounds) != 1:
            return None, ("No sound strip yet: Add › Sound in the Sequencer first" if not sounds
                          else f"{len(sounds)} sound strips: click the one to visualize")
        active = sounds[0]
    problem = sound_strip_problem(active)
    return (None, problem) if problem else (active, None)


def _a(word: str) -> str:
    """``word`` with its indefinite article: "a color", "an image"."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def active_sound_strip_problem(context) -> str | None:
    """Why Add Visualizer Strip has no sound strip to bake (``bake_source``), or None."""
    return bake_source(context.scene)[1]


def source_sound_strip(scene):
    """The sound strip the Audio panel and the live preview follow, or None.

    The active strip if it is a sound strip, else the sound strip of the active
    visualizer strip, else the scene's only sound strip.
    """
    editor = scene.sequence_editor
    if editor is None:
        return None
    active = editor.active_strip
    if active is not None and active.type == "SOUND":
        return active
    if active is not None and active.type == "IMAGE" and STRIP_TAG in active:
        return sound_strip_of(scene, active)
    sounds = [strip for strip in compat.all_strips(scene) if strip.type == "SOUND"]
    return sounds[0] if len(sounds) == 1 else None


def find_sound_strip(scene, name: str | None):
    """The strip called ``name``, else the active strip, else the scene's only sound strip."""
    strips = compat.all_strips(scene)
    if name:
        for strip in strips:
            if strip.name == name:
                problem = sound_strip_problem(strip, called="strip")
                if problem:
                    raise UserError(problem)
                return strip
        raise UserError(f"No strip named '{name}' in scene '{scene.name}'")
    editor = scene.sequence_editor
    if editor is not None and editor.active_strip is not None:
        problem = sound_strip_problem(editor.active_strip)
        if problem:
            raise UserError(problem)
        return editor.active_strip
    sounds = [strip for strip in strips if strip.type == "SOUND"]
    if len(sounds) != 1:
        raise UserError(
            f"Scene '{scene.name}' has {len(sounds)} sound strips: name one with --strip"
        )
    return sounds[0]


def strip_timing(scene, strip) -> Timing:
    """The scene frames the strip shows, and how they line up with its sound file."""
    fps = scene.render.fps / scene.render.fps_base
    return Timing.for_strip(
        fps=fps,
        content_frame_start=strip.frame_start - strip.animation_offset_start,
        sound_offset_s=compat.sound_offset_s(strip),
        frame_first=strip.frame_final_start,
        frame_end=strip.frame_final_end,
    )


def frames_past_file_end(scene, strip) -> int:
    """How many frames the strip plays after its sound file has ended (stretched past its
    end): they are silence, so the visuals only drift there."""
    timing = strip_timing(scene, strip)
    if timing.n_frames == 0:
        return 0
    content_frames = math.ceil(audio.duration_s(sound_file(strip)) * timing.fps)
    return max(0, min(timing.n_frames, timing.content_index(timing.frame_end - 1) - content_frames + 1))


def past_end_warning(scene, strip) -> str | None:
    """A sentence for the report when the strip plays past its file's end, else None."""
    silent = frames_past_file_end(scene, strip)
    if not silent:
        return None
    return (f"'{strip.name}' plays {silent} frames past the end of its sound file: they are silent, so the "
            "visuals only drift there (trim the strip to the sound's end)")


def sound_file(strip) -> Path:
    """Absolute path of the strip's sound file; a sentence if it cannot be read from disk."""
    sound = strip.sound
    if sound.packed_file is not None:
        raise UserError(
            f"The sound of strip '{strip.name}' is packed into the .blend: "
            "unpack it first (File > External Data > Unpack Resources)"
        )
    path = Path(bpy.path.abspath(sound.filepath, library=sound.library))
    if path.is_dir():
        raise UserError(f"The sound of strip '{strip.name}' is a folder, not a sound file: {path}: "
                        "set the strip's file path to the sound file")
    if not path.is_file():
        raise UserError(f"Sound file not found: {path} (used by strip '{strip.name}'): check the strip's file path")
    return path


def output_folder_setting(settings) -> str:
    """The scene's Output Folder, or the preferences' Default Output Folder for a scene
    whose Output Folder was never set (and the preference is)."""
    if not settings.is_property_set("output_dir"):
        default = preferences.get().default_output_dir
        if default:
            return default
    return settings.output_dir


def _id_for_name(name: str) -> str:
    """A folder name for a strip called ``name``: readable, and distinct for distinct names
    (``Music.001`` and ``Music_001`` clean to the same text, their digests differ)."""
    return f"{bpy.path.clean_name(name)}_{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def strip_id(strip) -> str:
    """The stable id of a sound strip, which names its frame folder (see ``STRIP_ID``).

    The id stored on the strip by its first Add Visualizer Strip, else one made from its
    name (the same on every farm machine). A strip duplicated in Blender carries its
    original's id: the copy (whose name does not match that id) gets one of its own.
    """
    stored = strip.get(STRIP_ID)
    if isinstance(stored, str) and stored:
        own = _id_for_name(strip.name)
        if own == stored:
            return stored
        twins = [other for scene in bpy.data.scenes for other in compat.all_strips(scene)
                 if other.type == "SOUND" and other.get(STRIP_ID) == stored and other != strip]
        if not any(_id_for_name(twin.name) == stored for twin in twins):
            return stored  # (renamed after its first bake: the folder stays)
        return own
    return _id_for_name(strip.name)


def project_name() -> str:
    """The open .blend's file name without extension (``untitled`` before it is saved)."""
    return Path(bpy.data.filepath).stem if bpy.data.filepath else "untitled"


def output_folder(settings_dir: str, strip) -> Path:
    """The strip's frame folder: ``<output folder>/<.blend name>/<strip id>``.

    Unique to the project and the strip, so two .blend files (or two strips whose names
    clean to the same text) never write into one folder; stable when the strip is moved,
    renamed or re-synced. Refuses an empty folder setting, and a ``//`` folder while the
    .blend is unsaved.
    """
    if not settings_dir.strip():
        raise UserError("No output folder is set: choose an Output Folder (or pass --output) for the frames")
    if settings_dir.startswith("//") and not bpy.data.filepath:
        raise UserError(
            f"Save the .blend file first: the output folder '{settings_dir}' is relative to it "
            "(or choose an absolute output folder)"
        )
    return Path(bpy.path.abspath(settings_dir)) / bpy.path.clean_name(project_name()) / strip_id(strip)


def folder_owner(strip) -> dict:
    """Whose frames a folder holds: this .blend (absolute path, "" if unsaved) and the strip's id."""
    return {"blend": str(Path(bpy.data.filepath).resolve()) if bpy.data.filepath else "", "strip": strip_id(strip)}


DRAFT_SCALE = 0.5
"""A draft bake's frame size, as a fraction of the final size."""


def bake_size(scene, settings) -> tuple[int, int]:
    """Frame size in pixels: the scene's output size, or the one set in the panel; half
    of it for a draft."""
    if settings.use_scene_resolution:
        scale = scene.render.resolution_percentage / 100.0
        width, height = scene.render.resolution_x * scale, scene.render.resolution_y * scale
    else:
        width, height = settings.resolution_x, settings.resolution_y
    if settings.draft:
        width, height = width * DRAFT_SCALE, height * DRAFT_SCALE
    return max(1, round(width)), max(1, round(height))


def mapping_overrides(settings) -> tuple[dict, dict]:
    """Per-effect strengths and smoothing (seconds) set in the panel; empty = the preset's.

    Values are rounded to 4 decimals: Blender stores them as 32-bit floats, and 0.6 should
    mean 0.6 in the bake's identity.
    """
    strengths = {effect: round(getattr(settings, f"strength_{effect}"), 4) for effect in mapping.EFFECTS}
    smoothing = {effect: round(getattr(settings, f"smoothing_{effect}"), 4) for effect in mapping.EFFECTS}
    return (strengths if settings.use_custom_strengths else {}), (smoothing if settings.use_custom_smoothing else {})


def bake_frames(settings) -> tuple[int, int] | None:
    """The custom range of scene frames to bake (inclusive), or None for the whole strip."""
    if not settings.use_custom_range:
        return None
    if settings.frame_range_end < settings.frame_range_start:
        raise UserError(f"The custom range {settings.frame_range_start}-{settings.frame_range_end} ends before "
                        "it starts: set its End after its Start")
    return settings.frame_range_start, settings.frame_range_end


def effect_sources(scene, settings, song_strip) -> dict[str, StemSource]:
    """The stems the effects listen to (Audio › Listen To), by effect; none = the song itself.

    A stem may be muted (it is analysed, not heard); it is heard where it sits in the timeline.
    """
    names = {effect: getattr(settings, f"source_{effect}").strip() for effect in mapping.EFFECTS}
    return stem_sources(scene, names, song_strip)


def stem_sources(scene, names: dict[str, str], song_strip) -> dict[str, StemSource]:
    """The ``StemSource`` of each effect's stem strip, by name (empty or the song: none)."""
    sources = {}
    for effect, name in names.items():
        if not name or name == song_strip.name:
            continue
        stem = next((strip for strip in compat.all_strips(scene) if strip.name == name), None)
        if stem is None or stem.type != "SOUND":
            raise UserError(f"{effect.title()} listens to '{name}', which is not a sound strip of this scene: "
                            "pick another in Audio › Listen To, or clear it")
        sources[effect] = StemSource(sound_file(stem), strip_timing(scene, stem).origin_frame)
    return sources


def bake_request(scene, strip, settings, style: str | None = None, output_dir: str | None = None) -> BakeRequest:
    """Everything ``core.visualizer.bake_visualizer`` needs, checked, as plain values."""
    audio_path = sound_file(strip)
    out_dir = output_folder(output_dir if output_dir is not None else output_folder_setting(settings), strip)
    strengths, smoothing = mapping_overrides(settings)
    width, height = bake_size(scene, settings)
    return BakeRequest(
        audio_path=audio_path,
        timing=strip_timing(scene, strip),
        style_path=styles.resolve(style if style is not None else settings.style),
        out_dir=out_dir,
        width=width,
        height=height,
        seed=settings.seed,
        strength=settings.strength,
        frames=bake_frames(settings),
        preset=settings.preset,
        preset_strengths=strengths,
        preset_smoothing=smoothing,
        image_format=settings.image_format,
        backend=settings.backend,
        sources=effect_sources(scene, settings, strip),
        owner=folder_owner(strip),
        style_map=style_timeline.request_style_map(style_timeline.settings_style_map(settings)),
        markers=style_timeline.scene_markers(scene),
        analysis_cache=str(preferences.analysis_cache_dir()),
        **song_hints(settings),
    )


def song_hints(settings) -> dict:
    """What the Audio panel tells the analysis of the song: ``beats_per_bar`` and
    ``tempo_bpm`` (beats per minute), each 0 when it is heard (the keywords of
    ``BakeRequest`` and of ``AnalysisParams.with_song_hints``)."""
    return {"beats_per_bar": int(settings.beats_per_bar),
            "tempo_bpm": float(settings.tempo_bpm) if settings.use_tempo else 0.0}


def free_channel_above(scene, strip, frame_first: int, frame_end: int) -> int:
    """The lowest channel above ``strip`` with nothing in ``[frame_first, frame_end)``."""
    busy = {
        other.channel
        for other in compat.top_level_strips(scene)
        if other.frame_final_start < frame_end and other.frame_final_end > frame_first
    }
    for channel in range(strip.channel + 1, MAX_CHANNEL + 1):
        if channel not in busy:
            return channel
    raise UserError(f"No free channel above '{strip.name}': move some strips out of the way")


def _frame_paths(result: VisualizerBake) -> list[str]:
    paths = [str(path) for path in result.paths]
    return [bpy.path.relpath(path) for path in paths] if bpy.data.filepath else paths


def _refill(strip, paths: list[str], frame_first: int) -> None:
    """Make an existing image strip show ``paths`` from ``frame_first``, in place: its blend,
    opacity, transform, modifiers, colour tag and channel stay the user's."""
    strip.directory = os.path.join(os.path.dirname(paths[0]), "")
    strip.frame_offset_start = strip.frame_offset_end = 0
    elements = strip.elements
    while len(elements) > len(paths):
        elements.pop(len(elements) - 1)
    for element, path in zip(elements, paths):
        element.filename = bpy.path.basename(path)
    for path in paths[len(elements):]:
        elements.append(bpy.path.basename(path))
    strip.frame_start = frame_first


def bake_recipe(settings, draft: bool = False) -> dict:
    """What a visualizer's tag records beside the bake's key to bake it again: the stem
    strips its effects listen to (by name), the backend, and whether it is a draft."""
    return {"stems": {effect: getattr(settings, f"source_{effect}").strip() for effect in mapping.EFFECTS},
            "backend": settings.backend, "draft": bool(draft)}


def place_visualizer(scene, sound_strip, result: VisualizerBake, recipe: dict | None = None, into=None) -> tuple:
    """Show baked frames above ``sound_strip``, aligned frame for frame: its visualizer strip
    (``into``, else the one baked from ``sound_strip``) is updated in place when it has one,
    and every image node playing it follows; else an image strip is added. Returns
    ``(strip, updated)``.

    ``recipe``: ``bake_recipe`` of the settings the bake used (default: the scene's).
    """
    recipe = recipe if recipe is not None else bake_recipe(scene.neural_aesthetics)
    paths = _frame_paths(result)
    strip = into if into is not None else visualizer_of(scene, sound_strip)
    updated = strip is not None
    if updated:
        old_folder = frame_users.frames_folder(strip)
        _refill(strip, paths, result.frame_first)
    else:
        frame_end = result.frame_first + len(paths)
        channel = free_channel_above(scene, sound_strip, result.frame_first, frame_end)
        strip = compat.new_image_strip(
            scene, f"{sound_strip.name} Visualizer", paths, channel=channel, frame_start=result.frame_first)
    compat.set_colorspace(strip.colorspace_settings, linear=frame_users.is_linear_frame(paths[0]))
    key = result.record.get("key", {})
    sound_strip[STRIP_ID] = strip_id(sound_strip)
    strip[STRIP_TAG] = {
        "sound_strip": sound_strip.name,
        "style": result.record.get("style", ""),
        "frames_dir": str(result.paths[0].parent),
        "key": json.dumps(key, sort_keys=True),
        # Where the frames sit relative to the sound strip: a custom range covers part of it.
        "start_offset": result.frame_first - sound_strip.frame_final_start,
        "whole": result.frame_first == sound_strip.frame_final_start
        and len(result.paths) == sound_strip.frame_final_duration,
        # Where the sound's content started: a trim keeps it, a move changes it.
        "content_start": round(sound_strip.frame_start),
        # The strips of the stems the effects listened to, to notice when one moves.
        "stems": json.dumps({effect: name for effect, name in recipe.get("stems", {}).items()
                             if effect in key.get("sources", {})}),
        "backend": recipe.get("backend", "auto"),
        "draft": bool(recipe.get("draft", False)),
        # The pulse the analysis heard (the Use panel shows it: a song heard at double speed).
        "heard": json.dumps(result.heard),
    }
    if updated:
        frame_users.follow_strip(scene, strip, old_folder)
    return strip, updated


def heard_line(visualizer) -> str:
    """What the analysis heard in the song of ``visualizer``'s bake, as the Use panel says
    it ("Beats heard at 128 a minute, 4 to a bar"), or "" when its tag does not say."""
    words = pulse_words(json.loads(visualizer[STRIP_TAG].get("heard", "{}")))
    return words[:1].upper() + words[1:]


def visualizer_of(scene, sound_strip):
    """The visualizer strip baked from ``sound_strip`` (the first in the timeline), or None."""
    return next((strip for strip in visualizer_strips(scene)
                 if strip[STRIP_TAG].get("sound_strip") == sound_strip.name), None)


def visualizer_strips(scene) -> list:
    """Image strips made by Add Visualizer Strip, in timeline order."""
    found = [s for s in compat.all_strips(scene) if s.type == "IMAGE" and STRIP_TAG in s]
    return sorted(found, key=lambda s: (s.frame_final_start, s.channel))


def visualizer_strip(scene):
    """The visualizer strip to use: the active strip if it is one, else the scene's only one."""
    editor = scene.sequence_editor
    active = editor.active_strip if editor is not None else None
    if active is not None and active.type == "IMAGE" and STRIP_TAG in active:
        return active
    found = visualizer_strips(scene)
    return found[0] if len(found) == 1 else None


def visualizer_strip_problem(scene) -> str | None:
    """Why no visualizer strip can be chosen, as a sentence with the fix; None if one can."""
    if visualizer_strip(scene) is not None:
        return None
    if not visualizer_strips(scene):
        return "No visualizer yet: select a sound strip and click Add Visualizer Strip first"
    return "Several visualizer strips: click the one to use in the Sequencer"


def sound_strip_of(scene, visualizer):
    """The sound strip a visualizer strip was baked from, or None if it is gone."""
    name = visualizer[STRIP_TAG].get("sound_strip", "")
    return next((s for s in compat.all_strips(scene) if s.name == name and s.type == "SOUND"), None)


def out_of_sync(scene, visualizer) -> str | None:
    """Why a visualizer no longer lines up with its sound strip; None when it does."""
    sound = sound_strip_of(scene, visualizer)
    if sound is None:
        return f"Its sound strip '{visualizer[STRIP_TAG].get('sound_strip', '')}' is gone"
    tag = visualizer[STRIP_TAG]
    recorded = json.loads(tag.get("key", "{}"))
    if "fps" in recorded:
        fps_change = reuse_problem(recorded, dict(recorded, fps=strip_timing(scene, sound).fps))
        if fps_change:
            return fps_change[0].upper() + fps_change[1:]
    expected_start = sound.frame_final_start + tag.get("start_offset", 0)
    moved = round(sound.frame_start - tag.get("content_start", sound.frame_start))
    if moved:
        return f"The sound strip moved by {moved:+d} frames"
    if visualizer.frame_final_start != expected_start:
        if "content_start" in tag:
            return "The sound strip was trimmed or extended"
        return f"The sound strip moved by {expected_start - visualizer.frame_final_start:+d} frames"
    if tag.get("whole", True) and visualizer.frame_final_duration != sound.frame_final_duration:
        return "The sound strip was trimmed or extended"
    return moved_stem(scene, visualizer, sound)


def moved_stem(scene, visualizer, sound) -> str | None:
    """Why a stem an effect listened to no longer lines up with the song, or None.

    Compares where each stem sits relative to the sound strip now with the bake's record
    (no file is read: this runs while the panel draws).
    """
    tag = visualizer[STRIP_TAG]
    baked = json.loads(tag.get("key", "{}")).get("sources", {})
    names = json.loads(tag.get("stems", "{}"))
    song_origin = strip_timing(scene, sound).origin_frame
    for effect, source in baked.items():
        name = names.get(effect, "")
        stem = next((strip for strip in compat.all_strips(scene) if strip.name == name), None)
        if stem is None or stem.type != "SOUND":
            return f"The strip '{name}' that {effect} listened to is gone"
        offset = round(strip_timing(scene, stem).origin_frame - song_origin, 6)
        if offset != source.get("offset_frames"):
            return f"'{name}' (that {effect} listens to) moved against the sound strip"
    return None
