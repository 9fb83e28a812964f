"""Reading a sound strip into plain values and wiring baked frames back as an image strip."""

from __future__ import annotations

import json
from pathlib import Path

import bpy

from ..core.errors import UserError
from ..core.timing import Timing
from ..core.visualizer import BakeRequest, VisualizerBake
from . import compat, styles

MAX_CHANNEL = 128
STRIP_TAG = "neural_aesthetics"


def sound_strip_problem(strip, called: str = "active strip") -> str | None:
    """Why ``strip`` cannot drive a visualizer, as a sentence with the fix; None if it can.

    ``called`` is how the sentence names the strip ("active strip", "strip").
    """
    if strip is None:
        return "No active strip: click a sound strip in the Sequencer first"
    if strip.type != "SOUND":
        return f"The {called} '{strip.name}' is a {strip.type.lower()} strip: select a sound strip"
    if strip.sound is None:
        return f"The sound strip '{strip.name}' has no sound: set its sound file"
    return None


def active_sound_strip_problem(context) -> str | None:
    """``sound_strip_problem`` for the scene's active strip (also for panels and poll)."""
    editor = context.scene.sequence_editor
    if editor is None:
        return "This scene has no Sequencer strips: add a sound strip first"
    return sound_strip_problem(editor.active_strip)


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


def sound_file(strip) -> Path:
    """Absolute path of the strip's sound file; a sentence if it cannot be read from disk."""
    sound = strip.sound
    if sound.packed_file is not None:
        raise UserError(
            f"The sound of strip '{strip.name}' is packed into the .blend: "
            "unpack it first (File > External Data > Unpack Resources)"
        )
    path = Path(bpy.path.abspath(sound.filepath, library=sound.library))
    if not path.is_file():
        raise UserError(f"Sound file not found: {path} (used by strip '{strip.name}'): check the strip's file path")
    return path


def output_folder(settings_dir: str, strip_name: str) -> Path:
    """The strip's frame folder; refuses a ``//`` folder while the .blend is unsaved."""
    if settings_dir.startswith("//") and not bpy.data.filepath:
        raise UserError(
            f"Save the .blend file first: the output folder '{settings_dir}' is relative to it "
            "(or choose an absolute output folder)"
        )
    return Path(bpy.path.abspath(settings_dir)) / bpy.path.clean_name(strip_name)


def bake_size(scene, settings) -> tuple[int, int]:
    """Frame size in pixels: the scene's output size, or the one set in the panel."""
    if settings.use_scene_resolution:
        scale = scene.render.resolution_percentage / 100.0
        return (max(1, round(scene.render.resolution_x * scale)), max(1, round(scene.render.resolution_y * scale)))
    return settings.resolution_x, settings.resolution_y


def bake_request(scene, strip, settings, style: str | None = None, output_dir: str | None = None) -> BakeRequest:
    """Everything ``core.visualizer.bake_visualizer`` needs, checked, as plain values."""
    audio_path = sound_file(strip)
    out_dir = output_folder(output_dir if output_dir is not None else settings.output_dir, strip.name)
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
    )


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


def add_image_strip(scene, sound_strip, result: VisualizerBake):
    """Show the baked frames as an image strip above the sound strip, aligned frame for frame."""
    frame_end = result.frame_first + len(result.paths)
    channel = free_channel_above(scene, sound_strip, result.frame_first, frame_end)
    paths = [str(path) for path in result.paths]
    if bpy.data.filepath:
        paths = [bpy.path.relpath(path) for path in paths]
    strip = compat.new_image_strip(
        scene, f"{sound_strip.name} Visualizer", paths, channel=channel, frame_start=result.frame_first
    )
    strip[STRIP_TAG] = {
        "sound_strip": sound_strip.name,
        "style": result.record.get("style", ""),
        "frames_dir": str(result.paths[0].parent),
        "key": json.dumps(result.record.get("key", {}), sort_keys=True),
    }
    return strip


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


class NeedsVisualizerStrip:
    """Operator mixin: enabled only when a visualizer strip can be chosen (poll says why not)."""

    @classmethod
    def poll(cls, context):
        problem = visualizer_strip_problem(context.scene)
        if problem:
            cls.poll_message_set(problem)
            return False
        return True


def sound_strip_of(scene, visualizer):
    """The sound strip a visualizer strip was baked from, or None if it is gone."""
    name = visualizer[STRIP_TAG].get("sound_strip", "")
    return next((s for s in compat.all_strips(scene) if s.name == name and s.type == "SOUND"), None)


def out_of_sync(scene, visualizer) -> str | None:
    """Why a visualizer no longer lines up with its sound strip; None when it does."""
    sound = sound_strip_of(scene, visualizer)
    if sound is None:
        return f"Its sound strip '{visualizer[STRIP_TAG].get('sound_strip', '')}' is gone"
    if visualizer.frame_final_start != sound.frame_final_start:
        return f"The sound strip moved by {sound.frame_final_start - visualizer.frame_final_start:+d} frames"
    if visualizer.frame_final_duration != sound.frame_final_duration:
        return "The sound strip was trimmed or extended"
    return None
