"""Re-sync: line a visualizer strip up again after its sound strip was moved or trimmed."""

from __future__ import annotations

import json
from pathlib import Path

import bpy

from ...core.render.bake import frame_filename
from ...core.errors import UserError
from ...core.render.frame_folder import reuse_problem
from ...core.render.visualizer import VisualizerBake, music_key
from ..blender import compat, strips


def reusable_frames(scene, visualizer, sound) -> tuple[list[Path], int, str | None]:
    """The baked frames that fit the sound strip as it is now, the scene frame the first
    of them belongs on, or why they do not fit.

    Frames are named by their place in the song, so a moved or trimmed strip can reuse
    them as long as the music under it is the same (``frame_folder.reuse_problem`` on
    the music part of the bake's identity: file content, frame rate, sub-frame offset,
    stems) and every frame of the new range was baked. A visualizer of a custom range
    keeps its length and its offset from the sound strip's start.
    """
    tag = visualizer[strips.STRIP_TAG]
    frame_first = sound.frame_final_start + tag.get("start_offset", 0)
    recorded = json.loads(tag.get("key", "{}"))
    timing = strips.strip_timing(scene, sound)
    stems = strips.effect_sources(scene, scene.neural_aesthetics, sound)
    current = {name: value for name, value in recorded.items() if name != "sources"}
    current.update(music_key(timing, strips.sound_file(sound), stems))
    reason = reuse_problem(recorded, current)
    if reason is not None:
        return [], frame_first, reason
    frames_dir = Path(tag.get("frames_dir", ""))
    count = timing.n_frames if tag.get("whole", True) else len(visualizer.elements)
    image_format = recorded.get("image_format", "png8")
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
