"""A fast low-resolution preview: one frame of a bake for a given time, for Blender's live view.

``Preview`` holds a built renderer and the song's plan, so each call only renders:
192x108 px of a bundled style (width 32) takes a few tens of milliseconds on a 2-core CPU.
A frame at file time ``t`` seconds shows plan row ``floor(t * fps + 0.5)`` counted from
the file's start, exactly the frame a bake writes there (at another size).

    preview = Preview.from_request(request)            # analysis + plan: once
    rgb = preview.frame_at(12.5)                         # (108, 192, 3) float32 sRGB
    image.pixels.foreach_set(blender_pixels(rgb))        # operators side
"""

from __future__ import annotations

import math

import numpy as np

from . import backend as backends, bake
from .mapping import FramePlan

PREVIEW_SIZE = (192, 108)


class Preview:
    """Renders single frames of a planned song at low resolution.

    Args:
        renderer: from ``backend.make_renderer`` / ``renderer_for_style``.
        plan: one row per content frame, row 0 = ``first_content_index``.
        fps: frames per second of the plan.
        first_content_index: content index of plan row 0 (negative when the plan starts
            before the file does).
    """

    def __init__(self, renderer, plan: FramePlan, fps: float, first_content_index: int = 0):
        self.renderer = renderer
        self.plan = plan
        self.fps = float(fps)
        self.first_content_index = int(first_content_index)

    @classmethod
    def from_style(cls, style, plan: FramePlan, fps: float, first_content_index: int = 0,
                   backend: str = "auto") -> "Preview":
        return cls(backends.renderer_for_style(style, backend), plan, fps, first_content_index)

    @classmethod
    def from_request(cls, request, backend: str | None = None) -> "Preview":
        """Analyse and plan the song of a ``visualizer.BakeRequest`` (slow once, then fast)."""
        from . import style as style_io
        from . import timeline_bake, transitions, visualizer

        if request.style_map:  # a style timeline: each row drawn with its own look
            styles = timeline_bake.load(request.style_map, visualizer.file_digest)
            plan, whole, looks = visualizer.timeline_song_plan(request, styles)
            renderer = transitions.TimelineRenderer(styles.styles, [look for look, _identity in looks.values()],
                                                    backend or request.backend)
            return cls(renderer, plan, whole.fps, whole.content_index(whole.frame_first))
        loaded = style_io.load_style(request.style_path)
        plan, whole = visualizer.song_plan(request, loaded)
        return cls.from_style(loaded, plan, whole.fps, whole.content_index(whole.frame_first),
                              backend or request.backend)

    def row_at(self, time_s: float) -> int:
        """Plan row of the frame shown at file time ``time_s`` (clamped to the plan)."""
        index = math.floor(float(time_s) * self.fps + 0.5) - self.first_content_index
        return min(max(index, 0), len(self.plan) - 1)

    def frame_at(self, time_s: float, width: int = PREVIEW_SIZE[0], height: int = PREVIEW_SIZE[1]) -> np.ndarray:
        """Float32 (height, width, 3) display (sRGB) values in [0, 1] of the frame at ``time_s``."""
        return bake.render_row(self.renderer, self.plan, self.row_at(time_s), width, height)


def blender_pixels(rgb: np.ndarray) -> np.ndarray:
    """Flat float32 RGBA, bottom row first, as ``bpy.types.Image.pixels.foreach_set`` takes it."""
    height, width, _ = rgb.shape
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[:, :, :3] = rgb
    return rgba[::-1].reshape(-1)
