"""Every style on one moment of a song: small tiles and a labelled contact sheet.

The tiles are the frames a bake of each style would write at that moment (same analysis,
mapping and seed), drawn small. Styles whose networks take latents of the same size share
one plan of the song, so the song is analysed once per latent size, not once per style.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from . import backend as backends
from . import style as style_io
from . import visualizer

LABEL_HEIGHT_PX = 14
GAP_PX = 2


def style_tiles(request, style_paths: list[Path], frame: int, width: int, height: int) -> list[np.ndarray]:
    """Float32 (height, width, 3) sRGB tiles, one per style, of scene ``frame`` of ``request``'s bake.

    ``frame`` is clamped to the request's strip.
    """
    timing = request.timing
    frame = min(max(frame, timing.frame_first), timing.frame_end - 1)
    plans: dict[int, tuple] = {}
    tiles = []
    for path in style_paths:
        loaded = style_io.load_style(Path(path))
        latent_dim = int(loaded.architecture["latent_dim"])
        if latent_dim not in plans:
            plans[latent_dim] = visualizer.song_plan(dataclasses.replace(request, style_path=Path(path)), loaded)
        plan, whole = plans[latent_dim]
        row = frame - whole.frame_first
        renderer = backends.renderer_for_style(loaded, request.backend)
        rgb = renderer.render(plan.latents[row], width, height, **plan.view(row))
        tiles.append(np.asarray(rgb, dtype=np.float32))
    return tiles


def sheet(tiles: list[np.ndarray], labels: list[str], columns: int | None = None) -> np.ndarray:
    """The tiles in a grid, each with its label underneath, as uint8 (H, W, 3) on dark grey."""
    from PIL import Image, ImageDraw

    height, width, _ = tiles[0].shape
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cell_w, cell_h = width + GAP_PX, height + LABEL_HEIGHT_PX + GAP_PX
    canvas = Image.new("RGB", (columns * cell_w + GAP_PX, rows * cell_h + GAP_PX), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    for index, (tile, label) in enumerate(zip(tiles, labels)):
        x = GAP_PX + (index % columns) * cell_w
        y = GAP_PX + (index // columns) * cell_h
        pixels = np.clip(np.rint(tile * 255.0), 0, 255).astype(np.uint8)
        canvas.paste(Image.fromarray(pixels, "RGB"), (x, y))
        draw.text((x + 2, y + height + 1), label, fill=(220, 220, 220))
    return np.asarray(canvas)
