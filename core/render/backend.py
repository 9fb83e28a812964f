"""Which renderer draws the frames: the GPU (through Blender), torch (when installed) or numpy.

``choose_backend("auto")`` takes the GPU when a GPU provider is registered and says a
hardware context can be had, else torch when it can be imported, else numpy (a software
renderer such as Mesa's llvmpipe draws the same pixels 6-8x slower than NumPy on the same
CPU, so Auto leaves it; ``"gpu"`` still draws with it); ``"gpu"``,
``"numpy"`` and ``"torch"`` force one (asking for one that is not there is a
``UserError``). The GPU renderer needs Blender's ``gpu`` module, so it lives outside
``core`` (``gpu_render``): Blender-side code registers it with ``register_gpu``.
The choice is explicit so a render farm can pin it: frames are bit-identical between
runs only with the same backend, device and thread settings on the same kind of CPU.
Deciding never imports torch (``importlib.util.find_spec``); only ``make_renderer`` for
the torch backend does.

A renderer has ``render(latent, width, height, zoom, rotation_rad, *, warp, warp_phase,
stop_event, out) -> float32 (height, width, 3)`` in display values [0, 1] (drawn into
``out`` when given), and a ``backend_name``.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

from . import cppn
from ..errors import UserError

BACKENDS = ("auto", "gpu", "numpy", "torch")


class GPUProvider(Protocol):
    """What ``register_gpu`` takes (``gpu_render.provider``)."""

    def available(self) -> bool:
        """Whether a GPU context can be had (may probe once, in a child process)."""

    def unavailable_reason(self) -> str:
        """Why not, one line (after ``available()`` said no)."""

    def is_software(self) -> bool:
        """Whether that context draws on the CPU (Mesa's llvmpipe), after ``available()``."""

    def renderer_name(self) -> str:
        """The GPU's name, e.g. ``NVIDIA GeForce RTX 3060/PCIe/SSE2`` (after ``available()``)."""

    def make_renderer(self, architecture: dict, weights: dict):
        """A renderer drawing these weights on the GPU, bound to the calling thread."""


_gpu: GPUProvider | None = None


def register_gpu(provider: GPUProvider | None) -> None:
    """Make the GPU renderer choosable (None: not any more)."""
    global _gpu
    _gpu = provider


def gpu_available() -> bool:
    """Whether the ``gpu`` backend can draw in this process."""
    return _gpu is not None and _gpu.available()


def hardware_gpu_available() -> bool:
    """Whether the ``gpu`` backend can draw in this process on a GPU, not on the CPU."""
    return gpu_available() and not _gpu.is_software()


def torch_available() -> bool:
    """True if ``import torch`` would find a package (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def choose_backend(preference: str = "auto") -> str:
    """``"gpu"``, ``"numpy"`` or ``"torch"`` for a preference from ``BACKENDS``."""
    if preference not in BACKENDS:
        raise UserError(f"Unknown backend '{preference}': use one of {', '.join(BACKENDS)}")
    if preference == "auto":
        return "gpu" if hardware_gpu_available() else "torch" if torch_available() else "numpy"
    if preference == "gpu" and _gpu is None:
        raise UserError("The gpu backend draws through Blender's gpu module: bake from Blender, "
                        "or choose numpy or torch")
    if preference == "gpu" and not _gpu.available():
        raise UserError(f"The gpu backend cannot draw here: {_gpu.unavailable_reason()}; "
                        f"choose Auto, numpy or torch")
    if preference == "torch" and not torch_available():
        raise UserError("The torch backend needs the training pack (torch): install it in the "
                        "preferences, or bake with the numpy backend")
    return preference


def make_renderer(architecture: dict, weights: dict, backend: str = "auto", device: str = "auto"):
    """A renderer for these weights on the chosen backend (``device`` only matters for torch).

    Its ``backend_name`` says what was chosen: ``gpu``, ``numpy``, or ``torch-cpu``/``torch-cuda``/...
    """
    chosen = choose_backend(backend)
    if chosen == "gpu":
        return _gpu.make_renderer(architecture, weights)
    if chosen == "numpy":
        return cppn.CPPN(architecture, weights)
    from . import cppn_torch

    module = cppn_torch.TorchCPPN(architecture, weights).to(cppn_torch.pick_device(device)).eval()
    module.backend_name = f"torch-{module.output.weight.device.type}"
    return module


def renderer_for_style(style, backend: str = "auto", device: str = "auto"):
    """``make_renderer`` for a loaded ``style.Style``."""
    return make_renderer(style.architecture, style.weights, backend, device)


def device_line(preference: str = "auto") -> str:
    """Which device draws for a preference, one line for the panel and the command line:
    ``GPU: <its name>``, ``CPU: torch`` (or ``GPU: torch-cuda``), ``CPU: NumPy``."""
    chosen = choose_backend(preference)
    if chosen == "gpu":
        return f"GPU: {_gpu.renderer_name()}"
    if chosen == "torch":
        from . import cppn_torch

        device = cppn_torch.pick_device("auto")
        return f"{'CPU' if device.type == 'cpu' else 'GPU'}: torch-{device.type}"
    return "CPU: NumPy"
