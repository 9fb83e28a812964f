"""A strip's frame folder is unique to its project and strip, and the unclear lines of the
Blender side and the headless command are one clear line each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


def folder_of(scene, sound, output: str) -> Path:
    strips = installed("operators.blender.strips")
    return strips.bake_request(scene, sound, scene.neural_aesthetics, output_dir=output).out_dir


def add_small_visualizer(scene):
    """Add Visualizer Strip at 32x18 px; the visualizer strip it added."""
    scene.neural_aesthetics.resolution_x, scene.neural_aesthetics.resolution_y = 32, 18
    scene.neural_aesthetics.use_scene_resolution = False
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (visualizer,) = installed("operators.blender.strips").visualizer_strips(scene)
    return visualizer


def test_two_projects_and_look_alike_strip_names_never_share_a_folder(sound_scene, tmp_path):
    scene, sound = sound_scene
    shared = str(tmp_path / "shared")
    names = {}
    for name in ("Music.001", "Music_001", "Music"):
        sound.name = name
        names[name] = folder_of(scene, sound, shared)
    assert len(set(names.values())) == 3, names  # "Music.001" and "Music_001" clean to the same text
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "other_song.blend"))  # another project, same folder
    other = folder_of(scene, sound, shared)
    assert other != names["Music"] and other.parent.name == "other_song"


def test_the_folder_stays_when_the_strip_is_renamed_after_its_bake_and_save_as_keeps_its_frames(sound_scene,
                                                                                                 tmp_path):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    visualizer = add_small_visualizer(scene)
    baked = Path(visualizer[strips.STRIP_TAG]["frames_dir"])
    sound.name = "Renamed"
    assert folder_of(scene, sound, scene.neural_aesthetics.output_dir) == baked
    visualizer[strips.STRIP_TAG]["sound_strip"] = "Renamed"

    (tmp_path / "copy").mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "copy" / "copy.blend"))  # relative paths remapped
    first = visualizer.elements[0].filename
    assert (Path(bpy.path.abspath(visualizer.directory)) / first).is_file(), "Save-As lost the strip's frames"
    assert folder_of(scene, sound, scene.neural_aesthetics.output_dir).parent.name == "copy"  # its own folder


def test_an_empty_output_folder_is_one_line_not_the_current_folder(sound_scene):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    with pytest.raises(installed("core.errors").UserError, match="No output folder is set"):
        strips.bake_request(scene, sound, scene.neural_aesthetics, output_dir="")


def test_a_folder_given_as_the_sound_says_so(sound_scene, tmp_path):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    (tmp_path / "album").mkdir()
    sound.sound.filepath = str(tmp_path / "album")
    with pytest.raises(installed("core.errors").UserError, match="is a folder, not a sound file"):
        strips.sound_file(sound)


def test_a_changed_frame_rate_is_named_not_called_a_trim(sound_scene):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    visualizer = add_small_visualizer(scene)
    scene.render.fps = 30
    assert strips.out_of_sync(scene, visualizer) == \
        "The scene's frame rate changed (24 fps when baked, 30 fps now)"


# --- the headless command ------------------------------------------------------------------------

def test_frames_before_zero_parse_and_a_seed_beyond_32_bits_is_one_line(ext, capsys):
    cli = installed("operators.cli")
    args = cli.build_parser().parse_args(cli._joined_values(["bake", "--frames", "-50--40"]))
    assert args.frames == (-50, -40)
    assert cli.build_parser().parse_args(["bake", "--frames", "7"]).frames == (7, 7)
    assert cli.main(["bake", "--seed", "2147483648"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "seed must be a whole number from 0 to 2147483647" in error


def test_analyze_never_overwrites_the_song_or_a_file_it_did_not_write(cli_scene_song, tmp_path):
    cli, song = cli_scene_song
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    song_bytes = song.read_bytes()
    for target in (song, notes):
        assert cli.main(["analyze", "--out", str(target)]) == cli.EXIT_USER_ERROR
        assert cli.main(["analyze", "--out", str(target), "--overwrite"]) == (
            cli.EXIT_USER_ERROR if target == song else cli.EXIT_OK)
    assert song.read_bytes() == song_bytes
    assert notes.read_text().startswith("frame,")  # replaced only when asked
    assert cli.main(["analyze", "--out", str(notes)]) == cli.EXIT_OK  # a CSV it wrote is replaced


@pytest.fixture
def cli_scene_song(sound_scene):
    strips = installed("operators.blender.strips")
    _scene, sound = sound_scene
    return installed("operators.cli"), strips.sound_file(sound)
