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


SHEET_NAME = "contact sheet.png"
"""File name of the contact sheet of every style on the song (no style name has a space)."""
_song_folder: Path | None = None
"""Folder of the tiles of the last Preview All Styles (one ``<style>.png`` each), or None."""
_song_version = 0
"""Bumped with every new contact sheet, so its icons are loaded again."""


def song_thumbnails_changed(folder: Path) -> None:
    """A new contact sheet and tiles were written into ``folder``: show them from now on."""
    global _song_folder, _song_version
    _song_folder, _song_version = Path(folder), _song_version + 1


def _icon(path: Path, version: int = 0) -> int:
    if _thumbnails is None or not path.is_file():
        return 0
    key = f"{path}@{version}"
    if key not in _thumbnails:
        _thumbnails.load(key, str(path), "IMAGE")
    return _thumbnails[key].icon_id


def thumbnail_path(info: style_io.StyleInfo, on_song: bool = False) -> Path | None:
    """The picture of a style's thumbnail; with ``on_song``, its tile of the last contact
    sheet when there is one."""
    if on_song and _song_folder is not None and (_song_folder / f"{info.name}.png").is_file():
        return _song_folder / f"{info.name}.png"
    return info.thumbnail_path


def thumbnail_icon(info: style_io.StyleInfo, on_song: bool = False) -> int:
    """Icon id of a style's thumbnail for menus and the style browser (0: none)."""
    path = thumbnail_path(info, on_song)
    return _icon(path, _song_version if path != info.thumbnail_path else 0) if path is not None else 0


def sheet_icon() -> int:
    """Icon id of the last contact sheet of every style on the song (0: none yet)."""
    return _icon(_song_folder / SHEET_NAME, _song_version) if _song_folder is not None else 0


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


def enum_items(on_song: bool = False) -> list[tuple[str, str, str, int, int]]:
    """Items for the Style menu: (style name, title, description, thumbnail icon, index);
    ``on_song``: thumbnails from the last contact sheet of the song."""
    _enum_items_cache[:] = [
        (info.name, info.name.replace("_", " ").title(), info.label, thumbnail_icon(info, on_song), index)
        for index, info in enumerate(available())
    ]
    if not _enum_items_cache:
        _enum_items_cache.append(("NONE", "No styles found", "Reinstall the extension: its styles folder is empty", 0, 0))
    return _enum_items_cache


def resolve(name_or_path: str) -> Path:
    """The style file for a style name (case does not matter when no style has exactly that
    name), or for a path to a ``.safetensors``/``.json`` file."""
    candidate = Path(bpy.path.abspath(name_or_path))
    if candidate.suffix in (".safetensors", ".json"):
        if not candidate.is_file():
            raise UserError(f"Style file not found: {candidate}")
        return candidate
    styles = available()
    for info in styles:
        if info.name == name_or_path:
            return info.path
    matches = [info for info in styles if info.name.casefold() == name_or_path.casefold()]
    if matches:  # the menu shows "Neon" for the style "neon"
        return matches[0].path
    names = ", ".join(info.name for info in available()) or "none"
    raise UserError(f"No style named '{name_or_path}': installed styles are {names}")
