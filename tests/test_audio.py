"""core.audio: features land on the right video frames, exactly, for any file and frame rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile

from neural_aesthetics.core import audio
from neural_aesthetics.core.render import mapping
from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.audio.timing import Timing

import synth_music

FPS_RATES = [24, 25, 30000 / 1001, 30, 60]


def write(path, samples, sample_rate, subtype="FLOAT"):
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), sample_rate, subtype=subtype)
    return path


def click_file(path, sample_rate, seconds, click_s, channels=1, noise=1e-4, seed=0):
    """A single-sample click at ``click_s`` (rounded up to a sample) over very quiet noise."""
    n = int(round(seconds * sample_rate))
    rng = np.random.default_rng(seed)
    mono = (noise * rng.standard_normal(n)).astype(np.float32)
    mono[int(math.ceil(click_s * sample_rate))] = 0.9
    samples = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
    return write(path, samples, sample_rate)


def frame_containing(timing: Timing, t: float) -> int:
    """Row of ``timing`` whose interval [edges[i], edges[i+1]) contains file time ``t``."""
    edges = timing.frame_edges_s()
    row = int(np.searchsorted(edges, t, side="right")) - 1
    assert 0 <= row < timing.n_frames
    return row


def assert_all_finite(track):
    for name, values in track.channels.items():
        assert values.dtype == np.float32, name
        assert values.shape == (track.timing.n_frames,), name
        assert np.all(np.isfinite(values)), name


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """An 8 s generated clip: (path, drum hit times in s)."""
    samples, hits = synth_music.render_demo_clip(seconds=8.0, seed=0)
    path = tmp_path_factory.mktemp("music") / "music.wav"
    synth_music.write_wav(path, samples, 44100)
    return path, hits


# --------------------------------------------------------------------------- onsets on frames


@pytest.mark.parametrize("fps", FPS_RATES, ids=lambda f: f"{f:.3f}fps")
@pytest.mark.parametrize("origin", [0.0, 7.25])
@pytest.mark.parametrize("position", [0.0, 0.3, 0.6], ids=lambda p: f"at{p}frame")
def test_click_peaks_on_the_frame_that_contains_it(tmp_path, fps, origin, position):
    # A beat exactly on a frame start is the common case (120 bpm at 24/30/60 fps).
    scene_frame = 40
    click_s = (scene_frame + position - origin) / fps
    sample_rate = 44100
    path = click_file(tmp_path / "click.wav", sample_rate, 2.5, click_s)
    timing = Timing(fps, origin, 0, int(2.5 * fps) + 8)

    track = audio.analyze(path, timing)

    expected = frame_containing(timing, math.ceil(click_s * sample_rate) / sample_rate)
    assert timing.frames()[expected] == scene_frame
    assert int(np.argmax(track["onset_strength"])) == expected
    assert track["onset"][expected] == 1.0 == track["onset"].max()
    strength = track["onset_strength"]
    assert strength[expected - 1] < 0.5 * strength[expected]  # the flash does not start a frame early
    assert_all_finite(track)


def test_a_kick_stands_out_of_steady_noise(tmp_path):
    # A low kick over steady hiss: the hiss's random spectral wobble must not add up to an
    # onset strength of its own across hundreds of high-frequency bins.
    sample_rate, fps, kick_frame = 44100, 30, 31
    rng = np.random.default_rng(5)
    samples = 10 ** (-45 / 20) * rng.standard_normal(2 * sample_rate)
    start = int(math.ceil(kick_frame / fps * sample_rate))
    tau = np.arange(int(0.4 * sample_rate)) / sample_rate
    samples[start:start + len(tau)] += 0.8 * np.sin(2 * np.pi * (50 * tau + 3 * (1 - np.exp(-tau / 0.03)))) * np.exp(
        -tau / 0.12)
    path = write(tmp_path / "kick.wav", samples, sample_rate)

    strength = audio.analyze(path, Timing(fps, 0, 0, 2 * fps))["onset_strength"]

    # (the hiss starting the file is an onset too: frame 0)
    assert int(np.argmax(strength[2:])) + 2 == kick_frame
    steady = np.r_[strength[2:kick_frame - 1], strength[kick_frame + 15:]]
    assert np.median(steady) < 0.35 * strength[kick_frame]  # about 0.2


@pytest.mark.parametrize("sound", ["held chord", "quiet held chord", "hiss"])
def test_a_sound_without_attacks_has_no_onsets_after_its_start(tmp_path, sound):
    # Normalising by the track's own top would scale a pad's steady flux up to constant
    # "hits": the visuals would twitch all through an ambient track.
    sample_rate, fps = 44100, 24
    t = np.arange(3 * sample_rate) / sample_rate
    chord = sum(0.1 * np.sin(2 * np.pi * hz * t) for hz in (220.0, 277.2, 329.6))
    samples = {"held chord": chord, "quiet held chord": 0.01 * chord,
               "hiss": 0.05 * np.random.default_rng(0).standard_normal(t.size)}[sound]
    onset = audio.analyze(write(tmp_path / "held.wav", samples, sample_rate), Timing(fps, 0, 0, 3 * fps))["onset"]
    assert onset[0] > 0.5  # (the sound starting is an onset)
    # Never strong enough for the pulse preset to start a new hit, and mostly near 0.
    assert onset[2:].max() < mapping.ONSET_EVENT and np.median(onset[2:]) < 0.05, np.round(onset, 2)


def test_onset_of_a_sound_that_starts_the_file_is_on_its_first_frame(tmp_path):
    sample_rate = 44100
    t = np.arange(sample_rate) / sample_rate
    path = write(tmp_path / "starts_loud.wav", 0.5 * np.sin(2 * np.pi * 330 * t), sample_rate)

    track = audio.analyze(path, Timing(24, 3, 0, 30))

    assert track["onset"][:3].max() == 0  # before the file: silence
    assert int(np.argmax(track["onset_strength"])) == 3


# --------------------------------------------------------------------------- moving, trimming


@pytest.mark.parametrize("origin", [1.0, 0.4])
def test_moving_the_strip_shifts_rows_by_exactly_the_move(music, origin):
    path, _hits = music
    n_frames, move = 200, 37
    here = audio.analyze(path, Timing(24, origin, 1, 1 + n_frames))
    moved = audio.analyze(path, Timing(24, origin + move, 1 + move, 1 + move + n_frames))

    for name in audio.CHANNELS:
        if origin == int(origin):
            np.testing.assert_array_equal(moved[name], here[name], err_msg=name)
        else:  # (f + N) - (o + N) is f - o only to rounding
            np.testing.assert_allclose(moved[name], here[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert here["onset"].max() == 1.0  # the comparison is about a real track


def test_trimming_drops_exactly_the_trimmed_rows(music):
    path, _hits = music
    full = audio.analyze(path, Timing(24, 1.0, 1, 193))
    trimmed = audio.analyze(path, Timing(24, 1.0, 11, 150))

    assert trimmed.timing.n_frames == 139
    for name in audio.CHANNELS:
        np.testing.assert_array_equal(trimmed[name], full[name][10:149], err_msg=name)


def test_frames_before_and_after_the_file_are_zero(music):
    path, _hits = music
    fps = 30
    # file content plays at scene frames 100 .. 100 + 8 s * 30 fps - 1
    track = audio.analyze(path, Timing(fps, 100, 50, 100 + 8 * fps + 50))

    for name in audio.CHANNELS:
        assert np.all(track[name][:50] == 0), name
        assert np.all(track[name][-50:] == 0), name
        # (an 8 s clip is one section, index 0; key, root and chord kind are categories that may be 0)
        if name not in ("section", "key_index", "key_minor", "chord_root", "chord_minor", "chord_seventh"):
            assert track[name][50:-50].max() > 0, name


def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of each ``window`` values centred on each value, ends reflected (d c b | a b c d)."""
    half = window // 2
    padded = np.concatenate([values[:half][::-1], values, values[-half:][::-1]])
    return np.array([np.median(padded[i:i + window]) for i in range(values.size)])


def test_onset_and_loudness_are_normalised_by_the_98th_percentile_of_the_whole_file(music):
    path, _hits = music
    fps = 24
    whole = audio.analyze(path, Timing(fps, 0, 0, 8 * fps))  # exactly the file's frames
    part = audio.analyze(path, Timing(fps, 0, 60, 100))

    strength = whole["onset_strength"].astype(np.float64)
    rise = np.maximum(strength - running_median(strength, 13), 0)  # 0.5 s at 24 fps, odd
    expected_onset = np.clip(rise / max(np.percentile(rise, 98), np.median(strength)), 0, 1)
    np.testing.assert_allclose(whole["onset"], expected_onset, atol=1e-6)
    level_db = 20 * np.log10(whole["rms"].astype(np.float64))
    top_db = np.percentile(level_db, 98)
    np.testing.assert_allclose(whole["loudness"], np.clip((level_db + 60) / (top_db + 60), 0, 1), atol=1e-5)
    assert 0 < (whole["onset"] == 1).sum() < 8  # only the strongest few saturate
    for name in audio.CHANNELS:  # a part of the file is normalised like the whole
        np.testing.assert_array_equal(part[name], whole[name][60:100], err_msg=name)


def test_the_end_of_a_file_is_not_wrapped_into_its_start(tmp_path):
    # Loud noise at the start, digital silence at the end, a length 20 samples short of a
    # whole number of 5 ms hops: padding the end by wrapping around would bring the noise
    # back into the file's last hop.
    sample_rate = 44100
    samples = np.zeros(201 * 220 - 20, dtype=np.float32)
    samples[:sample_rate // 4] = 0.5 * np.random.default_rng(2).standard_normal(sample_rate // 4)
    path = write(tmp_path / "ends_silent.wav", samples, sample_rate)

    track = audio.analyze(path, Timing(24, 0, 0, 26))

    assert track["onset_strength"][0] > 0
    assert np.all(track["onset_strength"][12:] == 0)


# --------------------------------------------------------------------------- levels


def test_rms_of_a_sine_is_amplitude_over_root_two(tmp_path):
    amplitude, sample_rate = 0.5, 44100
    t = np.arange(2 * sample_rate) / sample_rate
    path = write(tmp_path / "sine.wav", amplitude * np.sin(2 * np.pi * 441 * t), sample_rate)

    for fps in FPS_RATES:
        track = audio.analyze(path, Timing(fps, 0, 0, int(2 * fps)))
        np.testing.assert_allclose(track["rms"], amplitude / math.sqrt(2), rtol=0.01)


def test_default_level_cells_are_exact_to_half_a_millisecond(tmp_path):
    # A DC step 10010 samples in (a whole number of 22-sample cells at 44.1 kHz): exact;
    # 10007 samples (inside a cell): the cell counts in proportion, within 3 samples.
    sample_rate, level = 44100, 0.25
    timing = Timing(30000 / 1001, 0.37, 0, 31)
    edges = timing.frame_edges_s() * sample_rate
    for step, rtol in ((10010, 1e-5), (10007, 3 / 1471)):
        samples = np.zeros(sample_rate, dtype=np.float32)
        samples[:step] = level
        path = write(tmp_path / f"step{step}.wav", samples, sample_rate)
        rms = audio.analyze(path, timing)["rms"]
        covered = np.clip(np.minimum(edges[1:], step) - np.maximum(edges[:-1], 0), 0, None)
        expected = level * np.sqrt(covered / np.diff(edges))
        np.testing.assert_allclose(rms ** 2, expected ** 2, rtol=0, atol=rtol * level ** 2)


def test_a_frame_half_inside_the_file_has_the_partial_rms(tmp_path):
    # 48 kHz, 24 fps, origin half a frame late: the first and the last frame overlap the
    # 1 s file by exactly 1000 samples, i.e. 10 whole periods of the 480 Hz sine.
    amplitude, sample_rate = 0.5, 48000
    t = np.arange(sample_rate) / sample_rate
    path = write(tmp_path / "sine.wav", amplitude * np.sin(2 * np.pi * 480 * t), sample_rate)

    # level cells of one sample: exact to the sample (the default 0.5 ms cells are exact
    # for whole cells, see test_default_level_cells_are_exact_to_half_a_millisecond)
    track = audio.analyze(path, Timing(24, 0.5, -2, 27), audio.AnalysisParams(level_cell_s=1 / sample_rate))

    rms = track["rms"]
    full = amplitude / math.sqrt(2)
    assert rms[2] == pytest.approx(full * math.sqrt(0.5), rel=1e-4)  # frame 0
    assert rms[26] == pytest.approx(full * math.sqrt(0.5), rel=1e-4)  # frame 24
    np.testing.assert_allclose(rms[3:26], full, rtol=1e-4)
    assert np.all(rms[:2] == 0) and np.all(rms[27:] == 0)


def test_rms_integrates_the_exact_frame_interval_not_whole_samples(tmp_path):
    # A DC level for the first 10007 samples, then silence; at 29.97 fps frame edges fall
    # between samples, so a frame that holds the step sees exactly the covered fraction.
    sample_rate, level, step = 44100, 0.25, 10007
    samples = np.zeros(sample_rate, dtype=np.float32)
    samples[:step] = level
    path = write(tmp_path / "step.wav", samples, sample_rate)
    timing = Timing(30000 / 1001, 0.37, 0, 31)

    rms = audio.analyze(path, timing, audio.AnalysisParams(level_cell_s=1 / sample_rate))["rms"]

    edges = timing.frame_edges_s() * sample_rate  # in samples, fractional
    start, stop = edges[:-1], edges[1:]
    covered = np.clip(np.minimum(stop, step) - np.maximum(start, 0), 0, None)
    expected = level * np.sqrt(covered / (stop - start))
    np.testing.assert_allclose(rms, expected, rtol=1e-5, atol=1e-7)
    assert 0 < expected[np.argmax((start < step) & (stop > step))] < level * 0.99  # the step frame is partial


def test_loudness_maps_the_floor_to_zero_and_the_loud_part_to_one(tmp_path):
    sample_rate = 44100
    t = np.arange(3 * sample_rate) / sample_rate
    gain = np.where(t < 1, 10 ** (-30 / 20), 1.0) * np.where(t >= 2, 0.0, 1.0)  # -30 dB, 0 dB, silence
    path = write(tmp_path / "steps.wav", 0.5 * gain * np.sin(2 * np.pi * 300 * t), sample_rate)

    loudness = audio.analyze(path, Timing(24, 0, 0, 72))["loudness"]

    loud_db = 20 * math.log10(0.5 / math.sqrt(2))  # the loud third is the 98th percentile
    np.testing.assert_allclose(loudness[26:46], 1.0, atol=1e-3)
    # 30 dB under the loud part, on the -60 dB .. loud-part scale
    np.testing.assert_allclose(loudness[2:22], (loud_db - 30 + 60) / (loud_db + 60), atol=2e-3)
    assert np.all(loudness[50:] == 0)


def test_mono_mix_is_the_average_of_the_channels(tmp_path):
    sample_rate = 44100
    t = np.arange(sample_rate) / sample_rate
    sine = 0.5 * np.sin(2 * np.pi * 441 * t)
    cancel = write(tmp_path / "cancel.wav", np.stack([sine, -sine], axis=1), sample_rate)
    half = write(tmp_path / "half.wav", np.stack([sine, np.zeros_like(sine)], axis=1), sample_rate)

    timing = Timing(24, 0, 0, 24)
    assert np.all(audio.analyze(cancel, timing)["rms"] < 1e-6)
    np.testing.assert_allclose(audio.analyze(half, timing)["rms"], 0.25 / math.sqrt(2), rtol=0.01)


# --------------------------------------------------------------------------- odd files


def test_silence_gives_zeros_everywhere(tmp_path):
    path = write(tmp_path / "silence.wav", np.zeros(44100 * 2), 44100)

    track = audio.analyze(path, Timing(25, 0, -5, 60))

    assert_all_finite(track)
    for name in audio.CHANNELS:
        assert np.all(track[name] == 0), name


def test_an_empty_file_gives_zeros(tmp_path):
    path = write(tmp_path / "empty.wav", np.zeros(0), 44100)

    track = audio.analyze(path, Timing(24, 0, 0, 10))

    assert_all_finite(track)
    assert all(np.all(track[name] == 0) for name in audio.CHANNELS)


def test_a_short_file_works(tmp_path):
    path = click_file(tmp_path / "short.wav", 44100, 0.2, 0.1)
    timing = Timing(24, 0, 0, 10)

    track = audio.analyze(path, timing)

    assert_all_finite(track)
    assert int(np.argmax(track["onset"])) == frame_containing(timing, 0.1) == 2
    assert np.all(track["rms"][5:] == 0)  # 0.2 s ends inside frame 4


@pytest.mark.parametrize("fps", [30, 60])
def test_sample_rate_and_channel_count_do_not_move_the_onset(tmp_path, fps):
    click_s = (50 + 0.25) / fps
    low = click_file(tmp_path / "8k.wav", 8000, 2.0, click_s, channels=1)
    high = click_file(tmp_path / "96k6ch.wav", 96000, 2.0, click_s, channels=6)
    timing = Timing(fps, 0, 0, 2 * fps)

    rows = [int(np.argmax(audio.analyze(path, timing)["onset_strength"])) for path in (low, high)]

    assert rows == [50, 50]


def test_formats_other_than_wav_decode(tmp_path):
    sample_rate = 22050
    t = np.arange(sample_rate) / sample_rate
    sine = 0.5 * np.sin(2 * np.pi * 441 * t)
    flac = write(tmp_path / "sine.flac", sine, sample_rate, subtype="PCM_24")
    ogg = write(tmp_path / "sine.ogg", sine, sample_rate, subtype="VORBIS")

    for path in (flac, ogg):
        samples, rate = audio.decode(path)
        assert rate == sample_rate and samples.dtype == np.float32 and samples.ndim == 1
        assert audio.duration_s(path) == pytest.approx(1.0, abs=0.01)
        rms = audio.analyze(path, Timing(10, 0, 1, 9))["rms"]
        np.testing.assert_allclose(rms, 0.5 / math.sqrt(2), rtol=0.02)


# --------------------------------------------------------------------------- errors


def assert_one_line_naming(error, path):
    message = str(error)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message


def test_a_missing_file_raises_a_user_error_naming_it(tmp_path):
    path = tmp_path / "gone" / "music.wav"
    for call in (lambda: audio.analyze(path, Timing(24, 0, 0, 10)), lambda: audio.duration_s(path)):
        with pytest.raises(audio.AudioError) as caught:
            call()
        assert_one_line_naming(caught.value, path)
        assert "not found" in str(caught.value)
        assert isinstance(caught.value, UserError)  # operators report it as a sentence


def test_a_corrupt_file_raises_a_user_error_naming_it(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for call in (lambda: audio.decode(path), lambda: audio.duration_s(path)):
        with pytest.raises(audio.AudioError) as caught:
            call()
        assert_one_line_naming(caught.value, path)
        assert "decode" in str(caught.value) and "WAV" in str(caught.value)


def _analysis_arrays(path):
    return audio.analyze_file(path).to_arrays()


def _assert_same_analysis(got, expected):
    assert set(got) == set(expected)
    for name in expected:
        assert np.array_equal(got[name], expected[name]), name


@pytest.mark.parametrize("block", [997, 22050, 1 << 18])
def test_a_file_analysed_block_by_block_gives_exactly_the_whole_file_analysis(music, monkeypatch, block):
    # Long songs are decoded and analysed a block at a time (memory stays flat); where
    # the blocks fall must not move a single value, beat or section.
    path, _hits = music
    samples, sample_rate = audio.decode(path)
    whole = audio.analyze_sound(samples, sample_rate)
    assert len(whole.beats_s) >= 8  # the refinement pass over the file had beats to refine
    monkeypatch.setattr(audio.decoding, "DECODE_BLOCK_SAMPLES", block)
    _assert_same_analysis(_analysis_arrays(path), whole.to_arrays())


def test_a_decoder_failing_part_way_hands_the_whole_file_to_the_next_one(music, monkeypatch):
    # libsndfile giving up in the middle of a file: FFmpeg (PyAV) reads it again from its
    # start, and the analysis is FFmpeg's alone, not half of each.
    path, _hits = music
    real_read = soundfile.SoundFile.read
    monkeypatch.setattr(audio.decoding, "DECODE_BLOCK_SAMPLES", 44100)

    def analysis_when_libsndfile_fails_at_block(failing_block):
        calls = []

        def read(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == failing_block:
                raise RuntimeError("Internal psf_fseek() failed.")
            return real_read(self, *args, **kwargs)

        monkeypatch.setattr(soundfile.SoundFile, "read", read)
        return _analysis_arrays(path)

    ffmpeg_only = analysis_when_libsndfile_fails_at_block(1)
    _assert_same_analysis(analysis_when_libsndfile_fails_at_block(3), ffmpeg_only)
    monkeypatch.setattr(soundfile.SoundFile, "read", real_read)
    assert not np.array_equal(_analysis_arrays(path)["grid.level"], ffmpeg_only["grid.level"])  # (16-bit: x/32767 vs x/32768)


def test_feature_track_names_its_channels_when_asked_for_an_unknown_one(music):
    track = audio.analyze(music[0], Timing(24, 0, 0, 5))
    assert set(track.channels) == set(audio.CHANNELS)
    with pytest.raises(KeyError, match="onset"):
        track["kick"]


# --------------------------------------------------------------------------- generated music


@pytest.mark.parametrize("seconds,seed", [(4.0, 3), (8.0, 0)])
@pytest.mark.parametrize("fps", [24, 30, 60])
def test_generated_music_has_its_onsets_at_the_listed_drum_hits(tmp_path, seconds, seed, fps):
    samples, hits = synth_music.render_demo_clip(seconds=seconds, seed=seed)
    path = tmp_path / "music.wav"
    synth_music.write_wav(path, samples, 44100)
    timing = Timing(fps, 0, 0, int(seconds * fps))

    track = audio.analyze(path, timing)

    onset = track["onset"]
    hit_rows = sorted({frame_containing(timing, t) for t in hits})
    far = np.ones(timing.n_frames, dtype=bool)  # frames at least 2 frames after / 1 before any hit
    for row in hit_rows:
        far[max(0, row - 1):row + 3] = False
    assert far.sum() > timing.n_frames // 4
    assert onset[hit_rows].min() > max(0.2, 4 * onset[far].max())
    for row in hit_rows:  # each hit is a peak
        assert onset[row] >= onset[max(0, row - 1)] and onset[row] >= onset[min(len(onset) - 1, row + 1)]

    quiet_start, quiet_end = synth_music.quiet_passage_s(seconds)
    edges = timing.frame_edges_s()
    quiet = (edges[:-1] >= quiet_start + 0.3) & (edges[1:] <= quiet_end - 1 / fps)  # after drum tails
    assert quiet.sum() >= 4
    assert onset[quiet].max() < 0.2
    assert track["rms"][quiet].max() < 0.25 * np.median(track["rms"][hit_rows])


def test_generated_music_is_deterministic_stereo_in_range():
    first, hits = synth_music.render_demo_clip(seconds=3.0, sample_rate=22050, bpm=100, seed=7)
    again, hits_again = synth_music.render_demo_clip(seconds=3.0, sample_rate=22050, bpm=100, seed=7)
    other, _ = synth_music.render_demo_clip(seconds=3.0, sample_rate=22050, bpm=100, seed=8)

    assert first.shape == (3 * 22050, 2) and first.dtype == np.float32
    assert np.abs(first).max() <= 1.0
    np.testing.assert_array_equal(first, again)
    assert hits == hits_again
    assert not np.array_equal(first, other)
    sixteenth = 60 / 100 / 4
    assert all(abs(t / sixteenth - round(t / sixteenth)) < 1e-9 for t in hits)
    assert hits == sorted(set(hits)) and 0 <= hits[0] and hits[-1] < 3.0


def test_synth_command_line_writes_a_16_bit_wav(tmp_path, capsys):
    out = tmp_path / "clip.wav"

    assert synth_music.main([str(out), "--seconds", "2", "--seed", "4"]) == 0

    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
    assert info.frames == 2 * 44100
    assert str(out) in capsys.readouterr().out
