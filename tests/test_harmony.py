"""core.audio.harmony: the key and the chords of generated progressions, on the right frames."""

from __future__ import annotations

import numpy as np
import pytest

from neural_aesthetics.core import audio
from neural_aesthetics.core.audio import harmony
from neural_aesthetics.core.audio.timing import Timing

import synth_music

QUALITY = {name: index for index, name in enumerate(harmony.QUALITIES)}


def truth_labels(track) -> list[str]:
    return [harmony.chord_name(root, QUALITY[quality]) for root, quality in track.beat_chords]


def song_harmony(track) -> harmony.Harmony:
    mono = track.samples.mean(axis=1)
    return audio.harmony_of(audio.analyze_sound(mono, track.sample_rate))


def labels_at(song: harmony.Harmony, times_s) -> list[str]:
    labels = song.labels()
    return [labels[i] for i in np.searchsorted(song.edges_s, times_s, side="right") - 1]


PROGRESSIONS = [
    pytest.param(dict(progression=synth_music.POP_PROGRESSION, tonic=0), id="I-V-vi-IV-C-drums"),
    pytest.param(dict(progression=synth_music.POP_PROGRESSION, tonic=7, drums=False, seed=1), id="I-V-vi-IV-G"),
    pytest.param(dict(progression=synth_music.POP_PROGRESSION, tonic=3, bpm=128, beats_per_chord=2, repeats=3,
                      seed=2), id="I-V-vi-IV-Eb-fast-drums"),
    pytest.param(dict(progression=synth_music.MINOR_PROGRESSION, tonic=9, minor=True), id="minor-A-drums"),
    pytest.param(dict(progression=synth_music.MINOR_PROGRESSION, tonic=6, minor=True, drums=False, seed=4),
                 id="minor-F#"),
    pytest.param(dict(progression=synth_music.JAZZ_PROGRESSION, tonic=2), id="sevenths-D-drums"),
    pytest.param(dict(progression=synth_music.JAZZ_PROGRESSION, tonic=10, drums=False, seed=3), id="sevenths-Bb"),
]


@pytest.mark.parametrize("options", PROGRESSIONS)
def test_chords_per_beat_and_the_key_of_generated_progressions(options):
    track = synth_music.render_chord_track(**{"beats_per_chord": 2, **options})
    song = song_harmony(track)
    beat_s = 60.0 / options.get("bpm", 110.0)
    got = labels_at(song, np.array(track.beats_s) + 0.5 * beat_s)  # the chord in the middle of each beat
    accuracy = np.mean([a == b for a, b in zip(got, truth_labels(track))])
    assert accuracy >= 0.8, list(zip(truth_labels(track), got))
    assert song.key_names() == [harmony.key_name(*track.key)] * len(song.key_tonic)
    assert np.all(song.key_confidence > 0.5)


def test_silence_has_no_chord_and_no_key():
    song = audio.harmony_of(audio.analyze_sound(np.zeros(22050 * 3, dtype=np.float32), 22050))
    assert set(song.labels()) == {"N"}
    assert np.all(song.key_confidence == 0.0)


def test_drums_alone_are_no_chord():
    track = synth_music.render_beat_track(parts=(synth_music.Part(120.0, 3, bass=False, pad_gain=0.0),),
                                          sample_rate=22050)
    song = song_harmony(track)
    inside = song.edges_s[:-1] > 0.5
    assert np.mean(np.array(song.labels())[inside] == "N") >= 0.9


def test_a_chord_change_is_on_the_frame_that_contains_it():
    edges = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    song = harmony.Harmony(edges_s=edges, chord_root=np.array([0, 0, 7, -1]), chord_quality=np.array([0, 0, 2, 0]),
                           section_starts_s=np.array([0.0, 1.25]), key_tonic=np.array([0, 9]),
                           key_minor=np.array([0, 1]), key_confidence=np.array([0.9, 0.6]))
    assert song.labels() == ["C", "C", "G7", "N"]
    times, labels = song.changes()
    assert list(times) == [0.0, 1.0, 1.5] and labels == ["C", "G7", "N"]
    timing = Timing(fps=24.0, origin_frame=10.0, frame_first=8, frame_end=70)  # 2 frames before the file
    frame_edges = timing.frame_edges_s()
    channels = harmony.frame_channels(song, frame_edges)
    expected = [int(np.searchsorted(frame_edges, t, side="right")) - 1 for t in times]
    assert list(np.flatnonzero(channels["chord_change"])) == expected[:2]  # "N" starts no chord
    g7 = expected[1]
    assert channels["chord_root"][g7] == 7 and channels["chord_seventh"][g7] == 1
    assert channels["chord_root"][g7 - 1] == 0 and channels["chord_seventh"][g7 - 1] == 0
    assert channels["chord_present"][g7 - 1] == 1 and channels["chord_present"][expected[2]] == 0
    assert channels["chord_present"][0] == 0  # before the file: no chord, no key
    assert channels["key_confidence"][0] == 0
    key_switch = int(np.searchsorted(frame_edges, 1.25, side="right")) - 1
    assert channels["key_index"][key_switch] == 9 and channels["key_minor"][key_switch] == 1
    assert channels["key_index"][key_switch - 1] == 0 and channels["key_confidence"][key_switch - 1] == pytest.approx(0.9)


def test_chord_and_key_names():
    assert [harmony.chord_name(r, QUALITY[q]) for r, q in ((9, "min"), (6, "maj"), (7, "7"), (3, "maj7"))] == [
        "Am", "F#", "G7", "Ebmaj7"]
    assert harmony.chord_name(-1, 0) == "N"
    assert harmony.key_name(10, True) == "Bb minor"


def test_a_cached_track_keeps_its_chords_and_keys(tmp_path):
    track = synth_music.render_chord_track(beats_per_chord=2, repeats=1, drums=False, seed=6)
    path = tmp_path / "chords.wav"
    synth_music.write_wav(path, track.samples, track.sample_rate)
    timing = Timing(25.0, 3.0, 0, 120)
    first = audio.analyze(path, timing, cache_dir=tmp_path / "cache")
    again = audio.analyze(path, timing, cache_dir=tmp_path / "cache")  # read back from the cache
    assert again.harmony is not None
    assert again.harmony.changes()[1] == first.harmony.changes()[1] and len(first.harmony.changes()[1]) >= 4
    assert again.harmony.key_names() == first.harmony.key_names() == ["C major"]
    for name in harmony.HARMONY_CHANNELS:
        np.testing.assert_array_equal(again[name], first[name], err_msg=name)
