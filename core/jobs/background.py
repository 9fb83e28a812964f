"""Long jobs in a worker process (``core/worker.py``), watched from Blender's main thread.

``BackgroundJob`` starts Blender's own Python on the worker script, sends it the job and
collects its progress lines from a reader thread; ``poll()`` returns what arrived, without
ever blocking the UI. A worker that dies without a final word (killed, crashed, out of
memory) is reported as failed at the next poll, with its last stderr line.

Each job has a log file (``log_path``): the worker writes its ``logging`` records there,
with the traceback of any error that is not the user's to fix, and what the worker
printed to stderr is appended to it. A failure's one-line message names that file.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"
DEFAULT_LOG_DIR = Path(tempfile.gettempdir()) / "neural_aesthetics_logs"
"""Where job logs go when the caller names no folder (Blender passes its user folder)."""


def new_log_path(log_dir: Path, kind: str) -> Path:
    """A log file of its own for one job: ``<log_dir>/<kind>-<YYYYmmdd-HHMMSS>-<n>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for number in range(1, 10_000):
        path = log_dir / f"{kind}-{stamp}-{number}.log"
        try:
            path.touch(exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise OSError(f"No free log file name in {log_dir}")


@dataclass
class JobState:
    """What the UI shows about a job: updated by ``BackgroundJob.poll``.

    ``status`` is one of ``running``, ``done``, ``failed``, ``cancelled``. ``details``
    holds the latest value of every job-specific progress field (e.g. a training's
    ``score`` and ``preview``).
    """

    status: str = "running"
    done: int = 0
    total: int = 0
    message: str = "Starting"
    result: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Progress in 0..1."""
        return self.done / self.total if self.total else 0.0


class BackgroundJob:
    """One job running in a worker process.

    Args:
        kind: the worker's job name (``"bake"``).
        request: the job's plain-value request (JSON-ready).
        on_failure: called once with the worker's process id when it dies without a
            final word, to clean up what it may have left (e.g. temporary files).
        log_dir: folder of the job's log file (default ``DEFAULT_LOG_DIR``).
        launcher: the command that runs a Python script given as its last argument
            (default this Python; a GPU bake: Blender itself, ``blender -b --python``).
        environment: extra environment entries for the worker (e.g. ``NA_WORKER_SETUP``,
            the module it installs before the job, see ``worker``).
    """

    def __init__(self, kind: str, request: dict, on_failure=None, log_dir: Path | None = None,
                 launcher: list[str] | None = None, environment: dict[str, str] | None = None):
        self.log_path = new_log_path(Path(log_dir) if log_dir is not None else DEFAULT_LOG_DIR, kind)
        env = dict(os.environ, NA_SYS_PATH=json.dumps([p for p in sys.path if p]), PYTHONUNBUFFERED="1",
                   NA_LOG_FILE=str(self.log_path), **(environment or {}))
        self._process = subprocess.Popen(
            [*(launcher or [sys.executable]), str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", env=env,
        )
        self._events: queue.Queue = queue.Queue()
        self._stderr_tail: list[str] = []
        self._on_failure = on_failure
        self.state = JobState()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._send(json.dumps({"kind": kind, "request": request}))

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, line: str) -> None:
        try:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the worker is gone; poll() reports how it ended

    def _read_stdout(self) -> None:
        for line in self._process.stdout:
            try:
                self._events.put(json.loads(line))
            except ValueError:
                self._stderr_tail = (self._stderr_tail + [line.strip()])[-5:]
        self._events.put(None)  # end of output

    def _read_stderr(self) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in self._process.stderr:
                if line.strip():
                    self._stderr_tail = (self._stderr_tail + [line.strip()])[-5:]
                    log.write(f"stderr: {line.rstrip()}\n")
                    log.flush()

    def cancel(self) -> None:
        """Ask the worker to stop after its current unit of work."""
        self._send("cancel")

    def poll(self) -> JobState:
        """Apply every message that arrived; never blocks. Returns the updated state."""
        state = self.state
        while state.status == "running":
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event is None:
                self._process.wait()
                self._fail(f"The worker stopped unexpectedly (exit code {self._process.returncode})"
                           + (f": {self._stderr_tail[-1]}" if self._stderr_tail else "")
                           + f" (log: {self.log_path})")
            elif event["type"] == "progress":
                state.done, state.total, state.message = event["done"], event["total"], event["message"]
                state.details.update({key: value for key, value in event.items()
                                      if key not in ("type", "done", "total", "message")})
            elif event["type"] == "result":
                state.status, state.result, state.message = "done", event, "Done"
            elif event["type"] == "cancelled":
                state.status, state.message = "cancelled", "Cancelled"
            elif event["type"] == "error":
                state.status, state.message = "failed", event["message"]
                if not event.get("user"):  # a bug: the traceback is in the log
                    state.message += f" (the full error is in {self.log_path})"
        return state

    def _fail(self, message: str) -> None:
        self.state.status, self.state.message = "failed", message
        if self._on_failure is not None:
            self._on_failure(self._process.pid)

    def wait(self, timeout_s: float | None = None) -> JobState:
        """Block until the job ends (scripts and tests; the UI polls instead)."""
        self._process.wait(timeout=timeout_s)
        while self.poll().status == "running":
            threading.Event().wait(0.01)
        return self.state

    def kill(self) -> None:
        """End the worker at once (Blender is quitting)."""
        self._process.kill()
