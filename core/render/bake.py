"""Baking: render a planned frame range of a style to numbered image files, resumably.

Each frame is written to a hidden temporary file in the output folder, flushed to disk and
renamed into place, so a frame file is always complete. Which frames a bake may skip (and
which files it may overwrite) is decided by the folder's record of the frames it wrote
(``core.render.frame_folder``): a bake that was cancelled, crashed or killed resumes by
skipping the frames it can prove it wrote. Frames are named by their content index, so a
render farm can split one bake into ranges written into the same folder.

Speed and memory: one thread computes frames (the renderer itself uses every core, or
the GPU), the calling thread encodes and writes them; a queue of at most ``prefetch``
frames sits between them, so compute and writing overlap and memory is a few frames
whatever the length of the song. (On a CPU the cores are busy computing either way: there
the overlap gains nothing over encoding in turn, and costs nothing either, since the
renderers compute in threads of their own.) Frames are rendered one at a time (never
batched), so a frame's pixels depend only on its own plan row: a chunk is byte-identical
to the same frames of a whole bake (same backend, device and thread settings).

Two bakes into one folder at once are refused (``folder_lock.FolderLock``) unless they
are chunks of the same bake with disjoint frame ranges (a render farm).

A full disk (or quota), or a folder that cannot be written (read-only, permissions
changed during the bake), is a ``UserError`` naming the folder (``full_disk_as_user_error``):
the frame being written is dropped, the finished ones stay, and a bake run again once
the folder is writable carries on from them.

A frame that takes long (a 16384x16384 frame takes minutes on a CPU) still reports
progress every ``PROGRESS_EVERY_S`` seconds: the tiles drawn so far inside the frame.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import backend as backends
from . import imageio
from ..errors import UserError
from ..progress import CancelToken, Cancelled, ProgressCallback
from .mapping import FramePlan

PROGRESS_EVERY_S = 2.0
"""Longest time without a progress report while a frame is being drawn."""
_NO_SPACE = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def disk_full_error(error: BaseException, folder) -> UserError | None:
    """The sentence for a write into ``folder`` that failed for want of room or rights, else None.

    No space left (or the user's disk quota used up), a file larger than the file system
    or the process may write (``EFBIG``), and a folder this process may not write into
    (read-only, or its permissions changed during the bake): the sentence names the
    folder, never the hidden temporary or lock file the write was for.
    """
    code = getattr(error, "errno", None) if isinstance(error, OSError) else None
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError(f"Cannot write into {folder} ({error.strerror or 'permission denied'}): make the folder "
                         f"writable or choose another output folder (finished frames are kept)")
    if code in _NO_SPACE:
        return UserError(f"Out of disk space writing frames to {folder}: free some space and bake again "
                         f"(finished frames are kept)")
    if code == errno.EFBIG:
        return UserError(f"A frame is too large for the file system of {folder} (or for this process's file size "
                         f"limit): choose a smaller frame size, another format or another output folder "
                         f"(finished frames are kept)")
    return None


@contextmanager
def full_disk_as_user_error(folder):
    """Turn an ``OSError`` for want of room (``disk_full_error``) into its ``UserError``."""
    try:
        yield
    except OSError as error:
        sentence = disk_full_error(error, folder)
        if sentence is None:
            raise
        raise sentence from error


def frame_filename(content_index: int, image_format: str = "png8") -> str:
    """File name of the frame with this content index, e.g. ``000042.png`` (``.jpg``, ``.exr``)."""
    return f"{content_index:06d}{imageio.FORMATS[imageio.check_format(image_format)]}"


@dataclass
class BakeResult:
    """What ``bake_sequence`` did.

    Attributes:
        paths: the frame file of every plan row, in plan order.
        written: frames rendered and written by this call.
        skipped: frames whose file already existed (kept as they were).
        backend: the renderer that drew them (``numpy``, ``torch-cpu``, ``torch-cuda``...).
    """

    paths: list[Path]
    written: int
    skipped: int
    backend: str = ""


def render_row(renderer, plan: FramePlan, row: int, width: int, height: int, stop_event=None,
               out: np.ndarray | None = None) -> np.ndarray:
    """Float display values (height, width, 3) of one plan row (drawn into ``out`` if given).

    A renderer with a ``render_row`` method (a style timeline's) draws the row itself."""
    if hasattr(renderer, "render_row"):
        return renderer.render_row(plan, row, width, height, stop_event=stop_event, out=out)
    return renderer.render(plan.latents[row], width, height, stop_event=stop_event, out=out, **plan.view(row))


class _TileCounter:
    """The renderer's stop event, counting the tiles of the frame being drawn.

    Renderers check their stop event once per tile, so the count is the tiles drawn of
    the current frame (the writer thread reads it for its progress line).
    """

    def __init__(self, stop: threading.Event):
        self._stop = stop
        self.drawn = 0

    def start_frame(self) -> None:
        self.drawn = 0

    def is_set(self) -> bool:
        self.drawn += 1
        return self._stop.is_set()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def bake_sequence(
    style,
    plan: FramePlan,
    content_indices: Sequence[int],
    out_dir,
    width: int,
    height: int,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    *,
    image_format: str = "png8",
    backend: str = "auto",
    renderer=None,
    prefetch: int = 2,
    folder=None,
) -> BakeResult:
    """Render one image file per plan row into ``out_dir`` (created if missing).

    Args:
        style: a loaded ``style.Style`` (unused when ``renderer`` is given).
        plan: latents and coordinate moves, one row per frame.
        content_indices: the content index of each plan row; names its file.
        out_dir: output folder.
        width, height: frame size in pixels.
        progress: called on the calling thread after every frame as
            ``progress(done, total, "Frame k/n")``.
        cancel: checked before every frame (and between tiles of the frame being
            computed); when set, raises ``jobs.Cancelled`` and leaves the frames finished
            so far (all complete, no temporary files).
        image_format: one of ``imageio.FORMATS`` (``png8`` default, ``png16``, ``jpeg``, ``exr``).
        backend: ``auto`` / ``numpy`` / ``torch`` (see ``core.backend``).
        renderer: an already built renderer (overrides ``style`` and ``backend``).
        prefetch: frames computed ahead of the writer (bounds memory).
        folder: the bake's ``frame_folder.FrameFolder``: which frames are already there
            (``keeps(name)``), called before each write (``before_write(path)``: raises
            if the bake lost its folder) and after it (``written(path)``: the frame's
            proof). Without it, a frame file that exists is kept (a folder of the
            caller's own).

    Raises:
        UserError: the disk is full (see ``disk_full_error``); the frames written so far
            are whole and kept, the one being written is removed.
    """
    imageio.check_format(image_format)
    total = len(content_indices)
    if len(plan.latents) != total or len(plan.zoom) != total:
        raise ValueError(f"plan has {len(plan.latents)} latents and {len(plan.zoom)} zooms for {total} frames")
    out_dir = Path(out_dir)
    with full_disk_as_user_error(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / frame_filename(index, image_format) for index in content_indices]
    keeps = folder.keeps if folder is not None else (lambda name: (out_dir / name).exists())
    todo = [row for row, path in enumerate(paths) if not keeps(path.name)]
    if renderer is None and todo:
        renderer = backends.renderer_for_style(style, backend)
    name = getattr(renderer, "backend_name", "") if renderer is not None else ""
    if getattr(renderer, "thread_bound", False):
        written = _draw_here_write_in_threads(renderer, plan, paths, set(todo), width, height, progress, cancel,
                                              image_format, out_dir, folder)
        return BakeResult(paths=paths, written=written, skipped=len(paths) - len(todo), backend=name)

    ready: queue.Queue = queue.Queue(maxsize=max(1, int(prefetch)))
    stop = threading.Event()
    tiles = _TileCounter(stop)

    def hand_over(item) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def compute() -> None:
        frame = np.empty((height, width, 3), dtype=np.float32)  # drawn into again for every frame
        try:
            for row in todo:
                if stop.is_set():
                    return
                tiles.start_frame()
                render_row(renderer, plan, row, width, height, stop_event=tiles, out=frame)
                hand_over((row, imageio.prepare(frame, image_format)))
        except Cancelled:
            return
        except BaseException as error:  # handed to the calling thread, which raises it
            hand_over(_Failure(error))

    worker = threading.Thread(target=compute, name="neural-aesthetics-render", daemon=True)
    written = skipped = 0
    pending = set(todo)
    if todo:
        worker.start()
    try:
        for row, path in enumerate(paths):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if row in pending:
                reported = time.monotonic()
                while True:
                    try:
                        item = ready.get(timeout=0.05)
                        break
                    except queue.Empty:
                        if cancel is not None:
                            cancel.raise_if_cancelled()
                        if progress is not None and time.monotonic() - reported >= PROGRESS_EVERY_S:
                            reported = time.monotonic()
                            progress(row, total, f"Frame {row + 1}/{total}: {tiles.drawn} tiles drawn")
                if isinstance(item, _Failure):
                    raise item.error
                with full_disk_as_user_error(out_dir):  # (the frame's temporary file is already gone)
                    if folder is not None:
                        folder.before_write(path)
                    imageio.write_atomically(path, item[1], image_format)
                    if folder is not None:
                        folder.written(path)
                written += 1
            else:
                skipped += 1
            if progress is not None:
                progress(row + 1, total, f"Frame {row + 1}/{total}")
    finally:
        stop.set()
        if worker.is_alive():
            worker.join()
    return BakeResult(paths=paths, written=written, skipped=skipped, backend=name)


WRITER_THREADS = max(1, min(4, os.cpu_count() or 1))
"""Threads encoding and writing frames for a renderer that draws on the calling thread."""


class _CancelAsEvent:
    """A ``CancelToken`` (or None) seen as the ``stop_event`` a renderer checks between tiles."""

    def __init__(self, cancel: CancelToken | None):
        self._cancel = cancel

    def is_set(self) -> bool:
        return self._cancel is not None and self._cancel.cancelled


def _draw_here_write_in_threads(renderer, plan: FramePlan, paths: list[Path], todo: set[int], width: int,
                                height: int, progress: ProgressCallback | None, cancel: CancelToken | None,
                                image_format: str, out_dir: Path, folder) -> int:
    """``bake_sequence`` for a renderer bound to its thread (``thread_bound``: the GPU's
    context belongs to the thread that made it): frames are drawn here, one at a time, and
    encoded and written on ``WRITER_THREADS`` threads, at most two frames per thread
    waiting. Progress is reported here, in frame order, as frames land. Returns the
    number of frames written. ``folder`` (or None) is told of each frame as in ``bake_sequence``,
    one writer at a time."""
    stop_event = _CancelAsEvent(cancel)
    folder_turn = threading.Lock()

    def encode_and_write(path: Path, frame: np.ndarray) -> None:
        with full_disk_as_user_error(out_dir):
            if folder is not None:
                with folder_turn:
                    folder.before_write(path)
            imageio.write_atomically(path, imageio.prepare(frame, image_format), image_format)
            if folder is not None:
                with folder_turn:
                    folder.written(path)

    landing: list = []  # (row, future or None for a frame already there), oldest first
    written = 0

    def report(until_waiting: int) -> None:
        nonlocal written
        while len(landing) > until_waiting or (landing and (landing[0][1] is None or landing[0][1].done())):
            row, future = landing.pop(0)
            if future is not None:
                future.result()  # (raises the writer's error here)
                written += 1
            if progress is not None:
                progress(row + 1, len(paths), f"Frame {row + 1}/{len(paths)}")

    with ThreadPoolExecutor(max_workers=WRITER_THREADS, thread_name_prefix="neural-aesthetics-write") as writers:
        for row, path in enumerate(paths):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if row in todo:
                frame = render_row(renderer, plan, row, width, height, stop_event=stop_event)
                landing.append((row, writers.submit(encode_and_write, path, frame)))
            else:
                landing.append((row, None))
            report(until_waiting=2 * WRITER_THREADS)
        report(until_waiting=0)
    return written


