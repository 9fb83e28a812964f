"""The optional training/GPU pack: torch + open_clip, installed on request into a folder.

Baking needs only numpy; training a style needs torch and open_clip. They are large
(about 1 GB for the CPU build, several GB for CUDA), so the extension installs them only
when the user asks, into the extension's user folder, from pinned names on a package
index, and never without Blender's online access allowed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

TRAINING_PACK = ("torch==2.14.1", "torchvision==0.29.1", "open_clip_torch==3.3.0")
"""Pinned names of the training pack (for Blender's Python 3.11)."""


@dataclass(frozen=True)
class Flavour:
    """One build of the pack: its label, and the package index holding that torch build."""

    label: str
    index_url: str | None  # None: the default index (PyPI)
    description: str


FLAVOURS = {
    "CPU": Flavour("CPU", "https://download.pytorch.org/whl/cpu", "Any computer; slow training, about 1 GB"),
    "CUDA": Flavour("NVIDIA (CUDA)", "https://download.pytorch.org/whl/cu128", "NVIDIA GPU on Windows or Linux, several GB"),
    "ROCM": Flavour("AMD (ROCm)", "https://download.pytorch.org/whl/rocm6.4", "AMD GPU on Linux, several GB"),
    "MPS": Flavour("Apple (Metal)", None, "Apple Silicon Mac: the default build uses the GPU"),
}


def default_flavour(platform: str = sys.platform) -> str:
    """The flavour to offer first: Metal on macOS, else the CPU build (safe everywhere)."""
    return "MPS" if platform == "darwin" else "CPU"


def pip_command(python: str, target: Path, flavour: str, requirements=TRAINING_PACK) -> list[str]:
    """The pip call that installs ``requirements`` into ``target`` for ``flavour``.

    ``--target`` keeps everything inside the extension's folder (Blender's own Python is
    never modified); with a flavour index, PyPI still serves the packages that index lacks.
    """
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "--upgrade", "--target", str(target)]
    index_url = FLAVOURS[flavour].index_url
    if index_url:
        command += ["--extra-index-url", index_url]
    return command + list(requirements)


def add_to_path(target: Path) -> bool:
    """Make packages installed in ``target`` importable in this process; False if absent."""
    target = Path(target)
    if not target.is_dir():
        return False
    if str(target) not in sys.path:
        sys.path.append(str(target))
    importlib.invalidate_caches()
    return True


def torch_version() -> str | None:
    """The importable torch's version, without importing it; None when there is none."""
    try:
        if importlib.util.find_spec("torch") is None:
            return None
    except ValueError:  # torch was imported and then unloaded or blocked (sys.modules entry None)
        return None
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"
