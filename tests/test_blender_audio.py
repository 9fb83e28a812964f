"""Bake Audio Features: F-curves on scene properties and timeline markers, on 4.2 and 5.0."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy")


def installed(name):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


def curve_values(scene, prop, frames):
    """``scene[prop]`` evaluated on each frame (through the animation system, as a driver sees it)."""
    values = []
    for frame in frames:
        scene.frame_set(int(frame))
        values.append(float(scene[prop]))
    return np.array(values)


def expected_track(scene, strip):
    tools = installed("operators.verbs.audio_features")
    return tools.analyse_strip(scene, strip)


def test_features_become_scene_property_curves_that_follow_the_analysis(sound_scene):
    scene, strip = sound_scene

    result = bpy.ops.neural_aesthetics.bake_audio_features(
        features="loudness,beat,bass,beat_phase", beat_markers=True, downbeat_markers=True)

    assert result == {"FINISHED"}
    track = expected_track(scene, strip)
    frames = track.timing.frames()
    for channel in ("loudness", "beat", "bass", "beat_phase"):
        prop = f"na_music_{channel}"
        assert prop in scene.keys(), prop
        np.testing.assert_allclose(curve_values(scene, prop, frames), track[channel], atol=1e-6, err_msg=channel)
    assert track["beat"].sum() >= 4  # a 4 s clip at 120 bpm: the comparison is about real beats
    beat_frames = sorted(m.frame for m in scene.timeline_markers if m.name.startswith("NA music beat "))
    assert beat_frames == [int(f) for f in frames[track["beat"] == 1]]
    bars = [m for m in scene.timeline_markers if m.name.startswith("NA music bar ")]
    assert 1 <= len(bars) <= len(beat_frames)


def test_a_second_bake_replaces_curves_and_markers_and_a_moved_strip_shifts_them(sound_scene):
    scene, strip = sound_scene
    assert bpy.ops.neural_aesthetics.bake_audio_features(features="onset,beat", beat_markers=True) == {"FINISHED"}
    before = sorted(m.frame for m in scene.timeline_markers if m.name.startswith("NA music beat "))
    onset_before = curve_values(scene, "na_music_onset", range(strip.frame_final_start, strip.frame_final_end))

    move = 13
    strip.frame_start += move
    assert bpy.ops.neural_aesthetics.bake_audio_features(features="onset,beat", beat_markers=True) == {"FINISHED"}

    after = sorted(m.frame for m in scene.timeline_markers if m.name.startswith("NA music beat "))
    assert after == [frame + move for frame in before]  # replaced, not added, and shifted exactly
    onset_after = curve_values(scene, "na_music_onset", range(strip.frame_final_start, strip.frame_final_end))
    np.testing.assert_allclose(onset_after, onset_before, atol=1e-6)


def test_the_bars_and_tempo_set_in_the_audio_panel_are_the_ones_baked(sound_scene):
    scene, _strip = sound_scene
    settings = scene.neural_aesthetics
    settings.beats_per_bar = "3"
    settings.use_tempo, settings.tempo_bpm = True, 240.0  # the demo song's eighth notes as beats
    assert bpy.ops.neural_aesthetics.bake_audio_features(features="beat,beats_per_bar") == {"FINISHED"}
    frames = range(scene.frame_start, scene.frame_end + 1)
    per_bar = curve_values(scene, "na_music_beats_per_bar", frames)
    assert set(per_bar[per_bar > 0]) == {3.0}
    beats = np.flatnonzero(curve_values(scene, "na_music_beat", frames))
    assert len(beats) >= 3 and abs(np.median(np.diff(beats)) - 24 * 60 / 240) <= 1  # every 6 frames at 24 fps


def test_a_muted_strip_is_refused_with_a_sentence(sound_scene):
    scene, strip = sound_scene
    strip.mute = True

    with pytest.raises(RuntimeError, match="muted"):
        bpy.ops.neural_aesthetics.bake_audio_features(features="loudness")
    assert "na_music_loudness" not in scene.keys()


def test_an_unknown_feature_is_refused_naming_the_valid_ones(sound_scene):
    with pytest.raises(RuntimeError, match="Unknown feature.*kick.*choose from.*bass"):
        bpy.ops.neural_aesthetics.bake_audio_features(features="loudness,kick")


def test_chord_markers_name_each_chord_on_the_frame_it_starts(sound_scene):
    scene, strip = sound_scene
    assert bpy.ops.neural_aesthetics.bake_audio_features(features="chord_change,chord_root",
                                                         chord_markers=True) == {"FINISHED"}
    track = expected_track(scene, strip)
    frames = track.timing.frames()
    markers = sorted((m.frame, m.name) for m in scene.timeline_markers if m.name.startswith("NA music chord "))
    assert len(markers) >= 2  # the clip changes chord every bar
    assert [frame for frame, _name in markers] == [int(f) for f in frames[track["chord_change"] == 1]]
    names = installed("core.audio.harmony").PITCH_NAMES
    for frame, name in markers:
        row = frame - track.timing.frame_first
        assert name.split()[-1].startswith(names[int(track["chord_root"][row])]), name


def test_song_map_draws_the_strips_analysis_into_a_packed_image(sound_scene):
    scene, strip = sound_scene
    assert bpy.ops.neural_aesthetics.song_map(width=400) == {"FINISHED"}
    image = bpy.data.images[f"Song Map: {strip.name}"]
    assert image.packed_file is not None  # travels with the .blend
    drawn = installed("core.render.song_map").render(expected_track(scene, strip), 400)
    height, width, _ = drawn.rgb.shape
    assert tuple(image.size) == (width, height)
    pixels = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    levels = np.rint(pixels.reshape(height, width, 4)[::-1, :, :3] * 255)
    np.testing.assert_array_equal(levels, np.rint(drawn.rgb * 255))
    strip.frame_start += 10  # a moved strip: the map is redrawn in place
    assert bpy.ops.neural_aesthetics.song_map(width=400) == {"FINISHED"}
    assert len([i for i in bpy.data.images if i.name.startswith("Song Map: ")]) == 1
