"""The visualizer beyond the VSE strip: Re-sync, a material texture and a compositor overlay."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy

RENDER_SIZE = (64, 36)


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


def visualizer_strips(scene):
    return installed("operators.blender.strips").visualizer_strips(scene)


def baked_frame(strip, scene_frame: int, size=RENDER_SIZE) -> np.ndarray:
    """The baked frame a strip shows at ``scene_frame``, resized to ``size``, in 0..1."""
    from PIL import Image

    element = strip.elements[scene_frame - strip.frame_final_start]
    path = Path(bpy.path.abspath(strip.directory)) / element.filename
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize(size, Image.BOX), dtype=np.float32) / 255.0


def render_frame(scene, frame: int, tmp_path: Path, size=RENDER_SIZE) -> np.ndarray:
    """Cycles on the CPU, black world, Standard view: what the camera sees, in 0..1."""
    from PIL import Image

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 16
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.world = scene.world or bpy.data.worlds.new("Black")
    scene.world.color = (0.0, 0.0, 0.0)
    if scene.world.node_tree is not None:
        background = scene.world.node_tree.nodes.get("Background")
        if background is not None:
            background.inputs["Color"].default_value = (0, 0, 0, 1)
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(tmp_path / f"render_{frame}.png")
    scene.frame_set(frame)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    with Image.open(scene.render.filepath) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def assert_shows(rendered: np.ndarray, strip, frame: int) -> None:
    """The render is the strip's frame at ``frame``: closer to it than to either neighbour."""
    size = rendered.shape[1], rendered.shape[0]

    def distance(scene_frame: int) -> float:
        return float(np.abs(rendered - baked_frame(strip, scene_frame, size)).mean())

    right, neighbours = distance(frame), [distance(frame - 1), distance(frame + 1)]
    assert right < 0.012 and right < 0.5 * min(neighbours), (right, neighbours)


def test_resync_after_a_move_reuses_the_frames(sound_scene):
    scene, sound = sound_scene
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (old,) = visualizer_strips(scene)
    frames_dir = Path(bpy.path.abspath(old.directory))
    stamps = {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("*.png")}
    sound.frame_start += 9
    strips = installed("operators.blender.strips")
    assert strips.out_of_sync(scene, old) == "The sound strip moved by +9 frames"
    scene.sequence_editor.active_strip = old
    assert bpy.ops.neural_aesthetics.resync() == {"FINISHED"}
    (new,) = visualizer_strips(scene)
    assert (new.frame_final_start, new.frame_final_duration) == (sound.frame_final_start, sound.frame_final_duration)
    assert strips.out_of_sync(scene, new) is None
    assert {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("*.png")} == stamps, "no frame was baked again"
    assert strips.heard_line(new) == "Beats heard at 120 a minute, 4 to a bar"  # (kept: nothing was heard again)


def test_resync_refuses_when_the_music_changed_and_rebakes_when_asked(sound_scene, tmp_path):
    import synth_music

    scene, sound = sound_scene
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (old,) = visualizer_strips(scene)
    first_before = baked_frame(old, sound.frame_final_start + 10)
    samples, _ = synth_music.render_demo_clip(seconds=4.0, seed=99, bpm=96)
    synth_music.write_wav(tmp_path / "music.wav", samples, 44100)  # same length, other music
    sound.frame_start += 3
    scene.sequence_editor.active_strip = old
    with pytest.raises(RuntimeError, match="the sound file changed"):
        bpy.ops.neural_aesthetics.resync()
    assert visualizer_strips(scene) == [old]
    scene.sequence_editor.active_strip = old
    assert bpy.ops.neural_aesthetics.resync(rebake=True) == {"FINISHED"}
    (new,) = visualizer_strips(scene)
    assert new.frame_final_start == sound.frame_final_start
    assert not np.array_equal(baked_frame(new, sound.frame_final_start + 10), first_before)


@pytest.mark.slow
def test_apply_to_material_renders_the_visualizer_in_step(sound_scene, tmp_path):
    scene, _sound = sound_scene
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (strip,) = visualizer_strips(scene)
    # A plane with the frame's aspect, filling an orthographic camera's view.
    bpy.ops.mesh.primitive_plane_add(size=2.0)
    plane = bpy.context.active_object
    plane.scale.x = RENDER_SIZE[0] / RENDER_SIZE[1]
    camera_data = bpy.data.cameras.new("Camera")
    camera_data.type = "ORTHO"
    camera_data.ortho_scale = 2.0 * RENDER_SIZE[0] / RENDER_SIZE[1]
    camera = bpy.data.objects.new("Camera", camera_data)
    camera.location = (0.0, 0.0, 5.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    bpy.context.view_layer.objects.active = plane
    assert bpy.ops.neural_aesthetics.apply_to_material() == {"FINISHED"}
    # Render shows the 3D scene, not the visualizer strip (nothing else to show there).
    assert strip.mute and not scene.render.use_sequencer
    frame = strip.frame_final_start + 30
    assert_shows(render_frame(scene, frame, tmp_path), strip, frame)


@pytest.mark.slow
def test_add_to_compositor_mixes_the_visualizer_over_the_render(sound_scene, tmp_path):
    scene, _sound = sound_scene
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (strip,) = visualizer_strips(scene)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    assert bpy.ops.neural_aesthetics.add_to_compositor() == {"FINISHED"}
    assert strip.mute and not scene.render.use_sequencer
    frame = strip.frame_final_start + 40
    # An empty scene with a black world renders black: Screen over black is the visualizer.
    # The compositor shows images at their own size: render at the bake's size.
    assert_shows(render_frame(scene, frame, tmp_path, size=(320, 180)), strip, frame)


def test_a_users_own_picture_strips_keep_the_sequencer_rendering(sound_scene, tmp_path):
    """Only our strip is muted when the edit has pictures of its own: Render keeps showing the edit."""
    scene, sound = sound_scene
    bpy.ops.neural_aesthetics.add_visualizer_strip()
    (strip,) = visualizer_strips(scene)
    still = tmp_path / "title.png"
    image = bpy.data.images.new("title", 8, 8)
    image.filepath_raw, image.file_format = str(still), "PNG"
    image.save()
    own = installed("operators.blender.compat").new_image_strip(scene, "Title", [str(still)], channel=9, frame_start=1)
    bpy.ops.mesh.primitive_plane_add()
    assert bpy.ops.neural_aesthetics.apply_to_material() == {"FINISHED"}
    assert strip.mute and not own.mute
    assert scene.render.use_sequencer
