"""Headless use: the registered command's entry point, and a rendered MP4 with sound."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from helpers import INSTALLED_MODULE, ROOT, read_png8, strip_folder

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


@pytest.fixture
def cli(ext):
    return sys.modules[f"{INSTALLED_MODULE}.operators.cli"]


def image_strips(scene):
    compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
    return [strip for strip in compat.all_strips(scene) if strip.type == "IMAGE"]


def test_add_strip_command_adds_the_strip_and_saves_a_copy(cli, sound_scene, tmp_path, capsys):
    scene, sound = sound_scene
    target = tmp_path / "baked.blend"
    code = cli.main(["add-strip", "--strip", sound.name, "--size", "96x54", "--save-as", str(target)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"frame {sound.frame_final_duration}/{sound.frame_final_duration}" in out
    (image,) = image_strips(scene)
    assert (image.frame_final_start, image.frame_final_duration) == (sound.frame_final_start, sound.frame_final_duration)
    assert target.is_file()
    # The saved file renders later with no Python: it holds the strip and finds its frames.
    bpy.ops.wm.open_mainfile(filepath=str(target))
    (reloaded,) = image_strips(bpy.context.scene)
    first = Path(bpy.path.abspath(reloaded.directory)) / reloaded.elements[0].filename
    assert first.is_file()


@pytest.mark.parametrize(
    "argv, code, expected",
    [
        (["bake", "--size", "big"], 2, "size must look like 1920x1080"),
        (["bake", "--frames", "20-10"], 2, "ends before it starts"),
        (["bake", "--frames", "500-600"], 1, "outside the strip"),
        (["analyze"], 2, "give --out CSV, --map PNG or both"),
        (["analyze", "--map", "song.jpg"], 1, "name it .png"),
        (["add-strip", "--save", "--save-as", "x.blend"], 2, "not allowed with argument"),
        (["bake", "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
        ([], 2, "give a command"),
        (["bake", "--strip", "Nope"], 1, "No strip named 'Nope'"),
        (["bake", "--style", "no_such_style"], 1, "No style named 'no_such_style'"),
        (["bake", "--scene", "Nope"], 1, "No scene named 'Nope'"),
        (["bake", "--tempo", "900"], 1, "Tempo 900 beats per minute is out of range"),
        (["analyze", "--tempo", "5", "--out", "f.csv"], 1, "Tempo 5 beats per minute is out of range"),
    ],
)
def test_bad_arguments_give_one_line_and_a_non_zero_code(cli, sound_scene, capsys, argv, code, expected):
    assert cli.main(argv) == code
    captured = capsys.readouterr()
    assert expected in captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert image_strips(sound_scene[0]) == []


def test_help_lists_the_bake_options(cli, capsys):
    assert cli.main(["add-strip", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--strip", "--style", "--output", "--size", "--save"):
        assert option in out


def test_chunks_baked_separately_are_byte_identical_to_a_whole_bake(cli, sound_scene, tmp_path, capsys):
    scene, sound = sound_scene
    first, last = sound.frame_final_start, sound.frame_final_end - 1
    middle = first + 37
    assert cli.main(["bake", "--size", "64x36", "--output", str(tmp_path / "whole")]) == 0
    assert cli.main(["bake", "--size", "64x36", "--output", str(tmp_path / "chunks"), "--frames", f"{middle}-{last}"]) == 0
    assert cli.main(["bake", "--size", "64x36", "--output", str(tmp_path / "chunks"), "--frames", f"{first}-{middle - 1}"]) == 0
    whole = sorted((tmp_path / "whole" / strip_folder(sound)).glob("*.png"))
    chunks = sorted((tmp_path / "chunks" / strip_folder(sound)).glob("*.png"))
    assert [p.name for p in whole] == [p.name for p in chunks] and len(whole) == sound.frame_final_duration
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(whole, chunks))
    assert image_strips(scene) == [], "bake leaves the .blend alone"


def test_analyze_writes_one_row_per_frame_with_onsets_on_the_drum_hits(cli, sound_scene, music_wav, tmp_path):
    import csv

    scene, sound = sound_scene
    _wav, hits = music_wav
    out = tmp_path / "features.csv"
    assert cli.main(["analyze", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [int(r["frame"]) for r in rows] == list(range(sound.frame_final_start, sound.frame_final_end))
    onset = [float(r["onset"]) for r in rows]
    hit_rows = {int(t * 24) for t in hits if int(t * 24) < len(rows)}  # the strip starts at the file's start
    loudest = sorted(range(len(rows)), key=onset.__getitem__)[-len(hit_rows):]
    assert len(set(loudest) & hit_rows) >= 0.8 * len(hit_rows)


def test_beats_per_bar_from_the_command_line_sets_the_bars_but_not_the_blend(cli, sound_scene, tmp_path):
    import csv

    scene, _sound = sound_scene
    out = tmp_path / "features.csv"
    assert cli.main(["analyze", "--beats-per-bar", "3", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {float(r["beats_per_bar"]) for r in rows if float(r["rms"]) > 0} == {3.0}
    downbeats = [i for i, r in enumerate(rows) if float(r["downbeat"])]
    beats = [i for i, r in enumerate(rows) if float(r["beat"])]
    assert len(downbeats) >= 2 and all(beats.index(b) % 3 == beats.index(downbeats[0]) % 3 for b in downbeats)
    assert scene.neural_aesthetics.beats_per_bar == "0"  # the scene's own setting is untouched


def test_a_tempo_from_the_command_line_or_the_scene_sets_the_beats_of_the_analysis(cli, sound_scene, tmp_path):
    import csv

    scene, _sound = sound_scene

    def heard_tempi(*argv) -> set[float]:
        out = tmp_path / "features.csv"
        assert cli.main(["analyze", *argv, "--out", str(out), "--overwrite"]) == 0
        rows = list(csv.DictReader(out.open()))
        return {round(float(r["tempo_bpm"])) for r in rows if float(r["tempo_bpm"]) > 0}

    heard = heard_tempi()  # the demo song: 120 beats a minute
    assert heard and all(abs(bpm - 120) <= 5 for bpm in heard)
    assert all(abs(bpm - 60) <= 3 for bpm in heard_tempi("--tempo", "62"))  # told it is slow: every other beat
    assert scene.neural_aesthetics.use_tempo is False  # the command line leaves the scene's setting alone
    scene.neural_aesthetics.use_tempo, scene.neural_aesthetics.tempo_bpm = True, 64.0
    assert all(abs(bpm - 60) <= 3 for bpm in heard_tempi())  # the scene's Tempo, as the Audio panel sets it
    assert heard_tempi("--tempo", "0") == heard  # 0: heard in the song


def test_a_bake_names_the_pulse_it_heard_and_follows_the_tempo_given(cli, sound_scene, capsys, tmp_path):
    assert cli.main(["bake", "--size", "64x36", "--frames", "1-2", "--output", str(tmp_path / "heard")]) == 0
    assert "; beats heard at 120 a minute, 4 to a bar" in capsys.readouterr().out  # the demo song
    assert cli.main(["bake", "--size", "64x36", "--frames", "1-2", "--output", str(tmp_path / "told"),
                     "--tempo", "62"]) == 0
    told = capsys.readouterr().out
    assert "; beats heard at 120" not in told and ("; beats heard at" in told or "; no steady beat heard" in told), told
    # (the 4 s demo song holds about 4 beats at 60 a minute: too few to count as a pulse)


def test_analyze_map_writes_the_song_map_of_the_strip(cli, sound_scene, tmp_path):
    scene, sound = sound_scene
    out = tmp_path / "song.png"
    assert cli.main(["analyze", "--map", str(out), "--map-width", "300"]) == 0
    pixels = read_png8(out)
    tools = sys.modules[f"{INSTALLED_MODULE}.operators.verbs.audio_features"]
    drawn = sys.modules[f"{INSTALLED_MODULE}.core.render.song_map"].render(tools.analyse_strip(scene, sound), 300)
    np.testing.assert_array_equal(pixels, np.rint(drawn.rgb * 255).astype(np.uint8))
    assert drawn.columns_of_frame(sound.frame_final_start).start == drawn.left


def test_command_is_registered_with_blender(ext):
    """`blender --command neural_aesthetics` finds it: the handle exists until unregister."""
    operators = sys.modules[f"{INSTALLED_MODULE}.operators"]
    assert operators._cli_handle is not None


def probe(path: Path):
    """(video frames, video seconds, audio seconds or None) of a media file, read with FFmpeg's libraries."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video_s = float(video.duration * video.time_base) if video.duration else frames / float(video.average_rate)
        audio_s = None
        if container.streams.audio:
            audio = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(audio))
            audio_s = samples / audio.sample_rate
    return frames, video_s, audio_s


@pytest.mark.slow
@pytest.mark.skipif(bpy.app.version < (4, 4, 0), reason="bpy 4.2 wheels are built without audio: no sound strips")
def test_demo_renders_an_mp4_whose_video_and_audio_match_the_sound_strip(tmp_path):
    """The README's main job, as a user runs it (a fresh process, the built zip)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path), "--seconds", "5"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    mp4 = tmp_path / "demo.mp4"
    assert f"wrote {mp4}" in result.stdout
    fps = Fraction(24)
    strip_frames = int(result.stdout.split("demo: ")[1].split(" frames")[0])
    frames, video_s, audio_s = probe(mp4)
    assert frames == strip_frames == 5 * fps
    assert audio_s is not None, "the MP4 has no audio stream"
    assert abs(audio_s - float(strip_frames / fps)) <= 1 / float(fps) + 0.05  # AAC pads to 1024 samples


@pytest.mark.slow
def test_rendered_sequencer_video_has_one_frame_per_strip_frame(sound_scene, tmp_path):
    scene, sound = sound_scene
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    sys.path.insert(0, str(ROOT / "scripts"))
    import demo

    mp4 = demo.render_video(scene, tmp_path / "render.mp4")
    frames, _video_s, audio_s = probe(mp4)
    assert frames == sound.frame_final_duration
    if bpy.app.version >= (4, 4, 0):
        assert audio_s == pytest.approx(sound.frame_final_duration / 24, abs=1 / 24 + 0.05)
