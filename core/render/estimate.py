"""What a bake will cost on this machine, measured before it starts.

A bake's time is almost all per-pixel work: the style's network drawn at every pixel of
every frame, then the frame quantised and encoded. ``measure_seconds_per_pixel`` times a
few small tiles of the chosen style, backend and file format on this machine (a fraction
of a second); ``estimate_bake_s`` scales that to the frames and size of a bake and adds
the analysis of the song. Callers cache the measurement per style, backend and format.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import backend as backends
from . import imageio, style as style_io

TILE_SIZE_PX = (640, 360)
"""Width and height of each timed tile: large enough that every core draws its share of it,
as in a bake's frames (320x180 tiles, four tiles of rows for two cores, overestimated
1280x720 and 1920x1080 bakes by 1.3-1.5x; these by 1.05-1.25x)."""
TILE_COUNT = 9
"""Tiles timed after one warm-up tile; the median time per tile is used."""
ANALYSIS_S_PER_SONG_S = 0.08
"""Seconds of analysis per second of song on a 2-core CPU (cold: the song was never analysed)."""


@dataclass(frozen=True)
class BakeCost:
    """What a bake will produce and roughly how long it takes.

    Attributes:
        frames: frames to bake.
        width, height: their size in pixels.
        seconds: estimated wall time of the whole bake on this machine.
    """

    frames: int
    width: int
    height: int
    seconds: float


def measure_seconds_per_pixel(style_path, backend: str = "auto", image_format: str = "png8",
                              clock=time.perf_counter) -> float:
    """Seconds this machine takes per pixel to draw and write frames of a style.

    Draws ``TILE_COUNT`` tiles of ``TILE_SIZE_PX`` at different points of the style's
    latent space (after one warm-up tile) and writes each as a frame file of
    ``image_format`` into a temporary folder, as a bake does. ``clock`` reads seconds:
    wall time by default; ``time.process_time`` gives this process's CPU seconds, which
    other programs on the machine do not inflate.
    """
    loaded = style_io.load_style(Path(style_path))
    renderer = backends.renderer_for_style(loaded, backend)
    latent_dim = int(loaded.architecture["latent_dim"])
    latents = np.random.default_rng(0).standard_normal((TILE_COUNT + 1, latent_dim)).astype(np.float32)
    width, height = TILE_SIZE_PX
    times = []
    with tempfile.TemporaryDirectory(prefix="neural-aesthetics-timing-") as folder:
        for index, latent in enumerate(latents):
            started = clock()
            rgb = renderer.render(latent, width, height, zoom=1.0, rotation_rad=0.1 * index)
            path = Path(folder) / f"tile_{index}{imageio.FORMATS[image_format]}"
            imageio.write_file(path, imageio.prepare(np.asarray(rgb, dtype=np.float32), image_format), image_format)
            times.append(clock() - started)
    return float(np.median(times[1:])) / (width * height)


def estimate_bake_s(frames: int, width: int, height: int, seconds_per_pixel: float, song_s: float = 0.0) -> float:
    """Wall time in seconds of baking ``frames`` frames of ``width`` x ``height`` px, for a
    song of ``song_s`` seconds (its analysis), at a measured ``seconds_per_pixel``."""
    return frames * width * height * seconds_per_pixel + song_s * ANALYSIS_S_PER_SONG_S


def duration_text(seconds: float) -> str:
    """A rounded duration for people: "about 40 s", "about 12 min", "about 3 h 20 min"."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes:02d} min" if minutes else f"about {hours} h"
