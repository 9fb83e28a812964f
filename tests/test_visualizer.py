"""core.visualizer: one bake from sound file + style to frames, as the operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth_music
from helpers import ROOT

from neural_aesthetics.core import visualizer
from neural_aesthetics.core.audio import AudioError
from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.timing import Timing

STYLE = ROOT / "styles" / "ember.safetensors"
FPS = 24.0


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("music") / "music.wav"
    samples, _onsets = synth_music.render_demo_clip(seconds=2.0, seed=1)
    synth_music.write_wav(path, samples, 44100)
    return path


def request(music: Path, out_dir: Path, origin: float = 1.0, first: int = 1, end: int = 25, **kw):
    return visualizer.BakeRequest(
        audio_path=music, timing=Timing(FPS, origin, first, end), style_path=STYLE,
        out_dir=out_dir, width=48, height=27, **kw,
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
