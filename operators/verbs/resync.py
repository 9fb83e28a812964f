"""Re-sync: line a visualizer strip up again after its sound strip was moved or trimmed."""

from __future__ import annotations

import json
from pathlib import Path

import bpy

from ...core.render.bake import frame_filename
from ...core.errors import UserError
from ...core.render.visualizer import VisualizerBake, file_digest, sources_key
from ..blender import compat, strips


def reusable_frames(scene, visualizer, sound) -> tuple[list[Path], int, str | None]:
    """The baked frames that fit the sound strip as it is now, the scene frame the first
    of them belongs on, or why they do not fit.

    Frames are named by their place in the song, so a moved or trimmed strip can reuse
    them as long as the music under it is the same file content at the same frame rate
    and sub-frame offset, and every frame of the new range was baked. A visualizer of a
    custom range keeps its length and its offset from the sound strip's start.
    """
    tag = visualizer[strips.STRIP_TAG]
    frame_first = sound.frame_final_start + tag.get("start_offset", 0)
    key = json.loads(tag.get("key", "{}"))
    timing = strips.strip_timing(scene, sound)
    origin_fraction = round(timing.origin_frame - timing.content_zero_frame, 6)
    if key.get("fps") != timing.fps or key.get("origin_fraction") != origin_fraction:
        return [], frame_first, "the scene's frame rate or the strip's sound offset changed"
    if key.get("audio_sha256") != file_digest(strips.sound_file(sound)):
        return [], frame_first, "the sound file changed"
    stems = strips.effect_sources(scene, scene.neural_aesthetics, sound)
    if key.get("sources", {}) != (sources_key(stems, timing.origin_frame) if stems else {}):
        return [], frame_first, "a strip that an effect listens to moved, changed, or another was picked"
    frames_dir = Path(tag.get("frames_dir", ""))
    count = timing.n_frames if tag.get("whole", True) else len(visualizer.elements)
    image_format = key.get("image_format", "png8")
    paths = [frames_dir / frame_filename(timing.content_index(frame), image_format)
             for frame in range(frame_first, frame_first + count)]
    missing = sum(1 for path in paths if not path.is_file())
    if missing:
        return [], frame_first, f"{missing} frames of the new range were never baked"
    return paths, frame_first, None


class NEURAL_AESTHETICS_OT_resync(strips.NeedsVisualizerStrip, bpy.types.Operator):
    """Line the visualizer strip up with its sound strip again, reusing its frames when the music is the same"""

    bl_idname = "neural_aesthetics.resync"
    bl_label = "Re-sync Visualizer"
    bl_options = {"REGISTER", "UNDO"}

    rebake: bpy.props.BoolProperty(
        name="Re-bake if Needed",
        description="When the baked frames no longer fit (the music changed), bake the visualizer again",
        default=False,
    )

    def execute(self, context):
        scene = context.scene
        visualizer = strips.visualizer_strip(scene)
        sound = strips.sound_strip_of(scene, visualizer)
        if sound is None:
            self.report({"ERROR"}, strips.out_of_sync(scene, visualizer))
            return {"CANCELLED"}
        try:
            paths, frame_first, reason = reusable_frames(scene, visualizer, sound)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        if reason is not None and not self.rebake:
            self.report({"ERROR"}, f"Cannot re-sync '{visualizer.name}': {reason}; re-bake it (Re-sync with Re-bake)")
            return {"CANCELLED"}

        tag = visualizer[strips.STRIP_TAG].to_dict()
        compat.top_level_strips(scene).remove(visualizer)
        scene.sequence_editor.active_strip = sound
        if reason is not None:
            mode = "EXEC_DEFAULT" if bpy.app.background else "INVOKE_DEFAULT"
            return bpy.ops.neural_aesthetics.add_visualizer_strip(mode)
        reused = VisualizerBake(
            paths=paths, frame_first=frame_first, written=0, skipped=len(paths),
            record={"style": tag.get("style", ""), "key": json.loads(tag.get("key", "{}"))},
        )
        new = strips.add_image_strip(scene, sound, reused)
        self.report({"INFO"}, f"'{new.name}' lines up with '{sound.name}' again ({len(paths)} frames reused)")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_resync,)
