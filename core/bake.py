"""Baking: render a planned frame range of a style to numbered PNG files, resumably.

Each frame is written to a hidden temporary file in the output folder and renamed into
place, so a frame file that exists is always complete: a bake that was cancelled or
crashed resumes by skipping the frames already there. Frames are named by their content
index, so a render farm can split one bake into ranges written into the same folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .cppn import CPPN
from .jobs import CancelToken, ProgressCallback
from .mapping import FramePlan


def frame_filename(content_index: int) -> str:
    """File name of the frame with this content index, e.g. ``000042.png``."""
    return f"{content_index:06d}.png"


@dataclass
class BakeResult:
    """What ``bake_sequence`` did.

    Attributes:
        paths: the frame file of every plan row, in plan order.
        written: frames rendered and written by this call.
        skipped: frames whose file already existed (kept as they were).
    """

    paths: list[Path]
    written: int
    skipped: int


def to_rgb8(rgb: np.ndarray) -> np.ndarray:
    """Float display values in [0, 1] -> uint8 0..255, rounded to nearest."""
    scaled = np.clip(rgb, 0.0, 1.0) * 255.0
    return np.rint(scaled, out=scaled).astype(np.uint8)


def write_png_atomically(path: Path, rgb8: np.ndarray) -> None:
    """Write an RGB uint8 image as ``path`` via a hidden temporary file in the same folder.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(rgb8, "RGB").save(temporary, format="PNG", compress_level=1)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def bake_sequence(
    style,
    plan: FramePlan,
    content_indices: Sequence[int],
    out_dir,
    width: int,
    height: int,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> BakeResult:
    """Render one 8-bit sRGB PNG per plan row into ``out_dir`` (created if missing).

    Args:
        style: a loaded ``style.Style``.
        plan: latents and zoom, one row per frame.
        content_indices: the content index of each plan row; names its file.
        out_dir: output folder.
        width, height: frame size in pixels.
        progress: called after every frame as ``progress(done, total, "Frame k/n")``.
        cancel: checked before every frame; when set, raises ``jobs.Cancelled`` and
            leaves the frames finished so far (all complete, no temporary files).
    """
    total = len(content_indices)
    if len(plan.latents) != total or len(plan.zoom) != total:
        raise ValueError(f"plan has {len(plan.latents)} latents and {len(plan.zoom)} zooms for {total} frames")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    network = CPPN.from_style(style)
    paths = [out_dir / frame_filename(index) for index in content_indices]
    written = skipped = 0
    for row, path in enumerate(paths):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if path.exists():
            skipped += 1
        else:
            rgb = network.render(plan.latents[row], width, height, zoom=float(plan.zoom[row]))
            write_png_atomically(path, to_rgb8(rgb))
            written += 1
        if progress is not None:
            progress(row + 1, total, f"Frame {row + 1}/{total}")
    return BakeResult(paths=paths, written=written, skipped=skipped)


def remove_temporaries(out_dir, pid: int) -> int:
    """Delete the temporary files a bake process ``pid`` left in ``out_dir`` (it was killed).

    Returns how many were removed. Complete frames are never touched.
    """
    removed = 0
    for temporary in Path(out_dir).glob(f".*.{pid}.tmp"):
        temporary.unlink(missing_ok=True)
        removed += 1
    return removed
