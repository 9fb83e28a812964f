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
