"""The sidebar as an artist meets it: the panels' order and greyed reasons, editing in place.

Panels are drawn into a recording layout (every widget in the order it is drawn);
Re-sync, Add Visualizer Strip and Apply to Material are run twice, after moving and
trimming the sound, and every property the user set on the strip and every image node
playing it are checked.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


class RecordingLayout:
    """Stands in for ``bpy.types.UILayout``: records every widget, nested layouts included, in order."""

    def __init__(self, log: list | None = None):
        self.log = log if log is not None else []

    def _nested(self, *_args, **_kwargs):
        return RecordingLayout(self.log)

    row = column = box = split = _nested

    def prop(self, data, name, **kwargs):
        self.log.append(("prop", name))

    def operator(self, idname, **kwargs):
        self.log.append(("operator", idname, kwargs.get("text")))
        return types.SimpleNamespace()

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))

    def template_icon_view(self, data, name, **kwargs):
        self.log.append(("thumbnails", name))

    def template_icon(self, **kwargs):
        self.log.append(("icon",))

    def progress(self, **kwargs):
        self.log.append(("progress", kwargs.get("text")))


def draw_sidebar(context=None) -> dict[str, list]:
    """Every sub-panel of the Sequencer's Neural tab drawn into a recording layout, by label."""
    panels = installed("panels")
    drawn = {}
    for _suffix, label, draw, _is_open in panels.PANELS:
        panel = types.SimpleNamespace(layout=RecordingLayout())
        draw(panel, context or bpy.context)
        drawn[label] = panel.layout.log
    return drawn


def after(log: list, widget: tuple) -> tuple:
    """The widget drawn right after ``widget``."""
    return log[log.index(widget) + 1]


ADD = ("operator", "neural_aesthetics.add_visualizer_strip", None)


def visualizer_strips(scene):
    return installed("operators.blender.strips").visualizer_strips(scene)


# --- the panels -------------------------------------------------------------------------------

def test_thumbnails_then_the_button_then_use_and_the_details_closed(sound_scene):
    panels = installed("panels")
    assert [label for _s, label, _d, _o in panels.PANELS] == ["Style", "Bake", "Use", "Audio", "Bake Details", "Train"]
    closed = {cls.bl_label for cls in panels.CLASSES if "DEFAULT_CLOSED" in getattr(cls, "bl_options", set())}
    assert closed == {"Audio", "Bake Details", "Train"}
    drawn = draw_sidebar()
    assert drawn["Style"][0] == ("thumbnails", "style")
    assert drawn["Bake"][0] == ADD
    assert after(drawn["Bake"], ADD)[0] == "label" and "96 frames of 320 x 180 px, about" in after(drawn["Bake"], ADD)[1]
    # One seed per purpose, each with its own name.
    settings = bpy.context.scene.neural_aesthetics
    assert settings.bl_rna.properties["seed"].name == "Motion Seed"
    assert bpy.context.scene.neural_aesthetics_train.bl_rna.properties["seed"].name == "Training Seed"


def test_a_greyed_button_says_why_on_a_line_under_it(sound_scene):
    scene, _sound = sound_scene
    compat = installed("operators.blender.compat")
    span = {"length": 20} if bpy.app.version >= (5, 0, 0) else {"frame_end": 21}
    colour = compat.top_level_strips(scene).new_effect(name="Backdrop", type="COLOR", channel=3, frame_start=1, **span)
    scene.sequence_editor.active_strip = colour
    drawn = draw_sidebar()
    assert after(drawn["Bake"], ADD) == ("label", "The active strip 'Backdrop' is a color strip: select a sound strip")
    material = ("operator", "neural_aesthetics.apply_to_material", None)
    assert after(drawn["Use"], material)[0] == "label"
    compositor = ("operator", "neural_aesthetics.add_to_compositor", None)
    assert after(drawn["Use"], compositor) == (
        "label", "No visualizer yet: select a sound strip and click Add Visualizer Strip first")


def test_with_one_sound_strip_and_nothing_clicked_the_button_bakes_it(sound_scene):
    scene, sound = sound_scene
    scene.sequence_editor.active_strip = None
    drawn = draw_sidebar()
    assert ("label", f"Source: {sound.name}") in drawn["Audio"]
    assert after(drawn["Bake"], ADD)[1].startswith("96 frames")  # no reason line: the button works
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    assert len(visualizer_strips(scene)) == 1
    # What the analysis heard stays in view, so a song heard at double speed is noticed (the demo song: 120)
    assert ("label", "Beats heard at 120 a minute, 4 to a bar") in draw_sidebar()["Use"]


def test_the_size_shown_is_the_size_baked_and_draft_halves_it(sound_scene):
    scene, _sound = sound_scene
    scene.render.resolution_percentage = 50
    settings = scene.neural_aesthetics
    assert ("label", "Baked at 160 x 90 px") in draw_sidebar()["Bake Details"]
    settings.draft = True
    drawn = draw_sidebar()
    assert ("label", "Baked at 80 x 45 px (Draft: half size)") in drawn["Bake Details"]
    assert after(drawn["Bake"], ADD)[1].startswith("96 frames of 80 x 45 px")
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (strip,) = visualizer_strips(scene)
    assert strip["neural_aesthetics"]["draft"]
    assert ("label", "Draft (half size): bake with Draft off for the final frames") in draw_sidebar()["Use"]
    settings.draft = False
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    assert visualizer_strips(scene) == [strip] and not strip["neural_aesthetics"]["draft"]
    assert json.loads(strip["neural_aesthetics"]["key"])["size"] == [160, 90]


def test_a_washing_out_view_transform_is_one_line_with_a_use_standard_button(sound_scene):
    scene, _sound = sound_scene
    scene.view_settings.view_transform = "AgX"
    bake = draw_sidebar()["Bake"]
    warning = next(text for kind, *text in bake if kind == "label" and "wash out" in text[0])
    assert "AgX" in warning[0]
    assert ("operator", "neural_aesthetics.use_standard_view", None) in bake
    assert "UNDO" in bpy.types.NEURAL_AESTHETICS_OT_use_standard_view.bl_options
    assert bpy.ops.neural_aesthetics.use_standard_view() == {"FINISHED"}
    assert scene.view_settings.view_transform == "Standard"
    assert not any("wash out" in widget[1] for widget in draw_sidebar()["Bake"] if widget[0] == "label")
    scene.neural_aesthetics.image_format = "exr"
    scene.view_settings.view_transform = "AgX"  # linear frames are graded: the view is the user's choice
    assert not any("wash out" in widget[1] for widget in draw_sidebar()["Bake"] if widget[0] == "label")


def test_the_use_panel_shows_the_strips_opacity_and_blend(sound_scene):
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    use = draw_sidebar()["Use"]
    assert ("prop", "blend_alpha") in use and ("prop", "blend_type") in use


# --- editing in place -------------------------------------------------------------------------

def _user_edits(strip) -> dict:
    return {"blend_type": strip.blend_type, "blend_alpha": round(strip.blend_alpha, 4),
            "offset_x": strip.transform.offset_x, "color_tag": strip.color_tag,
            "modifiers": [modifier.name for modifier in strip.modifiers], "name": strip.name,
            "channel": strip.channel}


def _image_nodes(scene) -> list:
    users = []
    for material in bpy.data.materials:
        if material.node_tree is not None:
            users += [node.image_user for node in material.node_tree.nodes if node.bl_idname == "ShaderNodeTexImage"]
    tree = installed("operators.blender.compat").existing_compositor_tree(scene)
    users += [node for node in tree.nodes if node.bl_idname == "CompositorNodeImage"]
    return users


def _assert_nodes_play(scene, strip):
    first_number = int(Path(strip.elements[0].filename).stem)
    nodes = _image_nodes(scene)
    assert len(nodes) == 2  # one texture, one compositor image: nothing stacked
    for user in nodes:
        assert (user.frame_start, user.frame_offset, user.frame_duration) == (
            strip.frame_final_start, first_number - 1, len(strip.elements))


@pytest.mark.slow
def test_resync_moves_and_retimes_the_same_strip_and_every_node_follows(sound_scene):
    scene, sound = sound_scene
    strips = installed("operators.blender.strips")
    sound.frame_start += 10
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (strip,) = visualizer_strips(scene)
    strip.blend_type, strip.blend_alpha, strip.color_tag = "ALPHA_OVER", 0.4, "COLOR_05"
    strip.transform.offset_x = 12.0
    if bpy.app.version < (5, 0, 0):  # (bpy 5.0.1 crashes adding a strip modifier without a window)
        strip.modifiers.new(name="Grade", type="BRIGHT_CONTRAST")
    edits = _user_edits(strip)
    bpy.ops.mesh.primitive_plane_add()
    for _twice in range(2):
        assert bpy.ops.neural_aesthetics.apply_to_material() == {"FINISHED"}
    assert bpy.ops.neural_aesthetics.add_to_compositor() == {"FINISHED"}
    _assert_nodes_play(scene, strip)

    sound.frame_start += 9
    assert strips.out_of_sync(scene, strip) == "The sound strip moved by +9 frames"
    scene.sequence_editor.active_strip = strip
    assert bpy.ops.neural_aesthetics.resync() == {"FINISHED"}
    assert visualizer_strips(scene) == [strip] and _user_edits(strip) == edits
    assert (strip.frame_final_start, strip.frame_final_duration) == (sound.frame_final_start, sound.frame_final_duration)
    _assert_nodes_play(scene, strip)

    sound.frame_offset_start, sound.frame_offset_end = 12, 5
    assert strips.out_of_sync(scene, strip) == "The sound strip was trimmed or extended"
    assert bpy.ops.neural_aesthetics.resync() == {"FINISHED"}
    assert visualizer_strips(scene) == [strip] and _user_edits(strip) == edits
    assert (strip.frame_final_start, strip.frame_final_duration) == (sound.frame_final_start, sound.frame_final_duration)
    assert Path(strip.elements[0].filename).stem == f"{12:06d}"
    _assert_nodes_play(scene, strip)

    # Add Visualizer Strip again, from the sound strip: the same strip, updated.
    scene.sequence_editor.active_strip = sound
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    assert visualizer_strips(scene) == [strip] and _user_edits(strip) == edits
    _assert_nodes_play(scene, strip)


def _change_the_music(tmp_path):
    import synth_music

    samples, _ = synth_music.render_demo_clip(seconds=4.0, seed=99, bpm=96)
    synth_music.write_wav(tmp_path / "music.wav", samples, 44100)  # same length, other music


@pytest.mark.slow
def test_rebake_uses_the_strips_recorded_settings_and_a_failed_one_leaves_the_strip(sound_scene, tmp_path,
                                                                                     monkeypatch):
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    settings.style, settings.seed, settings.preset, settings.image_format = "neon", 3, "pulse", "png8"
    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (strip,) = visualizer_strips(scene)
    before = (strip.frame_final_start, [element.filename for element in strip.elements], strip.directory)
    settings.style, settings.seed, settings.preset, settings.image_format = "ember", 7, "flow", "jpeg"
    _change_the_music(tmp_path)
    scene.sequence_editor.active_strip = strip

    resync = installed("operators.verbs.resync")
    real_bake = resync.bake_visualizer
    UserError = installed("core.errors").UserError

    def failing_bake(request, progress=None, cancel=None):
        def fail_after_a_few(done, total, message):
            if done == 5:
                raise UserError("The disk is full")
        return real_bake(request, fail_after_a_few)

    monkeypatch.setattr(resync, "bake_visualizer", failing_bake)
    with pytest.raises(RuntimeError, match="The disk is full"):
        bpy.ops.neural_aesthetics.resync(rebake=True)
    assert visualizer_strips(scene) == [strip]
    assert (strip.frame_final_start, [element.filename for element in strip.elements], strip.directory) == before

    monkeypatch.setattr(resync, "bake_visualizer", real_bake)
    assert bpy.ops.neural_aesthetics.resync(rebake=True) == {"FINISHED"}
    assert visualizer_strips(scene) == [strip]
    key = json.loads(strip["neural_aesthetics"]["key"])
    assert (strip["neural_aesthetics"]["style"], key["seed"], key["mapping"]["preset"], key["image_format"]) == (
        "neon", 3, "pulse", "png8")
    assert strip.elements[0].filename.endswith(".png")


# --- the headless command -----------------------------------------------------------------------

def test_add_strip_saves_the_users_settings_not_the_commands(sound_scene, tmp_path, capsys):
    scene, sound = sound_scene
    cli = installed("operators.cli")
    target = tmp_path / "baked.blend"
    mine = {"seed": scene.neural_aesthetics.seed, "preset": scene.neural_aesthetics.preset,
            "use_scene_resolution": scene.neural_aesthetics.use_scene_resolution,
            "image_format": scene.neural_aesthetics.image_format,
            "use_custom_strengths": scene.neural_aesthetics.use_custom_strengths,
            "strength_pulse": round(scene.neural_aesthetics.strength_pulse, 4)}
    argv = ["add-strip", "--style", "Neon", "--size", "64x36", "--seed", "5", "--preset", "bass",
            "--strength", "pulse=2.5", "--format", "jpeg", "--save-as", str(target)]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0  # twice: the same strip, updated
    capsys.readouterr()
    bpy.ops.wm.open_mainfile(filepath=str(target))
    saved = bpy.context.scene.neural_aesthetics
    assert {name: round(getattr(saved, name), 4) if name == "strength_pulse" else getattr(saved, name)
            for name in mine} == mine
    (strip,) = visualizer_strips(bpy.context.scene)
    key = json.loads(strip["neural_aesthetics"]["key"])
    assert (strip["neural_aesthetics"]["style"], key["seed"], key["size"], key["image_format"]) == (
        "neon", 5, [64, 36], "jpeg")


def test_save_as_into_a_missing_folder_fails_before_baking(sound_scene, tmp_path, capsys):
    scene, _sound = sound_scene
    cli = installed("operators.cli")
    frames = tmp_path / "frames"
    code = cli.main(["add-strip", "--output", str(frames), "--save-as", str(tmp_path / "missing" / "x.blend")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "The folder of --save-as does not exist" in err
    assert not frames.exists() and visualizer_strips(scene) == []


# --- every style on your song -------------------------------------------------------------------

@pytest.mark.slow
def test_preview_all_styles_draws_each_style_as_the_bake_would_at_the_playhead(sound_scene):
    import numpy as np
    from PIL import Image

    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    settings.use_scene_resolution, settings.resolution_x, settings.resolution_y = False, 192, 108
    settings.backend, settings.style = "numpy", "neon"
    scene.frame_current = sound.frame_final_start + 40
    styles = installed("operators.blender.style_previews")
    assert bpy.ops.neural_aesthetics.preview_styles() == {"FINISHED"}
    assert settings.thumbnails == "SONG"
    folder = installed("operators.verbs.style_sheet").sheet_folder()
    names = [info.name for info in styles.available()]
    assert sorted(path.stem for path in folder.glob("*.png") if path.name != styles.SHEET_NAME) == sorted(names)
    for info in styles.available():  # the thumbnails switch to the song's tiles
        assert styles.thumbnail_path(info, on_song=True) == folder / f"{info.name}.png"
        assert styles.thumbnail_path(info, on_song=False) == info.thumbnail_path
    assert (folder / styles.SHEET_NAME).is_file()

    assert bpy.ops.neural_aesthetics.add_visualizer_strip() == {"FINISHED"}
    (strip,) = visualizer_strips(scene)
    baked = Path(bpy.path.abspath(strip.directory)) / strip.elements[40].filename
    with Image.open(baked) as frame, Image.open(folder / "neon.png") as tile:
        np.testing.assert_array_equal(np.asarray(tile.convert("RGB")), np.asarray(frame.convert("RGB")))
