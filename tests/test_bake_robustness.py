"""Trying to break a bake: the disk fills up, the song is re-exported under it, a killed
bake's lock and temporary files lie in the folder, a render-farm machine shares it.

Pure core (no bpy). The killed bake itself (SIGKILL of a real bake process, then a re-run)
is test_visualizer.py::test_resume_after_a_killed_bake_gives_the_files_of_an_uninterrupted_bake.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import synth_music
from helpers import ROOT
from PIL import Image

from neural_aesthetics.core import audio
from neural_aesthetics.core.render import bake, folder_lock, visualizer
from neural_aesthetics.core.render import style as style_io
from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.audio.timing import Timing

STYLE = ROOT / "styles" / "ember.safetensors"
FPS = 24.0
N_FRAMES = 24
PAGE = 4096


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> tuple[Path, Path]:
    """Two versions of a 2 s song, different music of exactly the same file size."""
    folder = tmp_path_factory.mktemp("songs")
    versions = []
    for name, seed in (("take1.wav", 1), ("take2.wav", 7)):
        samples, _onsets = synth_music.render_demo_clip(seconds=2.0, seed=seed)
        synth_music.write_wav(folder / name, samples, 44100)
        versions.append(folder / name)
    assert versions[0].stat().st_size == versions[1].stat().st_size
    assert versions[0].read_bytes() != versions[1].read_bytes()
    return versions[0], versions[1]


def request(song: Path, out_dir: Path, **kw) -> visualizer.BakeRequest:
    kw = {"width": 48, "height": 27, "backend": "numpy", **kw}
    return visualizer.BakeRequest(audio_path=song, timing=Timing(FPS, 1.0, 1, 1 + N_FRAMES), style_path=STYLE,
                                  out_dir=out_dir, **kw)


def frame_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.png"))}


def hidden_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def assert_one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def child_env(**extra) -> dict:
    return dict(os.environ, NA_SYS_PATH=json.dumps(sys.path), NA_ROOT=str(ROOT), **extra)


_CHILD_PRELUDE = r"""
import json, os, shutil, subprocess, sys, traceback, types
sys.path[:0] = json.loads(os.environ["NA_SYS_PATH"])
package = types.ModuleType("neural_aesthetics"); package.__path__ = [os.environ["NA_ROOT"]]
sys.modules["neural_aesthetics"] = package
from neural_aesthetics.core.render import visualizer
from neural_aesthetics.core.audio.timing import Timing

job = json.loads(os.environ["NA_JOB"])
fields = dict(job["request"], timing=Timing(**job["request"]["timing"]))


def bake():
    "None when the bake finished, else what it raised."
    try:
        visualizer.bake_visualizer(visualizer.BakeRequest(**fields))
    except BaseException as error:
        return {"type": type(error).__name__, "user_error": isinstance(error, visualizer.UserError),
                "message": str(error), "trace": traceback.format_exc()}
    return None
"""


def job_request(bake_request: visualizer.BakeRequest) -> dict:
    return {"audio_path": str(bake_request.audio_path), "style_path": str(bake_request.style_path),
            "out_dir": str(bake_request.out_dir), "width": bake_request.width, "height": bake_request.height,
            "backend": bake_request.backend, "timing": {"fps": FPS, "origin_frame": 1.0, "frame_first": 1,
                                                        "frame_end": 1 + N_FRAMES}}


# --- the disk fills up during a bake -------------------------------------------------------------

_SMALL_DISK_CHILD = _CHILD_PRELUDE + r"""
disk, report = job["disk"], job["report"]
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={job['disk_bytes']}", "na-test-small-disk", disk],
                         capture_output=True, text=True)
if mounted.returncode != 0:
    sys.exit("MOUNT FAILED: " + (mounted.stderr.strip() or mounted.stdout.strip()))
# Someone else's files fill the disk to the last page, then `room` bytes are freed.
filler = os.path.join(disk, "someone_elses_files.bin")
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
try:
    while os.write(fd, bytes(1 << 16)):
        pass
except OSError:
    pass
os.close(fd)
os.truncate(filler, os.path.getsize(filler) - job["room"])

outcomes = {"full": bake()}
shutil.copytree(fields["out_dir"], os.path.join(report, "full"))  # (copy2: modification times too)
os.unlink(filler)  # the user frees some space
outcomes["freed"] = bake()
shutil.copytree(fields["out_dir"], os.path.join(report, "freed"))
with open(os.path.join(report, "outcomes.json"), "w") as stream:
    json.dump(outcomes, stream)
"""


def private_mount_namespace() -> list[str]:
    """A command prefix running a process in its own mount namespace, where it may mount a
    tmpfs that vanishes with it (nothing is left mounted if the test dies)."""
    if shutil.which("unshare") is None:
        pytest.fail("this test needs `unshare` (util-linux) to give the bake a size-limited folder")
    if os.geteuid() == 0:  # CI runs as root
        return ["unshare", "--mount", "--propagation", "private"]
    return ["unshare", "--user", "--map-root-user", "--mount"]  # where unprivileged user namespaces are allowed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a tmpfs in a mount namespace is Linux")
def test_a_full_disk_stops_the_bake_with_one_line_and_a_rerun_after_freeing_space_finishes_it(songs, tmp_path):
    song, _ = songs
    size = {"width": 160, "height": 90}
    reference = visualizer.bake_visualizer(request(song, tmp_path / "reference", **size))  # never ran out
    expected = frame_bytes(tmp_path / "reference")
    pages = [-(-path.stat().st_size // PAGE) * PAGE for path in reference.paths]
    room = 3 * PAGE + sum(pages[:3]) + pages[3] // 2  # the lock, the record, 3.5 frames
    disk, report = tmp_path / "disk", tmp_path / "report"
    disk.mkdir(), report.mkdir()
    out_dir = disk / "frames"
    job = {"disk": str(disk), "disk_bytes": 4 << 20, "room": room, "report": str(report),
           "request": job_request(request(song, out_dir, **size))}

    run = subprocess.run([*private_mount_namespace(), sys.executable, "-c", _SMALL_DISK_CHILD],
                         env=child_env(NA_JOB=json.dumps(job)), capture_output=True, text=True, timeout=600)

    if "MOUNT FAILED" in run.stderr or run.returncode != 0 and not (report / "outcomes.json").exists():
        pytest.fail("could not bake into a size-limited folder (a tmpfs mounted in a private mount namespace; "
                    f"run as root, as CI does): exit {run.returncode}: {run.stderr.strip()[-2000:]}")
    outcomes = json.loads((report / "outcomes.json").read_text())

    # 1. The bake stops with one sentence naming the folder and the fix, not a traceback.
    full = outcomes["full"]
    assert full is not None, "the bake did not run out of space: the disk was not small enough"
    assert full["user_error"] and full["type"] == "UserError", full["trace"]
    assert_one_line(full["message"], f"Out of disk space writing frames to {out_dir}", "free some space",
                    "finished frames are kept")
    # 2. Only whole frames are left: no temporary file, no lock, each frame decodes and
    #    is exactly the frame of the bake that never ran out of space.
    left = frame_bytes(report / "full")
    assert 1 <= len(left) < N_FRAMES, f"{len(left)} frames fitted: the disk did not fill up half-way"
    assert hidden_files(report / "full") == []
    for name, data in left.items():
        with Image.open(report / "full" / name) as image:
            image.load()  # raises on a truncated file
        assert data == expected[name], f"{name} differs from the same frame of a bake with room"
    # 3. Once there is room again, the same bake finishes: every frame byte-identical to
    #    the uninterrupted bake, and the frames finished before were kept, not redone.
    assert outcomes["freed"] is None, outcomes["freed"]["trace"]
    assert frame_bytes(report / "freed") == expected and len(expected) == N_FRAMES
    assert hidden_files(report / "freed") == []
    for name in left:
        assert (report / "freed" / name).stat().st_mtime_ns == (report / "full" / name).stat().st_mtime_ns
    record = json.loads((report / "freed" / visualizer.RECORD_NAME).read_text())
    assert sorted(record["frames"]) == sorted(expected)


_FILE_SIZE_LIMIT_CHILD = _CHILD_PRELUDE + r"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # (Python ignores it already): writes past the limit fail
resource.setrlimit(resource.RLIMIT_FSIZE, (job["limit"], job["limit"]))
print(json.dumps(bake()))
"""


@pytest.mark.skipif(os.name == "nt", reason="RLIMIT_FSIZE is POSIX")
def test_a_frame_larger_than_the_file_size_limit_is_one_line_and_leaves_no_partial_file(songs, tmp_path):
    """The same path without any mount: a process file size limit (EFBIG) below one frame
    (a 160x90 frame is about 15 KB; the lock and the record fit)."""
    song, _ = songs
    out_dir = tmp_path / "frames"
    job = {"limit": 3000, "request": job_request(request(song, out_dir, width=160, height=90))}

    run = subprocess.run([sys.executable, "-c", _FILE_SIZE_LIMIT_CHILD], env=child_env(NA_JOB=json.dumps(job)),
                         capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome is not None and outcome["user_error"], outcome
    assert_one_line(outcome["message"], f"A frame is too large for the file system of {out_dir}",
                    "finished frames are kept")
    assert list(out_dir.glob("*.png")) == [] and hidden_files(out_dir) == []


# --- the song changes on disk ---------------------------------------------------------------------


def test_a_song_re_exported_while_the_bake_reads_it_is_refused_and_the_next_bake_draws_the_new_song(
        songs, tmp_path, monkeypatch):
    take1, take2 = songs
    song = tmp_path / "song.wav"
    shutil.copyfile(take1, song)
    real_analyze = audio.sound_analysis
    re_exported = []

    def analyze_then_re_export(path, *args, **kwargs):
        track = real_analyze(path, *args, **kwargs)
        if Path(path) == song and not re_exported:
            shutil.copyfile(take2, song)  # the DAW writes the new take just after the analysis read the old
            re_exported.append(True)
        return track

    monkeypatch.setattr(audio, "sound_analysis", analyze_then_re_export)
    out_dir = tmp_path / "frames"
    with pytest.raises(UserError) as caught:
        visualizer.bake_visualizer(request(song, out_dir))
    assert re_exported
    assert_one_line(str(caught.value), f"The file {song} changed while the bake was reading it", "bake again")
    assert not out_dir.exists(), "frames of the old take were written under the new take's name"

    monkeypatch.undo()
    again = visualizer.bake_visualizer(request(song, out_dir))
    assert (again.written, again.skipped) == (N_FRAMES, 0)
    visualizer.bake_visualizer(request(take2, tmp_path / "take2"))
    visualizer.bake_visualizer(request(take1, tmp_path / "take1"))
    assert frame_bytes(out_dir) == frame_bytes(tmp_path / "take2")
    assert frame_bytes(out_dir) != frame_bytes(tmp_path / "take1")


def replace_keeping_size_and_date(path: Path, new_content: Path) -> None:
    """Overwrite ``path`` with other music of the same size and put its modification time back
    (as ``cp -p``, ``rsync -t`` or an unzipped backup do)."""
    before = path.stat()
    shutil.copyfile(new_content, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_song_replaced_between_bakes_gets_all_new_frames_even_with_its_old_size_and_date(songs, tmp_path):
    take1, take2 = songs
    song = tmp_path / "song.wav"
    shutil.copyfile(take1, song)
    out_dir = tmp_path / "frames"
    assert visualizer.bake_visualizer(request(song, out_dir)).written == N_FRAMES

    replace_keeping_size_and_date(song, take2)
    again = visualizer.bake_visualizer(request(song, out_dir))

    assert (again.written, again.skipped) == (N_FRAMES, 0), "frames of the old take were reused"
    visualizer.bake_visualizer(request(take2, tmp_path / "take2"))
    assert frame_bytes(out_dir) == frame_bytes(tmp_path / "take2")


def test_the_analysis_cache_never_serves_a_replaced_songs_features_even_with_its_old_size_and_date(songs, tmp_path):
    take1, take2 = songs
    song, cache = tmp_path / "song.wav", tmp_path / "cache"
    shutil.copyfile(take1, song)
    timing = Timing(FPS, 0, 0, 48)
    old = audio.analyze(song, timing, cache_dir=cache)

    replace_keeping_size_and_date(song, take2)
    new = audio.analyze(song, timing, cache_dir=cache)

    fresh = audio.analyze(take2, timing)  # no cache
    for name in audio.CHANNELS:
        np.testing.assert_array_equal(new[name], fresh[name], err_msg=name)
    assert not np.array_equal(new["onset"], old["onset"])


# --- locks and temporary files of dead bakes, and of a farm machine -------------------------------


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert not folder_lock.pid_alive(process.pid)
    return process.pid


def bake_digest(bake_request) -> str:
    key = visualizer.bake_key(bake_request, style_io.load_style(bake_request.style_path))
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_another_machines_lock_untouched_for_longer_than_a_heartbeat_allows_is_taken_over(songs, tmp_path):
    """A killed bake's lock must not block the folder forever when the bake ran on another
    machine (whose processes we cannot see). (On this machine a live process keeps its lock
    however old: test_frame_folder.py.)"""
    song, _ = songs
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        host = "render-node-7"
        lock = tmp_path / f"{folder_lock.LOCK_PREFIX}.{host}.{sleeper.pid}.lock"
        lock.write_text(json.dumps({"host": host, "pid": sleeper.pid, "key": "another bake", "span": [0, 99]}))
        with pytest.raises(UserError, match="Another bake is writing into"):
            visualizer.bake_visualizer(request(song, tmp_path))  # fresh: it may be alive
        assert list(tmp_path.glob("*.png")) == [] and lock.exists()

        age(lock, folder_lock.LOCK_STALE_S + 10)  # no heartbeat for longer than LOCK_STALE_S: it is dead
        taken_over = visualizer.bake_visualizer(request(song, tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert taken_over.written == N_FRAMES and not lock.exists()
    assert hidden_files(tmp_path) == []


def test_a_killed_bakes_temporary_lock_record_and_frame_files_are_removed_by_the_next_bake(songs, tmp_path):
    song, _ = songs
    pid = dead_pid()
    leftovers = [tmp_path / f"{folder_lock.LOCK_PREFIX}.{folder_lock.host_name()}.{pid}.tmp",  # killed while taking its lock
                 tmp_path / f".{visualizer.RECORD_NAME}.{pid}.tmp",  # ... writing its record
                 tmp_path / f".000003.png.{pid}.tmp"]  # ... writing a frame
    for path in leftovers:
        path.write_bytes(b"half written")
    (tmp_path / f"{folder_lock.LOCK_PREFIX}.{folder_lock.host_name()}.{pid}.lock").write_text(
        json.dumps({"host": folder_lock.host_name(), "pid": pid, "key": "killed", "span": [0, 99]}))
    users_file = tmp_path / ".hidden_notes.txt"
    users_file.write_text("mine")

    done = visualizer.bake_visualizer(request(song, tmp_path))

    assert done.written == N_FRAMES
    assert hidden_files(tmp_path) == [users_file.name]


def test_a_farm_machines_frame_being_written_is_left_alone_but_an_abandoned_one_is_removed(songs, tmp_path):
    """Chunks of one bake on two machines share a network folder; the other machine's pids
    mean nothing here, so its temporary files go only when they are old."""
    song, _ = songs
    whole = request(song, tmp_path)
    remote_pid, abandoned_pid = dead_pid(), dead_pid()  # (not running here)
    (tmp_path / f"{folder_lock.LOCK_PREFIX}.render-node-7.{remote_pid}.lock").write_text(
        json.dumps({"host": "render-node-7", "pid": remote_pid, "key": bake_digest(whole), "span": [12, 23]}))
    being_written = tmp_path / f".000015.png.{remote_pid}.tmp"
    being_written.write_bytes(b"the first half of a frame")
    abandoned = tmp_path / f".000020.png.{abandoned_pid}.tmp"
    abandoned.write_bytes(b"a frame nobody finishes")
    age(abandoned, folder_lock.LOCK_STALE_S + 10)
    remote_lock_being_taken = tmp_path / f"{folder_lock.LOCK_PREFIX}.render-node-8.{abandoned_pid}.tmp"
    remote_lock_being_taken.write_text("{")

    chunk = visualizer.bake_visualizer(request(song, tmp_path, frames=(1, 12)))  # content indices 0..11

    assert chunk.written == 12
    assert being_written.read_bytes() == b"the first half of a frame", "another machine's frame was deleted"
    assert remote_lock_being_taken.exists()
    assert not abandoned.exists()
