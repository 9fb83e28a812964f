"""A bake that follows a style map: parts, crossfades, morphs, edits and farm chunks (pure Python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import synth_music
from helpers import ROOT

from neural_aesthetics.core import audio
from neural_aesthetics.core.audio.timing import Timing
from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.render import imageio, timeline, transitions, visualizer

FPS = 12.0
ORIGIN = 1  # the song starts on scene frame 1
PART_S = 4.0  # each part: 2 bars at 120 bpm
N_FRAMES = 12 * 13  # 3 parts and a 1 s tail
MARKERS = {"verse": ORIGIN, "chorus": ORIGIN + 48, "drop": ORIGIN + 96}
STYLES = {name: str(ROOT / "styles" / f"{name}.safetensors") for name in ("nebula", "lava", "glitch", "neon")}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """Three parts: full band in one key, a lead without hats in another, a quiet pad alone."""
    parts = (synth_music.Part(120.0, 2, key=45), synth_music.Part(120.0, 2, key=50, progression=1, hats=False, lead=True),
             synth_music.Part(120.0, 2, key=40, progression=2, kick=False, bass=False, pad_gain=0.3))
    track = synth_music.render_beat_track(parts, seed=2)
    assert track.part_starts_s == [0.0, PART_S, 2 * PART_S]
    path = tmp_path_factory.mktemp("song") / "three_parts.wav"
    synth_music.write_wav(path, track.samples, track.sample_rate)
    return path


def request(song: Path, out_dir: Path, style_map: str | None = None, transition: str = "cut",
            style: str = "nebula", **kw) -> visualizer.BakeRequest:
    as_json = None
    if style_map is not None:
        parsed = timeline.parse_style_map(style_map, transition)
        as_json = timeline.StyleMap(tuple(timeline.Entry(e.moment, STYLES[e.style], e.transition)
                                          for e in parsed.entries), parsed.transition).to_json()
    return visualizer.BakeRequest(
        audio_path=song, timing=Timing(FPS, float(ORIGIN), ORIGIN, ORIGIN + N_FRAMES), style_path=STYLES[style],
        out_dir=out_dir, width=24, height=16, backend="numpy", style_map=as_json, markers=MARKERS, **kw)


def levels(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path)).astype(int)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def singles(song, tmp_path_factory) -> dict[str, list[np.ndarray]]:
    """Every frame of a single-style bake of each style."""
    root = tmp_path_factory.mktemp("singles")
    return {name: [levels(path) for path in visualizer.bake_visualizer(request(song, root / name, style=name)).paths]
            for name in ("nebula", "lava", "glitch", "neon")}


MAP = "verse=nebula,chorus=lava,drop=glitch"


@pytest.fixture(scope="module")
def crossfaded(song, tmp_path_factory) -> visualizer.VisualizerBake:
    return visualizer.bake_visualizer(request(song, tmp_path_factory.mktemp("crossfade"), MAP, "crossfade:1s"))


def window(moment_frame: int) -> range:
    """Content indices inside the 1 s transition that ends on ``moment_frame`` (weight > 0)."""
    return range(moment_frame - int(FPS) + 1, moment_frame)


def test_each_part_is_its_style_and_crossfades_mix_in_linear_light(crossfaded, singles):
    frames = [levels(path) for path in crossfaded.paths]
    parts = {"nebula": range(0, 48 - 11), "lava": range(48, 96 - 11), "glitch": range(96, N_FRAMES)}
    for name, indices in parts.items():
        for index in indices:
            np.testing.assert_array_equal(frames[index], singles[name][index], err_msg=f"{name} frame {index}")
    for before, after, moment in (("nebula", "lava", 48), ("lava", "glitch", 96)):
        np.testing.assert_array_equal(frames[moment - 12], singles[before][moment - 12])  # weight 0
        for index in window(moment):
            weight = (index - (moment - FPS)) / FPS
            expected = imageio.to_rgb8(transitions.crossfade(singles[before][index] / 255.0,
                                                             singles[after][index] / 255.0, weight)).astype(int)
            assert np.abs(frames[index] - expected).max() <= 1, f"frame {index} at weight {weight}"
            assert not np.array_equal(frames[index], singles[before][index])


def test_a_morph_runs_from_one_network_to_the_other_and_is_no_dissolve(song, tmp_path, crossfaded, singles):
    morphed = [levels(path) for path in visualizer.bake_visualizer(request(song, tmp_path, MAP, "morph:1s")).paths]
    faded = [levels(path) for path in crossfaded.paths]
    for moment, (before, after) in ((48, ("nebula", "lava")), (96, ("lava", "glitch"))):
        np.testing.assert_array_equal(morphed[moment - 12], singles[before][moment - 12])  # weight 0
        np.testing.assert_array_equal(morphed[moment], singles[after][moment])  # weight 1
        middle = moment - 6
        assert np.abs(morphed[middle] - faded[middle]).mean() > 4  # the networks' interpolation, not a fade
        assert np.abs(morphed[middle] - singles[before][middle]).mean() > 4
        assert np.abs(morphed[middle] - singles[after][middle]).mean() > 4


def test_a_morph_look_at_weight_0_and_1_is_each_style():
    from neural_aesthetics.core.render import mapping, style as style_io

    styles = [style_io.load_style(STYLES["nebula"]), style_io.load_style(STYLES["lava"])]
    looks = [timeline.FrameLook(0, 1, 0.0, "morph"), timeline.FrameLook(0, 1, 1.0, "morph"), timeline.FrameLook(0),
             timeline.FrameLook(1)]
    latents = np.tile(np.linspace(-1, 1, 8, dtype=np.float32), (4, 1))
    ones = np.ones(4, np.float32)
    plan = mapping.FramePlan(latents, ones, ones * 0, ones * 0, ones * 0)
    renderer = transitions.TimelineRenderer(styles, looks, "numpy")
    drawn = [imageio.to_rgb8(renderer.render_row(plan, row, 32, 20)) for row in range(4)]
    np.testing.assert_array_equal(drawn[0], drawn[2])
    np.testing.assert_array_equal(drawn[1], drawn[3])


def test_editing_one_entry_rebakes_only_its_frames_and_transitions(song, tmp_path, crossfaded, singles):
    first = visualizer.bake_visualizer(request(song, tmp_path, MAP, "crossfade:1s"))
    before = folder_bytes(tmp_path)
    edited = visualizer.bake_visualizer(request(song, tmp_path, "verse=nebula,chorus=neon,drop=glitch", "crossfade:1s"))
    touched = set(window(48)) | set(range(48, 96)) | set(window(96))
    assert (first.written, edited.written, edited.skipped) == (N_FRAMES, len(touched), N_FRAMES - len(touched))
    after = folder_bytes(tmp_path)
    assert sorted(after) == sorted(before)
    changed = {int(name[:6]) for name in after if after[name] != before[name]}
    assert changed <= touched and set(range(60, 84)) <= changed
    for index in range(48, 96 - 11):
        np.testing.assert_array_equal(levels(edited.paths[index]), singles["neon"][index])
    again = visualizer.bake_visualizer(request(song, tmp_path, "verse=nebula,chorus=neon,drop=glitch", "crossfade:1s"))
    assert (again.written, again.skipped) == (0, N_FRAMES)
    other_transition = visualizer.bake_visualizer(
        request(song, tmp_path, "verse=nebula,chorus=neon=cut,drop=glitch", "crossfade:1s"))
    assert other_transition.written == len(window(48))


def test_farm_chunks_across_a_transition_are_byte_identical_to_the_whole_bake(song, tmp_path, crossfaded):
    for frames in ((ORIGIN + 30, ORIGIN + 40), (ORIGIN + 41, ORIGIN + 52)):  # frames 37..47 fade into lava
        visualizer.bake_visualizer(request(song, tmp_path, MAP, "crossfade:1s", frames=frames))
    whole = folder_bytes(crossfaded.paths[0].parent)
    chunks = folder_bytes(tmp_path)
    assert len(chunks) == 23
    assert all(chunks[name] == whole[name] for name in chunks)


def test_a_map_naming_nothing_is_refused_before_any_frame(song, tmp_path):
    with pytest.raises(UserError, match="'bridge'"):
        visualizer.bake_visualizer(request(song, tmp_path / "out", "verse=nebula,bridge=lava"))
    assert not list((tmp_path / "out").glob("*.png"))


def test_section_moments_follow_the_songs_analysed_sections(song, tmp_path, singles, monkeypatch):
    # Where the analysis puts the sections is core.audio's business (tested there): here a
    # song whose analysis says a section starts at 5.5 s.
    frame_features = audio.frame_features

    def with_sections(*args, **kw):
        track = frame_features(*args, **kw)
        track.sections_s = np.array([5.5])
        return track

    monkeypatch.setattr(visualizer.audio, "frame_features", with_sections)
    bake = visualizer.bake_visualizer(request(song, tmp_path, "section 1=nebula,section 2=lava"))
    first_lava = int(5.5 * FPS)
    np.testing.assert_array_equal(levels(bake.paths[first_lava - 1]), singles["nebula"][first_lava - 1])
    np.testing.assert_array_equal(levels(bake.paths[first_lava]), singles["lava"][first_lava])
    with pytest.raises(UserError, match="2 section"):
        visualizer.bake_visualizer(request(song, tmp_path / "other", "section 1=nebula,section 3=lava"))


def test_the_live_preview_draws_the_frames_the_bake_writes(song, crossfaded):
    from neural_aesthetics.core.render.preview import Preview

    preview = Preview.from_request(request(song, crossfaded.paths[0].parent, MAP, "crossfade:1s"))
    for index in (10, 42, 60):  # nebula, halfway into lava, lava
        drawn = imageio.to_rgb8(preview.frame_at(index / FPS, 24, 16)).astype(int)
        assert np.abs(drawn - levels(crossfaded.paths[index])).max() <= 1, index
