"""A worker process for long jobs, speaking one JSON object per line.

Blender starts ``python <this file>`` (its own Python, ``sys.executable``) so that heavy
work never blocks the UI and a crash cannot take Blender down. The protocol:

- stdin, first line: the job, ``{"kind": "bake", "request": {...}}``; any later line
  ``cancel`` (or stdin closing, e.g. Blender quit) cancels it within one unit of work.
- stdout, one JSON object per line, ``type`` one of:
  ``progress`` (``done``, ``total``, ``message``, and job-specific fields: a training
  adds ``score`` and, every few steps, ``preview``, the path of a PNG of the style so
  far), ``result`` (job-specific fields),
  ``error`` (``message``: one line for the user; ``user``: True for a problem the user
  can fix, False for a bug, whose traceback is in the log file), ``cancelled``.

Exactly one of ``result``, ``error`` or ``cancelled`` ends a job, then the process exits.
``NA_SYS_PATH`` (a JSON list) gives the worker the parent's module search path, so it
imports numpy and the extension's wheels exactly as Blender does. ``NA_LOG_FILE`` names
the job's log file: the worker's ``logging`` records go there (see ``background``).
``NA_WORKER_SETUP`` names a module of the extension (``operators.gpu_render``) whose ``install()``
runs before the job: a bake that may draw on the GPU runs in Blender itself in background
mode (``blender -b --factory-startup --python worker.py``, or this Python where bpy is a
module), the worker's main thread makes and owns the GPU context and draws every frame,
and threads encode and write them (``core.render.bake``). If that module cannot be
imported, the worker logs why and the bake falls back to torch or numpy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import types
from pathlib import Path

PACKAGE_ALIAS = "neural_aesthetics_worker"
log = logging.getLogger("neural_aesthetics.worker")


def _start_logging() -> None:
    """Log records to ``NA_LOG_FILE`` (or stderr, which the parent appends to that file)."""
    target = os.environ.get("NA_LOG_FILE")
    handler = logging.FileHandler(target, encoding="utf-8") if target else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _message(kind: str, **fields) -> None:
    sys.stdout.write(json.dumps({"type": kind, **fields}) + "\n")
    sys.stdout.flush()


def _run_bake(request_fields: dict, progress, cancel) -> dict:
    """Bake a ``visualizer.BakeRequest`` (its ``to_json``); the result is ``VisualizerBake.to_json``."""
    from ..render.visualizer import BakeRequest, bake_visualizer

    return bake_visualizer(BakeRequest.from_json(request_fields), progress, cancel).to_json()


def _run_install(request: dict, progress, cancel) -> dict:
    """Install packages with pip into ``request["target"]``; each pip line is a log message."""
    import subprocess

    from . import deps
    from ..errors import UserError
    from ..progress import Cancelled

    target = Path(request["target"])
    target.mkdir(parents=True, exist_ok=True)
    command = deps.pip_command(sys.executable, target, request["flavour"],
                               request.get("requirements") or deps.TRAINING_PACK)
    pip = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = ""
    for line in pip.stdout:
        if cancel.cancelled:
            pip.terminate()
            pip.wait()
            raise Cancelled("install cancelled")
        if line.strip():
            last = line.strip()
            progress(0, 0, last)
    if pip.wait() != 0:
        raise UserError(f"Installing the training pack failed (pip exit code {pip.returncode}): {last}")
    return {"target": str(target)}


def _run_train(request: dict, progress, cancel) -> dict:
    """Train a style (``train.train_style``); previews go to ``request["preview_path"]`` (PNG).

    Request: ``config`` (``TrainConfig.to_dict()``), ``out_dir``, ``name``, ``preview_path``.
    Result: ``path`` of the style's ``.safetensors`` (its training report is beside it,
    ``train.report.report_paths``), ``name``, ``score`` and
    ``score_initial`` (held-out CLIP scores; None without CLIP), ``palette_distance``.
    """
    from ..render import imageio, style
    from ..train import training as train

    config = train.TrainConfig.from_dict(request["config"])
    preview_path = Path(request["preview_path"])

    def report(step: train.TrainProgress) -> None:
        extra = {"score": step.score}
        if step.preview is not None:
            preview_path.parent.mkdir(parents=True, exist_ok=True)
            imageio.write_atomically(preview_path, step.preview, "png8")
            extra["preview"] = str(preview_path)
        progress(step.step, step.total, step.message, **extra)

    path = train.train_style(config, Path(request["out_dir"]), request["name"], report, cancel)
    metadata = style.load_style(path).metadata
    return {"path": str(path), "name": request["name"], "score": metadata.get("score"),
            "score_initial": metadata.get("score_initial"), "palette_distance": metadata.get("palette_distance"),
            "palette_distance_initial": metadata.get("palette_distance_initial")}


JOBS = {"bake": _run_bake, "install": _run_install, "train": _run_train}


def _watch_stdin(cancel) -> None:
    """Cancel the job on a ``cancel`` line or when the parent closes stdin."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    cancel.cancel()


def serve() -> int:
    """Run the one job described on stdin; report on stdout. Returns the exit code."""
    from ..errors import UserError
    from ..progress import CancelToken, Cancelled

    try:
        job = json.loads(sys.stdin.readline())
        run = JOBS[job["kind"]]
    except (ValueError, KeyError, TypeError) as error:
        _message("error", message=f"The worker got an unreadable job ({error})", user=False)
        return 2
    cancel = CancelToken()
    log.info("%s job started (process %d)", job["kind"], os.getpid())
    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True).start()

    def progress(done: int, total: int, message: str, **extra) -> None:
        _message("progress", done=done, total=total, message=message, **extra)

    try:
        _message("result", **run(job.get("request", {}), progress, cancel))
    except Cancelled:
        log.info("cancelled")
        _message("cancelled")
    except UserError as error:
        log.info("stopped: %s", error)
        _message("error", message=str(error), user=True)
        return 1
    except Exception as error:  # a bug: the parent shows one line, the log keeps the trace
        log.exception("%s job failed", job["kind"])
        _message("error", message=f"{type(error).__name__}: {error}", user=False)
        return 1
    log.info("done")
    return 0


def _bootstrap() -> int:
    """Started as a script: import ``core`` as a package without Blender, then serve."""
    package_root = Path(__file__).resolve().parents[2]
    package = types.ModuleType(PACKAGE_ALIAS)
    package.__path__ = [str(package_root)]  # the extension root, without running its __init__
    sys.modules[PACKAGE_ALIAS] = package
    setup, setup_error = os.environ.get("NA_WORKER_SETUP"), None
    if setup:  # (before the parent's path: Blender's script folders in it shadow the bpy module)
        try:
            __import__(f"{PACKAGE_ALIAS}.{setup}", fromlist=["install"]).install()
        except ImportError as error:
            setup_error = error
    extra = json.loads(os.environ.get("NA_SYS_PATH", "[]"))
    sys.path[:0] = [entry for entry in extra if entry not in sys.path]
    worker = __import__(f"{PACKAGE_ALIAS}.core.jobs.worker", fromlist=["serve"])
    worker._start_logging()
    if setup_error is not None:
        log.warning("%s is not available here (%s): drawing on the CPU", setup, setup_error, exc_info=setup_error)
    return worker.serve()


if __name__ == "__main__":
    sys.exit(_bootstrap())
