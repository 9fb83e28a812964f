"""Style files: CPPN weights (safetensors) + metadata (JSON sidecar) + thumbnail (PNG).

A style named ``NAME`` is three files in one folder: ``NAME.safetensors`` (float32 weights),
``NAME.json`` (format version, architecture, provenance) and ``NAME.png`` (thumbnail).
A style from the internet must not be able to run code, so both files are read as data
only (no pickle, no eval) and checked strictly before any array is built: a malformed
file raises ``StyleError`` with a one-line message naming the file and the problem.

safetensors layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
``{tensor name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``,
then the tensors' raw little-endian bytes, offsets relative to the end of the header.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, BinaryIO

import numpy as np

from . import cppn
from ..errors import UserError

FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20
"""Largest safetensors JSON header read (1 MiB); a style's is a few hundred bytes."""
MAX_SIDECAR_BYTES = 1 << 20
"""Largest metadata sidecar read (1 MiB)."""
MAX_TOTAL_VALUES = 1 << 24
"""Most float32 values in one weights file (16 Mi values = 64 MiB); a style has ~4 k-300 k."""
MAX_DIMENSIONS = 8
STYLE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}


class StyleError(UserError):
    """A style file is missing, malformed or unsupported: one line naming the file and the problem."""


@dataclass
class Style:
    """A loaded style.

    Attributes:
        name: the files' common stem, e.g. ``"ember"``.
        architecture: CPPN architecture (see ``cppn.default_architecture``).
        weights: tensor name -> float32 array, shapes checked against ``architecture``.
        metadata: the whole JSON sidecar.
        path: the ``.safetensors`` file, or None for a style not loaded from disk.
    """

    name: str
    architecture: dict
    weights: dict[str, np.ndarray]
    metadata: dict
    path: Path | None


@dataclass
class StyleInfo:
    """What a style menu shows, without the weights.

    Attributes:
        name: the files' common stem (unique within a listing).
        label: human-readable description from the sidecar.
        origin: how the weights were made, e.g. ``"procedural"`` or ``"clip"``.
        path: the ``.safetensors`` file (pass it to ``load_style``).
        thumbnail_path: the ``.png`` thumbnail, or None if there is none.
        architecture: the network's architecture (which styles morph with which).
    """

    name: str
    label: str
    origin: str
    path: Path
    thumbnail_path: Path | None
    architecture: dict = field(default_factory=dict)


def _is_whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on a hidden temporary file next to ``path``, then rename it to ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --- safetensors -------------------------------------------------------------------------


def _json_object(path: Path, raw: bytes, what: str) -> dict:
    """``raw`` parsed as a UTF-8 JSON object; StyleError naming ``path`` and ``what`` otherwise."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise StyleError(f"{path}: {what} is not UTF-8 text (invalid byte at position {error.start})") from None
    except (ValueError, RecursionError) as error:
        raise StyleError(f"{path}: {what} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise StyleError(f"{path}: {what} must be a JSON object, got {type(value).__name__}")
    return value


def _parse_header(path: Path, header_bytes: bytes) -> dict:
    header = _json_object(path, header_bytes, "safetensors header")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        raise StyleError(f"{path}: safetensors __metadata__ must map strings to strings")
    return header


def _tensor_layout(path: Path, header: dict) -> list[tuple[str, tuple[int, ...], int, int]]:
    """(name, shape, begin, end) of each tensor, checked; raises StyleError."""
    layout = []
    total_values = 0
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != _TENSOR_KEYS:
            raise StyleError(f"{path}: tensor '{name}' must have exactly the fields {sorted(_TENSOR_KEYS)}")
        if entry["dtype"] != "F32":
            raise StyleError(f"{path}: tensor '{name}' has dtype {entry['dtype']!r}; styles use F32 only")
        shape = entry["shape"]
        if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
                or not all(_is_whole_number(size) and size >= 0 for size in shape)):
            raise StyleError(f"{path}: tensor '{name}' has an invalid shape {shape!r}")
        values = math.prod(shape)
        total_values += values
        if total_values > MAX_TOTAL_VALUES:
            raise StyleError(
                f"{path}: tensor '{name}' has shape {shape} ({values:,} values); a style may hold at most "
                f"{MAX_TOTAL_VALUES:,} values: the file is corrupt or not a style"
            )
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_whole_number(offset) for offset in offsets)
                or not 0 <= offsets[0] <= offsets[1] or offsets[1] - offsets[0] != values * 4):
            raise StyleError(
                f"{path}: tensor '{name}' has data offsets {offsets!r} that do not match its shape {shape} "
                f"({values * 4} bytes)"
            )
        layout.append((name, tuple(shape), offsets[0], offsets[1]))
    return layout


def _check_contiguous(path: Path, layout: list, data_size: int) -> None:
    """The tensors must tile the ``data_size`` bytes after the header exactly: no gaps, no overlaps."""
    described = 0
    for name, _shape, begin, end in sorted(layout, key=lambda item: item[2]):
        if begin != described:
            raise StyleError(f"{path}: tensor '{name}' starts at byte {begin}, expected {described} (gap or overlap)")
        described = end
    if described != data_size:
        raise StyleError(
            f"{path}: the header describes {described:,} bytes of tensor data but the file holds {data_size:,} "
            f"(truncated or corrupt)"
        )


def read_safetensors(path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as float32 arrays (only F32 files are accepted).

    Raises ``StyleError`` if the file cannot be read or is not a well-formed, bounded
    F32 safetensors file (truncated, header over ``MAX_HEADER_BYTES``, holes or overlaps
    in the data, more than ``MAX_TOTAL_VALUES`` values, ...).
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            file_size = os.fstat(stream.fileno()).st_size
            prefix = stream.read(8)
            if len(prefix) < 8:
                raise StyleError(f"{path}: not a safetensors file ({file_size} bytes is too short)")
            header_size = int.from_bytes(prefix, "little")
            if header_size > MAX_HEADER_BYTES or 8 + header_size > file_size:
                raise StyleError(
                    f"{path}: not a safetensors file, or truncated (its header claims {header_size:,} bytes, "
                    f"the file has {file_size:,})"
                )
            layout = _tensor_layout(path, _parse_header(path, stream.read(header_size)))
            data_size = file_size - 8 - header_size
            _check_contiguous(path, layout, data_size)
            data = stream.read(data_size)
    except OSError as error:
        raise StyleError(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(data) != data_size:
        raise StyleError(f"{path}: the file changed while it was read")
    return {
        name: np.frombuffer(data[begin:end], dtype="<f4").reshape(shape).astype(np.float32)
        for name, shape, begin, end in layout
    }


def write_safetensors(path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write float arrays as an F32 safetensors file, atomically (temporary file + rename).

    Args:
        path: destination file.
        tensors: name -> array of any floating dtype (stored as little-endian float32).
        metadata: optional string -> string pairs stored as ``__metadata__``.
    """
    path = Path(path)
    arrays = {}
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"tensor '{name}' has dtype {array.dtype}; only floating arrays can be written")
        arrays[name] = np.ascontiguousarray(array, dtype="<f4")
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(key): str(value) for key, value in metadata.items()}
    offset = 0
    for name, array in arrays.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-(8 + len(header_bytes)) % 8)  # data starts 8-byte aligned

    def write(stream: BinaryIO) -> None:
        stream.write(len(header_bytes).to_bytes(8, "little"))
        stream.write(header_bytes)
        for array in arrays.values():
            stream.write(array.tobytes())

    _write_atomically(path, write)


# --- styles ------------------------------------------------------------------------------


def _read_sidecar(path: Path) -> dict:
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise StyleError(f"{path}: metadata file is {size:,} bytes, more than the {MAX_SIDECAR_BYTES:,} allowed")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StyleError(f"{path}: metadata file not found (a style needs its .json next to its .safetensors)") from None
    except OSError as error:
        raise StyleError(f"{path}: cannot be read ({error.strerror or error})") from None
    metadata = _json_object(path, raw, "metadata")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION or not _is_whole_number(version):
        newer = _is_whole_number(version) and version > FORMAT_VERSION
        raise StyleError(
            f"{path}: style format version {version!r}, but this extension reads version {FORMAT_VERSION}"
            + (": update the extension" if newer else "")
        )
    return metadata


def load_style(path) -> Style:
    """Load and check a style from its ``.safetensors`` or ``.json`` file (the other must sit next to it).

    Raises ``StyleError`` for a missing file, a malformed or unsupported file, or weights
    that do not match the architecture in the metadata. Nothing in the files is executed.
    """
    path = Path(path)
    if path.suffix not in (".safetensors", ".json"):
        raise StyleError(f"{path}: not a style file (expected a .safetensors or .json file)")
    sidecar_path, weights_path = path.with_suffix(".json"), path.with_suffix(".safetensors")
    metadata = _read_sidecar(sidecar_path)
    architecture = metadata.get("architecture")
    try:
        shapes = cppn.weight_shapes(architecture)
    except ValueError as error:
        raise StyleError(f"{sidecar_path}: {error}") from None
    if not weights_path.is_file():
        raise StyleError(f"{weights_path}: weights file not found (a style needs its .safetensors next to its .json)")
    weights = read_safetensors(weights_path)
    for name, shape in shapes.items():
        if name not in weights:
            raise StyleError(f"{weights_path}: weight '{name}' is missing for the architecture in {sidecar_path.name}")
        if weights[name].shape != shape:
            raise StyleError(
                f"{weights_path}: weight '{name}' has shape {list(weights[name].shape)}, "
                f"the architecture in {sidecar_path.name} needs {list(shape)}"
            )
    unexpected = sorted(set(weights) - set(shapes))
    if unexpected:
        raise StyleError(f"{weights_path}: unexpected weights {unexpected} for the architecture in {sidecar_path.name}")
    broken = next((name for name in sorted(weights) if not np.isfinite(weights[name]).all()), None)
    if broken is not None:
        raise StyleError(f"{weights_path}: weight '{broken}' holds values that are not finite numbers (NaN or "
                         f"infinity), which draw black frames: the file is corrupt; train or download it again")
    return Style(name=path.stem, architecture=architecture, weights=weights, metadata=metadata, path=weights_path)


def save_style(directory, name: str, architecture: dict, weights: dict, metadata: dict, thumbnail_rgb8: np.ndarray) -> Path:
    """Write a style's three files into ``directory`` (created if missing); return the ``.safetensors`` path.

    ``metadata`` supplies the descriptive fields (``label``, ``origin``, ``objective``,
    ``prompts``, ``clip_model``, ``score``, ``steps``, ``seed``, ``created``); missing ones
    get neutral defaults, and ``format_version``, ``name`` and ``architecture`` are always
    set here. Each file is written atomically; the sidecar, which makes the style visible
    to ``list_styles``, is written last. ``thumbnail_rgb8`` is a (height, width, 3) uint8 image.
    """
    from PIL import Image  # only writers of styles need Pillow

    if not isinstance(name, str) or not STYLE_NAME_PATTERN.fullmatch(name):
        raise StyleError(f"Style name {name!r} is not allowed: use up to 64 letters, digits, '-' and '_'")
    try:
        shapes = cppn.weight_shapes(architecture)
    except ValueError as error:
        raise StyleError(f"Style '{name}': {error}") from None
    if set(weights) != set(shapes) or any(np.shape(weights[key]) != shape for key, shape in shapes.items()):
        raise StyleError(f"Style '{name}': the weights do not match the architecture")
    thumbnail = np.asarray(thumbnail_rgb8)
    if thumbnail.dtype != np.uint8 or thumbnail.ndim != 3 or thumbnail.shape[2] != 3:
        raise StyleError(f"Style '{name}': thumbnail must be a (height, width, 3) uint8 image")

    sidecar = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "label": name,
        "origin": "unknown",
        "objective": {},
        "prompts": [],
        "clip_model": None,
        "score": None,
        "steps": 0,
        "seed": None,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "architecture": architecture,
        **metadata,
    }
    sidecar.update(format_version=FORMAT_VERSION, name=name, architecture=architecture)
    sidecar_bytes = (json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / f"{name}.safetensors"
    _write_atomically(directory / f"{name}.png", lambda stream: Image.fromarray(thumbnail, "RGB").save(stream, format="PNG"))
    write_safetensors(weights_path, weights, {"format": "neural_aesthetics.style", "format_version": str(FORMAT_VERSION)})
    _write_atomically(directory / f"{name}.json", lambda stream: stream.write(sidecar_bytes))
    return weights_path


def list_styles(directories) -> list[StyleInfo]:
    """Every loadable style in ``directories`` (missing folders ignored), sorted by name.

    Styles that fail to load are skipped. If two folders hold a style of the same name,
    the one in the earlier folder is listed and the later one is skipped.
    """
    found: dict[str, StyleInfo] = {}
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            continue
        for sidecar_path in sorted(directory.glob("*.json")):
            if sidecar_path.stem in found:
                continue
            try:
                loaded = load_style(sidecar_path)
            except StyleError:
                continue
            label, origin = loaded.metadata.get("label"), loaded.metadata.get("origin")
            thumbnail_path = sidecar_path.with_suffix(".png")
            found[loaded.name] = StyleInfo(
                name=loaded.name,
                label=label if isinstance(label, str) and label else loaded.name,
                origin=origin if isinstance(origin, str) and origin else "unknown",
                path=loaded.path,
                thumbnail_path=thumbnail_path if thumbnail_fits(thumbnail_path) else None,
                architecture=dict(loaded.architecture),
            )
    return [found[name] for name in sorted(found)]


MAX_THUMBNAIL_PIXELS = 1024 * 1024
"""Largest thumbnail (in pixels) read: style thumbnails are 160x90; a bigger PNG is not decoded."""


def thumbnail_fits(path) -> bool:
    """Whether ``path`` is a PNG of at most ``MAX_THUMBNAIL_PIXELS``, judged from its header
    alone (a decompression bomb, a few KB that decode to gigabytes, is never decoded)."""
    try:
        with open(path, "rb") as stream:
            header = stream.read(24)
    except OSError:
        return False
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return False
    width, height = struct.unpack(">II", header[16:24])
    return 0 < width * height <= MAX_THUMBNAIL_PIXELS


def safe_style_name(text: str) -> str:
    """A style name made from any text (e.g. a downloaded file's stem) that ``save_style`` accepts.

    Path separators, dots and other characters become '_', so ``../evil`` gives ``evil``.
    """
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")[:64]
    return cleaned or "style"


def import_style(source, directory, name: str | None = None, overwrite: bool = False,
                 reserved: frozenset = frozenset()) -> Path:
    """Check a style file and write a clean copy of it into ``directory``; return the new path.

    The source is loaded with every check of ``load_style`` and written anew by
    ``save_style`` (weights, sidecar, thumbnail), so no byte of the original is copied
    blindly. Refuses to replace an existing style of the same name unless ``overwrite``.
    ``reserved`` are names another folder already shows (the bundled styles, which hide
    a user style of the same name): such a style is imported as ``NAME_2`` (``_3``...).
    A thumbnail larger than ``MAX_THUMBNAIL_PIXELS`` (or unreadable) is drawn anew.
    """
    from PIL import Image

    loaded = load_style(source)
    name = safe_style_name(name or loaded.name)
    if name in reserved:
        name = next(f"{name}_{number}" for number in range(2, len(reserved) + 3) if f"{name}_{number}" not in reserved)
    if not overwrite and (Path(directory) / f"{name}.json").exists():
        raise StyleError(f"A style named '{name}' already exists in {directory}: rename it or allow replacing it")
    thumbnail_path = Path(loaded.path).with_suffix(".png")
    try:
        if not thumbnail_fits(thumbnail_path):
            raise ValueError("no thumbnail of a sensible size")
        with Image.open(thumbnail_path) as image:
            thumbnail = np.asarray(image.convert("RGB").resize((160, 90)), dtype=np.uint8)
    except (OSError, ValueError):
        thumbnail = (cppn.CPPN.from_style(loaded).render(np.zeros(loaded.architecture["latent_dim"]), 160, 90)
                     * 255).round().astype(np.uint8)
    metadata = {key: value for key, value in loaded.metadata.items() if key not in ("name", "format_version")}
    return save_style(directory, name, loaded.architecture, loaded.weights, metadata, thumbnail)
