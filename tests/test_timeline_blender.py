"""The style timeline in Blender: the Style panel's list, its buttons, and --style-map on the command line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from helpers import INSTALLED_MODULE, RecordingLayout, check_drawn

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


def draw_style_panel(scene) -> list:
    drawn = []
    panel = type("Panel", (), {"layout": RecordingLayout(drawn)})()
    # Blender's context for everything else the panel asks (the running job, the active strip).
    context = type("Context", (), {"scene": scene, "__getattr__": lambda _self, name: getattr(bpy.context, name)})()
    installed("panels").draw_style(panel, context)
    check_drawn(drawn)
    return drawn


def test_the_style_panel_lists_the_timeline_and_its_buttons_edit_it(sound_scene):
    scene, _sound = sound_scene
    settings = scene.neural_aesthetics
    settings.style = "nebula"
    drawn = draw_style_panel(scene)
    assert ("prop", settings, "use_style_map") in drawn
    assert not any(kind == "list" for kind, *_ in drawn)  # off: just the switch
    assert any("Morphs with: " in text and "lava" in text for kind, _d, text in drawn if kind == "label")

    assert bpy.ops.neural_aesthetics.style_map_add() == {"FINISHED"}
    assert bpy.ops.neural_aesthetics.style_map_add() == {"FINISHED"}
    entries = settings.style_map
    assert settings.use_style_map and [e.moment for e in entries] == ["section 1", "section 2"]
    entries[1].style, entries[1].transition = "lagoon", "morph"
    drawn = draw_style_panel(scene)
    assert any(kind == "list" and name == "style_map" for kind, _d, name in drawn)
    assert {"moment", "style", "transition", "transition_length"} <= {n for k, d, n in drawn if k == "prop" and d == entries[1]}
    assert any("different networks" in text for kind, _d, text in drawn if kind == "label")

    item_drawn = []
    ui_list = getattr(bpy.types, "NEURAL_AESTHETICS_UL_style_map")
    ui_list.draw_item(None, None, RecordingLayout(item_drawn), settings, entries[1], 0, settings, "style_map_index", 1)
    check_drawn(item_drawn)
    assert [name for _k, _d, name in item_drawn] == ["moment", "style", "transition"]

    assert bpy.ops.neural_aesthetics.style_map_move(direction="UP") == {"FINISHED"}
    assert [e.style for e in entries] == ["lagoon", "nebula"] and settings.style_map_index == 0
    assert bpy.ops.neural_aesthetics.style_map_remove() == {"FINISHED"}
    assert [e.style for e in entries] == ["nebula"]


def test_a_style_per_section_fills_the_timeline_from_the_analysis(sound_scene):
    scene, _sound = sound_scene
    settings = scene.neural_aesthetics
    settings.style = "lava"
    assert bpy.ops.neural_aesthetics.style_map_fill() == {"FINISHED"}
    assert settings.style_map_sections >= 1 and len(settings.style_map) == settings.style_map_sections
    assert settings.style_map[0].style == "lava" and settings.style_map[0].moment == "section 1"


@pytest.fixture
def cli(ext):
    return installed("operators.cli")


def frame_folder(output):
    """The folder a bake into ``--output`` wrote its frames to (it holds the bake record)."""
    return next(output.rglob("neural_aesthetics_bake.json")).parent


def frames_of(output):
    return {path.name: path.read_bytes() for path in sorted(frame_folder(output).glob("*.png"))}


def test_style_map_on_the_command_line_changes_style_where_it_says(cli, sound_scene, tmp_path, capsys):
    scene, sound = sound_scene
    scene.timeline_markers.new("chorus", frame=sound.frame_final_start + 48)  # 2 s into the song at 24 fps
    size = ["--size", "32x18", "--backend", "numpy"]
    assert cli.main(["bake", *size, "--output", str(tmp_path / "map"), "--style-map", "0s=nebula,chorus=lava",
                     "--transition", "crossfade:0.5s"]) == 0
    assert cli.main(["bake", *size, "--output", str(tmp_path / "lava"), "--style", "lava"]) == 0
    assert cli.main(["bake", *size, "--output", str(tmp_path / "nebula"), "--style", "nebula"]) == 0
    mapped, lava, nebula = (frames_of(tmp_path / name) for name in ("map", "lava", "nebula"))
    names = sorted(mapped)
    assert len(names) == sound.frame_final_duration
    assert all(mapped[name] == nebula[name] for name in names[:36])  # before the crossfade (1.5 s)
    assert all(mapped[name] != nebula[name] and mapped[name] != lava[name] for name in names[37:48])
    assert all(mapped[name] == lava[name] for name in names[48:])
    record = json.loads((frame_folder(tmp_path / "map") / "neural_aesthetics_bake.json").read_text())
    assert len(set(record["looks"].values())) == 2 + 11


@pytest.mark.parametrize("argv, fragment", [
    (["--style-map", "verse=no_such_style"], "No style named 'no_such_style'"),
    (["--style-map", "bridge=lava"], "'bridge'"),
    (["--style-map", "0s=lava", "--transition", "wipe:1s"], "Bad transition 'wipe:1s'"),
    (["--transition", "crossfade:1b"], "--transition needs a style map"),
])
def test_bad_style_maps_give_one_line(cli, sound_scene, tmp_path, capsys, argv, fragment):
    assert cli.main(["bake", "--size", "32x18", "--output", str(tmp_path), *argv]) == 1
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.rglob("*.png"))


def test_the_worker_carries_the_style_map(sound_scene):
    scene, sound = sound_scene
    settings = scene.neural_aesthetics
    bpy.ops.neural_aesthetics.style_map_add()
    bpy.ops.neural_aesthetics.style_map_add()
    settings.style_map[0].style, settings.style_map[1].style = "nebula", "glitch"
    strips = installed("operators.blender.strips")
    request = strips.bake_request(scene, sound, settings)
    assert [entry["style"].endswith(name + ".safetensors") for entry, name in
            zip(request.style_map["entries"], ("nebula", "glitch"))] == [True, True]
    assert type(request).from_json(json.loads(json.dumps(request.to_json()))) == request
    settings.use_style_map = False
    assert strips.bake_request(scene, sound, settings).style_map is None
    assert np.isfinite(request.timing.fps)
