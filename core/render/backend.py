"""Which renderer draws the frames: numpy (always there) or torch (when installed).

``choose_backend("auto")`` takes torch when it can be imported and numpy otherwise;
``"numpy"`` and ``"torch"`` force one (asking for torch without it is a ``UserError``).
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

from . import cppn
from ..errors import UserError

BACKENDS = ("auto", "numpy", "torch")


def torch_available() -> bool:
    """True if ``import torch`` would find a package (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def choose_backend(preference: str = "auto") -> str:
    """``"numpy"`` or ``"torch"`` for a preference from ``BACKENDS``."""
    if preference not in BACKENDS:
        raise UserError(f"Unknown backend '{preference}': use one of {', '.join(BACKENDS)}")
    if preference == "auto":
        return "torch" if torch_available() else "numpy"
    if preference == "torch" and not torch_available():
        raise UserError("The torch backend needs the training pack (torch): install it in the "
                        "preferences, or bake with the numpy backend")
    return preference


def make_renderer(architecture: dict, weights: dict, backend: str = "auto", device: str = "auto"):
    """A renderer for these weights on the chosen backend (``device`` only matters for torch).

    Its ``backend_name`` says what was chosen: ``numpy``, or ``torch-cpu``/``torch-cuda``/...
    """
    chosen = choose_backend(backend)
    if chosen == "numpy":
        return cppn.CPPN(architecture, weights)
    from . import cppn_torch

    module = cppn_torch.TorchCPPN(architecture, weights).to(cppn_torch.pick_device(device)).eval()
    module.backend_name = f"torch-{module.output.weight.device.type}"
    return module


def renderer_for_style(style, backend: str = "auto", device: str = "auto"):
    """``make_renderer`` for a loaded ``style.Style``."""
    return make_renderer(style.architecture, style.weights, backend, device)
