"""The running job as the UI shows it: window-manager properties and the cursor progress,
the modal operator mixin that drives a worker job, and the Cancel button."""

from __future__ import annotations

import time

import bpy

from ...core.progress import remaining_text
from ...core.jobs.background import JobState


def start(context, message: str) -> None:
    job = context.window_manager.neural_aesthetics_job
    job.status, job.progress, job.message = "RUNNING", 0.0, message
    job.cancel_requested = False
    context.window_manager.progress_begin(0, 1)


def show(context, state: JobState, elapsed_s: float = 0.0) -> None:
    """Copy a polled ``JobState`` into the UI (with the time left) and redraw the sidebars."""
    job = context.window_manager.neural_aesthetics_job
    left = remaining_text(elapsed_s, state.fraction) if state.status == "running" else ""
    job.progress, job.message = state.fraction, f"{state.message} — {left}" if left else state.message
    if state.status != "running":
        job.status = {"done": "DONE", "failed": "FAILED", "cancelled": "CANCELLED"}[state.status]
        context.window_manager.progress_end()
    else:
        context.window_manager.progress_update(state.fraction)
    for area in context.screen.areas if context.screen else ():
        if area.type in {"SEQUENCE_EDITOR", "VIEW_3D"}:
            area.tag_redraw()


RUNNING_PROBLEM = "Another job is running: wait for it or press Esc to cancel it"


def running_problem(context) -> str | None:
    """Why a button that starts work is greyed while a job runs; None when none runs."""
    return RUNNING_PROBLEM if context.window_manager.neural_aesthetics_job.status == "RUNNING" else None


def refuse_while_running(operator_class, context) -> bool:
    """For an operator's ``poll``: True (with the reason as its poll message) while a job runs."""
    if running_problem(context) is None:
        return False
    operator_class.poll_message_set(RUNNING_PROBLEM)
    return True


class ExplainsPoll:
    """Operator mixin: ``problem(context)`` says why the button is greyed (a sentence with
    the fix) or None. ``poll`` shows it as the tooltip; the panels draw it as a line."""

    @classmethod
    def problem(cls, context) -> str | None:
        return None

    @classmethod
    def poll(cls, context):
        problem = cls.problem(context)
        if problem:
            cls.poll_message_set(problem)
            return False
        return True


def fail(context, message: str) -> None:
    job = context.window_manager.neural_aesthetics_job
    job.status, job.message = "FAILED", message


class WorkerModal:
    """Operator mixin: run a ``BackgroundJob`` while Blender stays responsive.

    ``start_worker`` from ``invoke`` starts the job and a timer; ``modal`` polls it, shows
    progress in the sidebar and the cursor, cancels on Esc or the panel's Cancel button,
    reports failure or cancellation, and calls ``on_done(context, state)`` on the main
    thread with the result.
    """

    TIMER_INTERVAL_S = 0.1
    cancelled_message = "Cancelled"

    _job = None
    _timer = None
    _started_s = 0.0

    def start_worker(self, context, kind: str, request: dict, on_failure=None, message: str = "Starting"):
        from ...core.jobs.background import BackgroundJob
        from ..blender.paths import user_folder

        launcher, environment = None, None
        if kind == "bake" and request.get("backend") in ("auto", "gpu"):
            from .. import gpu_render

            launcher, environment = gpu_render.worker_launch(request["backend"])
        self._job = BackgroundJob(kind, request, on_failure=on_failure, log_dir=user_folder("logs"),
                                  launcher=launcher, environment=environment)
        self._started_s = time.monotonic()
        start(context, message)
        self._timer = context.window_manager.event_timer_add(self.TIMER_INTERVAL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def on_progress(self, state: JobState) -> None:
        """Called with every poll while the job runs (e.g. to keep a log)."""

    def on_done(self, context, state: JobState) -> set:
        raise NotImplementedError

    def modal(self, context, event):
        if event.type == "ESC" or context.window_manager.neural_aesthetics_job.cancel_requested:
            self._job.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._job.poll()
        show(context, state, time.monotonic() - self._started_s)
        self.on_progress(state)
        if state.status == "running":
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        if state.status == "cancelled":
            self.report({"WARNING"}, self.cancelled_message)
            return {"CANCELLED"}
        if state.status == "failed":
            self.report({"ERROR"}, state.message)
            return {"CANCELLED"}
        return self.on_done(context, state)


class NEURAL_AESTHETICS_OT_cancel_job(bpy.types.Operator):
    """Stop the running bake or training: finished frames are kept, nothing half-written stays"""

    bl_idname = "neural_aesthetics.cancel_job"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        job = context.window_manager.neural_aesthetics_job
        if job.status != "RUNNING":
            cls.poll_message_set("Nothing is running")
            return False
        if job.cancel_requested:
            cls.poll_message_set("Already cancelling: the job stops after its current step")
            return False
        return True

    def execute(self, context):
        context.window_manager.neural_aesthetics_job.cancel_requested = True
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_cancel_job,)
