"""Where styles live for this Blender session: the bundled folder and the user's folder."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core import style as style_io
from ..core.errors import UserError

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "styles"
_ADDON_PACKAGE = __package__.rpartition(".")[0]

# Blender keeps only pointers to enum item strings: hold them here for as long as they show.
_enum_items_cache: list[tuple[str, str, str, int, int]] = []
_thumbnails = None  # bpy.utils.previews collection, one icon per style thumbnail


def register() -> None:
    global _thumbnails
    import bpy.utils.previews

    _thumbnails = bpy.utils.previews.new()


def unregister() -> None:
    global _thumbnails
    import bpy.utils.previews

    bpy.utils.previews.remove(_thumbnails)
    _thumbnails = None


def thumbnail_icon(info: style_io.StyleInfo) -> int:
    """Icon id of a style's thumbnail for menus and the style browser (0: none)."""
    if _thumbnails is None or info.thumbnail_path is None:
        return 0
    key = str(info.thumbnail_path)
    if key not in _thumbnails:
        _thumbnails.load(key, key, "IMAGE")
    return _thumbnails[key].icon_id


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


def enum_items() -> list[tuple[str, str, str, int, int]]:
    """Items for the Style menu: (style name, title, description, thumbnail icon, index)."""
    _enum_items_cache[:] = [
        (info.name, info.name.replace("_", " ").title(), info.label, thumbnail_icon(info), index)
        for index, info in enumerate(available())
    ]
    if not _enum_items_cache:
        _enum_items_cache.append(("NONE", "No styles found", "Reinstall the extension: its styles folder is empty", 0, 0))
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
