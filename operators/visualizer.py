"""Add Visualizer Strip: bake frames for the active sound strip and add them above it.

Run from the UI (invoke) the bake works in a background thread on plain values while a
modal timer shows progress; Esc cancels. Run from a script or ``blender -b`` (execute) it
blocks. Either way only the main thread touches Blender data.
"""

from __future__ import annotations

import threading

import bpy

from ..core.errors import UserError
from ..core.jobs import CancelToken, Cancelled
from ..core.visualizer import bake_visualizer
from . import compat, strips

TIMER_INTERVAL_S = 0.1


class NEURAL_AESTHETICS_OT_add_visualizer_strip(bpy.types.Operator):
    """Bake audio-reactive frames for the active sound strip and add them as an image strip above it"""

    bl_idname = "neural_aesthetics.add_visualizer_strip"
    bl_label = "Add Visualizer Strip"
    bl_options = {"REGISTER", "UNDO"}

    _thread = None
    _timer = None
    _cancel = None
    _outcome = None

    @classmethod
    def poll(cls, context):
        if context.window_manager.neural_aesthetics_job.running:
            cls.poll_message_set("A bake is already running: wait for it or press Esc to cancel it")
            return False
        problem = strips.active_sound_strip_problem(context)
        if problem:
            cls.poll_message_set(problem)
            return False
        return True

    def _request(self, context):
        strip = context.scene.sequence_editor.active_strip
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
        try:
            image_strip = strips.add_image_strip(context.scene, sound_strip, result)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report(
            {"INFO"},
            f"Added '{image_strip.name}' in channel {image_strip.channel}: "
            f"{result.written} frames baked, {result.skipped} reused",
        )
        return {"FINISHED"}

    def invoke(self, context, _event):
        try:
            sound_strip, request = self._request(context)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self._sound_strip_name = sound_strip.name
        self._cancel = CancelToken()
        self._outcome = {}
        job = context.window_manager.neural_aesthetics_job
        job.running, job.progress, job.message = True, 0.0, "Analysing the sound"

        def on_progress(done: int, total: int, message: str) -> None:
            # Plain values only: the main thread copies them into the UI.
            self._outcome["progress"] = (done / max(total, 1), message)

        def work() -> None:
            try:
                self._outcome["result"] = bake_visualizer(request, on_progress, self._cancel)
            except (UserError, Cancelled) as error:
                self._outcome["error"] = error
            except Exception as error:  # a bug: keep it visible instead of a silent hang
                self._outcome["error"] = error
                raise

        self._thread = threading.Thread(target=work, name="neural_aesthetics_bake", daemon=True)
        self._thread.start()
        context.window_manager.progress_begin(0, 1)
        self._timer = context.window_manager.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = context.window_manager.neural_aesthetics_job
        if event.type == "ESC":
            self._cancel.cancel()
            job.message = "Cancelling"
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if "progress" in self._outcome:
            job.progress, job.message = self._outcome["progress"]
            context.window_manager.progress_update(job.progress)
            for area in context.screen.areas if context.screen else ():
                area.tag_redraw()
        if self._thread.is_alive():
            return {"PASS_THROUGH"}
        self._end(context)
        error = self._outcome.get("error")
        if isinstance(error, Cancelled):
            self.report({"WARNING"}, "Bake cancelled: the frames finished so far are kept and reused next time")
            return {"CANCELLED"}
        if error is not None:
            self.report({"ERROR"}, str(error) if isinstance(error, UserError) else f"Bake failed: {error!r}")
            return {"CANCELLED"}
        sound_strip = next(
            (s for s in compat.all_strips(context.scene) if s.name == self._sound_strip_name), None
        )
        if sound_strip is None:
            self.report({"ERROR"}, f"The sound strip '{self._sound_strip_name}' was deleted during the bake")
            return {"CANCELLED"}
        return self._finish(context, sound_strip, self._outcome["result"])

    def _end(self, context) -> None:
        context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        job = context.window_manager.neural_aesthetics_job
        job.running, job.progress, job.message = False, 0.0, ""


CLASSES = (NEURAL_AESTHETICS_OT_add_visualizer_strip,)
