"""Beats, downbeats, tempo and sections: on known synthetic music, on the right video frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neural_aesthetics.core import audio
from neural_aesthetics.core.audio import beats
from neural_aesthetics.core.audio.timing import Timing

import beat_scoring
import synth_music
from synth_music import Part

FPS_RATES = [24, 25, 30000 / 1001, 30, 60]
SAMPLE_RATE = 44100
# A beat measured within this of its true time may show on the next frame when it falls
# that close before a frame's end (the measurement is about +0.1 .. +0.4 ms late).
EDGE_TOLERANCE_S = 0.001


@pytest.fixture(scope="module")
def tempo_change(tmp_path_factory):
    """12 bars at 120 bpm, then 12 bars at 140 bpm; beats at 0.5 s + k/2 s (on frame starts
    at 24, 30 and 60 fps) until the change. Returns (path, BeatTrack)."""
    track = synth_music.render_beat_track((Part(120.0, 12), Part(140.0, 12, progression=1)), SAMPLE_RATE,
                                          seed=2, lead_in_s=0.5)
    path = tmp_path_factory.mktemp("beats") / "tempo_change.wav"
    synth_music.write_wav(path, track.samples, SAMPLE_RATE)
    return path, track


@pytest.fixture(scope="module")
def tempo_change_sound(tempo_change):
    path, _track = tempo_change
    samples, rate = audio.decode(path)
    return audio.analyze_sound(samples, rate)


def frame_row(timing: Timing, t: float) -> int:
    edges = timing.frame_edges_s()
    return int(np.searchsorted(edges, t, side="right")) - 1


# --------------------------------------------------------------------------- scorer


def test_f_measure_scores_hits_misses_and_extras():
    reference = [1.0, 2.0, 3.0, 4.0]
    assert beat_scoring.f_measure(reference, reference) == (1.0, 1.0, 1.0)
    assert beat_scoring.f_measure(reference, [1.06, 1.95, 3.0, 4.0]) == (1.0, 1.0, 1.0)  # within 70 ms
    f, precision, recall = beat_scoring.f_measure(reference, [1.08, 2.0, 3.0, 3.5, 4.0])  # one late, one extra
    assert (precision, recall) == (3 / 5, 3 / 4) and f == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert beat_scoring.f_measure(reference, [2.0, 2.01])[1:] == (0.5, 0.25)  # each matched once
    assert beat_scoring.f_measure([], []) == (1.0, 1.0, 1.0) and beat_scoring.f_measure(reference, [])[0] == 0.0


# --------------------------------------------------------------------------- beats


def test_beats_of_a_tempo_change_score_at_least_0_9_in_each_part(tempo_change, tempo_change_sound):
    _path, track = tempo_change
    found = tempo_change_sound.beats_s
    change_s = track.part_starts_s[1]

    f, _p, _r = beat_scoring.f_measure(track.beats_s, found)
    assert f >= 0.9
    for lo, hi in ((0.0, change_s), (change_s, math.inf)):  # the new tempo is followed too
        reference = [t for t in track.beats_s if lo <= t < hi]
        estimated = [t for t in found if lo - 0.035 <= t < hi - 0.035]
        assert beat_scoring.f_measure(reference, estimated)[0] >= 0.9, (lo, hi)


@pytest.mark.parametrize("before,after", [(120, 100), (120, 160), (96, 128), (150, 110)])
def test_other_tempo_changes_are_followed_too(before, after):
    track = synth_music.render_beat_track((Part(before, 12), Part(after, 12, progression=1)), SAMPLE_RATE, seed=3,
                                          lead_in_s=0.5)
    sound = audio.analyze_sound(track.samples.mean(axis=1), SAMPLE_RATE)

    assert beat_scoring.f_measure(track.beats_s, sound.beats_s)[0] >= 0.9
    change_s = track.part_starts_s[1]
    after_change = [t for t in sound.beats_s if t >= change_s - 0.035]
    assert beat_scoring.f_measure([t for t in track.beats_s if t >= change_s], after_change)[0] >= 0.9
    assert beat_scoring.f_measure(track.downbeats_s, sound.downbeats_s)[0] >= 0.9


def test_beats_are_placed_on_the_hit_to_the_millisecond(tempo_change, tempo_change_sound):
    _path, track = tempo_change
    found = tempo_change_sound.beats_s
    pairs = beat_scoring.match_events(track.beats_s, found)
    errors = np.array([found[j] - track.beats_s[i] for i, j in pairs])

    assert len(pairs) >= 0.9 * len(track.beats_s)
    assert np.mean((errors >= 0) & (errors < EDGE_TOLERANCE_S)) >= 0.95  # onset sample, not a 5 ms hop
    assert np.all(np.abs(errors) < 0.015)


@pytest.mark.parametrize("fps", FPS_RATES, ids=lambda f: f"{f:.3f}fps")
@pytest.mark.parametrize("origin", [0.0, 12.0])
def test_every_beat_lands_on_the_frame_that_contains_it(tempo_change, tempo_change_sound, fps, origin):
    path, track = tempo_change
    duration = len(track.samples) / SAMPLE_RATE
    timing = Timing(fps, origin, int(origin), int(origin + math.ceil(duration * fps)))

    features = audio.frame_features(tempo_change_sound, timing)

    beat_rows = np.flatnonzero(features["beat"] == 1)
    pairs = beat_scoring.match_events(track.beats_s, tempo_change_sound.beats_s)
    assert len(pairs) >= 0.9 * len(track.beats_s)
    assert len(beat_rows) == len(tempo_change_sound.beats_s)  # one frame per beat
    edges = timing.frame_edges_s()
    late_ok = 0
    for i, _j in pairs:
        t = track.beats_s[i]
        row = frame_row(timing, t)
        if features["beat"][row] == 1:
            continue
        # only a beat within EDGE_TOLERANCE_S of its frame's end may show on the next frame
        assert edges[row + 1] - t < EDGE_TOLERANCE_S and features["beat"][row + 1] == 1, (t, row)
        late_ok += 1
    assert late_ok <= 2
    # on every beat frame the phase restarts at exactly 0
    assert np.all(features["beat_phase"][beat_rows] == 0)
    assert np.all(np.diff(features["beat_phase"][beat_rows[0]:beat_rows[1]]) > 0)


def test_tempo_follows_the_change_and_downbeats_start_the_bars(tempo_change, tempo_change_sound):
    _path, track = tempo_change
    timing = Timing(30, 0, 0, int(len(track.samples) / SAMPLE_RATE * 30))
    features = audio.frame_features(tempo_change_sound, timing)
    change_row = frame_row(timing, track.part_starts_s[1])

    tempo = features["tempo_bpm"]
    assert np.median(tempo[30:change_row - 15]) == pytest.approx(120, abs=1)
    assert np.median(tempo[change_row + 15:-45]) == pytest.approx(140, abs=1)
    assert beat_scoring.f_measure(track.downbeats_s, tempo_change_sound.downbeats_s)[0] >= 0.9
    down_rows = np.flatnonzero(features["downbeat"] == 1)
    assert np.all(features["beat"][down_rows] == 1)  # a downbeat is a beat


def test_moving_or_trimming_the_strip_shifts_beats_by_exactly_that_many_frames(tempo_change):
    path, _track = tempo_change
    fps = 30000 / 1001
    here = audio.analyze(path, Timing(fps, 10, 10, 700))
    moved = audio.analyze(path, Timing(fps, 10 + 250, 10 + 250 + 40, 700 + 250))  # moved and trimmed by 40

    for name in ("beat", "downbeat", "tempo_bpm", "beat_phase", "onset", "bass", "section"):
        np.testing.assert_array_equal(moved[name], here[name][40:], err_msg=name)
    assert here["beat"].sum() > 20


@pytest.mark.slow
def test_the_last_beat_of_a_ten_minute_track_is_on_its_frame(tmp_path):
    # 300 bars at 120 bpm then 2 bars at 126: ten minutes; 29.97 fps (non-integer rate)
    rate = 22050
    track = synth_music.render_beat_track((Part(120.0, 300), Part(126.0, 2, progression=2)), rate, seed=5,
                                          lead_in_s=0.25)
    path = tmp_path / "ten_minutes.wav"
    synth_music.write_wav(path, track.samples, rate)
    fps = 30000 / 1001
    duration = len(track.samples) / rate
    assert duration > 600
    timing = Timing(fps, 1, 1, 1 + math.ceil(duration * fps))

    features = audio.analyze(path, timing)

    last_row = int(np.flatnonzero(features["beat"] == 1)[-1])
    assert abs(last_row - frame_row(timing, track.beats_s[-1])) <= 1
    assert beat_scoring.f_measure(track.beats_s, features.beats_s)[0] >= 0.9


# --------------------------------------------------------------------------- sections


def test_sections_start_where_the_arrangement_changes(tmp_path):
    parts = (Part(120, 8, key=45, progression=0),
             Part(120, 8, key=52, progression=1, kick=False, bass=False, pad_gain=0.12, lead=True),
             Part(120, 8, key=45, progression=2))
    track = synth_music.render_beat_track(parts, SAMPLE_RATE, seed=1, lead_in_s=0.3)
    path = tmp_path / "song.wav"
    synth_music.write_wav(path, track.samples, SAMPLE_RATE)
    timing = Timing(25, 0, 0, int(len(track.samples) / SAMPLE_RATE * 25))

    features = audio.analyze(path, timing)

    np.testing.assert_allclose(features.sections_s, track.part_starts_s[1:], atol=0.02)
    change_rows = np.flatnonzero(features["section_change"] == 1)
    assert list(change_rows) == [frame_row(timing, 0.0)] + [frame_row(timing, t) for t in features.sections_s]
    section = features["section"]
    assert set(np.unique(section)) == {0.0, 1.0, 2.0}
    assert np.all(np.diff(section) >= 0) and section[change_rows[1]] == 1 and section[change_rows[1] - 1] == 0
