"""The GPU path: styles drawn by a fragment shader through Blender's own ``gpu`` module.

No torch, any GPU Blender draws with (OpenGL, Vulkan, Metal), or Mesa's llvmpipe on the
CPU where there is none (slow, but the same pixels). Beside ``core`` because it needs
``bpy``; ``core.render.backend`` knows it only through ``register_gpu``:

- ``context``: a GPU context in background mode, and the probe that checks, in a child
  process, that one can be had (a missing driver aborts a process outright);
- ``renderer``: ``GPUCPPN``, the renderer (``core.render.glsl`` writes its shader).

``install()`` registers the provider: the extension does at start-up, the bake worker
when its launcher asks for the GPU. Which thread draws: the context belongs to the
thread that made it, so ``core.render.bake`` draws on its calling thread for this
renderer (``thread_bound``) and encodes and writes on other threads.
"""

from __future__ import annotations

import os
import threading

from ...core.render import backend
from ...core.render.backend import choose_backend

PROBE_ENV = "NA_GPU_PROBE"
"""A probe result handed to a worker process (``probe_environment``), so it probes no more."""


class _Provider:
    """``core.render.backend.GPUProvider`` for this process, probing at most once."""

    def __init__(self):
        self._lock = threading.Lock()

    def probe(self):
        from . import context

        with self._lock:
            return context.probe()

    def probed(self):
        """The probe's answer if it is known already, else None (never waits)."""
        from . import context

        return context.known_probe()

    def available(self) -> bool:
        return self.probe().available

    def unavailable_reason(self) -> str:
        return self.probe().reason

    def is_software(self) -> bool:
        return self.probe().software

    def renderer_name(self) -> str:
        probe = self.probe()
        return probe.renderer + (" (software rendering on the CPU)" if probe.software else "")

    def make_renderer(self, architecture: dict, weights: dict):
        from .renderer import GPUCPPN

        return GPUCPPN(architecture, weights)


provider = _Provider()


def install() -> None:
    """Make ``gpu`` (and Auto's first choice) available to ``core``; a probe result in
    ``PROBE_ENV`` (from the launching process) is taken as known."""
    from . import context

    if os.environ.get(PROBE_ENV):
        context.adopt_probe(os.environ[PROBE_ENV])
    backend.register_gpu(provider)


def uninstall() -> None:
    backend.register_gpu(None)


def probe_in_background() -> None:
    """Start the probe on a thread (Blender's UI: the answer is ready before the first bake)."""
    threading.Thread(target=provider.probe, name="neural-aesthetics-gpu-probe", daemon=True).start()


def probe_environment() -> dict[str, str]:
    """Environment entries handing this process's probe result to a worker (empty if unknown)."""
    from . import context

    known = context.known_probe()
    return {PROBE_ENV: context.encode_probe(known)} if known is not None else {}


def worker_launch(backend: str = "auto") -> tuple[list[str] | None, dict[str, str]]:
    """How to start a bake worker that can draw on the GPU: the launcher (Blender itself in
    background mode, or this Python where bpy is a module) and the environment that
    installs this package in it, with the probe's answer when known. ``(None, {})``, a
    plain worker, for ``auto`` when the probe already said no hardware GPU context can be
    had (Auto draws on the CPU then; ``gpu`` still gets the GPU worker: it draws on a
    software renderer, or says why it cannot draw)."""
    import sys

    import bpy

    if backend == "auto" and provider.probed() is not None and choose_backend("auto") != "gpu":
        return None, {}  # (the probe is known: this never waits)
    launcher = ([bpy.app.binary_path, "-b", "--factory-startup", "--python"] if bpy.app.binary_path
                else [sys.executable])
    return launcher, {"NA_WORKER_SETUP": ".".join(__name__.split(".")[-2:]), **probe_environment()}


def device_label(preference: str) -> str:
    """Which device draws for the Compute setting, one line for the panel; never waits
    for the probe (``Looking for a GPU...`` until it has answered)."""
    known = provider.probed()
    if preference in ("auto", "gpu"):
        if known is None:
            return "GPU: looking for one..."
        if known.available:
            return f"GPU: {provider.renderer_name()}"
        if preference == "gpu":
            return f"GPU: none ({known.reason})"
    if preference in ("auto", "torch") and backend.torch_available():
        return "torch (CUDA or Apple GPU when present, else CPU)"
    return "CPU: NumPy"
