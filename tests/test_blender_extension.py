"""The extension as a Blender user gets it: built by Blender's tool, installed, driven by operators."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from build_extension import find_blender_ext
from helpers import INSTALLED_MODULE, ROOT, built_package

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def strips_of(scene):
    compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
    return compat.all_strips(scene)


def image_strips(scene):
    return [strip for strip in strips_of(scene) if strip.type == "IMAGE"]


def frame_pixels(strip, index: int) -> np.ndarray:
    from PIL import Image

    path = Path(bpy.path.abspath(strip.directory)) / strip.elements[index].filename
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message


# --- the package ------------------------------------------------------------------------------

def test_manifest_passes_blenders_own_validation():
    result = subprocess.run([sys.executable, str(find_blender_ext()), "validate", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tests_drive_the_installed_package_with_its_bundled_wheels(ext):
    home = Path(os.environ["HOME"])
    package_dir = Path(ext.__file__).parent
    assert home in package_dir.parents, "the extension must be the installed zip, not the source tree"
    assert not (package_dir / "tests").exists() and not (package_dir / "scripts").exists()
    assert (package_dir / "styles").is_dir()
    # The light dependencies come from the package's wheels, not from the test venv.
    import PIL
    import scipy
    import soundfile

    site = next(home.glob("**/extensions/.local/lib/python3.11/site-packages"))
    for module in (soundfile, scipy, PIL):
        installed = site / Path(module.__file__).relative_to(Path(module.__file__).parents[
            0 if module is soundfile else 1])
        assert installed.exists(), f"{module.__name__} was not installed from the package's wheels"
    for module in (soundfile, scipy):  # (torchvision brings its own Pillow into the 5.0 venv)
        assert site in Path(module.__file__).parents, f"{module.__name__} is not imported from the wheels"


def test_built_package_excludes_development_files():
    import zipfile

    names = zipfile.ZipFile(built_package()).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "benchmarks/", ".ci/", "docs/"))]
    assert [n for n in names if n.startswith("wheels/soundfile-")]
    assert [n for n in names if n.startswith("wheels/av-")]  # M4A/AAC in the worker, where Blender's decoder is absent


# --- Add Visualizer Strip ----------------------------------------------------------------------

def test_visualizer_strip_sits_above_the_sound_strip_with_same_start_and_duration(sound_scene):
    scene, sound = sound_scene
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (image,) = image_strips(scene)
    assert image.channel == sound.channel + 1
    assert image.frame_final_start == sound.frame_final_start
    assert image.frame_final_duration == sound.frame_final_duration
    pixels = frame_pixels(image, 0)
    assert pixels.shape == (180, 320, 3)  # the scene's output size
    assert image.directory.startswith("//"), "frames are referenced relative to the .blend"


@pytest.mark.parametrize("shift", [7, -1])
def test_moving_the_sound_strip_moves_the_visualizer_by_the_same_frames(sound_scene, shift):
    scene, sound = sound_scene
    if shift < 0:
        sound.frame_start += 10  # room to move left
    start_before = sound.frame_final_start
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (first,) = image_strips(scene)
    first_start = first.frame_final_start
    first_pixels = frame_pixels(first, 5)
    compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
    compat.top_level_strips(scene).remove(first)

    sound.frame_start += shift
    assert sound.frame_final_start == start_before + shift
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (second,) = image_strips(scene)
    assert second.frame_final_start == first_start + shift
    assert second.frame_final_duration == sound.frame_final_duration
    # The same music under the same frame: the same picture (frames are named by content).
    np.testing.assert_array_equal(frame_pixels(second, 5), first_pixels)


def test_trimming_the_sound_strip_trims_the_visualizer(sound_scene):
    scene, sound = sound_scene
    sound.frame_offset_start = 12
    sound.frame_offset_end = 5
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (image,) = image_strips(scene)
    assert image.frame_final_start == sound.frame_final_start == sound.frame_start + 12
    assert image.frame_final_duration == sound.frame_final_duration


def test_drum_hits_change_the_picture_more_than_quiet_frames(sound_scene, music_wav):
    scene, sound = sound_scene
    _wav, onset_times = music_wav
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (image,) = image_strips(scene)
    fps = scene.render.fps / scene.render.fps_base
    n = image.frame_final_duration
    change = np.array([np.abs(frame_pixels(image, i) - frame_pixels(image, i - 1)).mean() for i in range(1, n)])
    hit_frames = {int(t * fps) for t in onset_times}  # the strip starts at the file's start
    near_hit = {f + d for f in hit_frames for d in range(-2, 4)}
    onset_change = [change[f - 1] for f in sorted(hit_frames) if 1 <= f < n]
    quiet_change = [change[i - 1] for i in range(1, n) if i not in near_hit]
    assert len(onset_change) >= 4 and len(quiet_change) >= 4
    assert np.mean(onset_change) > 2.0 * np.mean(quiet_change), (np.mean(onset_change), np.mean(quiet_change))


# --- errors a user can make ---------------------------------------------------------------------

def test_missing_sound_file_is_one_line_and_leaves_no_files(sound_scene, tmp_path):
    scene, sound = sound_scene
    (tmp_path / "music.wav").unlink()
    before = files_under(tmp_path)
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_aesthetics.add_visualizer_strip()
    message = str(error.value)
    assert "Sound file not found" in message and "music.wav" in message and one_line(message)
    assert files_under(tmp_path) == before
    assert image_strips(scene) == []


def unsaved_scene_with_sound(music: Path):
    """A new, never-saved file whose scene has an active sound strip playing ``music``."""
    bpy.ops.wm.read_homefile(use_empty=True)
    if bpy.app.version >= (4, 4, 0):
        compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
        scene = bpy.context.scene
        strip = compat.new_sound_strip(scene, "Music", str(music), channel=1, frame_start=1)
        scene.sequence_editor.active_strip = strip
        return scene
    # bpy 4.2 cannot create sound strips: append the fixture's scene instead.
    from helpers import FIXTURES

    with bpy.data.libraries.load(str(FIXTURES / "sound_strip.blend"), link=False) as (source, target):
        target.scenes = list(source.scenes)
    scene = target.scenes[0]
    scene.sequence_editor.active_strip.sound.filepath = str(music)
    return scene


def test_unsaved_blend_with_relative_output_is_one_line_and_leaves_no_files(ext, music_wav, tmp_path):
    music, _onsets = music_wav
    scene = unsaved_scene_with_sound(music)
    assert not bpy.data.filepath and scene.neural_aesthetics.output_dir.startswith("//")
    before = files_under(tmp_path)
    with bpy.context.temp_override(scene=scene), pytest.raises(RuntimeError) as error:
        bpy.ops.neural_aesthetics.add_visualizer_strip()
    message = str(error.value)
    assert "Save the .blend file first" in message and one_line(message)
    assert files_under(tmp_path) == before


def test_non_sound_strip_selected_greys_out_the_button_with_a_reason(sound_scene):
    scene, sound = sound_scene
    compat = sys.modules[f"{INSTALLED_MODULE}.operators.blender.compat"]
    # 4.2 takes frame_end, 5.0 takes length; 20 frames either way.
    span = {"length": 20} if bpy.app.version >= (5, 0, 0) else {"frame_end": 21}
    colour = compat.top_level_strips(scene).new_effect(name="Backdrop", type="COLOR", channel=3, frame_start=1, **span)
    scene.sequence_editor.active_strip = colour
    assert not bpy.ops.neural_aesthetics.add_visualizer_strip.poll()
    with pytest.raises(RuntimeError) as error:
        bpy.ops.neural_aesthetics.add_visualizer_strip()
    message = str(error.value)
    assert "'Backdrop' is a color strip: select a sound strip" in message
    assert image_strips(scene) == []


def test_a_blend_saved_elsewhere_still_finds_its_frames(sound_scene, tmp_path):
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    moved = tmp_path / "deliveries" / "final" / "project_v2.blend"
    moved.parent.mkdir(parents=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(moved))  # Blender remaps '//' paths to the new place
    bpy.ops.wm.open_mainfile(filepath=str(moved))
    (image,) = image_strips(bpy.context.scene)
    assert image.directory.startswith("//")
    frames = [Path(bpy.path.abspath(image.directory)) / element.filename for element in image.elements]
    assert all(frame.is_file() for frame in frames) and len(frames) == image.frame_final_duration
