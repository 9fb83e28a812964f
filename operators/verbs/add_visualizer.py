"""Add Visualizer Strip: bake frames for the active sound strip and add them above it.

A sound strip that already has a visualizer strip gets that one updated in place (its
blend, opacity, transform and the nodes playing it stay), never a duplicate.

Run from the UI (invoke) the bake runs in a worker process while a modal timer shows its
progress; Esc cancels. Run from a script or ``blender -b`` (execute) it blocks. Either way
only the main thread touches Blender data.
"""

from __future__ import annotations

import bpy

from ...core.render.folder_lock import remove_temporaries
from ...core.errors import UserError
from ...core.render.visualizer import VisualizerBake, bake_visualizer, pulse_words
from ..blender import compat, strips
from . import job_progress as jobs_ui


class NEURAL_AESTHETICS_OT_add_visualizer_strip(jobs_ui.ExplainsPoll, jobs_ui.WorkerModal, bpy.types.Operator):
    """Bake audio-reactive frames for the active sound strip and add them as an image strip above it"""

    bl_idname = "neural_aesthetics.add_visualizer_strip"
    bl_label = "Add Visualizer Strip"
    bl_options = {"REGISTER", "UNDO"}

    cancelled_message = "Bake cancelled: the frames finished so far are kept and reused next time"

    @classmethod
    def problem(cls, context):
        return jobs_ui.running_problem(context) or strips.active_sound_strip_problem(context)

    def _request(self, context):
        strip, problem = strips.bake_source(context.scene)
        if problem:
            raise UserError(problem)
        return strip, strips.bake_request(context.scene, strip, context.scene.neural_aesthetics)

    def execute(self, context):
        try:
            sound_strip, request = self._request(context)
            result = bake_visualizer(request)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return self._finish(context, sound_strip, result)

    def _finish(self, context, sound_strip, result):
        settings = context.scene.neural_aesthetics
        try:
            image_strip, updated = strips.place_visualizer(
                context.scene, sound_strip, result, strips.bake_recipe(settings, draft=settings.draft))
            past_end = strips.past_end_warning(context.scene, sound_strip)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        replaced = result.record.get("replaced")
        done = "Updated" if updated else "Added"
        draft = " (draft: bake again with Draft off for the final frames)" if settings.draft else ""
        heard = pulse_words(result.heard)
        self.report(
            {"INFO"},
            f"{done} '{image_strip.name}' in channel {image_strip.channel}: "
            f"{result.written} frames baked, {result.skipped} reused{draft}"
            + (f" (the earlier frames were replaced: {replaced})" if replaced else "")
            + (f"; {heard}" if heard else ""),
        )
        if past_end:
            self.report({"WARNING"}, past_end)
        return {"FINISHED"}

    def invoke(self, context, _event):
        try:
            sound_strip, request = self._request(context)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self._sound_strip_name = sound_strip.name
        return self.start_worker(
            context, "bake", request.to_json(),
            on_failure=lambda pid: remove_temporaries(request.out_dir, pid),
            message="Analysing the sound",
        )

    def on_done(self, context, state):
        sound_strip = next(
            (s for s in compat.all_strips(context.scene) if s.name == self._sound_strip_name), None
        )
        if sound_strip is None:
            message = f"The sound strip '{self._sound_strip_name}' was deleted during the bake"
            jobs_ui.fail(context, message)
            self.report({"ERROR"}, message)
            return {"CANCELLED"}
        return self._finish(context, sound_strip, VisualizerBake.from_json(state.result))


CLASSES = (NEURAL_AESTHETICS_OT_add_visualizer_strip,)
