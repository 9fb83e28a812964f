"""core.render.estimate: the time a bake will take, measured on this machine before it starts."""

from __future__ import annotations

import time

import numpy as np
import pytest
import synth_music
from helpers import ROOT

from neural_aesthetics.core.audio.timing import Timing
from neural_aesthetics.core.render import estimate, visualizer

FPS = 24.0
SIZE = (640, 360)


CHUNKS = 4
"""The bake runs in this many chunks (as farm machines take them), the style timed between them."""


@pytest.mark.slow
@pytest.mark.parametrize("style", ["neon", "ember"])
def test_the_estimate_is_within_a_factor_of_1_5_of_the_real_bake_of_the_demo_song(style, tmp_path):
    seconds = 4.0
    music = tmp_path / "demo.wav"
    samples, _onsets = synth_music.render_demo_clip(seconds=seconds, seed=3)
    synth_music.write_wav(music, samples, 44100)
    style_path = ROOT / "styles" / f"{style}.safetensors"
    frames = int(seconds * FPS)
    # This machine's speed moves by up to 2x within seconds (CI neighbours, the 4.2 run
    # beside this one). So the bake runs in chunks with the style's tiles timed between
    # them, each chunk's estimate taken from the timings on either side of it, and both
    # sides are read in this process's CPU seconds, which other programs do not inflate.
    speeds = [estimate.measure_seconds_per_pixel(style_path, "numpy", "png8", clock=time.process_time)]
    real = 0.0
    estimated = seconds * estimate.ANALYSIS_S_PER_SONG_S
    bounds = np.linspace(1, 1 + frames, CHUNKS + 1).astype(int)
    for first, end in zip(bounds[:-1], bounds[1:]):
        request = visualizer.BakeRequest(audio_path=music, timing=Timing(FPS, 1.0, 1, 1 + frames), style_path=style_path,
                                         out_dir=tmp_path / "frames", width=SIZE[0], height=SIZE[1], backend="numpy",
                                         frames=(int(first), int(end) - 1), analysis_cache=tmp_path / "analyses")
        started = time.process_time()
        result = visualizer.bake_visualizer(request)
        real += time.process_time() - started
        assert result.written == end - first
        speeds.append(estimate.measure_seconds_per_pixel(style_path, "numpy", "png8", clock=time.process_time))
        estimated += estimate.estimate_bake_s(int(end - first), *SIZE, (speeds[-2] + speeds[-1]) / 2)
    assert 1 / 1.5 <= real / estimated <= 1.5, f"estimated {estimated:.1f} s, the bake took {real:.1f} s (CPU)"


def test_the_duration_reads_as_people_say_it():
    assert estimate.duration_text(0.2) == "about 1 s"
    assert estimate.duration_text(42) == "about 42 s"
    assert estimate.duration_text(12 * 60 + 10) == "about 12 min"
    assert estimate.duration_text(3 * 3600 + 20 * 60) == "about 3 h 20 min"
    assert estimate.duration_text(2 * 3600) == "about 2 h"


def test_twice_the_pixels_or_frames_is_twice_the_time_of_drawing_them():
    one = estimate.estimate_bake_s(100, 640, 360, 1e-6)
    assert estimate.estimate_bake_s(200, 640, 360, 1e-6) == pytest.approx(2 * one)
    assert estimate.estimate_bake_s(100, 1280, 360, 1e-6) == pytest.approx(2 * one)
