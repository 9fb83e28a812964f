"""Paths and small helpers the test modules share (conftest.py holds the fixtures)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

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


def read_png8(path) -> np.ndarray:
    """The (H, W, 3) uint8 pixels of an 8-bit RGB PNG as ``imageio.encode_png`` writes it (Up filter)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        length, = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        chunks[kind] = chunks.get(kind, b"") + data[position + 8:position + 8 + length]
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert np.all(raw[:, 0] == 2)
    return np.cumsum(raw[:, 1:], axis=0, dtype=np.uint8).reshape(height, width, 3)


class RecordingLayout:
    """Stands in for ``UILayout`` (panels cannot draw under `blender -b`): records the props,
    operators, labels, lists and icon views a panel asks for, as (kind, data, name)."""

    def __init__(self, drawn: list):
        self.drawn = drawn

    def prop(self, data, name, **_options):
        self.drawn.append(("prop", data, name))

    def operator(self, idname, **_options):
        self.drawn.append(("operator", None, idname))
        return type("OperatorProperties", (), {})()

    def label(self, text="", **_options):
        self.drawn.append(("label", None, text))

    def template_list(self, list_type, _list_id, data, name, active_data, active_name, **_options):
        self.drawn.append(("list", (list_type, data, active_data, active_name), name))

    def template_icon_view(self, data, name, **_options):
        self.drawn.append(("prop", data, name))

    def __getattr__(self, name):  # row(), column(), box(), separator(), ...
        if name in ("row", "column", "box", "split"):
            return lambda *args, **kwargs: self
        return lambda *args, **kwargs: None


def check_drawn(drawn: list) -> None:
    """Every prop a panel drew is a property of its data, every operator and UI list exists."""
    import bpy

    for kind, data, name in drawn:
        if kind == "prop":
            assert name in data.bl_rna.properties, name
        elif kind == "operator":
            module, operator = name.split(".")
            getattr(getattr(bpy.ops, module), operator).get_rna_type()  # raises if it does not exist
        elif kind == "list":
            list_type, owner, active_owner, active_name = data
            assert hasattr(bpy.types, list_type), f"UI list {list_type} is not registered"
            assert name in owner.bl_rna.properties and active_name in active_owner.bl_rna.properties
