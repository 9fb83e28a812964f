"""Bake options of the sidebar and of the headless command reach the frame files.

Mapping preset and strengths, image format, frame range, compute backend and output folder:
set in the scene (as the panel does) or on the command line, each one changes what lands on
disk, and the image strip, material and compositor read EXR frames as linear light.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import INSTALLED_MODULE, RecordingLayout, check_drawn, strip_folder

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy

SMALL = (64, 36)
EXR_HALF = 1
"""OpenEXR pixel type of half floats (0 = uint, 1 = half, 2 = float)."""


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


def png_bit_depth(path: Path) -> int:
    """Bits per channel from a PNG's IHDR chunk (the byte after width and height)."""
    data = path.read_bytes()[:26]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return data[24]


def exr_channel_types(path: Path) -> dict[str, int]:
    """Channel name -> pixel type, read from an OpenEXR file's ``channels`` header attribute."""
    data = path.read_bytes()
    assert data[:4] == b"\x76\x2f\x31\x01", "not an OpenEXR file"
    position = 8
    while data[position] != 0:
        name_end = data.index(b"\0", position)
        kind_end = data.index(b"\0", name_end + 1)
        (size,) = struct.unpack_from("<i", data, kind_end + 1)
        value = data[kind_end + 5:kind_end + 5 + size]
        if data[position:name_end] == b"channels":
            channels, offset = {}, 0
            while value[offset] != 0:
                channel_end = value.index(b"\0", offset)
                (pixel_type,) = struct.unpack_from("<i", value, channel_end + 1)
                channels[value[offset:channel_end].decode()] = pixel_type
                offset = channel_end + 1 + 16
            return channels
        position = kind_end + 5 + size
    raise AssertionError("no channels attribute")


def frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".png", ".jpg", ".exr"))


def record(folder: Path) -> dict:
    return json.loads((folder / "neural_aesthetics_bake.json").read_text())


def small_size(settings) -> None:
    settings.use_scene_resolution = False
    settings.resolution_x, settings.resolution_y = SMALL


def set_range(settings, first: int, last: int) -> None:
    settings.use_custom_range = True
    settings.frame_range_start, settings.frame_range_end = first, last


def image_strips(scene):
    return installed("operators.blender.strips").visualizer_strips(scene)


# --- the scene settings ------------------------------------------------------------------------

def test_settings_offer_every_preset_effect_format_and_backend_of_the_engine(sound_scene):
    mapping, imageio = installed("core.render.mapping"), installed("core.render.imageio")
    backend = installed("core.render.backend")
    scene, _sound = sound_scene
    settings = scene.neural_aesthetics
    properties = settings.bl_rna.properties
    presets = properties["preset"].enum_items
    assert [item.identifier for item in presets] == list(mapping.PRESETS)
    assert all(item.description for item in presets)
    assert [item.identifier for item in properties["image_format"].enum_items] == list(imageio.FORMATS)
    assert [item.identifier for item in properties["backend"].enum_items] == list(backend.BACKENDS)
    for effect in mapping.EFFECTS:
        assert getattr(settings, f"strength_{effect}") == pytest.approx(mapping.PRESETS["balanced"][effect])
        assert getattr(settings, f"smoothing_{effect}") == pytest.approx(mapping.DEFAULT_SMOOTHING_S[effect])
        assert properties[f"strength_{effect}"].hard_max == mapping.MAX_STRENGTH
        assert getattr(settings, f"source_{effect}") == ""  # (listens to the visualizer's own strip)


def test_preset_strengths_are_used_until_custom_strengths_are_switched_on(sound_scene):
    strips, mapping = installed("operators.blender.strips"), installed("core.render.mapping")
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    settings.preset = "bass"
    # Choosing a preset shows its strengths; the request leaves them to the preset.
    assert settings.strength_bass == pytest.approx(mapping.PRESETS["bass"]["bass"])
    request = strips.bake_request(scene, sound, settings)
    assert (request.preset, request.preset_strengths, request.preset_smoothing) == ("bass", {}, {})

    settings.use_custom_strengths = True
    settings.strength_pulse = 2.5
    settings.use_custom_smoothing = True
    settings.smoothing_pulse = 0.6
    request = strips.bake_request(scene, sound, settings)
    assert request.preset_strengths == {**mapping.PRESETS["bass"], "pulse": 2.5}
    assert request.preset_smoothing == {**mapping.DEFAULT_SMOOTHING_S, "pulse": 0.6}  # 32-bit floats rounded

    settings.use_custom_strengths = False  # back to the preset: its values are shown again
    assert settings.strength_pulse == pytest.approx(mapping.PRESETS["bass"]["pulse"])
    assert strips.bake_request(scene, sound, settings).preset_strengths == {}


def test_a_custom_range_starts_as_the_whole_strip_and_reaches_the_request(sound_scene):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    assert strips.bake_request(scene, sound, settings).frames is None
    settings.use_custom_range = True
    assert (settings.frame_range_start, settings.frame_range_end) == (sound.frame_final_start, sound.frame_final_end - 1)
    settings.frame_range_start += 5
    assert strips.bake_request(scene, sound, settings).frames == (sound.frame_final_start + 5, sound.frame_final_end - 1)


def test_default_output_folder_preference_applies_to_scenes_that_never_set_theirs(sound_scene, tmp_path):
    strips, preferences = installed("operators.blender.strips"), installed("operators.settings.preferences")
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    prefs = preferences.get()
    leaf = Path("project") / strips.strip_id(sound)
    assert strips.bake_request(scene, sound, settings).out_dir == tmp_path / "neural_frames" / leaf
    try:
        prefs.default_output_dir = str(tmp_path / "farm")
        assert strips.bake_request(scene, sound, settings).out_dir == tmp_path / "farm" / leaf
        settings.output_dir = str(tmp_path / "mine")
        assert strips.bake_request(scene, sound, settings).out_dir == tmp_path / "mine" / leaf
    finally:
        prefs.default_output_dir = ""


# --- through the operator ------------------------------------------------------------------------

def test_preset_16_bit_png_and_range_from_the_panel_reach_the_files(sound_scene):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    small_size(settings)
    settings.preset = "pulse"
    settings.image_format = "png16"
    first = sound.frame_final_start + 10
    set_range(settings, first, first + 10)

    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}

    (image,) = image_strips(scene)
    folder = Path(bpy.path.abspath(image.directory))
    files = frame_files(folder)
    timing = strips.strip_timing(scene, sound)
    assert [p.name for p in files] == [f"{timing.content_index(f):06d}.png" for f in range(first, first + 11)]
    assert {png_bit_depth(p) for p in files} == {16}
    key = record(folder)["key"]
    assert (key["mapping"]["preset"], key["image_format"], key["size"]) == ("pulse", "png16", list(SMALL))
    assert (image.frame_final_start, image.frame_final_duration) == (first, 11)
    assert image.colorspace_settings.name == "sRGB"
    assert strips.out_of_sync(scene, image) is None, "a range bake sits where it belongs"


def test_a_reversed_custom_range_is_one_line_and_bakes_nothing(sound_scene, tmp_path):
    scene, sound = sound_scene
    set_range(scene.neural_aesthetics, 30, 20)
    with pytest.raises(RuntimeError, match="ends before it starts"):
        bpy.ops.neural_aesthetics.add_visualizer_strip()
    assert not (tmp_path / "neural_frames").exists()


def test_exr_frames_are_linear_half_floats_and_blender_reads_them_as_linear(sound_scene, tmp_path):
    from PIL import Image

    compat, strips = installed("operators.blender.compat"), installed("operators.blender.strips")
    imageio = installed("core.render.imageio")
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    small_size(settings)
    first = sound.frame_final_start + 4
    set_range(settings, first, first + 2)
    settings.image_format = "exr"
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (image_strip,) = image_strips(scene)
    folder = Path(bpy.path.abspath(image_strip.directory))
    exrs = frame_files(folder)
    assert [p.suffix for p in exrs] == [".exr"] * 3
    assert all(exr_channel_types(p) == {"B": EXR_HALF, "G": EXR_HALF, "R": EXR_HALF} for p in exrs)
    linear = compat.linear_colorspace(image_strip.colorspace_settings)
    assert linear == "Linear Rec.709"
    assert image_strip.colorspace_settings.name == linear

    # The material and compositor read the same frames as linear light too.
    mesh = bpy.data.meshes.new("Plane")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0)], [], [(0, 1, 2)])
    plane = bpy.data.objects.new("Plane", mesh)
    scene.collection.objects.link(plane)
    bpy.context.view_layer.objects.active = plane
    assert bpy.ops.neural_aesthetics.apply_to_material() == {"FINISHED"}
    texture = next(n for n in plane.active_material.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage")
    assert texture.image.colorspace_settings.name == linear
    assert bpy.ops.neural_aesthetics.add_to_compositor() == {"FINISHED"}

    # Values: the sRGB-decoded 8-bit PNG of the same frame (another folder), within rounding.
    settings.image_format = "png8"
    request = strips.bake_request(scene, sound, settings, output_dir=str(tmp_path / "png"))
    pngs = installed("core.render.visualizer").bake_visualizer(request).paths
    loaded = bpy.data.images.load(str(exrs[0]))
    width, height = loaded.size
    pixels = np.empty(width * height * 4, dtype=np.float32)
    loaded.pixels.foreach_get(pixels)
    from_exr = pixels.reshape(height, width, 4)[::-1, :, :3]
    with Image.open(pngs[0]) as png:
        from_png = imageio.srgb_to_linear(np.asarray(png.convert("RGB"), dtype=np.float32) / 255.0)
    assert np.abs(from_exr - from_png).max() < 0.006


def test_resync_of_a_range_bake_reuses_its_exr_frames(sound_scene):
    strips = installed("operators.blender.strips")
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    small_size(settings)
    settings.image_format = "exr"
    first = sound.frame_final_start + 20
    set_range(settings, first, first + 5)
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (old,) = image_strips(scene)
    stamps = {p.name: p.stat().st_mtime_ns for p in frame_files(Path(bpy.path.abspath(old.directory)))}

    sound.frame_start += 7
    assert strips.out_of_sync(scene, old) == "The sound strip moved by +7 frames"
    scene.sequence_editor.active_strip = old
    assert bpy.ops.neural_aesthetics.resync() == {"FINISHED"}

    (new,) = image_strips(scene)
    assert (new.frame_final_start, new.frame_final_duration) == (first + 7, 6)
    assert strips.out_of_sync(scene, new) is None
    assert new.colorspace_settings.name == installed("operators.blender.compat").linear_colorspace(new.colorspace_settings)
    folder = Path(bpy.path.abspath(new.directory))
    assert {p.name: p.stat().st_mtime_ns for p in frame_files(folder)} == stamps, "nothing was baked again"


# --- stems: an effect listening to another sound strip -------------------------------------------

def test_a_listen_to_name_that_is_no_sound_strip_is_one_sentence_and_bakes_nothing(sound_scene, tmp_path):
    scene, _sound = sound_scene
    settings = scene.neural_aesthetics
    settings.output_dir = str(tmp_path / "frames")
    settings.source_pulse = "Drums"
    with pytest.raises(RuntimeError, match="Pulse listens to 'Drums', which is not a sound strip of this scene"):
        bpy.ops.neural_aesthetics.add_visualizer_strip()
    assert not (tmp_path / "frames").exists() and not image_strips(scene)


@pytest.fixture
def drums_stem(sound_scene, tmp_path):
    """A muted 'Drums' strip (kicks only) 3 frames after the music, which pulse listens to."""
    if bpy.app.version < (4, 4, 0):
        pytest.skip("bpy 4.2 wheels are built without audio: no second sound strip")
    import synth_music

    scene, sound = sound_scene
    t = np.arange(int(3.0 * 44100)) / 44100
    kicks = sum(np.where(t >= at, 0.8 * np.exp(-(t - at) / 0.08) * np.sin(2 * np.pi * 60 * (t - at)), 0.0)
                for at in (0.5, 1.25, 2.0))
    synth_music.write_wav(tmp_path / "drums.wav", np.stack([kicks, kicks], axis=1).astype(np.float32), 44100)
    drums = installed("operators.blender.compat").new_sound_strip(scene, "Drums", "//drums.wav", channel=2,
                                                          frame_start=sound.frame_final_start + 3)
    drums.mute = True  # analysed, not heard
    scene.sequence_editor.active_strip = sound
    settings = scene.neural_aesthetics
    small_size(settings)
    settings.source_pulse = "Drums"
    return scene, sound, drums


def test_pulse_listening_to_a_muted_drum_stem_reaches_the_bake_and_its_move_is_noticed(drums_stem, tmp_path):
    strips = installed("operators.blender.strips")
    scene, sound, drums = drums_stem
    request = strips.bake_request(scene, sound, scene.neural_aesthetics)
    (effect, stem), = request.sources.items()
    assert effect == "pulse" and stem.audio_path == tmp_path / "drums.wav"
    assert stem.origin_frame == request.timing.origin_frame + 3  # where the stem sits

    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (visualizer,) = image_strips(scene)
    assert strips.out_of_sync(scene, visualizer) is None
    assert record(Path(visualizer[strips.STRIP_TAG]["frames_dir"]))["key"]["sources"]["pulse"]["offset_frames"] == 3

    drums.frame_start += 2  # the drums now play 2 frames later against the music
    assert "'Drums' (that pulse listens to) moved" in strips.out_of_sync(scene, visualizer)
    scene.sequence_editor.active_strip = visualizer
    with pytest.raises(RuntimeError, match="a strip that an effect listens to moved"):
        bpy.ops.neural_aesthetics.resync()
    drums.frame_start -= 2
    sound.frame_start += 10  # the music and its stem apart again, by the same offset as baked
    drums.frame_start += 10
    assert bpy.ops.neural_aesthetics.resync() == {"FINISHED"}
    (moved,) = image_strips(scene)
    assert moved.frame_final_start == sound.frame_final_start and strips.out_of_sync(scene, moved) is None


# --- through the headless command ----------------------------------------------------------------

@pytest.fixture
def cli(ext):
    return installed("operators.cli")


@pytest.mark.parametrize("image_format, suffix", [("png16", ".png"), ("exr", ".exr"), ("jpeg", ".jpg")])
def test_command_line_options_reach_the_files(cli, sound_scene, tmp_path, image_format, suffix):
    scene, sound = sound_scene
    first = sound.frame_final_start + 30
    argv = ["bake", "--size", "64x36", "--output", str(tmp_path / "out"), "--frames", f"{first}-{first + 3}",
            "--preset", "flow", "--strength", "pulse=2", "--strength", "bass=0.5", "--smoothing", "flow=1.25",
            "--format", image_format, "--backend", "numpy", "--seed", "7"]
    assert cli.main(argv) == 0
    folder = tmp_path / "out" / strip_folder(sound)
    files = frame_files(folder)
    timing = installed("operators.blender.strips").strip_timing(scene, sound)
    assert [p.name for p in files] == [f"{timing.content_index(f):06d}{suffix}" for f in range(first, first + 4)]
    if image_format == "png16":
        assert {png_bit_depth(p) for p in files} == {16}
    elif image_format == "exr":
        assert all(set(exr_channel_types(p).values()) == {EXR_HALF} for p in files)
    else:
        assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" for p in files)
    saved = record(folder)
    key = saved["key"]
    assert key["mapping"]["preset"] == "flow"
    assert key["mapping"]["strengths"]["pulse"] == 2.0 and key["mapping"]["strengths"]["bass"] == 0.5
    assert key["mapping"]["strengths"]["flow"] == pytest.approx(1.6)  # the rest: the preset's
    assert key["mapping"]["smoothing_s"]["flow"] == 1.25
    assert (key["image_format"], key["size"], key["seed"]) == (image_format, [64, 36], 7)
    assert saved["backend"] == "numpy"


def test_chunks_with_options_are_byte_identical_to_a_whole_bake(cli, sound_scene, tmp_path):
    _scene, sound = sound_scene
    first, last = sound.frame_final_start, sound.frame_final_end - 1
    middle = first + 41
    options = ["--size", "64x36", "--preset", "pulse", "--strength", "pulse=3", "--format", "png16",
               "--backend", "numpy"]
    assert cli.main(["bake", *options, "--output", str(tmp_path / "whole")]) == 0
    assert cli.main(["bake", *options, "--output", str(tmp_path / "chunks"), "--frames", f"{middle}-{last}"]) == 0
    assert cli.main(["bake", *options, "--output", str(tmp_path / "chunks"), "--frames", f"{first}-{middle - 1}"]) == 0
    whole = frame_files(tmp_path / "whole" / strip_folder(sound))
    chunks = frame_files(tmp_path / "chunks" / strip_folder(sound))
    assert [p.name for p in whole] == [p.name for p in chunks] and len(whole) == sound.frame_final_duration
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(whole, chunks))


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--preset", "wobbly"], "invalid choice: 'wobbly'"),
        (["--format", "tiff"], "invalid choice: 'tiff'"),
        (["--backend", "cuda"], "invalid choice: 'cuda'"),
        (["--strength", "pulse"], "strength must look like pulse=1.5"),
        (["--strength", "wobble=1"], "strength must look like pulse=1.5"),
        (["--strength", "pulse=11"], "strength of pulse must be a number from 0 to 10"),
        (["--strength", "pulse=loud"], "strength of pulse must be a number from 0 to 10"),
        (["--strength", "pulse=nan"], "strength of pulse must be a number from 0 to 10"),
        (["--smoothing", "bass=-1"], "smoothing of bass must be a number from 0 to 60"),
        (["--size", "8x8"], "each side must be 16 to 16384 px"),
        (["--size", "1920x"], "size must look like 1920x1080"),
        (["--seed", "-3"], "seed must be a whole number from 0 to 2147483647"),
        (["--frames", "a-b"], "frames must look like 101-200"),
        (["--source", "pulse"], "source must look like pulse=Drums"),
        (["--source", "sparkle=Drums"], "source must look like pulse=Drums"),
    ],
)
def test_bad_option_values_exit_2_with_one_line(cli, sound_scene, tmp_path, capsys, argv, expected):
    assert cli.main(["bake", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "neural_frames").exists()


# --- the sidebar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sub_panel", ["audio", "bake_details"])
def test_audio_and_bake_panels_draw_settings_and_operators_that_exist(sound_scene, sub_panel):
    scene, sound = sound_scene
    sound.mute = True
    panels = installed("panels")
    drawn = []
    panel = type("Panel", (), {"layout": RecordingLayout(drawn)})()
    context = type("Context", (), {"scene": scene})()
    getattr(panels, f"draw_{sub_panel}")(panel, context)
    check_drawn(drawn)
    props = {name for kind, _data, name in drawn if kind == "prop"}
    labels = " ".join(name for kind, _data, name in drawn if kind == "label")
    if sub_panel == "audio":
        assert {"preset", "use_custom_strengths", "strength_pulse", "smoothing_bass", "source_pulse",
                "live_preview"} <= props
        assert f"Source: {sound.name}" in labels and "muted" in labels
        assert ("operator", None, "neural_aesthetics.bake_audio_features") in drawn
    else:
        assert {"use_custom_range", "image_format", "backend", "output_dir", "seed", "use_scene_resolution"} <= props
        assert "Baked at 320 x 180 px" in labels  # the scene's size: what will be baked
        assert f"Whole strip: frames {sound.frame_final_start}-{sound.frame_final_end - 1}" in labels
