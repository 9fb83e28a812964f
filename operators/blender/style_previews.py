"""Where styles live for this Blender session: the bundled folder and the user's folder."""

from __future__ import annotations

from pathlib import Path

import bpy

from ...core.render import style as style_io
from ...core.errors import UserError
from .paths import user_folder

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "styles"

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


def user_dir() -> Path:
    """The user's style folder inside the extension's user directory (may not exist yet)."""
    return user_folder("styles", create=False)


_listing_cache: dict[tuple, list[style_io.StyleInfo]] = {}


def available() -> list[style_io.StyleInfo]:
    """Every readable style of the bundled and the user's folder, sorted by name.

    A bundled style wins over a user style of the same name. The listing is cached until
    a folder changes (menus ask for it on every redraw).
    """
    folders = [BUNDLED_DIR]
    if user_dir().is_dir():
        folders.append(user_dir())
    stamp = tuple((str(folder), folder.stat().st_mtime_ns) for folder in folders)
    if stamp not in _listing_cache:
        _listing_cache.clear()
        _listing_cache[stamp] = style_io.list_styles(folders)
    return _listing_cache[stamp]


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
