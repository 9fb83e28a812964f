"""Where video frames fall in a sound file: the plain-value bridge between a VSE strip and audio.

A scene frame ``f`` is shown during the half-open time interval
``[f, f + 1) / fps`` seconds of scene time. A sound strip plays its file so that file
time ``t = (f - origin_frame) / fps`` seconds sounds at scene frame ``f``, where
``origin_frame`` is the (possibly fractional) scene frame at which the file's first
sample plays. Every conversion here is computed directly from these two numbers, never
accumulated frame by frame, so nothing drifts over a long track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """The frames to produce for one sound file, and how they line up with it.

    Attributes:
        fps: scene frame rate in frames per second (Blender's ``fps / fps_base``,
            e.g. ``30 / 1.001`` for 29.97).
        origin_frame: scene frame (may be fractional) at which the file's t = 0 s plays.
        frame_first: first scene frame to produce (inclusive).
        frame_end: one past the last scene frame to produce (exclusive).
    """

    fps: float
    origin_frame: float
    frame_first: int
    frame_end: int

    def __post_init__(self):
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"frame rate must be a positive number, got {self.fps!r}")
        if self.frame_end < self.frame_first:
            raise ValueError(
                f"frame range {self.frame_first}-{self.frame_end - 1} is empty or reversed"
            )

    @classmethod
    def for_strip(
        cls,
        fps: float,
        content_frame_start: float,
        sound_offset_s: float,
        frame_first: int,
        frame_end: int,
    ) -> "Timing":
        """Timing for a sound strip as Blender describes it.

        Args:
            fps: scene frames per second (``render.fps / render.fps_base``).
            content_frame_start: scene frame where the strip's untrimmed content starts
                (``strip.frame_start`` minus any hard ``animation_offset_start``).
            sound_offset_s: seconds of the file skipped at the content start
                (``strip.sound_offset``).
            frame_first, frame_end: the scene frames to produce, end exclusive
                (usually ``frame_final_start`` and ``frame_final_end``).
        """
        return cls(
            fps=float(fps),
            origin_frame=float(content_frame_start) - float(sound_offset_s) * float(fps),
            frame_first=int(frame_first),
            frame_end=int(frame_end),
        )

    @property
    def n_frames(self) -> int:
        """Number of frames to produce."""
        return self.frame_end - self.frame_first

    def frames(self) -> np.ndarray:
        """Scene frame numbers to produce, as int64."""
        return np.arange(self.frame_first, self.frame_end, dtype=np.int64)

    def frame_edges_s(self) -> np.ndarray:
        """File times in seconds of the ``n_frames + 1`` frame boundaries.

        Row ``i`` of a feature track integrates the file over
        ``[edges[i], edges[i + 1])``. Times before 0 or after the file's end are silence.
        """
        edges = np.arange(self.frame_first, self.frame_end + 1, dtype=np.float64)
        return (edges - self.origin_frame) / self.fps

    def file_time_s(self, frame: float) -> float:
        """File time in seconds that plays at the start of scene frame ``frame``."""
        return (float(frame) - self.origin_frame) / self.fps

    def content_index(self, frame: int) -> int:
        """Frame number counted from the file's start (0 = the frame where t = 0 plays).

        It names baked frames: moving a strip changes scene frame numbers but not this,
        so frames baked before a move still belong to the same music.
        """
        return int(math.floor(frame - self.origin_frame + 0.5))

    @property
    def content_zero_frame(self) -> int:
        """Scene frame whose ``content_index`` is 0 (the first frame of the file's content)."""
        return int(math.ceil(self.origin_frame - 0.5))
