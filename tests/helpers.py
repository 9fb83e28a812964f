"""Paths and small helpers the test modules share (conftest.py holds the fixtures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXTENSION_ID = "neural_aesthetics"
INSTALLED_MODULE = f"bl_ext.user_default.{EXTENSION_ID}"

# Sound-strip scenes all use a clip of this length: the 4.2 tests read their strip from a
# fixture made for it (see scripts/make_sound_fixture.py).
CLIP_SECONDS = 4.0


def built_package() -> Path:
    """This platform's extension zip: $NA_EXTENSION_ZIP, else dist/, else built now."""
    if os.environ.get("NA_EXTENSION_ZIP"):
        return Path(os.environ["NA_EXTENSION_ZIP"])
    zips = sorted((ROOT / "dist").glob(f"{EXTENSION_ID}-*-linux_x64.zip"))
    if not zips:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--platforms", "linux-x64"],
                       check=True)
        zips = sorted((ROOT / "dist").glob(f"{EXTENSION_ID}-*-linux_x64.zip"))
    return zips[-1]


def strip_folder(sound) -> Path:
    """Where a strip's frames go under an output folder: ``<.blend name>/<strip id>`` (the
    test scenes are saved as ``project.blend``)."""
    return Path("project") / sys.modules[f"{INSTALLED_MODULE}.operators.blender.strips"].strip_id(sound)
