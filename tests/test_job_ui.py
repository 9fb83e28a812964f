"""The sidebar's view of a running worker job: progress with time left, and Cancel.

Modal operators get no timer events under ``blender -b``, so these tests call the modal
mixin's ``modal`` the way Blender's event loop would, on the real window-manager
properties, with a fake event.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from types import SimpleNamespace

import pytest
from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


class UiContext:
    """The real job properties; timers, cursor progress and redraws as no-ops."""

    def __init__(self):
        real = bpy.context.window_manager
        self.window_manager = SimpleNamespace(
            neural_aesthetics_job=real.neural_aesthetics_job,
            progress_begin=lambda *_: None, progress_update=lambda *_: None, progress_end=lambda: None,
            event_timer_remove=lambda *_: None)
        self.screen = None


def driven_bake(sound_scene):
    """A modal-mixin object running a real worker bake, as ``invoke`` leaves it."""
    jobs_ui = installed("operators.verbs.job_progress")
    scene, strip = sound_scene
    request = installed("operators.blender.strips").bake_request(scene, strip, scene.neural_aesthetics)
    request = dataclasses.replace(request, width=400, height=225)

    class Driver(jobs_ui.WorkerModal):
        reports = []

        def report(self, kind, message):
            self.reports.append((set(kind), message))

        def on_done(self, context, state):
            return {"FINISHED"}

    driver, context = Driver(), UiContext()
    driver._job = installed("core.jobs.background").BackgroundJob("bake", request.to_json())
    driver._started_s = time.monotonic()
    jobs_ui.start(context, "Analysing the sound")
    return driver, context, request


def run_modal(driver, context, until, timeout_s=60.0):
    """Send timer events until ``until()`` is true or the operator ends; returns its last result."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = driver.modal(context, SimpleNamespace(type="TIMER"))
        if result != {"PASS_THROUGH"} or until():
            return result
        time.sleep(0.05)
    pytest.fail("the job did not get there in time")


def test_the_progress_text_tells_the_time_left_while_baking(sound_scene):
    driver, context, _request = driven_bake(sound_scene)
    job = bpy.context.window_manager.neural_aesthetics_job

    run_modal(driver, context, until=lambda: "left" in job.message)
    assert job.status == "RUNNING"
    assert " — about " in job.message and job.message.endswith(" left")

    assert run_modal(driver, context, until=lambda: False) == {"FINISHED"}
    assert job.status == "DONE" and "left" not in job.message


def test_the_cancel_button_stops_the_worker_and_says_so(sound_scene):
    driver, context, request = driven_bake(sound_scene)
    job = bpy.context.window_manager.neural_aesthetics_job
    run_modal(driver, context, until=lambda: len(list(request.out_dir.glob("*.png"))) >= 2)

    assert bpy.ops.neural_aesthetics.cancel_job() == {"FINISHED"}
    assert not bpy.ops.neural_aesthetics.cancel_job.poll()  # pressed once: greyed out

    assert run_modal(driver, context, until=lambda: False, timeout_s=10.0) == {"CANCELLED"}
    assert job.status == "CANCELLED"
    assert ({"WARNING"}, "Cancelled") in driver.reports
    assert 2 <= len(list(request.out_dir.glob("*.png"))) < request.timing.n_frames
    assert not bpy.ops.neural_aesthetics.cancel_job.poll()  # nothing running any more
