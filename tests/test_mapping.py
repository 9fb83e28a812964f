"""Mapping presets: deterministic for a seed, driven by the channels they name, working with
whatever channels a track has."""

from __future__ import annotations

import numpy as np
import pytest

from neural_aesthetics.core.render import mapping

FPS = 24.0
N = 240


def full_track(seed: int = 0, n: int = N) -> dict[str, np.ndarray]:
    """Every channel the audio engineer promises, synthetic: a beat every 12 frames, a bass
    swell, a chord change at frame 120 and a new section at frame 160."""
    rng = np.random.default_rng(seed)
    frames = np.arange(n)
    beat = (frames % 12 == 0).astype(np.float32)
    onset = np.where(beat > 0, 1.0, rng.uniform(0, 0.05, n)).astype(np.float32)
    chroma = np.zeros((n, 12), np.float32)
    chroma[:120, [0, 4, 7]] = 1.0  # C major
    chroma[120:, [9, 0, 4]] = 1.0  # A minor
    section = (frames >= 160).astype(np.float32)
    track = {
        "rms": 0.3 + 0.1 * beat, "loudness": 0.4 + 0.5 * beat, "onset_strength": onset * 3, "onset": onset,
        "beat": beat, "downbeat": (frames % 48 == 0).astype(np.float32), "tempo_bpm": np.full(n, 120.0),
        "beat_phase": (frames % 12) / 12.0, "bass": 0.5 + 0.5 * np.sin(frames / 20.0), "low_mid": np.full(n, 0.3),
        "high_mid": np.full(n, 0.2), "treble": np.full(n, 0.1), "centroid_hz": np.full(n, 1500.0),
        "flux": onset, "percussive": onset, "harmonic": np.full(n, 0.5), "section": section,
        "section_change": np.isin(frames, [0, 160]).astype(np.float32),
    }
    track.update({f"chroma_{k}": chroma[:, k] for k in range(12)})
    track.update(key_index=np.zeros(n), key_minor=np.zeros(n), key_confidence=np.full(n, 0.8),
                 chord_present=np.ones(n), chord_root=np.where(frames < 120, 0.0, 9.0),
                 chord_minor=(frames >= 120).astype(np.float32), chord_seventh=np.zeros(n),
                 chord_change=np.isin(frames, [0, 120]).astype(np.float32))
    return {name: np.asarray(values, np.float32) for name, values in track.items()}


def basic_track(n: int = N) -> dict[str, np.ndarray]:
    """Only what core.audio gives today."""
    full = full_track(n=n)
    return {name: full[name] for name in ("rms", "loudness", "onset_strength", "onset")}


def steps(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1).astype(np.float64)
    return np.concatenate([[0.0], np.abs(np.diff(flat, axis=0)).mean(axis=1)])


@pytest.mark.parametrize("preset", sorted(mapping.PRESETS))
def test_each_preset_is_deterministic_for_a_seed(preset):
    first = mapping.plan(full_track(), FPS, 8, seed=4, preset=preset)
    again = mapping.plan(full_track(), FPS, 8, seed=4, preset=preset)
    other = mapping.plan(full_track(), FPS, 8, seed=5, preset=preset)
    for name in ("latents", "zoom", "rotation", "warp", "warp_phase"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
        assert getattr(first, name).dtype == np.float32 and len(getattr(first, name)) == N
    assert np.abs(first.latents - other.latents).mean() > 0.1


@pytest.mark.parametrize("preset", sorted(mapping.PRESETS))
def test_presets_work_with_only_the_basic_channels(preset):
    result = mapping.plan(basic_track(), FPS, 8, seed=1, preset=preset)
    assert np.all(np.isfinite(result.latents)) and np.all(result.zoom > 0)
    np.testing.assert_array_equal(result.rotation, 0)  # no bass channel: no turning


def test_pulse_preset_moves_much_more_on_onsets_than_between_them():
    result = mapping.plan(full_track(), FPS, 8, seed=2, preset="pulse")
    step = steps(result.latents)
    onsets = np.arange(12, N, 12)
    quiet = np.array([frame for frame in range(N) if frame % 12 in (7, 8, 9, 10)])
    assert step[onsets].min() > 3 * step[quiet].max()
    assert result.zoom[onsets].min() > 1.05


def test_successive_onsets_pull_toward_different_hit_latents():
    result = mapping.plan(full_track(), FPS, 8, seed=2, preset="pulse", strengths={"pulse": 10.0, "flow": 0.0})
    peaks = result.latents[[12, 24, 36, 48, 60]]
    assert np.abs(peaks[0] - peaks[1]).mean() > 0.3
    np.testing.assert_allclose(peaks[0], peaks[4], atol=0.15)  # N_HITS = 4: the fifth is the first again


def test_flow_speed_follows_energy():
    quiet = dict(basic_track(), loudness=np.zeros(N, np.float32), onset=np.zeros(N, np.float32))
    loud = dict(quiet, loudness=np.ones(N, np.float32))
    slow = mapping.plan(quiet, FPS, 8, seed=3, preset="flow")
    fast = mapping.plan(loud, FPS, 8, seed=3, preset="flow")
    assert steps(fast.latents)[1:].mean() > 4 * steps(slow.latents)[1:].mean()


def test_chroma_changes_the_latent_when_the_chord_changes():
    track = full_track()
    track["onset"] = np.zeros(N, np.float32)
    with_chroma = mapping.plan(track, FPS, 8, seed=6, preset="chroma", strengths={"flow": 0.0})
    without = mapping.plan(track, FPS, 8, seed=6, preset="chroma", strengths={"flow": 0.0, "chroma": 0.0})
    offset = with_chroma.latents - without.latents
    assert np.abs(offset[100] - offset[140]).mean() > 0.2  # C major vs A minor
    assert np.abs(offset[20] - offset[60]).mean() < 0.02  # the same chord


def test_bass_zooms_turns_and_warps():
    result = mapping.plan(full_track(), FPS, 8, seed=7, preset="bass")
    bass = full_track()["bass"]
    assert np.corrcoef(result.warp, bass)[0, 1] > 0.9
    assert np.abs(np.diff(np.unwrap(result.rotation))).max() > 0
    assert result.zoom.max() > 1.2
    none = mapping.plan(full_track(), FPS, 8, seed=7, preset="bass", strengths={"bass": 0.0})
    np.testing.assert_array_equal(none.warp, 0)


def test_sections_change_the_latent_at_a_boundary():
    track = full_track()
    track["onset"] = np.zeros(N, np.float32)
    kw = dict(fps=FPS, latent_dim=8, seed=8, preset="sections", smoothing_s={"sections": 0.2})
    on = mapping.plan(track, **kw)
    off = mapping.plan(track, strengths={"sections": 0.0}, **kw)
    offset = on.latents - off.latents
    assert np.abs(offset[150] - offset[170]).mean() > 0.3
    assert np.abs(offset[100] - offset[130]).mean() < 0.01  # (zero-phase smoothing: 1.25 s before)
    only_changes = {name: values for name, values in track.items() if name != "section"}
    np.testing.assert_allclose(mapping.plan(only_changes, **kw).latents, on.latents, atol=1e-6)


def test_stems_feed_effects_from_the_stem_they_name():
    drums, keys = basic_track(), full_track(seed=1)
    keys["onset"] = np.zeros(N, np.float32)
    stems = {"drums": drums, "keys": keys}
    from_drums = mapping.plan(stems, FPS, 8, seed=9, preset="pulse", sources={"pulse": "drums"})
    from_keys = mapping.plan(stems, FPS, 8, seed=9, preset="pulse", sources={"pulse": "keys"})
    assert from_drums.zoom.max() > 1.05 and from_keys.zoom.max() < 1.001
    with pytest.raises(ValueError, match="stem 'bass'"):
        mapping.plan(stems, FPS, 8, seed=9, sources={"pulse": "bass"})


def test_smoothing_is_in_seconds_not_frames():
    time_25, time_50 = np.arange(100) / 25.0, np.arange(200) / 50.0
    smooth_25 = mapping.smooth((time_25 > 2.0).astype(float), 25.0, 0.3)
    smooth_50 = mapping.smooth((time_50 > 2.0).astype(float), 50.0, 0.3)
    assert np.abs(smooth_25 - smooth_50[::2]).max() < 0.05


@pytest.mark.parametrize("kwargs, fragment", [
    ({"preset": "disco"}, "unknown preset"),
    ({"strengths": {"wobble": 1.0}}, "unknown effect"),
    ({"strengths": {"pulse": -1.0}}, "strength of pulse"),
    ({"smoothing_s": {"bass": float("nan")}}, "smoothing of bass"),
])
def test_bad_settings_are_refused(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        mapping.plan(basic_track(), FPS, 8, seed=0, **kwargs)


def test_harmony_preset_tints_by_key_and_moves_on_chord_changes():
    track = full_track()
    result = mapping.plan(track, FPS, 8, seed=3, preset="harmony", strengths={"pulse": 0.0})
    step = steps(result.latents)
    assert step[120:128].max() > 3 * step[60:110].max()  # the chord change moves the picture...
    assert result.zoom[121:126].max() > 1.05 > result.zoom[60:110].max()  # ...with a zoom kick
    assert abs(result.rotation[140] - result.rotation[100]) > 0.3  # ...and a turn
    other_key = dict(track, key_index=np.full(N, 7.0))  # the same song in G: another tint throughout
    tinted = mapping.plan(other_key, FPS, 8, seed=3, preset="harmony", strengths={"pulse": 0.0})
    assert np.abs(tinted.latents[:100] - result.latents[:100]).mean() > 0.3
    np.testing.assert_array_equal(tinted.zoom, result.zoom)
    balanced = mapping.plan(track, FPS, 8, seed=3, preset="balanced")  # harmony off: the key changes nothing
    np.testing.assert_array_equal(balanced.latents, mapping.plan(other_key, FPS, 8, seed=3, preset="balanced").latents)
