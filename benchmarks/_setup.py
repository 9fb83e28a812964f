"""What every benchmark needs first: the extension importable as ``neural_aesthetics``
and its light wheels (soundfile, scipy, Pillow) importable outside Blender.

Benchmarks run with a test venv's Python (``.venvs/blender-5.0/bin/python
benchmarks/bench_x.py``); the venvs deliberately lack the wheels the extension bundles,
so they are unpacked once from ``wheels/`` (made by ``make build``) into a temporary
folder.
"""

from __future__ import annotations

import glob
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_libs(modules=("PIL", "scipy", "soundfile")) -> None:
    """Make ``modules`` importable, from the extension's Linux wheels if need be."""
    try:
        for name in modules:
            __import__(name)
        return
    except ImportError:
        pass
    target = Path(tempfile.gettempdir()) / "na_bench_libs"
    if not (target / "soundfile.py").exists():
        wheels = [w for w in glob.glob(str(ROOT / "wheels" / "*.whl"))
                  if "none-any" in w or "manylinux" in w or "linux" in w]
        if not wheels:
            sys.exit("No wheels in wheels/: run `make build` first")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                        str(target), *wheels], check=True)
    sys.path.insert(0, str(target))


def import_core() -> None:
    """Register this checkout as the package ``neural_aesthetics`` and put scripts/ on the path."""
    if "neural_aesthetics" not in sys.modules:
        package = types.ModuleType("neural_aesthetics")
        package.__path__ = [str(ROOT)]
        sys.modules["neural_aesthetics"] = package
    sys.path.insert(0, str(ROOT / "scripts"))


def print_table(lines: list[tuple[str, ...]]) -> None:
    """Print rows of cells as a table, the first row as its header."""
    widths = [max(len(line[k]) for line in lines) for k in range(len(lines[0]))]
    for index, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
