"""The cost of the next bake, for the panel: frames, size and a time measured on this machine.

The speed of a style (seconds per pixel, ``core.render.estimate``) is measured once per
style file, backend and format, on a background thread in the UI (the panel says
"measuring" for a moment, then redraws) and at once under ``blender -b``.
"""

from __future__ import annotations

import os
import threading

import bpy

from ...core.errors import UserError
from ...core.render import estimate
from ...core.render.backend import choose_backend
from . import strips, style_previews as styles

_speeds: dict[tuple, float | None] = {}
"""(style file, its modification time, backend, format) -> measured seconds per pixel; None while measuring."""
_lock = threading.Lock()


def _measure(key: tuple) -> None:
    style_path, _stamp, backend, image_format = key
    try:
        speed = estimate.measure_seconds_per_pixel(style_path, backend, image_format)
    except Exception:  # (a broken style: the bake itself will say why in a sentence)
        speed = float("nan")
    with _lock:
        _speeds[key] = speed
    if not bpy.app.background:
        bpy.app.timers.register(_redraw, first_interval=0.0)


def _redraw():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"SEQUENCE_EDITOR", "VIEW_3D"}:
                area.tag_redraw()
    return None


def seconds_per_pixel(style_path, backend: str, image_format: str) -> float | None:
    """The measured speed of a style on this machine, or None while it is being measured."""
    key = (str(style_path), os.stat(style_path).st_mtime_ns, choose_backend(backend), image_format)
    with _lock:
        if key in _speeds:
            return _speeds[key]
        _speeds[key] = None
    if bpy.app.background:
        _measure(key)
        return _speeds[key]
    threading.Thread(target=_measure, args=(key,), name="neural-aesthetics-timing", daemon=True).start()
    return None


def frames_to_bake(scene, settings, sound_strip) -> int:
    """Frames the next bake covers: the custom range within the strip, or all of it."""
    first, end = sound_strip.frame_final_start, sound_strip.frame_final_end
    if settings.use_custom_range:
        first, end = max(first, settings.frame_range_start), min(end, settings.frame_range_end + 1)
    return max(0, end - first)


def bake_cost(scene, settings, sound_strip) -> estimate.BakeCost | None:
    """Frames, size and estimated seconds of baking ``sound_strip`` with ``settings``; the
    seconds are NaN when the style cannot be timed, None while it is being measured."""
    width, height = strips.bake_size(scene, settings)
    frames = frames_to_bake(scene, settings, sound_strip)
    try:
        style_path = styles.resolve(settings.style)
        speed = seconds_per_pixel(style_path, settings.backend, settings.image_format)
    except (UserError, OSError):
        speed = float("nan")
    if speed is None:
        return None
    song_s = sound_strip.frame_final_duration * scene.render.fps_base / scene.render.fps
    return estimate.BakeCost(frames, width, height, estimate.estimate_bake_s(frames, width, height, speed, song_s))


def cost_text(cost: estimate.BakeCost | None) -> str:
    """One line for the panel: "96 frames of 1920 x 1080 px, about 3 min on this machine"."""
    if cost is None:
        return "Measuring the speed of this machine…"
    what = f"{cost.frames} frames of {cost.width} x {cost.height} px"
    if cost.seconds != cost.seconds:  # NaN: no time known
        return what
    return f"{what}, {estimate.duration_text(cost.seconds)}"
