"""core.audio's musical channels, shaping, normalisation, stems, cache and odd files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile

from neural_aesthetics.core import audio
from neural_aesthetics.core.audio import beats, smoothing
from neural_aesthetics.core.audio.timing import Timing

import beat_scoring
import synth_music
from synth_music import Part


def write(path, samples, sample_rate, subtype="FLOAT"):
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), sample_rate, subtype=subtype)
    return path


def tone(hz, seconds=2.0, sample_rate=44100, amplitude=0.5):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * hz * t)


@pytest.fixture(scope="module")
def groove(tmp_path_factory):
    track = synth_music.render_beat_track((Part(120.0, 6),), 44100, seed=4, lead_in_s=0.25)
    path = tmp_path_factory.mktemp("groove") / "groove.wav"
    synth_music.write_wav(path, track.samples, 44100)
    return path, track


def assert_sane(track):
    assert set(track.channels) == set(audio.CHANNELS)
    for name, values in track.channels.items():
        assert values.dtype == np.float32 and values.shape == (track.timing.n_frames,), name
        assert np.all(np.isfinite(values)), name
        if name in ("key_index", "chord_root"):  # pitch classes
            assert set(np.unique(values)) <= set(range(12)), name
        elif name not in ("rms", "onset_strength", "tempo_bpm", "centroid_hz", "section", "beats_per_bar"):
            assert values.min() >= 0 and values.max() <= 1, name


# --------------------------------------------------------------------------- spectral channels


@pytest.mark.parametrize("hz,band", [(80, "bass"), (700, "low_mid"), (3500, "high_mid"), (9000, "treble")])
def test_a_tone_fills_its_own_band(tmp_path, hz, band):
    path = write(tmp_path / "tone.wav", tone(hz), 44100)

    track = audio.analyze(path, Timing(24, 0, 0, 48))

    middle = slice(6, 42)
    assert np.median(track[band][middle]) == pytest.approx(1.0, abs=0.02)
    for other in ("bass", "low_mid", "high_mid", "treble"):  # leakage only (at most 40 dB up)
        if other != band:
            assert np.median(track[other][middle]) < 0.1, other


def test_bands_take_their_hz_ranges_from_the_parameters(tmp_path):
    path = write(tmp_path / "two.wav", tone(120) + tone(2000), 44100)
    params = audio.AnalysisParams(bands=(("sub", 20, 50), ("kick", 80, 160), ("body", 1000, 4000)))

    track = audio.analyze(path, Timing(25, 0, 0, 50), params)

    assert {"sub", "kick", "body"} <= set(track.channels) and "bass" not in track.channels
    assert np.median(track["kick"][5:45]) > 0.9 and np.median(track["body"][5:45]) > 0.9
    assert np.median(track["sub"][5:45]) < 0.25  # leakage only: band_range_db keeps it down
    lenient = audio.analyze(path, Timing(25, 0, 0, 50), audio.AnalysisParams(bands=params.bands, band_range_db=80))
    assert np.median(lenient["sub"][5:45]) > 0.7  # (without that floor leakage is scaled to full range)


def test_centroid_of_a_tone_is_its_frequency_and_of_two_is_between(tmp_path):
    one = audio.analyze(write(tmp_path / "a.wav", tone(1000), 44100), Timing(30, 0, 0, 60))
    two = audio.analyze(write(tmp_path / "b.wav", tone(500) + tone(2000), 44100), Timing(30, 0, 0, 60))

    assert np.median(one["centroid_hz"][5:55]) == pytest.approx(1000, rel=0.03)
    assert np.median(two["centroid_hz"][5:55]) == pytest.approx(1250, rel=0.05)


@pytest.mark.parametrize("midi", [57, 60, 64, 67, 70])  # A3, C4, E4, G4, A#4
def test_chroma_names_the_pitch_class_of_a_note(tmp_path, midi):
    hz = 440.0 * 2 ** ((midi - 69) / 12)
    harmonics = sum(0.5 / k * np.sin(2 * np.pi * hz * k * np.arange(88200) / 44100) for k in (1, 2, 3))
    track = audio.analyze(write(tmp_path / "note.wav", harmonics, 44100), Timing(24, 0, 0, 48))

    chroma = np.stack([track[f"chroma_{i}"] for i in range(12)], axis=1)[6:42]
    assert np.all(np.argmax(chroma, axis=1) == midi % 12)
    others = np.delete(chroma, midi % 12, axis=1)
    fifth = (midi + 7) % 12  # the 3rd harmonic is a fifth up
    assert np.median(np.delete(chroma, [midi % 12, fifth], axis=1).max(axis=1)) < 0.35
    assert others.max() < 1.0


def test_percussive_follows_drums_and_harmonic_follows_held_notes(tmp_path):
    rate = 44100
    drums = synth_music.render_beat_track((Part(120, 2, bass=False, pad_gain=0.0),), rate, seed=1, tail_s=0).samples
    pad = synth_music.render_beat_track((Part(120, 2, kick=False, snare=False, hats=False, bass=False,
                                               pad_gain=1.0),), rate, seed=1, tail_s=0).samples
    n = min(len(drums), len(pad))
    mix = np.concatenate([drums[:n], pad[:n]])  # 4 s drums only, then 4 s pad only
    track = audio.analyze(write(tmp_path / "split.wav", mix, rate), Timing(25, 0, 0, 200))

    drums_rows, pad_rows = slice(10, 90), slice(115, 195)
    assert np.mean(track["percussive"][drums_rows]) > 3 * np.mean(track["percussive"][pad_rows])
    assert np.mean(track["harmonic"][pad_rows]) > 2 * np.mean(track["harmonic"][drums_rows])
    assert np.mean(track["harmonic"][pad_rows]) > 3 * np.mean(track["percussive"][pad_rows])


def test_flux_peaks_where_the_sound_changes(groove):
    path, track_info = groove
    track = audio.analyze(path, Timing(30, 0, 0, 360))

    rows = [int(math.floor(t * 30)) for t in track_info.hits_s if t * 30 < 358]
    others = np.setdiff1d(np.arange(360), np.concatenate([rows, np.array(rows) + 1]))
    assert np.median(track["flux"][rows]) > 3 * np.median(track["flux"][others])
    assert track["flux"].max() == 1.0


# --------------------------------------------------------------------------- normalisation and shaping


def test_percentile_and_adaptive_normalisation_are_both_available(tmp_path):
    rate = 44100
    t = np.arange(12 * rate) / rate
    gain = np.where(t < 6, 0.05, 0.5)  # a quiet half then a loud half, 20 dB apart
    path = write(tmp_path / "steps.wav", gain * np.sin(2 * np.pi * 100 * t), rate)
    timing = Timing(25, 0, 0, 300)

    percentile = audio.analyze(path, timing)
    adaptive = audio.analyze(path, timing, audio.AnalysisParams(normalise="adaptive", adaptive_window_s=2.0))
    mixed = audio.analyze(path, timing, audio.AnalysisParams().with_shapes(
        bass=audio.ChannelShape(normalise="adaptive")))

    assert np.median(percentile["bass"][10:140]) == pytest.approx(0.1, abs=0.01)  # relative to the loud half
    assert np.median(percentile["bass"][160:290]) == pytest.approx(1.0, abs=0.01)
    for rows in (slice(10, 120), slice(180, 290)):  # around 1.0 in both halves, away from the step
        np.testing.assert_allclose(adaptive["bass"][rows], 1.0, atol=0.05)
    assert adaptive["bass"][150:160].max() > 1.3  # the step up stands out against its past
    np.testing.assert_array_equal(mixed["bass"], audio.analyze(path, timing, audio.AnalysisParams(
        normalise="adaptive"))["bass"])
    np.testing.assert_array_equal(mixed["treble"], percentile["treble"])


@pytest.mark.parametrize("fps", [24, 30000 / 1001, 60])
def test_attack_and_release_are_in_seconds_whatever_the_frame_rate(fps):
    # a one-second step: the follower's value at a given time does not depend on fps
    times = np.arange(int(3 * fps)) / fps
    step = ((times >= 1) & (times < 2)).astype(float)
    shaped = smoothing.attack_release(step, fps, attack_s=0.1, release_s=0.4)

    for t, expected in ((1.1, 1 - math.exp(-1)), (1.3, 1 - math.exp(-3)), (2.4, math.exp(-1))):
        k = int(round(t * fps))
        exact_t = k / fps  # the value at frame k's time, sampled exactly
        start = 1.0 if t < 2 else 2.0
        tau = 0.1 if t < 2 else 0.4
        expected = 1 - math.exp(-(exact_t - start + 1 / fps) / tau) if t < 2 else \
            (1 - math.exp(-(1.0) / 0.1)) * math.exp(-(exact_t - start + 1 / fps) / tau)
        assert shaped[k] == pytest.approx(expected, abs=0.02), t


def test_smoothing_and_latency_are_fps_invariant_and_pad_by_reflection():
    for fps in (24, 60):
        times = np.arange(int(4 * fps)) / fps
        pulse = (np.abs(times - 2.0) < 0.5 / fps).astype(float)
        blurred = smoothing.smooth(pulse, fps, sigma_s=0.1)
        centre = np.sum(times * blurred) / np.sum(blurred)
        spread = math.sqrt(np.sum((times - centre) ** 2 * blurred) / np.sum(blurred))
        assert centre == pytest.approx(2.0, abs=1e-6) and spread == pytest.approx(0.1, rel=0.05)
        late = smoothing.shift(pulse, fps, latency_ms=250)
        assert times[np.argmax(late)] == pytest.approx(2.25, abs=0.5 / fps)
    ramp = np.linspace(0.0, 1.0, 50)
    ahead = smoothing.shift(ramp, 25, latency_ms=-200)  # look-ahead: reads 5 frames later
    assert ahead[-1] == pytest.approx(ramp[-6])  # reflected at the end: not wrapped to the start
    assert smoothing.smooth(ramp, 25, 0.2)[-1] > 0.9


def test_channel_shapes_apply_latency_to_beats_and_smoothing_to_levels(groove):
    path, _info = groove
    timing = Timing(30, 0, 0, 360)
    plain = audio.analyze(path, timing)
    params = audio.AnalysisParams().with_shapes(
        beat=audio.ChannelShape(latency_ms=-100), loudness=audio.ChannelShape(attack_s=0.01, release_s=0.5))

    shaped = audio.analyze(path, timing, params)

    plain_rows = np.flatnonzero(plain["beat"] == 1)
    shaped_rows = np.flatnonzero(shaped["beat"] == 1)
    np.testing.assert_array_equal(shaped_rows, plain_rows - 3)  # 100 ms ahead at 30 fps
    assert np.abs(np.diff(shaped["loudness"])).mean() < np.abs(np.diff(plain["loudness"])).mean()
    with pytest.raises(ValueError, match="unknown channels"):
        audio.analyze(path, timing, audio.AnalysisParams().with_shapes(kick=audio.ChannelShape()))


# --------------------------------------------------------------------------- cache


def test_a_cached_analysis_is_identical_and_neither_decodes_nor_analyses_again(tmp_path, monkeypatch):
    # (how much faster a cache hit is: benchmarks/bench_audio.py)
    track = synth_music.render_beat_track((Part(120.0, 30),), 44100, seed=3)  # 1 minute
    path = tmp_path / "minute.wav"
    synth_music.write_wav(path, track.samples, 44100)
    timing, cache = Timing(30, 0, 0, 1800), tmp_path / "cache"
    first = audio.analyze(path, timing, cache_dir=cache)

    monkeypatch.setattr(audio.features, "analyze_file", lambda *_: pytest.fail("decoded and analysed although cached"))
    again = audio.analyze(path, timing, cache_dir=cache)
    for name in audio.CHANNELS:
        np.testing.assert_array_equal(again[name], first[name], err_msg=name)
    # a moved strip reuses the timing-independent analysis: only the frame stage runs
    moved = audio.analyze(path, Timing(30, 7, 7, 1807), cache_dir=cache)
    np.testing.assert_array_equal(moved["beat"], first["beat"])


def test_the_cache_key_follows_the_content_and_the_parameters(tmp_path):
    path = write(tmp_path / "a.wav", tone(200, 1.0), 44100)
    cache, timing = tmp_path / "cache", Timing(24, 0, 0, 24)
    quiet = audio.analyze(path, timing, cache_dir=cache)["rms"]

    write(path, 0.5 * tone(200, 1.0), 44100)  # same path, new content
    changed = audio.analyze(path, timing, cache_dir=cache)["rms"]
    np.testing.assert_allclose(changed, 0.5 * quiet, rtol=1e-4)
    narrow = audio.analyze(path, timing, audio.AnalysisParams(bands=(("b", 100, 300),)), cache_dir=cache)
    assert "b" in narrow.channels


# --------------------------------------------------------------------------- odd files


def test_silence_short_and_corrupt_files_give_zeros_or_one_line_errors(tmp_path):
    silent = audio.analyze(write(tmp_path / "silence.wav", np.zeros(44100 * 3), 44100), Timing(25, 0, -5, 80))
    assert_sane(silent)
    assert all(np.all(values == 0) for values in silent.channels.values())

    short = audio.analyze(write(tmp_path / "short.wav", tone(440, 0.2), 44100), Timing(24, 0, 0, 10))
    assert_sane(short)
    assert short["loudness"][:4].max() == 1.0 and np.all(short["rms"][5:] == 0)

    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3" + np.random.default_rng(1).integers(0, 256, 9000, dtype=np.uint8).tobytes())
    with pytest.raises(audio.AudioError) as caught:
        audio.analyze(corrupt, Timing(24, 0, 0, 10))
    assert "\n" not in str(caught.value) and str(corrupt) in str(caught.value)


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 6)])
def test_any_sample_rate_and_channel_count_find_the_beats(tmp_path, rate, channels):
    track = synth_music.render_beat_track((Part(120.0, 4),), rate, seed=6, lead_in_s=0.5)
    samples = track.samples.mean(axis=1)
    if channels > 1:
        samples = np.repeat(samples[:, None], channels, axis=1) * np.linspace(0.6, 1.0, channels)
    path = write(tmp_path / f"drums_{rate}.wav", samples, rate, subtype="PCM_16")
    timing = Timing(30, 0, 0, int(len(samples) / rate * 30))

    features = audio.analyze(path, timing)

    assert_sane(features)
    assert beat_scoring.f_measure(track.beats_s, features.beats_s)[0] >= 0.9
    if rate == 8000:
        assert np.all(features["treble"] == 0)  # 6-20 kHz does not exist at 8 kHz


def test_mp3_and_m4a_decode_with_their_onsets_on_the_right_frame(tmp_path):
    rate = 44100
    samples = np.zeros(2 * rate, dtype=np.float32)
    click_s = 1.0
    samples[int(click_s * rate):int(click_s * rate) + 400] += 0.8 * np.hanning(400)
    mp3 = write(tmp_path / "clip.mp3", samples, rate, subtype="MPEG_LAYER_III")

    av = pytest.importorskip("av")
    m4a = tmp_path / "clip.m4a"
    with av.open(str(m4a), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)

    for path in (mp3, m4a):
        decoded, decoded_rate = audio.decode(path)
        assert decoded_rate == rate and abs(len(decoded) - len(samples)) < 0.1 * rate, path
        track = audio.analyze(path, Timing(25, 0, 0, 50))
        assert abs(int(np.argmax(track["onset"])) - 25) <= 1, path
        assert audio.duration_s(path) == pytest.approx(2.0, abs=0.1)
