"""Baking: render a planned frame range of a style to numbered image files, resumably.

Each frame is written to a hidden temporary file in the output folder and renamed into
place, so a frame file that exists is always complete: a bake that was cancelled, crashed
or killed resumes by skipping the frames already there. Frames are named by their content
index, so a render farm can split one bake into ranges written into the same folder.

Speed and memory: one thread computes frames (the renderer itself uses every core, or
the GPU), the calling thread encodes and writes them; a queue of at most ``prefetch``
frames sits between them, so compute and writing overlap and memory is a few frames
whatever the length of the song. (On a CPU the cores are busy computing either way: there
the overlap gains nothing over encoding in turn, and costs nothing either, since the
renderers compute in threads of their own.) Frames are rendered one at a time (never
batched), so a frame's pixels depend only on its own plan row: a chunk is byte-identical
to the same frames of a whole bake (same backend, device and thread settings).

Two bakes into one folder at once are refused (``FolderLock``) unless they are chunks of
the same bake with disjoint frame ranges (a render farm).

A full disk (or quota) while writing is a ``UserError`` naming the folder
(``full_disk_as_user_error``): the frame being written is dropped, the finished ones
stay, and a bake run again once there is room carries on from them.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import re
import socket
import threading
import time
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

LOCK_PREFIX = ".neural_aesthetics_bake"
RECORD_NAME = "neural_aesthetics_bake.json"
"""The record a bake keeps in its folder (written by ``core.visualizer``)."""
LOCK_HEARTBEAT_S = 15.0
"""How often a running bake touches its lock file."""
LOCK_STALE_S = 120.0
"""A lock from another machine untouched this long is a dead bake's."""
_TEMPORARY = re.compile(r"^\.(-?\d+\.(?:png|jpg|exr)|neural_aesthetics_bake\.json"
                        r"|neural_aesthetics_bake\.[A-Za-z0-9_-]+)\.(\d+)\.tmp$")
"""A bake's temporary file (a frame, the record or the lock being written); group 2 is its pid."""
_NO_SPACE = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def disk_full_error(error: BaseException, folder) -> UserError | None:
    """The sentence for a write into ``folder`` that failed for want of room, else None.

    No space left (or the user's disk quota used up), and a file larger than the file
    system or the process may write (``EFBIG``).
    """
    code = getattr(error, "errno", None) if isinstance(error, OSError) else None
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
    """Float display values (height, width, 3) of one plan row (drawn into ``out`` if given)."""
    return renderer.render(plan.latents[row], width, height, stop_event=stop_event, out=out, **plan.view(row))


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
    todo = [row for row, path in enumerate(paths) if not path.exists()]
    if renderer is None and todo:
        renderer = backends.renderer_for_style(style, backend)
    name = getattr(renderer, "backend_name", "") if renderer is not None else ""

    ready: queue.Queue = queue.Queue(maxsize=max(1, int(prefetch)))
    stop = threading.Event()

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
                render_row(renderer, plan, row, width, height, stop_event=stop, out=frame)
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
                while True:
                    try:
                        item = ready.get(timeout=0.05)
                        break
                    except queue.Empty:
                        if cancel is not None:
                            cancel.raise_if_cancelled()
                if isinstance(item, _Failure):
                    raise item.error
                with full_disk_as_user_error(out_dir):  # (the frame's temporary file is already gone)
                    imageio.write_atomically(path, item[1], image_format)
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


# --- one bake per folder -------------------------------------------------------------------


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (never sends a signal on Windows)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        import ctypes

        kernel = ctypes.windll.kernel32
        handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        try:
            kernel.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """This process's claim on an output folder while it bakes frames ``span`` of bake ``key``.

    A lock file ``.neural_aesthetics_bake.<host>.<pid>.lock`` holds the bake's key digest and
    content-index span; it is refreshed every ``LOCK_HEARTBEAT_S``. Acquiring fails with a
    ``UserError`` if another live bake holds the folder for a different key or an
    overlapping span; a dead one's lock (same machine and its process gone, or untouched
    for ``LOCK_STALE_S``) is removed with its temporary files. Temporary files carry only a
    process id, so while a live bake of another machine shares the folder (a render farm
    on a network folder) only those untouched for ``LOCK_STALE_S`` are removed: the others
    may be frames that machine is writing.
    """

    def __init__(self, out_dir, key_digest: str, span: tuple[int, int]):
        self.out_dir = Path(out_dir)
        self.key_digest = key_digest
        self.span = (int(span[0]), int(span[1]))
        self.path = self.out_dir / f"{LOCK_PREFIX}.{_host()}.{os.getpid()}.lock"
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _others(self):
        for path in self.out_dir.glob(f"{LOCK_PREFIX}.*.lock"):
            if path == self.path:
                continue
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
                age = time.time() - path.stat().st_mtime
            except (OSError, ValueError):
                continue
            if not isinstance(info, dict):
                continue
            yield path, info, age

    def acquire(self) -> "FolderLock":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        info = {"host": _host(), "pid": os.getpid(), "key": self.key_digest, "span": list(self.span)}
        temporary = self.path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(info), encoding="utf-8")
            os.replace(temporary, self.path)
        except BaseException:  # e.g. a full disk: leave nothing behind
            temporary.unlink(missing_ok=True)
            raise
        live_pids, remote_live = set(), False
        for path, other, age in self._others():
            local = other.get("host") == _host()
            pid = int(other.get("pid", -1)) if str(other.get("pid", "")).lstrip("-").isdigit() else -1
            if (local and not pid_alive(pid)) or age > LOCK_STALE_S:
                path.unlink(missing_ok=True)
                continue
            span = other.get("span") or [0, -1]
            overlaps = not (span[1] < self.span[0] or self.span[1] < span[0])
            if other.get("key") != self.key_digest or overlaps:
                self.path.unlink(missing_ok=True)
                where = "this machine" if local else f"machine {other.get('host')}"
                raise UserError(f"Another bake is writing into {self.out_dir} (process {pid} on {where}): "
                                f"wait for it to finish, cancel it, or choose another output folder")
            if local:
                live_pids.add(pid)
            else:
                remote_live = True
        self._remove_stale_temporaries(live_pids, remote_live)
        self._heartbeat = threading.Thread(target=self._beat, name="neural-aesthetics-lock", daemon=True)
        self._heartbeat.start()
        return self

    def _remove_stale_temporaries(self, live_pids: set[int], remote_live: bool = False) -> None:
        """Temporary files of dead bakes (a killed bake leaves one behind).

        With a live bake of another machine in the folder, a temporary file whose pid is
        not running here may be that machine's: then only old ones are removed. The same
        goes, always, for a lock file another machine is writing (its name says whose).
        """
        lock_of = f"{LOCK_PREFIX[1:]}."
        for path in self.out_dir.iterdir():
            match = _TEMPORARY.match(path.name)
            if match is None:
                continue
            pid = int(match.group(2))
            if pid == os.getpid() or pid in live_pids or pid_alive(pid):
                continue
            name = match.group(1)
            if name.startswith(lock_of) and name != RECORD_NAME:
                maybe_remote = name[len(lock_of):] != _host()  # a lock being written names its machine
            else:
                maybe_remote = remote_live
            if maybe_remote:
                try:
                    if time.time() - path.stat().st_mtime <= LOCK_STALE_S:
                        continue
                except OSError:
                    continue
            path.unlink(missing_ok=True)

    def _beat(self) -> None:
        while not self._stop.wait(LOCK_HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def remove_temporaries(out_dir, pid: int) -> int:
    """Delete the temporary files and the lock a bake process ``pid`` left in ``out_dir``.

    For a process that was killed. Returns how many files were removed; complete frames
    are never touched.
    """
    removed = 0
    out_dir = Path(out_dir)
    for temporary in out_dir.glob(f".*.{pid}.tmp"):
        temporary.unlink(missing_ok=True)
        removed += 1
    lock = out_dir / f"{LOCK_PREFIX}.{_host()}.{pid}.lock"
    if lock.exists():
        lock.unlink(missing_ok=True)
        removed += 1
    return removed
