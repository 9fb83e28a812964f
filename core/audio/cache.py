"""A disk cache of sound analyses, keyed by the file's content and the analysis parameters.

Layout of a cache folder::

    <cache_dir>/<key>.npz     one :class:`..audio.SoundAnalysis` (uncompressed npz, no pickle)
    <cache_dir>/digests.json  path + size + file identity and times -> content digest

The key is the SHA-256 of (``ENGINE_VERSION``, the file's content digest, the parameters
as JSON). The content digest is the SHA-256 of the file's bytes; it is remembered per
(path, size, modification time, inode-change time, device and inode) so that an
unchanged file is not read again, while an edited, replaced or renamed file is hashed
anew -- also one written with the same size whose modification time was put back (``cp
-p``, ``rsync -t``, an unzipped backup): on Linux and macOS writing a file always moves
its change time, which no program can set back. Entries are written atomically
(temporary file + rename); a damaged entry reads as a miss. Nothing here deletes
entries: the folder is the user's to clear (the extension keeps it in its user folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["AnalysisCache", "ENGINE_VERSION", "content_digest"]

# Bump when the analysis changes its results: old entries then simply stop matching.
ENGINE_VERSION = "audio-engine-5"  # 2: pulse clarity, heard meter, beats on weak pulses; 3: keys and chords;
# 4: a beat path may start at the first beat (it was tied to the silence before it), and
# an interval at a tempo change may keep either beat's period; downbeats from the harmony
# of two beats against the two before; 5: bars of 6 heard (6/8)

_CHUNK = 1 << 22


def content_digest(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(target: Path, write) -> None:
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AnalysisCache:
    """One cache folder (created on first store)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def _digests_path(self) -> Path:
        return self.folder / "digests.json"

    def _read_digests(self) -> dict:
        try:
            data = json.loads(self._digests_path().read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def digest(self, path: str | os.PathLike) -> str:
        """Content digest of ``path``, remembered per (real path, size, times, identity)."""
        real = os.path.realpath(os.fspath(path))
        info = os.stat(real)
        stamp = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_dev}:{info.st_ino}"
        known = self._read_digests()
        entry = known.get(real)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        value = content_digest(real)
        known[real] = {"stamp": stamp, "sha256": value}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(known, sort_keys=True).encode("utf-8")
            _atomic_write(self._digests_path(), lambda stream: stream.write(text))
        except OSError:
            pass  # a read-only cache still works, it just hashes every time
        return value

    def key(self, path: str | os.PathLike, params: dict) -> str:
        """Cache key of a file's analysis with ``params`` (JSON-ready plain values)."""
        text = json.dumps({"engine": ENGINE_VERSION, "content": self.digest(path), "params": params},
                          sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None (missing or unreadable)."""
        try:
            with np.load(self.folder / f"{key}.npz", allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError, EOFError):
            return None

    def store(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` (best effort: an unwritable folder is skipped)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.folder / f"{key}.npz", lambda stream: np.savez(stream, **arrays))
        except OSError:
            pass
