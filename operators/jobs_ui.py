"""The running job as the UI shows it: window-manager properties and the cursor progress."""

from __future__ import annotations

from .jobs import JobState


def start(context, message: str) -> None:
    job = context.window_manager.neural_aesthetics_job
    job.status, job.progress, job.message = "RUNNING", 0.0, message
    context.window_manager.progress_begin(0, 1)


def show(context, state: JobState) -> None:
    """Copy a polled ``JobState`` into the UI and redraw the sidebars."""
    job = context.window_manager.neural_aesthetics_job
    job.progress, job.message = state.fraction, state.message
    if state.status != "running":
        job.status = {"done": "DONE", "failed": "FAILED", "cancelled": "CANCELLED"}[state.status]
        context.window_manager.progress_end()
    else:
        context.window_manager.progress_update(state.fraction)
    for area in context.screen.areas if context.screen else ():
        if area.type in {"SEQUENCE_EDITOR", "VIEW_3D"}:
            area.tag_redraw()


def fail(context, message: str) -> None:
    job = context.window_manager.neural_aesthetics_job
    job.status, job.message = "FAILED", message


class WorkerModal:
    """Operator mixin: run a ``BackgroundJob`` while Blender stays responsive.

    ``start_worker`` from ``invoke`` starts the job and a timer; ``modal`` polls it, shows
    progress in the sidebar and the cursor, cancels on Esc, reports failure or
    cancellation, and calls ``on_done(context, state)`` on the main thread with the result.
    """

    TIMER_INTERVAL_S = 0.1
    cancelled_message = "Cancelled"

    _job = None
    _timer = None

    def start_worker(self, context, kind: str, request: dict, on_failure=None, message: str = "Starting"):
        from .jobs import BackgroundJob

        self._job = BackgroundJob(kind, request, on_failure=on_failure)
        start(context, message)
        self._timer = context.window_manager.event_timer_add(self.TIMER_INTERVAL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def on_progress(self, state: JobState) -> None:
        """Called with every poll while the job runs (e.g. to keep a log)."""

    def on_done(self, context, state: JobState) -> set:
        raise NotImplementedError

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._job.poll()
        show(context, state)
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
