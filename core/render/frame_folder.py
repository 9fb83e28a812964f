"""A frame folder belongs to one bake: the proof of the frames it wrote, and when they can be reused.

The folder's record (``neural_aesthetics_bake.json``) holds the bake's identity (its
*key*: sound, style and settings, see ``visualizer.bake_key``), the project and strip
that own the folder, and the name, size in bytes and SHA-256 of every frame the bake
wrote. A bake

- reuses a frame only if the record (or the journal of a bake of the same key) proves
  it, and its size and digest still match: a truncated or corrupt frame is drawn again;
- overwrites or deletes only files the record names as its own (written, or being
  written: the ``writing`` list, claimed before the first byte is written);
- refuses a folder holding a frame-named file it cannot prove it wrote (``000001.png``
  of the user's, or frames whose record was deleted): one line names the file and the
  fix, and nothing in the folder is touched;
- refuses to replace the frames of another project (another .blend) that still exists.

Each process appends a proof to its own journal (``.neural_aesthetics_bake.<host>.<pid>.journal``)
after every frame, flushed to disk; journals are folded into the record when the bake
ends (and a dead bake's at the next claim), under a short mutex so that chunks of a
render farm never lose each other's proofs. Every write is flushed (``fsync``) and the
folder too, so a power cut cannot leave a record naming frames that are not there.

``reuse_problem`` is the one rule that says whether frames of one bake identity can stand
for another, and why not in words: used by the bake itself, Re-sync, Add Visualizer Strip
and the live preview.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError
from .folder_lock import LOCK_PREFIX, RECORD_NAME, host_name

log = logging.getLogger("neural_aesthetics.bake")

RECORD_VERSION = 2
FRAME_NAME = re.compile(r"^-?\d+\.(?:png|jpg|exr)$")
"""A file name a bake could write (``frame_filename``): such files are checked for proof."""
JOURNAL_SUFFIX = ".journal"
MUTEX_NAME = f"{LOCK_PREFIX}.mutex"
MUTEX_STALE_S = 30.0
"""A record mutex older than this is a dead process's (it is held for milliseconds)."""
MUTEX_WAIT_S = 60.0


def file_digest(path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def key_digest(key: dict) -> str:
    """A short stable name of a bake identity (for locks and journals)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()


# --- when frames can be reused ----------------------------------------------------------------

def _fps_words(old, new) -> str:
    return f"the scene's frame rate changed ({old:g} fps when baked, {new:g} fps now)"


_CHANGES = (
    ("audio_sha256", lambda old, new: "the sound file changed"),
    ("fps", lambda old, new: _fps_words(old, new) if isinstance(old, (int, float)) and isinstance(new, (int, float))
     else "the scene's frame rate changed"),
    ("origin_fraction", lambda old, new: "the strip's sound offset changed by a fraction of a frame"),
    ("sources", lambda old, new: "a strip that an effect listens to moved, changed, or another was picked"),
    ("style_sha256", lambda old, new: "the style changed"),
    ("size", lambda old, new: f"the frame size changed ({'x'.join(map(str, old or []))} px when baked)"),
    ("seed", lambda old, new: f"the seed changed ({old} when baked, {new} now)"),
    ("strength", lambda old, new: "the strength changed"),
    ("mapping", lambda old, new: "the mapping settings changed (preset, strengths or smoothing), or this "
                                 "version of the extension draws them differently"),
    ("image_format", lambda old, new: f"the image format changed ({old} when baked, {new} now)"),
)


def reuse_problem(recorded: dict | None, current: dict) -> str | None:
    """Why frames baked with identity ``recorded`` cannot stand for identity ``current``, in
    words (the first difference that matters to a user), or None when they can.

    Identities are ``visualizer.bake_key`` dicts; a caller that knows only part of the
    current identity (Re-sync knows the music, not the style) copies the rest from
    ``recorded``. A missing ``sources`` entry means no stems.
    """
    if not recorded:
        return "no bake is recorded for them"
    for field, words in _CHANGES:
        old, new = recorded.get(field), current.get(field)
        if field == "sources":
            old, new = old or {}, new or {}
        if old != new:
            return words(old, new)
    rest = sorted(name for name in set(recorded) | set(current) if recorded.get(name) != current.get(name))
    return f"the bake settings changed ({', '.join(rest)})" if rest else None


# --- durable files ----------------------------------------------------------------------------

def fsync_folder(folder) -> None:
    """Make the renames in ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_durably(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` via a hidden temporary file, flushed, renamed, folder flushed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:  # e.g. a full disk: the previous file stays as it was
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


@contextmanager
def _record_mutex(out_dir: Path):
    """Hold the folder's record for a read-merge-write (milliseconds)."""
    path = out_dir / MUTEX_NAME
    deadline = time.monotonic() + MUTEX_WAIT_S
    while True:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime > MUTEX_STALE_S:
                    path.unlink(missing_ok=True)
                    continue
            except OSError:
                continue
            if time.monotonic() > deadline:
                raise UserError(f"The record of {out_dir} stays locked by {path}: if no bake is running, delete "
                                f"that file and bake again") from None
            time.sleep(0.01)
    try:
        yield
    finally:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not remove %s: %s", path, error)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_record(out_dir) -> dict | None:
    """The folder's record (format ``RECORD_VERSION``), or None if there is none that proves anything."""
    record = _read_json(Path(out_dir) / RECORD_NAME)
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    frames = record.get("frames")
    if not isinstance(frames, dict) or not isinstance(record.get("writing", []), list):
        return None
    record["frames"] = {str(name): proof for name, proof in frames.items()
                        if isinstance(proof, dict) and FRAME_NAME.match(str(name))}
    record["writing"] = [str(name) for name in record.get("writing", []) if FRAME_NAME.match(str(name))]
    return record


def _journal_path(out_dir: Path, host: str, pid: int) -> Path:
    return out_dir / f"{LOCK_PREFIX}.{host}.{pid}{JOURNAL_SUFFIX}"


def _journals(out_dir: Path):
    """``(path, key digest, {name: proof})`` of every journal in the folder."""
    for path in out_dir.glob(f"{LOCK_PREFIX}.*{JOURNAL_SUFFIX}"):
        digest, proofs = None, {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # (a line cut by a crash)
            if number == 0 and isinstance(entry, dict):
                digest = entry.get("key")
            elif isinstance(entry, list) and len(entry) == 3 and FRAME_NAME.match(str(entry[0])):
                proofs[str(entry[0])] = {"size": entry[1], "sha256": entry[2]}
        yield path, digest, proofs


def _lock_of_journal(journal: Path) -> Path:
    return journal.with_name(journal.name[:-len(JOURNAL_SUFFIX)] + ".lock")


def _matches(path: Path, proof: dict) -> bool:
    """Whether ``path`` is the frame ``proof`` describes (size first: a truncated frame costs no read)."""
    try:
        if path.stat().st_size != proof.get("size"):
            return False
        return file_digest(path) == proof.get("sha256")
    except OSError:
        return False


class FrameFolder:
    """One bake's hold on the frames of its folder (use while holding its ``FolderLock``).

    Args:
        out_dir: the frame folder.
        key: the bake's identity (``visualizer.bake_key``).
        lock: the bake's ``folder_lock.FolderLock`` (checked before each write).
        owner: the project and strip the frames are for, ``{"blend": path, "strip": id}``
            (empty for a bake outside Blender).
        style_name, backend: kept in the record for people and for Re-sync.
        looks: for a style timeline, frame name -> what the frame shows
            (``timeline.FrameLook.identity``): a proved frame whose recorded look differs
            is drawn again (so editing one entry redraws only its frames).
    """

    def __init__(self, out_dir, key: dict, lock, owner: dict | None = None, style_name: str = "",
                 backend: str = "", looks: dict | None = None):
        self.out_dir = Path(out_dir)
        self.key = key
        self.digest = key_digest(key)
        self.lock = lock
        self.owner = dict(owner or {})
        self.style_name, self.backend = style_name, backend
        self.looks = looks
        self.journal = _journal_path(self.out_dir, host_name(), os.getpid())
        self._kept: set[str] = set()
        self._journal_stream = None
        self.record: dict = {}
        self.replaced_because: str | None = None
        """Why the frames of an earlier bake in the folder were replaced (``reuse_problem``), if they were."""

    # -- claiming the folder

    def claim(self, names: list[str]) -> set[str]:
        """Make the folder this bake's for frames ``names``; returns the names already there
        (proved), which need no drawing. Raises ``UserError`` (nothing touched) for a
        frame-named file without proof or a folder of another project."""
        with _record_mutex(self.out_dir):
            record = read_record(self.out_dir)
            ours = set(record["frames"]) | set(record["writing"]) if record else set()
            live_journals, folded = set(), []
            for path, digest, proofs in _journals(self.out_dir):
                ours |= set(proofs)
                if path == self.journal or _lock_of_journal(path).exists():
                    live_journals |= set(proofs)  # (a chunk running now: folded when it ends)
                    continue
                if record is None:  # (the record was deleted: the journal still proves what is ours)
                    record = {"version": RECORD_VERSION, "key": None, "frames": {}, "writing": []}
                if record["key"] is not None and digest == key_digest(record["key"]):
                    record["frames"].update(proofs)
                else:
                    record["writing"] += [name for name in proofs if name not in record["frames"]]
                folded.append(path)
            self._refuse_strays(record, ours)
            self.replaced_because = None
            if record is not None and record["key"] != self.key:
                self._refuse_other_project(record)
                self.replaced_because = reuse_problem(record["key"], self.key) if record["key"] else None
                self._delete_frames_of(record, live_journals)
                record = None
            if record is None:
                record = {"version": RECORD_VERSION, "key": self.key, "frames": {}, "writing": []}
            recorded_looks = record.setdefault("looks", {}) if self.looks is not None else {}
            kept = {name for name in names if name in record["frames"]
                    and _matches(self.out_dir / name, record["frames"][name])
                    and (self.looks is None or recorded_looks.get(name) == self.looks.get(name))}
            if self.looks is not None:
                recorded_looks.update({name: self.looks[name] for name in names if name in self.looks})
            for name in set(names) - kept:
                record["frames"].pop(name, None)
            record["writing"] = sorted(set(record["writing"]) | (set(names) - kept))
            record.update(owner=self.owner, style=self.style_name, backend=self.backend)
            write_durably(self.out_dir / RECORD_NAME, json.dumps(record, indent=1, sort_keys=True))
            for path in folded:  # (their proofs are in the record now)
                path.unlink(missing_ok=True)
        self.record, self._kept = record, kept
        return kept

    def _refuse_strays(self, record: dict | None, ours: set[str]) -> None:
        strays = sorted(path.name for path in self.out_dir.iterdir()
                        if FRAME_NAME.match(path.name) and path.name not in ours)
        if not strays:
            return
        why = ("the folder's bake record is missing" if record is None
               else "the folder's bake record does not list it")
        more = f" (and {len(strays) - 1} more like it)" if len(strays) > 1 else ""
        raise UserError(f"{self.out_dir / strays[0]}{more} was not written by a bake of this extension ({why}): "
                        f"move such files out of {self.out_dir}, or choose another output folder")

    def _refuse_other_project(self, record: dict) -> None:
        theirs = record.get("owner") or {}
        blend = theirs.get("blend") or ""
        if not theirs or theirs == self.owner or not blend or not Path(blend).is_file():
            return
        raise UserError(f"{self.out_dir} holds the frames of strip '{theirs.get('strip', '?')}' of {blend}: "
                        f"choose another output folder (frames of two projects never share a folder)")

    def _delete_frames_of(self, record: dict, keep: set[str]) -> None:
        """Delete the frames an earlier bake of another identity wrote (only those it recorded)."""
        removed = 0
        for name in set(record["frames"]) | set(record["writing"]):
            if name not in keep:
                path = self.out_dir / name
                if path.is_file():
                    path.unlink()
                    removed += 1
        log.info("replaced %d frames of another bake in %s", removed, self.out_dir)

    # -- while writing

    def keeps(self, name: str) -> bool:
        """Whether frame ``name`` is already there, proved (no need to draw it)."""
        return name in self._kept

    def before_write(self, _path: Path) -> None:
        """Called before a frame is renamed into place: stop if the bake lost its folder."""
        self.lock.check_owned()

    def written(self, path: Path) -> None:
        """Record the proof of frame ``path`` just written (a line in this bake's journal, on disk)."""
        if self._journal_stream is None:
            self._journal_stream = open(self.journal, "a", encoding="utf-8")
            self._journal_stream.write(json.dumps({"key": self.digest}) + "\n")
        proof = [path.name, path.stat().st_size, file_digest(path)]
        self._journal_stream.write(json.dumps(proof) + "\n")
        self._journal_stream.flush()
        os.fsync(self._journal_stream.fileno())

    def close(self, quietly: bool = False) -> None:
        """Fold this bake's journal into the record (and remove it). Called however the bake
        ends; ``quietly`` (while another error ends the bake) logs a failure instead of
        raising it (the journal then stays, and the next bake folds it)."""
        if quietly:
            try:
                self.close()
            except Exception as error:
                log.warning("could not fold the journal %s into the record: %s", self.journal, error)
            return
        if self._journal_stream is None:
            return
        self._journal_stream.close()
        self._journal_stream = None
        with _record_mutex(self.out_dir):
            record = read_record(self.out_dir)
            mine = next((proofs for path, _, proofs in _journals(self.out_dir) if path == self.journal), {})
            if record is None or record["key"] != self.key:
                return  # (not ours any more: the journal stays as proof of what this bake wrote)
            record["frames"].update(mine)
            record["writing"] = sorted(set(record["writing"]) - set(mine))
            write_durably(self.out_dir / RECORD_NAME, json.dumps(record, indent=1, sort_keys=True))
            self.journal.unlink(missing_ok=True)
        self.record = record
