"""A GPU context for Blender's ``gpu`` module, and a probe that asks for one without risk.

In Blender's UI the ``gpu`` module works at once. In background mode (``blender -b``, the
bpy module, the bake worker) it raises "GPU functions for drawing are not available in
background mode" until a GPU context exists: ``ensure_context`` makes one with
``gpu.init()`` where Blender has it, else by rendering a 4x4 scene once through a minimal
``RenderEngine`` with ``bl_use_gpu_context`` (0.1-0.7 s). Where no GPU driver (EGL on
Linux) can be loaded, that render aborts the whole process (an assertion in libepoxy,
exit code 134, no Python exception), so ``probe`` first tries it in a child process:
``blender -b --factory-startup --python <this file>`` (or ``python <this file>`` where
bpy is a module), which prints one ``PROBE_MARKER`` line naming the renderer.

Imports only ``bpy``, ``gpu`` and the standard library: it runs as a script by itself.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import bpy

PROBE_MARKER = "NEURAL_AESTHETICS_GPU_RENDERER:"
PROBE_TIMEOUT_S = 180.0
"""A cold Blender start plus the first context on a software renderer stays well inside this."""
_ENGINE_ID = "NEURAL_AESTHETICS_GPU_CONTEXT"


def has_context() -> bool:
    """Whether this process can draw with ``gpu`` now (always true in the UI)."""
    import gpu

    try:
        gpu.platform.renderer_get()
        return True
    except SystemError:  # background mode before any GPU context
        return False


class _ContextEngine(bpy.types.RenderEngine):
    """Renders nothing; Blender makes a GPU context to run it (``bl_use_gpu_context``)."""

    bl_idname = _ENGINE_ID
    bl_label = "Neural Aesthetics GPU context"
    bl_use_gpu_context = True

    def render(self, depsgraph):
        result = self.begin_result(0, 0, 4, 4)
        self.end_result(result)


def ensure_context() -> None:
    """Make a GPU context in this process if it has none (call ``probe`` first in
    background mode: without a driver this aborts the process)."""
    import gpu

    if has_context():
        return
    if hasattr(gpu, "init"):  # Blender after 5.0.1
        gpu.init()
        return
    bpy.utils.register_class(_ContextEngine)
    scene = bpy.data.scenes.new("neural_aesthetics_gpu_context")
    camera_data = bpy.data.cameras.new(scene.name)
    camera = bpy.data.objects.new(scene.name, camera_data)
    try:
        scene.collection.objects.link(camera)
        scene.camera = camera
        scene.render.engine = _ENGINE_ID
        scene.render.resolution_x = scene.render.resolution_y = 4
        bpy.ops.render.render(scene=scene.name)
    finally:
        bpy.data.objects.remove(camera)
        bpy.data.cameras.remove(camera_data)
        bpy.data.scenes.remove(scene)
        bpy.utils.unregister_class(_ContextEngine)


def renderer_name() -> str:
    """The GPU's name as its driver reports it, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
    import gpu

    return gpu.platform.renderer_get()


def is_software() -> bool:
    """True for a renderer that runs on the CPU (Mesa llvmpipe and the like)."""
    import gpu

    return gpu.platform.device_type_get() == "SOFTWARE"


@dataclass(frozen=True)
class Probe:
    """What ``probe`` found: ``renderer`` (``"llvmpipe (...)"``, software or not) when a
    context can be had, else ``reason`` (one line)."""

    available: bool
    renderer: str = ""
    software: bool = False
    reason: str = ""


def probe_command() -> list[str]:
    """The command that runs this file in a fresh Blender (or Python with bpy as a module)."""
    script = str(Path(__file__).resolve())
    if bpy.app.binary_path:
        return [bpy.app.binary_path, "-b", "--factory-startup", "--python", script]
    return [sys.executable, script]


_probe: Probe | None = None


def probe(refresh: bool = False) -> Probe:
    """Whether a GPU context can be had, found once per process in a child process."""
    global _probe
    if _probe is not None and not refresh:
        return _probe
    try:
        child = subprocess.run(probe_command(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _probe = Probe(False, reason=f"the GPU probe gave no answer within {PROBE_TIMEOUT_S:.0f} s")
        return _probe
    except OSError as error:
        _probe = Probe(False, reason=f"the GPU probe could not start ({error})")
        return _probe
    for line in child.stdout.splitlines():
        if line.startswith(PROBE_MARKER):
            kind, _, name = line[len(PROBE_MARKER):].strip().partition(" ")
            _probe = Probe(True, renderer=name, software=kind == "SOFTWARE")
            return _probe
    last = (child.stderr.strip().splitlines() or [""])[-1]
    _probe = Probe(False, reason=f"no GPU context could be made (exit code {child.returncode}"
                                 + (f": {last}" if last else "") + ")")
    return _probe


def known_probe() -> Probe | None:
    """The probe's answer if this process has it, else None (never probes)."""
    return _probe


def encode_probe(found: Probe) -> str:
    """A probe result as text (for another process's ``adopt_probe``)."""
    return json.dumps(dataclasses.asdict(found))


def adopt_probe(text: str) -> None:
    """Take another process's probe result (``encode_probe``) as this one's."""
    global _probe
    try:
        _probe = Probe(**json.loads(text))
    except (ValueError, TypeError):
        pass  # unreadable: this process probes for itself


def _report() -> None:
    """The probe's child: make a context and print the marker line."""
    import gpu

    ensure_context()
    print(PROBE_MARKER, gpu.platform.device_type_get(), renderer_name(), flush=True)


if __name__ == "__main__":
    _report()
