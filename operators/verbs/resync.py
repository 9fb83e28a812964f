"""Re-sync: line a visualizer strip up again after its sound strip was moved or trimmed.

The strip is edited in place (its blend, opacity, transform, modifiers and colour tag stay
the user's) and every image node playing it follows. When its frames no longer fit (the
music changed), Re-bake bakes them again with the strip's own recorded settings, not the
panel's, and the old strip stays as it was until the new frames are all there: a
cancelled or failed re-bake leaves it untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy

from ...core.errors import UserError
from ...core.render.bake import frame_filename
from ...core.render.folder_lock import remove_temporaries
from ...core.render.frame_folder import reuse_problem
from ...core.render.visualizer import BakeRequest, VisualizerBake, bake_visualizer, music_key
from ..blender import compat, frame_users, strips, style_previews as styles
from . import job_progress as jobs_ui


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
    stems = recorded_stems(scene, visualizer, sound)
    current = {name: value for name, value in recorded.items() if name != "sources"}
    current.update(music_key(timing, strips.sound_file(sound), stems))
    reason = reuse_problem(recorded, current)
    if reason is not None:
        return [], frame_first, reason
    frames_dir = Path(frame_users.frames_folder(visualizer))
    count = timing.n_frames if tag.get("whole", True) else len(visualizer.elements)
    image_format = recorded.get("image_format", "png8")
    paths = [frames_dir / frame_filename(timing.content_index(frame), image_format)
             for frame in range(frame_first, frame_first + count)]
    missing = sum(1 for path in paths if not path.is_file())
    if missing:
        return [], frame_first, f"{missing} frames of the new range were never baked"
    return paths, frame_first, None


def recorded_stems(scene, visualizer, sound) -> dict:
    """The stems the visualizer's effects listened to when it was baked, as they sit now."""
    return strips.stem_sources(scene, json.loads(visualizer[strips.STRIP_TAG].get("stems", "{}")), sound)


def recorded_request(scene, visualizer, sound) -> BakeRequest:
    """The bake of ``visualizer`` again, with the settings it was baked with (style, seed,
    strength, mapping, size, format, stems, range, folder), for its sound strip as it is now."""
    tag = visualizer[strips.STRIP_TAG]
    key = json.loads(tag.get("key", "{}"))
    if "size" not in key or not tag.get("style"):
        raise UserError(f"'{visualizer.name}' has no record of its settings: select its sound strip and "
                        "click Add Visualizer Strip")
    recipe = key.get("mapping", {})
    frames = None
    if not tag.get("whole", True):
        first = sound.frame_final_start + tag.get("start_offset", 0)
        frames = (first, first + len(visualizer.elements) - 1)
    width, height = key["size"]
    return BakeRequest(
        audio_path=strips.sound_file(sound),
        timing=strips.strip_timing(scene, sound),
        style_path=styles.resolve(tag["style"]),
        out_dir=Path(frame_users.frames_folder(visualizer)),
        width=int(width), height=int(height),
        seed=int(key.get("seed", 0)),
        strength=float(key.get("strength", 1.0)),
        frames=frames,
        preset=recipe.get("preset", "balanced"),
        preset_strengths=recipe.get("strengths", {}),
        preset_smoothing=recipe.get("smoothing_s", {}),
        image_format=key.get("image_format", "png8"),
        backend=tag.get("backend", "auto"),
        sources=recorded_stems(scene, visualizer, sound),
        owner=strips.folder_owner(sound),
    )


def _named(scene, name: str, kind: str):
    return next((strip for strip in compat.all_strips(scene) if strip.name == name and strip.type == kind), None)


class NEURAL_AESTHETICS_OT_resync(jobs_ui.ExplainsPoll, jobs_ui.WorkerModal, bpy.types.Operator):
    """Line the visualizer strip up with its sound strip again, reusing its frames when the music is the same"""

    bl_idname = "neural_aesthetics.resync"
    bl_label = "Re-sync Visualizer"
    bl_options = {"REGISTER", "UNDO"}

    cancelled_message = "Re-bake cancelled: the visualizer strip is as it was"

    rebake: bpy.props.BoolProperty(
        name="Re-bake if Needed",
        description="When the baked frames no longer fit (the music changed), bake the visualizer again "
        "with the settings it was baked with",
        default=False,
    )

    @classmethod
    def problem(cls, context):
        return jobs_ui.running_problem(context) or strips.visualizer_strip_problem(context.scene)

    def _plan(self, context):
        """``(visualizer, sound, reusable paths, first frame)``, or a re-bake request as the
        last item when the frames no longer fit and re-baking was asked for."""
        scene = context.scene
        visualizer = strips.visualizer_strip(scene)
        sound = strips.sound_strip_of(scene, visualizer)
        if sound is None:
            raise UserError(strips.out_of_sync(scene, visualizer))
        paths, frame_first, reason = reusable_frames(scene, visualizer, sound)
        if reason is None:
            return visualizer, sound, VisualizerBake(
                paths=paths, frame_first=frame_first, written=0, skipped=len(paths),
                record={"style": visualizer[strips.STRIP_TAG].get("style", ""),
                        "key": json.loads(visualizer[strips.STRIP_TAG].get("key", "{}"))},
                heard=json.loads(visualizer[strips.STRIP_TAG].get("heard", "{}")))
        if not self.rebake:
            raise UserError(f"Cannot re-sync '{visualizer.name}': {reason}; re-bake it (Re-bake)")
        return visualizer, sound, recorded_request(scene, visualizer, sound)

    def _place(self, context, visualizer, sound, result) -> set:
        tag = visualizer[strips.STRIP_TAG]
        recipe = {"stems": json.loads(tag.get("stems", "{}")), "backend": tag.get("backend", "auto"),
                  "draft": bool(tag.get("draft", False))}
        try:
            strip, _updated = strips.place_visualizer(context.scene, sound, result, recipe, into=visualizer)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        what = f"{result.written} frames baked, {result.skipped} reused" if result.written else \
            f"{len(result.paths)} frames reused"
        self.report({"INFO"}, f"'{strip.name}' lines up with '{sound.name}' again ({what})")
        return {"FINISHED"}

    def execute(self, context):
        try:
            visualizer, sound, work = self._plan(context)
            result = bake_visualizer(work) if isinstance(work, BakeRequest) else work
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return self._place(context, visualizer, sound, result)

    def invoke(self, context, _event):
        try:
            visualizer, sound, work = self._plan(context)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        if not isinstance(work, BakeRequest):
            return self._place(context, visualizer, sound, work)
        self._names = visualizer.name, sound.name
        return self.start_worker(
            context, "bake", work.to_json(),
            on_failure=lambda pid: remove_temporaries(work.out_dir, pid),
            message=f"Re-baking '{visualizer.name}'",
        )

    def on_done(self, context, state):
        visualizer_name, sound_name = self._names
        visualizer = _named(context.scene, visualizer_name, "IMAGE")
        sound = _named(context.scene, sound_name, "SOUND")
        if visualizer is None or sound is None:
            message = f"'{visualizer_name if visualizer is None else sound_name}' was deleted during the re-bake"
            jobs_ui.fail(context, message)
            self.report({"ERROR"}, message)
            return {"CANCELLED"}
        return self._place(context, visualizer, sound, VisualizerBake.from_json(state.result))


CLASSES = (NEURAL_AESTHETICS_OT_resync,)
