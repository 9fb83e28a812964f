"""core.visualizer: one bake from sound file + style to frames, as the operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth_music
from helpers import ROOT

from neural_aesthetics.core.render import visualizer
from neural_aesthetics.core.audio import AudioError
from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.audio.timing import Timing

STYLE = ROOT / "styles" / "ember.safetensors"
FPS = 24.0


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("music") / "music.wav"
    samples, _onsets = synth_music.render_demo_clip(seconds=2.0, seed=1)
    synth_music.write_wav(path, samples, 44100)
    return path


def request(music: Path, out_dir: Path, origin: float = 1.0, first: int = 1, end: int = 25, **kw):
    kw = {"width": 48, "height": 27, **kw}
    return visualizer.BakeRequest(
        audio_path=music, timing=Timing(FPS, origin, first, end), style_path=STYLE, out_dir=out_dir, **kw,
    )


def pixels(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


def test_frames_depend_on_the_music_under_them_not_on_where_the_strip_sits(music, tmp_path):
    at_start = visualizer.bake_visualizer(request(music, tmp_path / "a", origin=1.0, first=1, end=25))
    # Same strip moved 100 frames later and trimmed by 6 frames at the start.
    moved = visualizer.bake_visualizer(request(music, tmp_path / "b", origin=101.0, first=107, end=125))
    assert moved.frame_first == 107 and len(moved.paths) == 18
    for k in range(18):
        np.testing.assert_array_equal(pixels(moved.paths[k]), pixels(at_start.paths[k + 6]))


def test_a_repeated_bake_reuses_its_frames_and_a_changed_one_replaces_only_its_own(music, tmp_path):
    first = visualizer.bake_visualizer(request(music, tmp_path))
    assert (first.written, first.skipped) == (24, 0)
    again = visualizer.bake_visualizer(request(music, tmp_path))
    assert (again.written, again.skipped) == (0, 24)

    users_file = tmp_path / "notes.png"
    users_file.write_bytes(b"not ours")
    before = pixels(first.paths[3])
    reseeded = visualizer.bake_visualizer(request(music, tmp_path, seed=5))
    assert (reseeded.written, reseeded.skipped) == (24, 0)
    assert not np.array_equal(pixels(reseeded.paths[3]), before)
    assert users_file.read_bytes() == b"not ours"
    record = json.loads((tmp_path / visualizer.RECORD_NAME).read_text())
    assert record["key"]["seed"] == 5 and len(record["frames"]) == 24


def test_missing_sound_file_is_a_user_error_and_creates_nothing(tmp_path):
    out_dir = tmp_path / "frames"
    with pytest.raises(AudioError, match="Sound file not found"):
        visualizer.bake_visualizer(request(tmp_path / "gone.wav", out_dir))
    assert not out_dir.exists()


@pytest.mark.parametrize("width, height", [(0, 27), (48, 20000)])
def test_absurd_sizes_are_refused_before_any_work(music, tmp_path, width, height):
    bad = visualizer.BakeRequest(
        audio_path=music, timing=Timing(FPS, 1.0, 1, 25), style_path=STYLE,
        out_dir=tmp_path / "frames", width=width, height=height,
    )
    with pytest.raises(UserError, match="px is out of range"):
        visualizer.bake_visualizer(bad)
    assert not (tmp_path / "frames").exists()


# --- chunks, resume after a kill, cancel, one bake per folder --------------------------------

import dataclasses  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from neural_aesthetics.core.render import folder_lock, frame_folder
from neural_aesthetics.core import progress as jobs


def frame_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.png"))}


def hidden_leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".") and path.name != f".{visualizer.RECORD_NAME}"]


def test_chunks_of_a_bake_are_byte_identical_to_the_whole_bake(music, tmp_path):
    whole = visualizer.bake_visualizer(request(music, tmp_path / "whole", preset="pulse"))
    chunked_dir = tmp_path / "chunks"
    for frames in ((17, 30), (1, 4), (5, 16)):  # out of order; (17, 30) is clipped to the strip's end (24)
        chunk = visualizer.bake_visualizer(request(music, chunked_dir, preset="pulse", frames=frames))
        assert chunk.frame_first == frames[0] and len(chunk.paths) == min(frames[1], 24) - frames[0] + 1
    assert frame_bytes(chunked_dir) == frame_bytes(tmp_path / "whole") and len(whole.paths) == 24
    record = json.loads((chunked_dir / visualizer.RECORD_NAME).read_text())
    assert len(record["frames"]) == 24 and record["key"]["mapping"]["preset"] == "pulse"
    with pytest.raises(UserError, match="outside the strip"):
        visualizer.bake_visualizer(request(music, chunked_dir, frames=(40, 50)))


def test_bake_request_survives_the_worker_json_round_trip(music, tmp_path):
    original = request(music, tmp_path, frames=(3, 9), preset="bass", preset_strengths={"bass": 2.0},
                       preset_smoothing={"bass": 0.3}, image_format="exr", backend="numpy")
    assert visualizer.BakeRequest.from_json(json.loads(json.dumps(original.to_json()))) == original


@pytest.mark.parametrize("change, fragment", [
    ({"preset": "disco"}, "unknown preset"),
    ({"preset_strengths": {"pulse": -2}}, "strength of pulse"),
    ({"image_format": "tiff"}, "Unknown image format"),
    ({"backend": "cuda"}, "Unknown backend"),
])
def test_bad_settings_are_user_errors_before_any_work(music, tmp_path, change, fragment):
    with pytest.raises(UserError, match=fragment):
        visualizer.bake_visualizer(request(music, tmp_path / "frames", **change))
    assert not (tmp_path / "frames").exists()


_CHILD = """
import json, os, sys, types
sys.path[:0] = json.loads(os.environ["NA_SYS_PATH"])
package = types.ModuleType("neural_aesthetics"); package.__path__ = [os.environ["NA_ROOT"]]
sys.modules["neural_aesthetics"] = package
from neural_aesthetics.core.render import visualizer
visualizer.bake_visualizer(visualizer.BakeRequest.from_json(json.loads(os.environ["NA_REQUEST"])))
"""


def start_bake_process(bake_request) -> subprocess.Popen:
    env = dict(os.environ, NA_SYS_PATH=json.dumps(sys.path), NA_ROOT=str(ROOT),
               NA_REQUEST=json.dumps(bake_request.to_json()))
    return subprocess.Popen([sys.executable, "-c", _CHILD], env=env, stderr=subprocess.PIPE)


def wait_for(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def run_bake_process(bake_request) -> None:
    process = start_bake_process(bake_request)
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors.decode()


def proven_frames(folder: Path) -> set[str]:
    """Frames whose proof is in a bake's journal, read as the next bake reads them."""
    return {name for _path, _key, proofs in frame_folder._journals(folder) for name in proofs}


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_resume_after_a_killed_bake_gives_the_files_of_an_uninterrupted_bake(music, tmp_path):
    """Every bake here is a fresh process, as a re-run command would be."""
    big = dict(width=480, height=270, backend="numpy")  # slow enough to kill half-way
    killed_dir = tmp_path / "killed"
    process = start_bake_process(request(music, killed_dir, **big))
    try:
        wait_for(lambda: process.poll() is not None or len(proven_frames(killed_dir)) >= 3)
        assert process.poll() is None, process.stderr.read().decode()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert 3 <= len(list(killed_dir.glob("*.png"))) < 24, "the bake was not killed half-way"
    assert any(path.name.startswith(f"{folder_lock.LOCK_PREFIX}.") for path in killed_dir.iterdir())  # its lock stays
    # A frame killed between its file and its proof is drawn again; a proven one is kept.
    left = {name: (killed_dir / name).stat().st_mtime_ns for name in proven_frames(killed_dir)}
    run_bake_process(request(music, killed_dir, **big))  # the re-run
    assert all((killed_dir / name).stat().st_mtime_ns == mtime for name, mtime in left.items())  # kept, not redone
    run_bake_process(request(music, tmp_path / "clean", **big))  # uninterrupted
    assert len(frame_bytes(killed_dir)) == 24 and frame_bytes(killed_dir) == frame_bytes(tmp_path / "clean")
    assert hidden_leftovers(killed_dir) == []  # the dead bake's lock and temporary file are gone


@pytest.mark.parametrize("after_frames", [0, 5])
def test_cancel_leaves_only_whole_frames_and_frees_the_folder(music, tmp_path, after_frames):
    token = jobs.CancelToken()
    if after_frames == 0:
        token.cancel()

    def progress(done, _total, _message):
        if done == after_frames:
            token.cancel()

    with pytest.raises(jobs.Cancelled):
        visualizer.bake_visualizer(request(music, tmp_path, width=320, height=180), progress, token)
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [f"{index:06d}.png" for index in range(after_frames)]
    assert hidden_leftovers(tmp_path) == []
    finished = visualizer.bake_visualizer(request(music, tmp_path, width=320, height=180))
    assert (finished.skipped, finished.written) == (after_frames, 24 - after_frames)


def test_a_second_bake_into_a_busy_folder_is_refused_but_farm_chunks_may_share_it(music, tmp_path):
    busy = request(music, tmp_path, frames=(1, 12))
    loaded = visualizer.style_io.load_style(busy.style_path)
    digest = __import__("hashlib").sha256(json.dumps(visualizer.bake_key(busy, loaded), sort_keys=True)
                                          .encode()).hexdigest()
    other_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / f"{folder_lock.LOCK_PREFIX}.{folder_lock.host_name()}.{other_process.pid}.lock"
        lock.write_text(json.dumps({"host": folder_lock.host_name(), "pid": other_process.pid, "key": digest, "span": [0, 11]}))
        with pytest.raises(UserError, match="Another bake is writing into"):
            visualizer.bake_visualizer(request(music, tmp_path, seed=3))  # another bake
        with pytest.raises(UserError, match="Another bake is writing into"):
            visualizer.bake_visualizer(request(music, tmp_path, frames=(10, 20)))  # overlapping frames
        assert not list(tmp_path.glob("*.png"))
        chunk = visualizer.bake_visualizer(request(music, tmp_path, frames=(13, 24)))  # the farm's other chunk
        assert chunk.written == 12 and lock.exists()
    finally:
        other_process.kill()
        other_process.wait()
    resumed = visualizer.bake_visualizer(request(music, tmp_path))  # the holder died: its lock is stale
    assert (resumed.skipped, resumed.written) == (12, 12) and hidden_leftovers(tmp_path) == []


def test_bake_uses_the_backend_it_is_told(music, tmp_path):
    result = visualizer.bake_visualizer(dataclasses.replace(request(music, tmp_path), backend="numpy"))
    assert result.record["backend"] == "numpy"
    assert json.loads((tmp_path / visualizer.RECORD_NAME).read_text())["backend"] == "numpy"


# --- stems: effects that listen to another sound strip -------------------------------------------

STEM_RATE = 44100
KICKS_S = (0.5, 1.25, 2.0)


@pytest.fixture(scope="module")
def stems(tmp_path_factory) -> tuple[Path, Path]:
    """``(song, drums)``: a held chord with no attacks, and a drum stem of three kicks at ``KICKS_S``."""
    folder = tmp_path_factory.mktemp("stems")
    t = np.arange(int(3.0 * STEM_RATE)) / STEM_RATE
    chord = sum(0.1 * np.sin(2 * np.pi * hz * t) for hz in (220.0, 277.2, 329.6))
    drums = np.zeros_like(t)
    for kick_s in KICKS_S:
        tau = t - kick_s
        hit = tau >= 0
        drums[hit] += 0.8 * np.exp(-tau[hit] / 0.08) * np.sin(2 * np.pi * 60.0 * tau[hit])
    song, drum_stem = folder / "song.wav", folder / "drums.wav"
    synth_music.write_wav(song, np.stack([chord, chord], axis=1).astype(np.float32), STEM_RATE)
    synth_music.write_wav(drum_stem, np.stack([drums, drums], axis=1).astype(np.float32), STEM_RATE)
    return song, drum_stem


def pulse_steps(song: Path, out_dir: Path, **kw) -> np.ndarray:
    """How far the latent moves into each frame (a pulse is a jump) under the pulse preset."""
    plan, _whole = visualizer.song_plan(request(song, out_dir, end=1 + 72, preset="pulse", **kw))
    return np.r_[0.0, np.linalg.norm(np.diff(plan.latents, axis=0), axis=1)]


def test_pulse_listening_to_a_drum_stem_jumps_on_its_kicks_where_it_sits(stems, tmp_path):
    song, drums = stems
    alone = pulse_steps(song, tmp_path)
    with_drums = pulse_steps(song, tmp_path, sources={"pulse": visualizer.StemSource(drums, 1.0)})
    kick_rows = [round(kick_s * FPS) for kick_s in KICKS_S]
    quiet = np.median(with_drums)
    for row in kick_rows:
        assert with_drums[row:row + 2].max() > 3 * quiet, (row, with_drums[row - 2:row + 3], quiet)
        assert with_drums[row:row + 2].max() > 3 * alone[row:row + 2].max()
    # The same stem placed 6 frames later in the timeline: its kicks, and the jumps, 6 frames later.
    late = pulse_steps(song, tmp_path, sources={"pulse": visualizer.StemSource(drums, 7.0)})
    for row in kick_rows:
        assert np.argmax(late[row + 4:row + 10]) + row + 4 in (row + 6, row + 7)
        assert np.argmax(with_drums[row - 1:row + 4]) + row - 1 in (row, row + 1)


def test_a_stems_place_relative_to_the_song_is_part_of_the_bake_identity(stems, tmp_path):
    song, drums = stems
    from neural_aesthetics.core.render import style as style_io

    loaded = style_io.load_style(STYLE)

    def key(song_origin: float, drums_origin: float) -> dict:
        return visualizer.bake_key(request(song, tmp_path, origin=song_origin,
                                           sources={"pulse": visualizer.StemSource(drums, drums_origin)}), loaded)

    assert key(1.0, 3.0) == key(51.0, 53.0)  # moved together: the same frames
    assert key(1.0, 3.0) != key(1.0, 4.0)  # the drums moved against the song: new frames
    assert "sources" not in visualizer.bake_key(request(song, tmp_path), loaded)


def test_a_stem_request_survives_the_trip_to_the_worker(stems, tmp_path):

    song, drums = stems
    sent = request(song, tmp_path, sources={"pulse": visualizer.StemSource(drums, 3.5)})
    received = visualizer.BakeRequest.from_json(json.loads(json.dumps(sent.to_json())))
    assert received == sent and isinstance(received.sources["pulse"], visualizer.StemSource)


def test_a_missing_stem_or_an_unknown_effect_is_refused_before_any_work(stems, tmp_path):
    song, _drums = stems
    with pytest.raises(UserError, match="pulse listens to is missing"):
        visualizer.bake_visualizer(request(song, tmp_path / "a", sources={
            "pulse": visualizer.StemSource(tmp_path / "gone.wav", 1.0)}))
    with pytest.raises(UserError, match="Unknown effect 'sparkle'"):
        visualizer.bake_visualizer(request(song, tmp_path / "b", sources={
            "sparkle": visualizer.StemSource(song, 1.0)}))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_tempo_hint_is_part_of_the_bake_identity_and_no_hint_keeps_earlier_bakes(music, tmp_path):
    from neural_aesthetics.core.render import style as style_io

    loaded = style_io.load_style(STYLE)
    heard = visualizer.bake_key(request(music, tmp_path), loaded)
    assert "tempo_bpm" not in heard  # a bake made before tempo hints existed keeps its frames
    assert visualizer.bake_key(request(music, tmp_path, tempo_bpm=60.0), loaded) != heard
    assert visualizer.bake_key(request(music, tmp_path, tempo_bpm=60.0), loaded) != visualizer.bake_key(
        request(music, tmp_path, tempo_bpm=65.0), loaded)


def test_a_tempo_hint_out_of_range_is_refused_before_any_frame(music, tmp_path):
    with pytest.raises(AudioError, match=r"^Tempo 900 beats per minute is out of range: use 0 \(heard\) or 30 to 300$"):
        visualizer.bake_visualizer(request(music, tmp_path, tempo_bpm=900.0))
    assert list(tmp_path.iterdir()) == []



def test_a_bake_reports_the_pulse_it_heard_so_a_song_at_double_speed_is_seen(tmp_path):
    import soundfile
    import synth_grooves

    groove = synth_grooves.render_groove("four", 20.0, seed=1, bpm=70)  # a slow backbeat, heard at double speed
    song = tmp_path / "slow.wav"
    soundfile.write(str(song), groove.samples, groove.sample_rate)
    heard = visualizer.bake_visualizer(request(song, tmp_path / "auto", frames=(1, 2)))
    told = visualizer.bake_visualizer(request(song, tmp_path / "told", frames=(1, 2), tempo_bpm=72.0))
    assert visualizer.pulse_words(heard.heard) == "beats heard at 140 a minute, 4 to a bar"
    assert visualizer.pulse_words(told.heard) == "beats heard at 70 a minute, 4 to a bar"
    assert visualizer.VisualizerBake.from_json(told.to_json()).heard == told.heard  # (the worker's answer)


def test_a_bake_of_a_song_without_a_beat_says_so(tmp_path):
    import soundfile
    import synth_grooves

    drone = synth_grooves.render_groove("drone", 10.0)  # held tones, slowly beating: no pulse
    song = tmp_path / "drone.wav"
    soundfile.write(str(song), drone.samples, drone.sample_rate)
    result = visualizer.bake_visualizer(request(song, tmp_path / "frames", frames=(1, 2)))
    assert visualizer.pulse_words(result.heard) == "no steady beat heard"
