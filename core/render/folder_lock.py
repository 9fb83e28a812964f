"""One bake per frame folder: the lock a bake holds while it writes, and what a dead bake left.

A lock file ``.neural_aesthetics_bake.<host>.<pid>.lock`` holds the bake's key digest and
content-index span; a heartbeat touches it every ``LOCK_HEARTBEAT_S``. Two bakes into one
folder at once are refused unless they are chunks of the same bake with disjoint frame
ranges (a render farm). A lock is taken over only when its bake is provably dead:

- on this machine, when its process is gone (a live process keeps its lock however old
  its heartbeat: a suspended laptop, ``SIGSTOP`` or a slow disk pause a bake, they do not
  end it);
- on another machine (whose processes cannot be seen), when its heartbeat is older than
  ``LOCK_STALE_S``.

A bake that was paused and lost its lock anyway (its file removed by hand, or taken over
by another machine) notices before its next write (``FolderLock.check_owned``) and stops
with one line instead of writing on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path

from ..errors import UserError

log = logging.getLogger("neural_aesthetics.bake")

LOCK_PREFIX = ".neural_aesthetics_bake"
RECORD_NAME = "neural_aesthetics_bake.json"
"""The record a bake keeps in its folder (see ``frame_folder``)."""
LOCK_HEARTBEAT_S = 15.0
"""How often a running bake touches its lock file."""
LOCK_STALE_S = 120.0
"""A lock from another machine untouched this long is a dead bake's."""
_TEMPORARY = re.compile(r"^\.(-?\d+\.(?:png|jpg|exr)|neural_aesthetics_bake\.json"
                        r"|neural_aesthetics_bake\.[A-Za-z0-9_-]+)\.(\d+)\.tmp$")
"""A bake's temporary file (a frame, the record or the lock being written); group 2 is its pid."""


def host_name() -> str:
    """This machine's name as it appears in lock file names (letters, digits, ``_``, ``-``)."""
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


def _pid_of(info: dict) -> int:
    text = str(info.get("pid", ""))
    return int(text) if text.lstrip("-").isdigit() else -1


class FolderLock:
    """This process's claim on an output folder while it bakes frames ``span`` of bake ``key``.

    Acquiring fails with a ``UserError`` if another live bake holds the folder for a
    different key or an overlapping span; a dead one's lock (see the module docstring) is
    removed with its temporary files. Temporary files carry only a process id, so while a
    live bake of another machine shares the folder (a render farm on a network folder)
    only those untouched for ``LOCK_STALE_S`` are removed: the others may be frames that
    machine is writing.
    """

    def __init__(self, out_dir, key_digest: str, span: tuple[int, int]):
        self.out_dir = Path(out_dir)
        self.key_digest = key_digest
        self.span = (int(span[0]), int(span[1]))
        self.path = self.out_dir / f"{LOCK_PREFIX}.{host_name()}.{os.getpid()}.lock"
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

    def _info(self) -> dict:
        return {"host": host_name(), "pid": os.getpid(), "key": self.key_digest, "span": list(self.span)}

    def acquire(self) -> "FolderLock":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(self._info()), encoding="utf-8")
            os.replace(temporary, self.path)
        except BaseException:  # e.g. a full disk: leave nothing behind
            temporary.unlink(missing_ok=True)
            raise
        live_pids, remote_live = set(), False
        for path, other, age in self._others():
            local = other.get("host") == host_name()
            pid = _pid_of(other)
            dead = not pid_alive(pid) if local else age > LOCK_STALE_S
            if dead:
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

    def check_owned(self) -> None:
        """Raise a ``UserError`` if this bake no longer holds the folder (call before each write).

        The lock file must still be there and still name this process: a paused bake whose
        lock another machine took over (or someone deleted) stops instead of writing on.
        """
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        if not isinstance(info, dict) or _pid_of(info) != os.getpid() or info.get("key") != self.key_digest:
            raise UserError(f"This bake lost its hold on {self.out_dir} (its lock file is gone: another bake "
                            f"may have taken the folder over while this one was paused): it stopped; check the "
                            f"folder and bake again (finished frames are kept)")

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
                maybe_remote = name[len(lock_of):] != host_name()  # a lock being written names its machine
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
        """Stop the heartbeat and remove the lock file. Never raises: a lock file that cannot
        be removed (the folder was made read-only) is a dead bake's lock for the next bake,
        and must not hide the error that ended this one."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not remove the lock %s: %s", self.path, error)

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def remove_temporaries(out_dir, pid: int) -> int:
    """Delete the temporary files and the lock a bake process ``pid`` left in ``out_dir``.

    For a process that was killed. Returns how many files were removed; complete frames
    (and the proofs of the frames it wrote) are never touched.
    """
    removed = 0
    out_dir = Path(out_dir)
    for temporary in out_dir.glob(f".*.{pid}.tmp"):
        temporary.unlink(missing_ok=True)
        removed += 1
    lock = out_dir / f"{LOCK_PREFIX}.{host_name()}.{pid}.lock"
    if lock.exists():
        lock.unlink(missing_ok=True)
        removed += 1
    return removed
