"""Colour names for palettes: "teal, coral, midnight blue" as well as hex codes.

The names are data (``colour_names.json``): the 148 CSS named colours and the 949 XKCD
colour-survey names (CC0). A name matches regardless of case, spaces, hyphens and
underscores ("Midnight Blue" = "midnightblue" = "midnight-blue"); a CSS name wins where
both lists have it.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path

NAMES_PATH = Path(__file__).with_name("colour_names.json")
SUGGESTIONS = 3


def _key(name: str) -> str:
    """A name reduced to what a match compares: lower case, no spaces, hyphens, underscores or quotes."""
    return re.sub(r"[\s\-_'’]+", "", name.lower())


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, str], dict[str, str]]:
    """(match key -> '#rrggbb', match key -> the name as listed), CSS over XKCD."""
    data = json.loads(NAMES_PATH.read_text(encoding="utf-8"))
    colours, spelled = {}, {}
    for source in ("xkcd", "css"):  # CSS last: it wins
        for name, value in data[source].items():
            colours[_key(name)] = value
            spelled[_key(name)] = name
    return colours, spelled


def lookup(name: str) -> str | None:
    """The '#rrggbb' of a colour name, or None if no list has it."""
    return _table()[0].get(_key(name)) if _key(name) else None


def closest(word: str, count: int = SUGGESTIONS) -> list[str]:
    """Up to ``count`` listed names that look most like ``word`` (for "did you mean")."""
    colours, spelled = _table()
    keys = difflib.get_close_matches(_key(word), list(colours), n=count, cutoff=0.6)
    if not keys:  # a word inside longer names: "teel" in "dark teel" finds nothing, "sea" finds "sea green"
        keys = [key for key in colours if _key(word) and _key(word) in key][:count]
    return [spelled[key] for key in keys]


def count() -> int:
    """How many distinct names are known."""
    return len(_table()[0])
