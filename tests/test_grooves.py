"""Beats, tempo and meter on generated grooves with exact ground truth (scripts/synth_grooves.py):
swing, waltzes, 6/8, half-time, a tempo change, rubato, music without drums, and sounds
without a beat. Scored with a +-70 ms F-measure (scripts/beat_scoring.py)."""

from __future__ import annotations

import numpy as np
import pytest

import beat_scoring
import synth_grooves
from neural_aesthetics.core import audio
from neural_aesthetics.core.audio.timing import Timing

SECONDS = {"tempo_change": 24.0, "six_eight": 20.0}
FPS = 30


def analysed(name: str, params: audio.AnalysisParams = audio.AnalysisParams()):
    groove = synth_grooves.render_groove(name, SECONDS.get(name, 12.0), seed=1)
    sound = audio.analyze_sound(groove.samples, groove.sample_rate, params)
    n_frames = int(len(groove.samples) / groove.sample_rate * FPS)
    return groove, sound, audio.frame_features(sound, Timing(FPS, 0, 0, n_frames), params)


@pytest.mark.parametrize("name", synth_grooves.GROOVES)
def test_every_groove_with_a_pulse_gets_its_beats_at_its_tempo(name):
    groove, sound, track = analysed(name)
    assert beat_scoring.f_measure(groove.beats_s, sound.beats_s)[0] >= 0.9
    heard_bpm = 60.0 / np.median(np.diff(sound.beats_s))
    true_bpm = 60.0 / np.median(np.diff(groove.beats_s))
    assert abs(heard_bpm / true_bpm - 1.0) < 0.04, "a 3:2 or 2:1 tempo confusion"
    on_beats = track["beat_confidence"][track["beat"] > 0]
    assert len(on_beats) and on_beats.min() > 0  # a weak pulse is still a pulse, and says how sure it is


@pytest.mark.parametrize("name", ["half_time", "four", "waltz"])
def test_the_first_beats_of_a_song_are_heard(name):
    """A song that starts on its first beat, a little after the file starts, gets that beat and
    the next: the beat path is not tied to the silence before it."""
    groove, sound, _track = analysed(name)
    for truth in groove.beats_s[:2]:
        assert np.min(np.abs(sound.beats_s - truth)) <= 0.07, f"no beat at {truth:.3f} s"


def test_the_beats_either_side_of_a_tempo_change_are_on_their_hits():
    """96 then 128 bpm: the last beats of the old tempo and the first of the new each land
    on their own hit (within one frame at 30 fps), not squeezed in between."""
    groove, sound, _track = analysed("tempo_change")
    intervals = np.diff(groove.beats_s)
    change = int(np.flatnonzero(np.abs(np.diff(intervals)) > 0.05)[0]) + 1  # the last beat at the old tempo
    for truth in groove.beats_s[change - 2:change + 3]:
        assert np.min(np.abs(sound.beats_s - truth)) <= 1.0 / FPS, f"no beat within a frame of {truth:.3f} s"


@pytest.mark.parametrize("name", synth_grooves.BEATLESS)
def test_silence_a_drone_and_speech_like_sound_have_no_beats(name):
    _groove, sound, track = analysed(name)
    assert len(sound.beats_s) == 0
    for channel in ("beat", "downbeat", "tempo_bpm", "beat_confidence", "beats_per_bar"):
        assert not track[channel].any(), channel


def test_drums_are_heard_surer_than_rubato_plucking():
    drums = analysed("four")[2]["beat_confidence"]
    rubato = analysed("rubato")[2]["beat_confidence"]
    assert np.median(drums) >= 0.9 and np.median(rubato) < np.median(drums)


@pytest.mark.parametrize("name", ["four", "tempo_change", "half_time", "swing"])
def test_bars_start_on_the_chord_change_when_kick_and_bass_also_play_on_beat_three(name):
    """Kick and bass on 1 and 3 (four, tempo change) make beats 1 and 3 alike beat by beat;
    the chord that changes on the bar line tells them apart."""
    groove, sound, _track = analysed(name)
    assert sound.beats_per_bar == 4
    assert beat_scoring.f_measure(groove.downbeats_s, sound.downbeats_s)[0] >= 0.9


def test_a_waltz_is_heard_in_three_and_its_bars_start_on_the_downbeats():
    groove, sound, track = analysed("waltz")
    assert sound.beats_per_bar == 3
    assert set(np.unique(track["beats_per_bar"])) <= {0.0, 3.0} and track["beats_per_bar"][FPS] == 3.0
    assert beat_scoring.f_measure(groove.downbeats_s, sound.downbeats_s)[0] >= 0.9


@pytest.mark.parametrize("beats_per_bar", [0, 6], ids=["heard", "set"])
def test_six_eight_counted_in_eighths_has_bars_of_six(beats_per_bar):
    groove, sound, track = analysed("six_eight", audio.AnalysisParams(beats_per_bar=beats_per_bar))
    assert sound.beats_per_bar == 6 and track["beats_per_bar"][FPS] == 6.0
    assert beat_scoring.f_measure(groove.downbeats_s, sound.downbeats_s)[0] >= 0.9


@pytest.mark.parametrize("name, bpm, meter", [
    ("waltz", 90, 3), ("waltz", 180, 3), ("slow_waltz", 120, 3),  # bars alike: 3
    ("six_eight", 120, 6), ("six_eight", 180, 6),  # the bar's halves differ (a backbeat on the 4th eighth): 6
])
def test_bars_of_six_are_told_from_pairs_of_waltz_bars_from_90_to_180_beats_a_minute(name, bpm, meter):
    # A waltz whose chord lasts two bars, with its bass on the root and then the fifth,
    # still repeats every 3 beats; 6/8 repeats only every 6.
    groove = synth_grooves.render_groove(name, 20.0, seed=2, bpm=bpm)
    sound = audio.analyze_sound(groove.samples, groove.sample_rate)
    assert sound.beats_per_bar == meter


def test_the_new_channels_are_strip_true():
    # moving the strip by whole frames only shifts the rows of beat_confidence and beats_per_bar
    groove = synth_grooves.render_groove("plucked", 10.0, seed=2)
    sound = audio.analyze_sound(groove.samples, groove.sample_rate)
    n = int(10.0 * FPS)
    here = audio.frame_features(sound, Timing(FPS, 0, 0, n))
    moved = audio.frame_features(sound, Timing(FPS, 7, 7, n + 7))
    for channel in ("beat_confidence", "beats_per_bar", "beat"):
        np.testing.assert_array_equal(moved[channel][:n - 7], here[channel][:n - 7], err_msg=channel)


@pytest.mark.parametrize("name, bpm", [("four", 70), ("half_time", 85), ("waltz", 60), ("half_time", 170)])
def test_a_tempo_hint_gets_the_beats_of_a_song_heard_at_double_or_half_its_speed(name, bpm):
    # Slow backbeats whose eighth-note hats read as beats, and a fast half-time groove whose
    # every other beat does: heard at the wrong speed, so the user says about how fast it is.
    groove = synth_grooves.render_groove(name, 20.0, seed=1, bpm=bpm)
    heard = audio.analyze_sound(groove.samples, groove.sample_rate)
    heard_bpm = 60.0 / np.median(np.diff(heard.beats_s))
    assert abs(heard_bpm / bpm - 1.0) > 0.4, "heard right without a hint: pick a groove heard at double or half"
    hint = bpm * 1.1  # (about: a user's guess)
    hinted = audio.analyze_sound(groove.samples, groove.sample_rate, audio.AnalysisParams().with_song_hints(0, hint))
    assert beat_scoring.f_measure(groove.beats_s, hinted.beats_s)[0] >= 0.9
    assert beat_scoring.f_measure(groove.downbeats_s, hinted.downbeats_s)[0] >= 0.9


def test_a_tempo_hint_keeps_the_beats_of_a_song_heard_right_and_of_rubato_playing():
    # Rubato plucking is heard only just clearly enough to have beats: a hint near its tempo
    # must read the same tempi (the search grid does not move with the hint) and keep them.
    for name in ("rubato", "four"):
        groove = synth_grooves.render_groove(name, 20.0, seed=1)
        heard = audio.analyze_sound(groove.samples, groove.sample_rate)
        for hint in (0.9 * groove.bpm, 1.2 * groove.bpm):
            hinted = audio.analyze_sound(groove.samples, groove.sample_rate,
                                         audio.AnalysisParams().with_song_hints(0, hint))
            assert beat_scoring.f_measure(groove.beats_s, hinted.beats_s)[0] >= 0.9, (name, hint)
            assert beat_scoring.f_measure(heard.beats_s, hinted.beats_s)[0] >= 0.95, (name, hint)


@pytest.mark.parametrize("tempo", [10.0, 400.0, -80.0, float("nan")])
def test_a_tempo_hint_out_of_range_is_one_line(tempo):
    out_of_range = r"^Tempo .* beats per minute is out of range: use 0 \(heard\) or 30 to 300$"
    with pytest.raises(audio.AudioError, match=out_of_range):
        audio.AnalysisParams().with_song_hints(0, tempo)
