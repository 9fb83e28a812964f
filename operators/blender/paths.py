"""Folders of this extension in the user's Blender configuration."""

from __future__ import annotations

from pathlib import Path

import bpy

ADDON_PACKAGE = __package__.rpartition(".")[0].rpartition(".")[0]
"""The extension's module name, e.g. ``bl_ext.user_default.neural_aesthetics``."""


def user_folder(name: str, create: bool = True) -> Path:
    """``name`` inside the extension's user directory (styles, training_pack, cache)."""
    return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path=name, create=create))
