"""Live preview: a small picture of the visualizer for the current frame, while the timeline
plays or scrubs.

When a scene's Live Preview setting is on, a ``frame_change_post`` handler renders the
frame the bake would write for the current scene frame (``core.preview.Preview``, about
192x108 px) into the image datablock "Neural Preview", and a draw callback shows it over
the frame area of every Sequencer preview. The song's analysis and plan are built once
per set of inputs (``preview_key``) and cached: in the UI on a background thread (the
interface stays responsive; the panel says "Preparing"), under ``blender -b`` at once.

Nothing here ever raises into Blender: a failure turns Live Preview off and the panel
shows why (``status``). Frames of a final render are never touched.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import bpy
import numpy as np

from ..core.errors import UserError
from ..core.render.backend import choose_backend
from ..core.render.frame_folder import reuse_problem
from ..core.render.preview import PREVIEW_SIZE, Preview, blender_pixels
from ..core.render.visualizer import bake_key
from ..core.audio.timing import Timing
from .blender import compat, strips

IMAGE_NAME = "Neural Preview"
IMAGE_TAG = "neural_aesthetics_preview"
"""Custom property marking the preview image, so an image of the user's is never overwritten."""
LONG_SIDE_PX = max(PREVIEW_SIZE)
"""Longer side of the preview in pixels (192: a 16:9 bake previews at 192x108)."""
BUILD_POLL_S = 0.1
"""Seconds between checks of a preview being prepared on the background thread."""


# --- what to show: plain functions ------------------------------------------------------------

def preview_size(width: int, height: int, long_side: int = LONG_SIDE_PX) -> tuple[int, int]:
    """Preview size in pixels with the bake's aspect (``width`` x ``height`` px), longer side ``long_side``."""
    if width >= height:
        return long_side, max(1, round(long_side * height / width))
    return max(1, round(long_side * width / height)), long_side


def preview_time_s(timing: Timing, frame: int) -> float | None:
    """The file time in seconds to preview at scene ``frame``; None when the strip does not play there.

    It is the time of the frame's content index (``i / fps``), which ``Preview.row_at``
    turns back into exactly ``i``: the frame a bake writes (and names ``i``) for ``frame``.
    """
    if not timing.frame_first <= frame < timing.frame_end:
        return None
    return timing.content_index(frame) / timing.fps


def _file_stamp(path) -> str:
    """A file's path, size and modification time: a cheap stand-in for its digest."""
    stat = os.stat(path)
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def preview_key(request) -> dict:
    """What a built ``Preview`` depends on: when ``frame_folder.reuse_problem`` finds a
    difference from the key it was built for, it is built again.

    The bake's identity (``visualizer.bake_key``, files named by path, size and date) less
    what only the written files depend on (size and format), plus the strip's frames
    relative to the sound's start and the renderer: moving a strip by whole frames keeps
    the preview, as it keeps baked frames.
    """
    key = bake_key(request, fingerprint=_file_stamp)
    del key["size"], key["image_format"]
    zero = request.timing.content_zero_frame
    key["span"] = [request.timing.frame_first - zero, request.timing.frame_end - zero]
    key["backend"] = request.backend
    if request.style_map:
        key["style_map"] = _style_map_key(request)
    return key


def _style_map_key(request) -> dict:
    """A style timeline's part of ``preview_key``: its entries, their style files and the
    markers it may name (relative to the song's start)."""
    return {"map": request.style_map,
            "styles": [_file_stamp(entry["style"]) for entry in request.style_map["entries"]],
            "markers": sorted([name, round(frame - request.timing.origin_frame, 6)]
                              for name, frame in request.markers.items())}


def preview_request(scene, strip, settings):
    """The bake request whose frames the preview shows (its output folder is never written).

    ``auto`` previews on NumPy: a 192x108 frame takes milliseconds, and Blender's process
    does not need to load torch for it; ``with_gpu_renderer`` then moves it to the GPU
    when one is known to draw here.
    """
    request = strips.bake_request(scene, strip, settings, output_dir=bpy.app.tempdir)
    return dataclasses.replace(request, frames=None, backend="numpy" if request.backend in ("auto", "gpu") else request.backend)


def fit_rect(frame: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` of an image of ``size`` px scaled to fit, centred, in ``frame``
    ``(x0, y0, x1, y1)`` (region pixels)."""
    x0, y0, x1, y1 = frame
    scale = min((x1 - x0) / size[0], (y1 - y0) / size[1])
    width, height = size[0] * scale, size[1] * scale
    return x0 + (x1 - x0 - width) / 2, y0 + (y1 - y0 - height) / 2, width, height


def problem_text(error: Exception) -> str:
    """One line saying why the preview stopped."""
    if isinstance(error, (UserError, OSError)):
        return f"Live preview stopped: {error}"
    return f"Live preview stopped: {type(error).__name__}: {error}"


GPU_LONG_SIDE_PX = 1920
"""Longest preview side drawn on a hardware GPU: the bake's own size up to this."""


def with_gpu_renderer(preview: Preview, request, backend: str) -> tuple[Preview, int]:
    """The preview drawn on the GPU where the Compute setting allows it and a GPU is known to
    draw here (the probe already answered: never waits for it; Auto takes a hardware GPU
    only, as the bake does), and the long side to draw at: the bake's size (up to
    ``GPU_LONG_SIDE_PX``) on a hardware GPU, ``LONG_SIDE_PX`` on the CPU or a software
    renderer. Call on the main thread (the GPU context's)."""
    from . import gpu_render
    from ..core.render import style

    known = gpu_render.provider.probed()
    if known is None or getattr(request, "style_map", None):  # (a style timeline draws on the CPU)
        return preview, LONG_SIDE_PX
    try:
        if choose_backend(backend) != "gpu":  # (the probe is known: this never waits)
            return preview, LONG_SIDE_PX
    except UserError:  # Compute is GPU (or torch) and cannot draw here: the CPU preview
        return preview, LONG_SIDE_PX
    loaded = style.load_style(request.style_path)
    renderer = gpu_render.provider.make_renderer(loaded.architecture, loaded.weights)
    long_side = LONG_SIDE_PX if known.software else min(GPU_LONG_SIDE_PX, max(request.width, request.height))
    return Preview(renderer, preview.plan, preview.fps, preview.first_content_index), long_side


# --- Blender data -----------------------------------------------------------------------------

def preview_image():
    """The "Neural Preview" image made here, or None."""
    return next((image for image in bpy.data.images if image.get(IMAGE_TAG)), None)


def write_preview_image(pixels: np.ndarray, width: int, height: int):
    """Put flat RGBA float ``pixels`` (bottom row first) into the preview image, made if missing."""
    image = preview_image()
    if image is None:
        image = bpy.data.images.new(IMAGE_NAME, width, height, alpha=False, float_buffer=True)
        image[IMAGE_TAG] = True
        compat.set_colorspace(image.colorspace_settings, linear=False)  # the preview draws sRGB values
    elif tuple(image.size) != (width, height):
        image.scale(width, height)
    image.pixels.foreach_set(pixels)
    image.update()
    return image


def _redraw_sequencers() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas if window.screen else ():
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


# --- the cached preview -----------------------------------------------------------------------

class _Build(threading.Thread):
    """Analyses and plans a song for a ``Preview`` off the main thread (pure ``core`` code, no bpy)."""

    def __init__(self, scene_name: str, request, key: dict):
        super().__init__(name="neural-aesthetics-preview", daemon=True)
        self.scene_name, self.request, self.key = scene_name, request, key
        self.preview: Preview | None = None
        self.error: Exception | None = None

    def run(self):
        try:
            self.preview = Preview.from_request(self.request)
        except Exception as error:  # reported on the main thread by poll_build
            self.error = error


class LivePreview:
    """The live preview's runtime state (never saved).

    Attributes:
        preview, key: the built ``Preview`` and the ``preview_key`` it was built for.
        pixels, size: the last frame shown (flat RGBA float32, bottom row first) and its
            ``(width, height)`` in pixels; None when nothing is to be drawn.
        version: bumped with every new frame (the draw callback uploads a texture then).
        status: what the preview shows now, for the panel.
        problem: why the preview turned itself off, for the panel ("" if it did not).
    """

    def __init__(self):
        self.preview: Preview | None = None
        self.key: dict | None = None
        self.pixels: np.ndarray | None = None
        self.size = (0, 0)
        self.version = 0
        self.status = ""
        self.problem = ""
        self.build: _Build | None = None
        self.long_side = LONG_SIDE_PX
        self.drawing_failed = False
        self._texture = None
        self._texture_version = -1

    def clear(self) -> None:
        """Forget the built preview, the last frame and any preview being prepared."""
        self.preview = self.key = self.pixels = self.build = self._texture = None
        self.size, self.status, self.drawing_failed = (0, 0), "", False

    def update(self, scene, wait: bool) -> bool:
        """Render ``scene``'s current frame into the preview image; True when a frame was drawn.

        With ``wait`` a missing preview is built now; otherwise a background build starts
        and ``poll_build`` draws the frame when it is ready. Raises ``UserError`` for what
        the user can fix.
        """
        strip = strips.source_sound_strip(scene)
        if strip is None:
            self.status, self.pixels = "Click a sound strip to preview it", None
            return False
        problem = strips.sound_strip_problem(strip, called="strip")
        if problem:
            raise UserError(problem)
        request = preview_request(scene, strip, scene.neural_aesthetics)
        key = preview_key(request)
        if self.key is None or reuse_problem(self.key, key) is not None:
            if not wait:
                self._start_build(scene.name, request, key)
                self.status = f"Preparing the preview of '{strip.name}'..."
                return False
            self.adopt(Preview.from_request(request), key, request, scene.neural_aesthetics.backend)
        time_s = preview_time_s(request.timing, scene.frame_current)
        if time_s is None:
            self.status, self.pixels = f"'{strip.name}' does not play at frame {scene.frame_current}", None
            return False
        width, height = preview_size(request.width, request.height, self.long_side)
        pixels = blender_pixels(self.preview.frame_at(time_s, width, height))
        write_preview_image(pixels, width, height)
        self.pixels, self.size, self.version = pixels, (width, height), self.version + 1
        self.status = f"'{strip.name}' at {time_s:.2f} s"
        return True

    def adopt(self, preview: Preview, key: dict, request, backend: str) -> None:
        """Keep a built preview (on the GPU when it can be: ``with_gpu_renderer``)."""
        self.preview, self.long_side = with_gpu_renderer(preview, request, backend)
        self.key = key

    def _start_build(self, scene_name: str, request, key: dict) -> None:
        if self.build is not None and self.build.key == key:
            return  # already being prepared
        self.build = _Build(scene_name, request, key)
        self.build.start()
        if not bpy.app.timers.is_registered(poll_build):
            bpy.app.timers.register(poll_build, first_interval=BUILD_POLL_S)

    def texture(self):
        """A GPU texture of the last frame (made again only when the frame changed)."""
        import gpu

        if self._texture is None or self._texture_version != self.version:
            buffer = gpu.types.Buffer("FLOAT", len(self.pixels), self.pixels)
            self._texture = gpu.types.GPUTexture(self.size, format="RGBA32F", data=buffer)
            self._texture_version = self.version
        return self._texture


state = LivePreview()


def turn_off(scene, problem: str) -> None:
    """Switch the scene's Live Preview off and keep ``problem`` for the panel."""
    scene.neural_aesthetics.live_preview = False  # (its update calls set_enabled: clears the state)
    state.clear()
    state.problem = problem


def refresh(scene) -> None:
    """Show ``scene``'s current frame if its Live Preview is on. Never raises: a failure
    turns the preview off with the reason."""
    try:
        if not scene.neural_aesthetics.live_preview:
            return
        if state.drawing_failed:
            turn_off(scene, state.problem)
            return
        state.update(scene, wait=bpy.app.background)
    except Exception as error:  # a handler must not raise: anything wrong stops the preview
        try:
            turn_off(scene, problem_text(error))
        except Exception:
            state.clear()
            state.problem = problem_text(error)


def set_enabled(scene, enabled: bool) -> None:
    """Called when Live Preview is switched: start showing frames, or drop all preview work."""
    if enabled:
        state.problem = ""
        state.drawing_failed = False
        refresh(scene)
    else:
        state.clear()


def status(scene) -> tuple[str, str]:
    """``(text, icon)`` for the panel: why the preview stopped, or what it shows ("" if off)."""
    if state.problem:
        return state.problem, "ERROR"
    if scene.neural_aesthetics.live_preview:
        return state.status, "INFO"
    return "", "NONE"


def poll_build():
    """Timer: when a background build is done, keep its ``Preview`` and draw the current frame."""
    build = state.build
    if build is None:
        return None
    if build.is_alive():
        return BUILD_POLL_S
    state.build = None
    scene = bpy.data.scenes.get(build.scene_name)
    if scene is None or not scene.neural_aesthetics.live_preview:
        return None
    if build.error is not None:
        turn_off(scene, problem_text(build.error))
    else:
        try:
            state.adopt(build.preview, build.key, build.request, scene.neural_aesthetics.backend)
        except Exception as error:  # (a GPU renderer that cannot be built)
            turn_off(scene, problem_text(error))
            return None
        refresh(scene)
    _redraw_sequencers()
    return None


def _rendering(depsgraph) -> bool:
    """True during a final render (its frame changes must not pay for a preview)."""
    return bpy.app.is_job_running("RENDER") or (depsgraph is not None and depsgraph.mode == "RENDER")


@bpy.app.handlers.persistent
def on_frame_change(scene, depsgraph=None) -> None:
    """``frame_change_post`` handler: playback and scrubbing show the new frame's preview."""
    try:
        if scene.neural_aesthetics.live_preview and not _rendering(depsgraph):
            refresh(scene)
    except Exception as error:  # never raise into Blender's frame change
        state.problem = problem_text(error)


# --- drawing (UI only, never under `blender -b`) -------------------------------------------------

def _frame_rect(region, render) -> tuple[float, float, float, float]:
    """The scene's frame area in a Sequencer preview region, in region pixels.

    The preview's view coordinates are render pixels centred on 0 (times the pixel aspect).
    """
    half_width = render.resolution_x * render.pixel_aspect_x / render.pixel_aspect_y / 2
    half_height = render.resolution_y / 2
    x0, y0 = region.view2d.view_to_region(-half_width, -half_height, clip=False)
    x1, y1 = region.view2d.view_to_region(half_width, half_height, clip=False)
    return x0, y0, x1, y1


def draw_in_sequencer_preview() -> None:
    """``SpaceSequenceEditor`` PREVIEW/POST_PIXEL callback: the last preview frame over the frame area."""
    if state.pixels is None or state.drawing_failed:
        return
    try:
        from gpu_extras.presets import draw_texture_2d

        context = bpy.context
        if context.scene is None or not context.scene.neural_aesthetics.live_preview:
            return
        x, y, width, height = fit_rect(_frame_rect(context.region, context.scene.render), state.size)
        draw_texture_2d(state.texture(), (x, y), width, height)
    except Exception as error:  # never raise while drawing; the next frame change turns the preview off
        state.drawing_failed = True
        state.problem = problem_text(error)


_draw_handle = None


def _is_ours(handler) -> bool:
    return getattr(handler, "__module__", None) == __name__ and getattr(handler, "__name__", "") == "on_frame_change"


def register() -> None:
    global _draw_handle
    if on_frame_change not in bpy.app.handlers.frame_change_post:
        bpy.app.handlers.frame_change_post.append(on_frame_change)
    if not bpy.app.background:
        _draw_handle = bpy.types.SpaceSequenceEditor.draw_handler_add(
            draw_in_sequencer_preview, (), "PREVIEW", "POST_PIXEL")


def unregister() -> None:
    global _draw_handle
    for handler in [h for h in bpy.app.handlers.frame_change_post if _is_ours(h)]:
        bpy.app.handlers.frame_change_post.remove(handler)
    if _draw_handle is not None:
        bpy.types.SpaceSequenceEditor.draw_handler_remove(_draw_handle, "PREVIEW")
        _draw_handle = None
    if bpy.app.timers.is_registered(poll_build):
        bpy.app.timers.unregister(poll_build)
    state.clear()
    state.problem = ""
