"""Where styles live for this Blender session: the bundled folder and the user's folder."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core import style as style_io
from ..core.errors import UserError

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "styles"
_ADDON_PACKAGE = __package__.rpartition(".")[0]

# Blender keeps only pointers to enum item strings: hold them here for as long as they show.
_enum_items_cache: list[tuple[str, str, str]] = []


def user_dir() -> Path | None:
    """The user's style folder inside the extension's user directory, if it exists yet."""
    try:
        return Path(bpy.utils.extension_path_user(_ADDON_PACKAGE, path="styles", create=False))
    except ValueError:  # not loaded as an extension (e.g. source tree in a test)
        return None


def available() -> list[style_io.StyleInfo]:
    """Every readable style: bundled first, then the user's, sorted by name within each."""
    folders = [BUNDLED_DIR]
    user = user_dir()
    if user is not None and user.is_dir():
        folders.append(user)
    return style_io.list_styles(folders)


def enum_items() -> list[tuple[str, str, str]]:
    """Items for the Style menu: (identifier = style name, label, description)."""
    _enum_items_cache[:] = [(info.name, info.name.replace("_", " ").title(), info.label) for info in available()]
    if not _enum_items_cache:
        _enum_items_cache.append(("NONE", "No styles found", "Reinstall the extension: its styles folder is empty"))
    return _enum_items_cache


def resolve(name_or_path: str) -> Path:
    """The style file for a style name, or for a path to a ``.safetensors``/``.json`` file."""
    candidate = Path(bpy.path.abspath(name_or_path))
    if candidate.suffix in (".safetensors", ".json"):
        if not candidate.is_file():
            raise UserError(f"Style file not found: {candidate}")
        return candidate
    for info in available():
        if info.name == name_or_path:
            return info.path
    names = ", ".join(info.name for info in available()) or "none"
    raise UserError(f"No style named '{name_or_path}': installed styles are {names}")
