"""core.render.song_map: one picture of the analysis whose columns are the strip's frames."""

from __future__ import annotations

import numpy as np
import pytest

from neural_aesthetics.core import audio
from neural_aesthetics.core.audio.timing import Timing
from neural_aesthetics.core.render import song_map

import synth_music
from helpers import read_png8


@pytest.fixture(scope="module")
def song():
    """Four bars of drums and chords at 120 BPM analysed on a strip starting at scene frame 17."""
    track = synth_music.render_chord_track(bpm=120.0, beats_per_chord=2, repeats=2, sample_rate=22050, seed=1)
    seconds = len(track.samples) / track.sample_rate
    timing = Timing(24.0, 17.0, 17, 17 + int(np.ceil(seconds * 24.0)))
    return audio.analyze_samples(track.samples.mean(axis=1), track.sample_rate, timing)


def beat_lane_rows(picture_height: int) -> tuple[int, int]:
    top = sum(height for name, height in song_map._LANES[:[n for n, _ in song_map._LANES].index("beats")])
    return top, top + dict(song_map._LANES)["beats"]


@pytest.mark.parametrize("width", [900, 150])  # more columns than frames, and fewer
def test_a_beat_is_drawn_in_the_columns_of_its_frame(song, tmp_path, width):
    path = tmp_path / "map.png"
    drawn = song_map.write_png(path, song, width=width)
    pixels = read_png8(path)
    assert pixels.shape == (drawn.rgb.shape[0], song_map._LEFT + width, 3)
    top, bottom = beat_lane_rows(pixels.shape[0])
    tick = pixels[bottom - 3, :, :].astype(int).sum(axis=1) > 3 * 150  # a light pixel low in the beat lane
    beat_frames = song.timing.frame_first + np.flatnonzero(song["beat"] > 0.5)
    assert len(beat_frames) >= 8
    expected = np.zeros(pixels.shape[1], dtype=bool)
    for frame in beat_frames:
        columns = drawn.columns_of_frame(int(frame))
        assert len(columns) >= 1
        expected[list(columns)] = True
    np.testing.assert_array_equal(np.flatnonzero(tick), np.flatnonzero(expected))


def test_every_frame_has_its_own_columns_in_order(song):
    drawn = song_map.render(song, width=700)
    first = song.timing.frame_first
    spans = [drawn.columns_of_frame(first + row) for row in range(song.timing.n_frames)]
    assert spans[0].start == drawn.left and spans[-1].stop == drawn.rgb.shape[1]
    assert all(a.stop == b.start and len(a) >= 1 for a, b in zip(spans, spans[1:]))
    with pytest.raises(ValueError, match="not on the map"):
        drawn.columns_of_frame(first - 1)


def test_the_chord_lane_shows_each_chord_from_its_frame(song):
    drawn = song_map.render(song, width=900)
    lanes = [name for name, _h in song_map._LANES]
    top = sum(h for _n, h in song_map._LANES[:lanes.index("chords")])
    middle = top + dict(song_map._LANES)["chords"] - 4
    row_colours = drawn.rgb[middle]
    frames = song.timing.frame_first + np.flatnonzero(song["chord_change"] > 0.5)
    assert len(frames) >= 6
    for frame in frames:
        row = frame - song.timing.frame_first
        colour = song_map.pitch_colour(int(song["chord_root"][row]), bool(song["chord_minor"][row]))
        column = drawn.columns_of_frame(int(frame))[-1]
        np.testing.assert_array_equal(np.rint(row_colours[column] * 255), np.rint(colour * 255))


def test_a_width_out_of_range_is_one_clear_error(song):
    with pytest.raises(ValueError, match="width"):
        song_map.render(song, width=10)
