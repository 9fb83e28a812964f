"""A frame folder belongs to one bake: it writes, deletes and reuses only files it can prove
it wrote; a live bake keeps its lock; limits are refused in one line before any work.

Pure core (no bpy). Every hostile input is built here.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import synth_music
from helpers import ROOT

from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.audio.timing import Timing
from neural_aesthetics.core.render import bake, folder_lock, frame_folder, imageio, limits, mapping, visualizer
from neural_aesthetics.core.render import style as style_io

STYLE = ROOT / "styles" / "ember.safetensors"
OTHER_STYLE = ROOT / "styles" / "lagoon.safetensors"
FPS = 24.0
N_FRAMES = 6


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("song") / "song.wav"
    samples, _onsets = synth_music.render_demo_clip(seconds=0.5, seed=2)
    synth_music.write_wav(path, samples, 44100)
    return path


def request(song: Path, out_dir: Path, **kw) -> visualizer.BakeRequest:
    kw = {"width": 32, "height": 18, "backend": "numpy", "style_path": STYLE, **kw}
    return visualizer.BakeRequest(audio_path=song, timing=Timing(FPS, 1.0, 1, 1 + N_FRAMES), out_dir=out_dir, **kw)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def assert_one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- only frames it can prove -----------------------------------------------------------------

def test_a_users_frame_named_files_are_never_adopted_nor_deleted(song, tmp_path):
    for index in range(3):
        (tmp_path / f"{index:06d}.png").write_bytes(f"the user's picture {index}".encode())
    before = folder_bytes(tmp_path)
    with pytest.raises(UserError) as refused:
        visualizer.bake_visualizer(request(song, tmp_path))
    assert_one_line(str(refused.value), str(tmp_path / "000000.png"), "(and 2 more like it)",
                    "was not written by a bake", "move such files out of")
    assert folder_bytes(tmp_path) == before, "the user's files were touched"


def test_a_deleted_record_never_lets_another_style_adopt_or_delete_the_old_frames(song, tmp_path):
    visualizer.bake_visualizer(request(song, tmp_path))
    (tmp_path / visualizer.RECORD_NAME).unlink()
    before = folder_bytes(tmp_path)
    with pytest.raises(UserError, match="the folder's bake record is missing"):
        visualizer.bake_visualizer(request(song, tmp_path, style_path=OTHER_STYLE))
    assert folder_bytes(tmp_path) == before


def test_another_style_replaces_only_the_frames_the_record_proves(song, tmp_path):
    first = [path.read_bytes() for path in visualizer.bake_visualizer(request(song, tmp_path)).paths]
    users = {"notes.txt": b"mine", "cover.png": b"not a frame name"}
    for name, data in users.items():
        (tmp_path / name).write_bytes(data)
    other = visualizer.bake_visualizer(request(song, tmp_path, style_path=OTHER_STYLE))
    assert (other.written, other.skipped) == (N_FRAMES, 0)
    assert other.record["replaced"] == "the style changed"
    assert all((tmp_path / name).read_bytes() == data for name, data in users.items())
    assert first != [path.read_bytes() for path in other.paths]


@pytest.mark.parametrize("damage", ["empty", "100 bytes", "one byte flipped"])
def test_a_truncated_or_corrupt_frame_is_drawn_again(song, tmp_path, damage):
    first = visualizer.bake_visualizer(request(song, tmp_path))
    good = first.paths[2].read_bytes()
    if damage == "empty":
        first.paths[2].write_bytes(b"")
    elif damage == "100 bytes":
        first.paths[2].write_bytes(good[:100])
    else:
        first.paths[2].write_bytes(good[:-20] + bytes([good[-20] ^ 0xFF]) + good[-19:])
    again = visualizer.bake_visualizer(request(song, tmp_path))
    assert (again.written, again.skipped) == (1, N_FRAMES - 1)
    assert first.paths[2].read_bytes() == good


def test_the_record_lists_each_frame_with_its_size_and_digest(song, tmp_path):
    result = visualizer.bake_visualizer(request(song, tmp_path))
    record = json.loads((tmp_path / visualizer.RECORD_NAME).read_text())
    assert record["writing"] == []
    for path in result.paths:
        proof = record["frames"][path.name]
        assert proof == {"size": path.stat().st_size, "sha256": frame_folder.file_digest(path)}
    assert not [path.name for path in tmp_path.iterdir() if path.name.endswith(frame_folder.JOURNAL_SUFFIX)]


def test_frames_of_a_killed_bake_are_proved_by_its_journal(song, tmp_path):
    """A bake killed before its journal was folded into the record: its frames are reused."""
    whole = visualizer.bake_visualizer(request(song, tmp_path / "whole"))
    folder = tmp_path / "killed"
    done = visualizer.bake_visualizer(request(song, folder, frames=(1, 3)))
    record = json.loads((folder / visualizer.RECORD_NAME).read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    journal = folder / f"{folder_lock.LOCK_PREFIX}.{folder_lock.host_name()}.{int(dead.stdout)}.journal"
    lines = [json.dumps({"key": frame_folder.key_digest(record["key"])})]
    lines += [json.dumps([name, proof["size"], proof["sha256"]]) for name, proof in record["frames"].items()]
    journal.write_text("\n".join(lines) + "\n")
    record.update(frames={}, writing=[path.name for path in done.paths])  # as the record was while it ran
    (folder / visualizer.RECORD_NAME).write_text(json.dumps(record))

    resumed = visualizer.bake_visualizer(request(song, folder))
    assert (resumed.written, resumed.skipped) == (N_FRAMES - 3, 3)
    assert not journal.exists()
    assert [path.read_bytes() for path in resumed.paths] == [path.read_bytes() for path in whole.paths]


def test_a_folder_of_another_project_is_refused_but_its_own_project_replaces_its_frames(song, tmp_path):
    blend_a, blend_b = tmp_path / "a.blend", tmp_path / "b.blend"
    blend_a.write_bytes(b"BLENDER"), blend_b.write_bytes(b"BLENDER")
    folder = tmp_path / "frames"
    visualizer.bake_visualizer(request(song, folder, owner={"blend": str(blend_a), "strip": "Music_1"}))
    before = folder_bytes(folder)
    with pytest.raises(UserError) as refused:
        visualizer.bake_visualizer(request(song, folder, seed=4, owner={"blend": str(blend_b), "strip": "Music_1"}))
    assert_one_line(str(refused.value), f"holds the frames of strip 'Music_1' of {blend_a}", "another output folder")
    assert folder_bytes(folder) == before
    again = visualizer.bake_visualizer(request(song, folder, seed=4, owner={"blend": str(blend_a), "strip": "Music_1"}))
    assert again.written == N_FRAMES


def test_reuse_problem_says_why_in_words(song, tmp_path):
    loaded = style_io.load_style(STYLE)
    key = visualizer.bake_key(request(song, tmp_path), loaded)
    assert frame_folder.reuse_problem(key, dict(key)) is None
    assert frame_folder.reuse_problem(key, dict(key, fps=30.0)) == \
        "the scene's frame rate changed (24 fps when baked, 30 fps now)"
    assert frame_folder.reuse_problem(key, dict(key, seed=9)) == "the seed changed (0 when baked, 9 now)"
    assert frame_folder.reuse_problem(key, dict(key, audio_sha256="0")) == "the sound file changed"
    assert frame_folder.reuse_problem(None, key) == "no bake is recorded for them"


# --- the lock -----------------------------------------------------------------------------------

def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_live_bakes_lock_on_this_machine_is_never_taken_over_however_old(song, tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock = tmp_path / f"{folder_lock.LOCK_PREFIX}.{folder_lock.host_name()}.{sleeper.pid}.lock"
        lock.write_text(json.dumps({"host": folder_lock.host_name(), "pid": sleeper.pid, "key": "paused bake",
                                    "span": [0, 99]}))
        age(lock, 100 * folder_lock.LOCK_STALE_S)  # a laptop suspended for hours
        with pytest.raises(UserError, match="Another bake is writing into"):
            visualizer.bake_visualizer(request(song, tmp_path))
        assert lock.exists() and not list(tmp_path.glob("*.png"))
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_bake_that_lost_its_lock_stops_in_one_line_instead_of_writing_on(song, tmp_path):
    def take_over(done, _total, _message):
        if done == 2:  # while "paused", another machine took the folder over
            for lock in tmp_path.glob(f"{folder_lock.LOCK_PREFIX}.*.lock"):
                lock.write_text(json.dumps({"host": "render-node-9", "pid": 77, "key": "another", "span": [0, 9]}))

    with pytest.raises(UserError) as stopped:
        visualizer.bake_visualizer(request(song, tmp_path), take_over)
    assert_one_line(str(stopped.value), f"This bake lost its hold on {tmp_path}", "it stopped")
    assert sorted(path.name for path in tmp_path.glob("*.png")) == ["000000.png", "000001.png"]


def test_a_lock_that_cannot_be_removed_never_hides_the_error_that_ended_the_bake(song, tmp_path, monkeypatch):
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):
        if self.name.endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    def fail(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(imageio, "write_atomically", fail)
    with pytest.raises(UserError, match="Out of disk space writing frames to"):
        visualizer.bake_visualizer(request(song, tmp_path))


def test_a_folder_that_cannot_be_written_is_named_not_its_hidden_temporary_file(song, tmp_path, monkeypatch):
    def refuse(path, *_args, **_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(imageio.temporary_name(Path(path))))

    monkeypatch.setattr(imageio, "write_atomically", refuse)
    with pytest.raises(UserError) as refused:
        visualizer.bake_visualizer(request(song, tmp_path))
    assert_one_line(str(refused.value), f"Cannot write into {tmp_path} (Permission denied)", "make the folder writable")
    assert ".tmp" not in str(refused.value) and ".lock" not in str(refused.value)


# --- limits and unclear lines -------------------------------------------------------------------

@pytest.mark.parametrize("seed", [-1, 2**31, 2**63])
def test_a_seed_out_of_range_is_one_line(song, tmp_path, seed):
    with pytest.raises(UserError) as refused:
        visualizer.bake_visualizer(request(song, tmp_path / "frames", seed=seed))
    assert_one_line(str(refused.value), f"Seed {seed} is out of range", str(limits.MAX_SEED))
    assert not (tmp_path / "frames").exists()


def test_a_frame_larger_than_free_memory_is_refused_before_any_work(song, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "available_memory_bytes", lambda: 2**30)
    with pytest.raises(UserError) as refused:
        visualizer.bake_visualizer(request(song, tmp_path / "frames", width=16384, height=16384))
    assert_one_line(str(refused.value), "A 16384x16384 px frame needs about 7.5 GiB", "1.0 GiB is free",
                    "smaller frame size")
    assert not (tmp_path / "frames").exists()


def test_chunks_of_a_strip_starting_before_frame_zero_bake(song, tmp_path):
    """``--frames -50--40`` of a strip whose sound starts at scene frame -60."""
    timing = Timing(FPS, -60.0, -60, -30)
    chunk = visualizer.bake_visualizer(dataclasses_replace(request(song, tmp_path), timing=timing, frames=(-50, -40)))
    assert chunk.frame_first == -50 and len(chunk.paths) == 11
    assert [path.name for path in chunk.paths] == [f"{index:06d}.png" for index in range(10, 21)]


def dataclasses_replace(item, **changes):
    import dataclasses

    return dataclasses.replace(item, **changes)


class _SlowRenderer:
    """Draws a frame in 40 tiles of 0.05 s each, checking the stop event per tile as renderers do."""

    backend_name = "slow"

    def render(self, latent, width, height, stop_event=None, out=None, **_view):
        for _tile in range(40):
            if stop_event is not None and stop_event.is_set():
                raise RuntimeError("stopped")
            time.sleep(0.05)
        out = np.zeros((height, width, 3), np.float32) if out is None else out
        out[:] = 0.5
        return out


def test_a_slow_frame_reports_its_tiles_every_few_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(bake, "PROGRESS_EVERY_S", 0.5)
    silence = {"loudness": np.zeros(2), "onset": np.zeros(2)}
    plan = mapping.plan(silence, FPS, latent_dim=4, seed=0)
    lines = []
    bake.bake_sequence(None, plan, [0, 1], tmp_path, 8, 8, progress=lambda *line: lines.append(line),
                       renderer=_SlowRenderer())
    inside = [message for done, total, message in lines if "tiles drawn" in message]
    assert len(inside) >= 4, lines  # 2 s per frame, a line every 0.5 s
    counts = [int(message.split(": ")[1].split()[0]) for message in inside if message.startswith("Frame 1/2")]
    assert counts == sorted(counts) and counts[-1] > counts[0] > 0


# --- styles: weights and thumbnails -------------------------------------------------------------

def _copy_style(tmp_path: Path, name: str, change_weights=None) -> Path:
    loaded = style_io.load_style(STYLE)
    weights = {key: value.copy() for key, value in loaded.weights.items()}
    if change_weights is not None:
        change_weights(weights)
    metadata = {key: value for key, value in loaded.metadata.items() if key not in ("name", "format_version")}
    return style_io.save_style(tmp_path, name, loaded.architecture, weights, metadata,
                               np.zeros((9, 16, 3), np.uint8))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_style_with_weights_that_are_not_finite_is_refused(tmp_path, value):
    def poison(weights):
        name = sorted(weights)[0]
        weights[name].flat[0] = value

    path = _copy_style(tmp_path, "poisoned", poison)
    with pytest.raises(style_io.StyleError) as refused:
        style_io.load_style(path)
    assert_one_line(str(refused.value), "not finite numbers", "corrupt")


def _png_bomb(path: Path, side: int) -> None:
    """A tiny PNG whose header says ``side`` x ``side`` px of deflated zeros (a few KB, gigabytes decoded)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + side)  # filter byte + one grey byte per pixel
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(500)) + compressor.flush()  # (only the start)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_a_decompression_bomb_thumbnail_is_never_decoded(tmp_path):
    path = _copy_style(tmp_path, "bomb")
    _png_bomb(path.with_suffix(".png"), 60000)
    assert path.with_suffix(".png").stat().st_size < 100_000
    (info,) = style_io.list_styles([tmp_path])
    assert info.thumbnail_path is None  # the Style menu draws no preview of it
    started = time.monotonic()
    imported = style_io.import_style(path, tmp_path / "mine")
    assert time.monotonic() - started < 10
    from PIL import Image

    with Image.open(imported.with_suffix(".png")) as thumbnail:
        assert thumbnail.size == (160, 90)


def test_a_style_named_like_a_bundled_one_is_imported_under_a_free_name(tmp_path):
    path = _copy_style(tmp_path / "download", "ember")
    imported = style_io.import_style(path, tmp_path / "mine", reserved=frozenset({"ember", "ember_2"}))
    assert imported.stem == "ember_3"
