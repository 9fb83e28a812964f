"""Long jobs in a worker process: progress, cancel, and a worker that dies under the UI."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import pytest
from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


@pytest.fixture
def bake_request(sound_scene):
    """A bake of the whole test strip at 400x225: slow enough (seconds) to interrupt."""
    scene, strip = sound_scene
    request = installed("operators.blender.strips").bake_request(scene, strip, scene.neural_aesthetics)
    return dataclasses.replace(request, width=400, height=225)


def start(request):
    jobs, folder_lock = installed("core.jobs.background"), installed("core.render.folder_lock")
    return jobs.BackgroundJob(
        "bake", request.to_json(),
        on_failure=lambda pid: folder_lock.remove_temporaries(request.out_dir, pid),
    )


def wait_for_frames(out_dir: Path, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(list(out_dir.glob("*.png"))) < count:
        assert time.monotonic() < deadline, "the worker wrote no frames"
        time.sleep(0.02)


def poll_until_finished(job, within_s: float) -> None:
    """Poll as the UI's timer does until the job ends; fail if that takes over ``within_s``."""
    started = time.monotonic()
    while job.poll().status == "running":
        assert time.monotonic() - started < within_s, f"the job did not end within {within_s} s"
        time.sleep(0.02)


def assert_only_whole_frames(out_dir: Path) -> None:
    from PIL import Image

    assert not [p.name for p in out_dir.iterdir() if p.name.startswith(".") and p.suffix == ".tmp"]
    for frame in out_dir.glob("*.png"):
        with Image.open(frame) as image:
            image.load()  # raises on a truncated file


def test_worker_bakes_the_same_frames_as_the_blocking_bake(bake_request):
    job = start(bake_request)
    seen = []
    while job.poll().status == "running":
        seen.append(job.state.done)
        time.sleep(0.05)
    assert job.state.status == "done", job.state.message
    result = installed("core.render.visualizer").VisualizerBake.from_json(job.state.result)
    n = bake_request.timing.n_frames
    assert len(result.paths) == n and result.written == n
    assert max(seen) > 0 and job.state.done == n, "progress arrived while it ran"
    again = installed("core.render.visualizer").bake_visualizer(bake_request)
    assert (again.written, again.skipped) == (0, n), "the blocking bake recognises the worker's frames as its own"


def test_a_killed_worker_is_reported_failed_within_two_seconds_and_leaves_no_partial_frames(bake_request):
    job = start(bake_request)
    wait_for_frames(bake_request.out_dir, 3)
    job.kill()
    poll_until_finished(job, within_s=2.0)
    assert job.state.status == "failed"
    assert "stopped unexpectedly" in job.state.message and "\n" not in job.state.message
    assert_only_whole_frames(bake_request.out_dir)


def test_cancel_stops_within_a_frame_and_keeps_whole_frames(bake_request):
    job = start(bake_request)
    wait_for_frames(bake_request.out_dir, 2)
    job.cancel()
    poll_until_finished(job, within_s=5.0)
    assert job.state.status == "cancelled"
    done = len(list(bake_request.out_dir.glob("*.png")))
    assert 2 <= done < bake_request.timing.n_frames
    assert_only_whole_frames(bake_request.out_dir)


def test_a_users_mistake_in_the_worker_comes_back_as_one_line(bake_request, tmp_path):
    missing = dataclasses.replace(bake_request, audio_path=tmp_path / "gone.wav")
    state = start(missing).wait(timeout_s=60)
    assert state.status == "failed"
    assert state.message.startswith("Sound file not found") and "\n" not in state.message


def write_m4a(source_wav: Path, target: Path) -> Path:
    """``source_wav`` re-encoded as AAC in an M4A file (what phones and DAWs export)."""
    import av
    import numpy as np
    import soundfile

    samples, rate = soundfile.read(str(source_wav), dtype="float32", always_2d=True)
    with av.open(str(target), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.mean(axis=1)[None, :]), format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return target


def test_the_worker_decodes_an_m4a_sound_without_blenders_own_decoder(bake_request, tmp_path):
    # The worker is a plain Python process: Blender's aud module is not there, so M4A/AAC
    # must come from the bundled PyAV wheel.
    m4a = write_m4a(bake_request.audio_path, tmp_path / "song.m4a")
    request = dataclasses.replace(bake_request, audio_path=m4a, width=64, height=36)

    state = start(request).wait(timeout_s=120)

    assert state.status == "done", state.message
    assert len(list(request.out_dir.glob("*.png"))) == request.timing.n_frames
