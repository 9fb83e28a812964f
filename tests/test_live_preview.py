"""Live preview: the frame-change handler draws the bake's frame for the current frame into
the "Neural Preview" image, rebuilds only when its inputs change, stops cleanly, and leaves
nothing behind when the extension is disabled."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from helpers import INSTALLED_MODULE

bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")

pytestmark = pytest.mark.bpy


def installed(name: str):
    return sys.modules[f"{INSTALLED_MODULE}.{name}"]


@pytest.fixture
def live(sound_scene):
    """``(preview module, scene, sound strip)`` with Live Preview switched off again afterwards."""
    preview = installed("operators.live_preview")
    scene, sound = sound_scene
    yield preview, scene, sound
    scene.neural_aesthetics.live_preview = False
    preview.state.problem = ""


def image_pixels(image) -> np.ndarray:
    pixels = np.empty(len(image.pixels), dtype=np.float32)
    image.pixels.foreach_get(pixels)
    return pixels


def shown_at(scene, frame: int, preview) -> np.ndarray:
    scene.frame_set(frame)
    return image_pixels(preview.preview_image())


def expected_preview(preview, scene, sound, frame: int) -> np.ndarray:
    """What the preview must show at ``frame``, from a Preview built here, independently of the cache."""
    core_preview = installed("core.render.preview")
    request = preview.preview_request(scene, sound, scene.neural_aesthetics)
    built, long_side = preview.with_gpu_renderer(core_preview.Preview.from_request(request), request,
                                                 scene.neural_aesthetics.backend)  # (the same device)
    time_s = preview.preview_time_s(request.timing, frame)
    assert built.row_at(time_s) + built.first_content_index == request.timing.content_index(frame)
    return core_preview.blender_pixels(built.frame_at(time_s, *preview.preview_size(request.width, request.height,
                                                                                     long_side)))


# --- plain functions ------------------------------------------------------------------------------

def test_preview_size_keeps_the_bake_aspect(ext):
    preview = installed("operators.live_preview")
    assert preview.preview_size(1920, 1080) == (192, 108)
    assert preview.preview_size(1080, 1920) == (108, 192)
    assert preview.preview_size(4096, 4096) == (192, 192)


def test_time_of_a_frame_is_its_content_index_and_none_off_the_strip(ext):
    preview, timing_module = installed("operators.live_preview"), installed("core.audio.timing")
    timing = timing_module.Timing.for_strip(fps=30 / 1.001, content_frame_start=101, sound_offset_s=0.0,
                                            frame_first=110, frame_end=200)
    assert preview.preview_time_s(timing, 109) is None and preview.preview_time_s(timing, 200) is None
    assert preview.preview_time_s(timing, 110) == pytest.approx(9 / timing.fps)


def test_fit_rect_letterboxes_the_image_in_the_frame_area(ext):
    preview = installed("operators.live_preview")
    assert preview.fit_rect((0, 0, 400, 400), (192, 108)) == pytest.approx((0, 87.5, 400, 225))
    assert preview.fit_rect((10, 20, 202, 128), (192, 108)) == pytest.approx((10, 20, 192, 108))


# --- in a scene -------------------------------------------------------------------------------------

def test_preview_image_shows_the_frame_the_bake_draws_for_the_current_frame(live, tmp_path):
    from PIL import Image

    preview, scene, sound = live
    settings = scene.neural_aesthetics
    settings.preset = "pulse"
    settings.live_preview = True
    frame = sound.frame_final_start + 21
    shown = shown_at(scene, frame, preview)
    expected = expected_preview(preview, scene, sound, frame)
    np.testing.assert_array_equal(shown, expected)
    assert tuple(preview.preview_image().size) == (192, 108)  # the scene's 320x180, smaller

    # The bake writes the same picture for that frame (at the preview's size, 8-bit rounded).
    visualizer, strips = installed("core.render.visualizer"), installed("operators.blender.strips")
    request = strips.bake_request(scene, sound, settings, output_dir=str(tmp_path / "bake"))
    request = dataclasses.replace(request, width=192, height=108, frames=(frame, frame))
    (path,) = visualizer.bake_visualizer(request).paths
    with Image.open(path) as baked:
        baked_levels = np.asarray(baked.convert("RGB"), dtype=np.int16)
    preview_levels = np.round(expected.reshape(108, 192, 4)[::-1, :, :3] * 255).astype(np.int16)
    assert np.abs(preview_levels - baked_levels).max() <= 1  # 8-bit levels: rounding only


def test_drum_hits_change_the_preview_more_than_quiet_frames(live, music_wav):
    preview, scene, sound = live
    _wav, onset_times = music_wav
    scene.neural_aesthetics.preset = "pulse"
    scene.neural_aesthetics.live_preview = True
    start = sound.frame_final_start  # the strip plays the file from its start
    hits = sorted({int(t * 24) for t in onset_times if 1 <= int(t * 24) < sound.frame_final_duration})
    near_hit = {f + d for f in hits for d in range(-2, 4)}
    quiet = [i for i in range(1, sound.frame_final_duration) if i not in near_hit]
    pictures = {i: shown_at(scene, start + i, preview) for i in range(sound.frame_final_duration)}
    change = {i: float(np.abs(pictures[i] - pictures[i - 1]).mean()) for i in range(1, sound.frame_final_duration)}
    assert len(hits) >= 4 and len(quiet) >= 4
    onset_change = np.mean([change[i] for i in hits])
    quiet_change = np.mean([change[i] for i in quiet])
    assert onset_change > 2.0 * quiet_change, (onset_change, quiet_change)


def test_the_preview_is_rebuilt_only_when_its_inputs_change(live):
    preview, scene, sound = live
    settings = scene.neural_aesthetics
    settings.live_preview = True
    frame = sound.frame_final_start + 10
    before = shown_at(scene, frame, preview)
    built = preview.state.preview
    shown_at(scene, frame + 1, preview)
    assert preview.state.preview is built, "a frame change renders; it does not rebuild"

    sound.frame_start += 3  # a whole-frame move: the same music three frames later
    np.testing.assert_array_equal(shown_at(scene, frame + 3, preview), before)
    assert preview.state.preview is built

    settings.seed += 1
    changed = shown_at(scene, frame + 3, preview)
    assert preview.state.preview is not built
    assert not np.array_equal(changed, before)


def test_switching_it_off_drops_the_work_and_leaves_the_image_alone(live):
    preview, scene, sound = live
    settings = scene.neural_aesthetics
    settings.live_preview = True
    shown = shown_at(scene, sound.frame_final_start + 5, preview)
    assert preview.state.preview is not None
    settings.live_preview = False
    assert preview.state.preview is None and preview.state.pixels is None
    assert preview.status(scene) == ("", "NONE")
    np.testing.assert_array_equal(shown_at(scene, sound.frame_final_start + 40, preview), shown)
    assert preview.state.preview is None


def test_a_bad_state_turns_the_preview_off_with_a_message_instead_of_raising(live, tmp_path):
    preview, scene, sound = live
    settings = scene.neural_aesthetics
    settings.live_preview = True
    scene.frame_set(sound.frame_final_start + 2)
    (tmp_path / "music.wav").unlink()
    scene.frame_set(sound.frame_final_start + 3)
    assert not settings.live_preview
    text, icon = preview.status(scene)
    assert icon == "ERROR" and "Sound file not found" in text and "\n" not in text
    assert preview.state.preview is None


def test_nothing_to_preview_without_a_sound_strip_is_not_an_error(live):
    preview, scene, sound = live
    installed("operators.blender.compat").top_level_strips(scene).remove(sound)
    scene.neural_aesthetics.live_preview = True
    scene.frame_set(5)
    assert scene.neural_aesthetics.live_preview
    assert preview.status(scene) == ("Click a sound strip to preview it", "INFO")


def test_the_interface_path_prepares_the_preview_in_the_background(live):
    preview, scene, sound = live
    preview.state.clear()
    scene.frame_current = sound.frame_final_start + 12
    scene.neural_aesthetics["live_preview"] = True  # (on, without the update that builds at once)
    assert preview.state.update(scene, wait=False) is False
    assert preview.status(scene)[0].startswith("Preparing the preview")
    preview.state.build.join(timeout=120)
    assert preview.poll_build() is None
    np.testing.assert_array_equal(image_pixels(preview.preview_image()),
                                  expected_preview(preview, scene, sound, scene.frame_current))


def test_a_final_render_does_not_pay_for_the_preview(live, tmp_path, monkeypatch):
    preview, scene, sound = live
    scene.neural_aesthetics.live_preview = True
    scene.frame_set(sound.frame_final_start)
    previewed = []
    update = preview.state.update
    monkeypatch.setattr(preview.state, "update", lambda s, wait: previewed.append(s.frame_current) or update(s, wait))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", 1
    scene.render.resolution_x, scene.render.resolution_y = 32, 18
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(tmp_path / "render_")
    scene.frame_start, scene.frame_end = sound.frame_final_start + 1, sound.frame_final_start + 2
    bpy.ops.render.render(animation=True, scene=scene.name)
    assert len(list(tmp_path.glob("render_*.png"))) == 2, "the render ran"
    # Only the return to the current frame after the render is previewed, not the rendered frames.
    assert set(previewed) <= {sound.frame_final_start}, previewed


def test_disabling_the_extension_removes_the_handler(ext):
    preview = installed("operators.live_preview")
    assert preview.on_frame_change in bpy.app.handlers.frame_change_post
    ext.unregister()
    try:
        assert not [h for h in bpy.app.handlers.frame_change_post if preview._is_ours(h)]
        assert preview._draw_handle is None
        assert not bpy.app.timers.is_registered(preview.poll_build)
        assert preview.state.preview is None
    finally:
        ext.register()
    assert [h for h in bpy.app.handlers.frame_change_post if preview._is_ours(h)] == [preview.on_frame_change]
