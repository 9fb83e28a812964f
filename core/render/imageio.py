"""Writing frames: 8/16-bit PNG and JPEG in sRGB, half-float OpenEXR in linear light.

The CPPN draws display (sRGB-encoded) values in [0, 1]. Blender expects 8/16-bit PNG and
JPEG files to hold sRGB-encoded values and EXR files to hold scene-linear values, so:

- ``png8`` / ``jpeg``: the values, rounded to 0..255 (JPEG quality 95, no chroma
  subsampling);
- ``png16``: the values, rounded to 0..65535;
- ``exr``: the values decoded with the sRGB transfer function (IEC 61966-2-1) to linear,
  as half floats, channels B, G, R, ZIP-compressed 16-scanline blocks (written here).

``prepare`` turns a float frame into the array a format stores (done in the compute
thread, so the queue between compute and writing holds small arrays); ``write_atomically``
writes a prepared frame through a hidden temporary file and renames it into place.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

FORMATS = {"png8": ".png", "png16": ".png", "jpeg": ".jpg", "exr": ".exr"}
"""Image format name -> file extension."""
FRAME_EXTENSIONS = tuple(sorted(set(FORMATS.values())))
JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1
"""zlib level of PNG frames: the fastest (level 6 makes 8-bit frames a third smaller in five times the time)."""
EXR_LINES_PER_BLOCK = 16
EXR_ZIP_LEVEL = 1
"""zlib level of EXR blocks: the fastest, as for PNG (level 4 makes 1080p frames a fifth
smaller in 1.6x the time, and the encoding, not the drawing, limits a GPU bake to EXR)."""


def check_format(image_format: str) -> str:
    if image_format not in FORMATS:
        raise ValueError(f"image format must be one of {list(FORMATS)}, got {image_format!r}")
    return image_format


_ROWS_AT_ONCE = 64
"""Rows converted at a time: the float scratch stays small (a few hundred KB at 4K)."""


def _by_rows(rgb: np.ndarray, dtype, convert) -> np.ndarray:
    """``convert(rows)`` of ``_ROWS_AT_ONCE`` rows of ``rgb`` at a time, stored as ``dtype``
    (no frame-sized float temporaries)."""
    rgb = np.asarray(rgb)
    out = np.empty(rgb.shape, dtype=dtype)
    for start in range(0, len(rgb), _ROWS_AT_ONCE):
        rows = rgb[start:start + _ROWS_AT_ONCE]
        out[start:start + len(rows)] = convert(rows)
    return out


def _quantised(rgb: np.ndarray, top: int, dtype, scratch_dtype) -> np.ndarray:
    """``rint(clip(rgb, 0, 1) * top)`` as ``dtype``, a few rows at a time."""
    rgb = np.asarray(rgb)
    scratch = np.empty((min(_ROWS_AT_ONCE, len(rgb)),) + rgb.shape[1:], dtype=scratch_dtype)

    def quantise(rows):
        part = scratch[:len(rows)]
        np.clip(rows, 0.0, 1.0, out=part)
        part *= top
        return np.rint(part, out=part)

    return _by_rows(rgb, dtype, quantise)


def to_rgb8(rgb: np.ndarray) -> np.ndarray:
    """Float display values in [0, 1] -> uint8 0..255, rounded to nearest."""
    return _quantised(rgb, 255, np.uint8, np.float32)


def to_rgb16(rgb: np.ndarray) -> np.ndarray:
    """Float display values in [0, 1] -> uint16 0..65535, rounded to nearest."""
    return _quantised(rgb, 65535, np.uint16, np.float64)


_DECODE_KNEE, _ENCODE_KNEE = np.float32(0.04045), np.float32(0.0031308)


def _power(values: np.ndarray, exponent: float, out: np.ndarray) -> np.ndarray:
    """``values ** exponent`` (values > 0; 0 gives 0) as exp(exponent * log(values)): numpy's
    float32 exp and log are vectorised, its float32 power is not (3x slower here)."""
    with np.errstate(divide="ignore"):
        np.log(values, out=out)
    out *= np.float32(exponent)
    return np.exp(out, out=out)


def decode_srgb_into(display: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """The sRGB decoding function (IEC 61966-2-1) of ``display`` (clipped to [0, 1]) into
    ``out``, float32; ``scratch`` is a float32 array of the same shape."""
    np.clip(display, 0.0, 1.0, out=scratch)
    above = scratch > _DECODE_KNEE
    np.multiply(scratch, np.float32(1 / 12.92), out=out)
    scratch *= np.float32(1 / 1.055)
    scratch += np.float32(0.055 / 1.055)
    np.copyto(out, _power(scratch, 2.4, scratch), where=above)
    return out


def encode_srgb_into(linear: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """The sRGB encoding function of ``linear`` (in [0, 1]) into ``out``, float32;
    ``scratch`` is a float32 array of the same shape."""
    above = linear > _ENCODE_KNEE
    _power(linear, 1 / 2.4, scratch)
    scratch *= np.float32(1.055)
    scratch -= np.float32(0.055)
    np.multiply(linear, np.float32(12.92), out=out)
    np.copyto(out, scratch, where=above)
    return out


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """The sRGB decoding function (IEC 61966-2-1), float32 in, float32 out."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return decode_srgb_into(rgb, np.empty_like(rgb), np.empty_like(rgb))


def prepare(rgb: np.ndarray, image_format: str) -> np.ndarray:
    """The array ``image_format`` stores for float display values ``rgb`` (H, W, 3)."""
    check_format(image_format)
    if image_format in ("png8", "jpeg"):
        return to_rgb8(rgb)
    if image_format == "png16":
        return to_rgb16(rgb)
    return _by_rows(rgb, np.float16, srgb_to_linear)


# --- PNG -----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rgb: np.ndarray) -> bytes:
    """An sRGB PNG of a uint8 or uint16 (H, W, 3) array (8 or 16 bits per channel).

    Every row uses the Up filter (byte minus the byte above) and the data is deflated at
    ``PNG_COMPRESS_LEVEL``: at 1280x720 the files are as small as Pillow's adaptive
    filters make them, in half the time.
    """
    height, width, _ = rgb.shape
    bit_depth = 8 * rgb.dtype.itemsize
    rows = rgb.astype(f">u{rgb.dtype.itemsize}", copy=False).reshape(height, width * 3).view(np.uint8)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type Up: byte minus the byte above (mod 256)
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"sRGB", b"\x00")
            + _png_chunk(b"IDAT", zlib.compress(filtered, PNG_COMPRESS_LEVEL)) + _png_chunk(b"IEND", b""))


# --- OpenEXR ---------------------------------------------------------------------------------


def _exr_attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _exr_zip_blocks(blocks: np.ndarray) -> list[bytes]:
    """OpenEXR ZIP of each row of ``blocks`` (uint8, one block's bytes per row): split
    even/odd bytes, delta-predict, deflate at ``EXR_ZIP_LEVEL`` (raw if that is not smaller)."""
    reordered = np.concatenate([blocks[:, 0::2], blocks[:, 1::2]], axis=1)
    predicted = reordered.copy()
    np.subtract(reordered[:, 1:], reordered[:, :-1], out=predicted[:, 1:])  # (uint8: modulo 256)
    predicted[:, 1:] += np.uint8(128)
    out = []
    for raw, row in zip(blocks, predicted):
        compressed = zlib.compress(row.tobytes(), EXR_ZIP_LEVEL)
        out.append(compressed if len(compressed) < len(row) else raw.tobytes())
    return out


def encode_exr(rgb_half: np.ndarray) -> bytes:
    """A scanline OpenEXR file of a float16 (H, W, 3) linear RGB array (ZIP compression)."""
    height, width, _ = rgb_half.shape
    channels = b"".join(name + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for name in (b"B", b"G", b"R")) + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = (b"\x76\x2f\x31\x01" + struct.pack("<i", 2)
              + _exr_attribute("channels", "chlist", channels)
              + _exr_attribute("compression", "compression", b"\x03")
              + _exr_attribute("dataWindow", "box2i", window)
              + _exr_attribute("displayWindow", "box2i", window)
              + _exr_attribute("lineOrder", "lineOrder", b"\x00")
              + _exr_attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0))
              + _exr_attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
              + _exr_attribute("screenWindowWidth", "float", struct.pack("<f", 1.0))
              + b"\0")
    # Per scanline: all B values, then G, then R (channels in name order), little-endian.
    planar = np.ascontiguousarray(rgb_half.astype("<f2")[:, :, ::-1].transpose(0, 2, 1))  # (H, 3, W)
    line_bytes = planar.view(np.uint8).reshape(height, -1)
    n_full = height // EXR_LINES_PER_BLOCK
    block_bytes = EXR_LINES_PER_BLOCK * line_bytes.shape[1]
    zipped = _exr_zip_blocks(line_bytes[:n_full * EXR_LINES_PER_BLOCK].reshape(n_full, block_bytes))
    if height % EXR_LINES_PER_BLOCK:  # the last, shorter block
        zipped += _exr_zip_blocks(line_bytes[n_full * EXR_LINES_PER_BLOCK:].reshape(1, -1))
    n_blocks = len(zipped)
    blocks = [struct.pack("<ii", index * EXR_LINES_PER_BLOCK, len(data)) + data for index, data in enumerate(zipped)]
    offsets = []
    position = len(header) + 8 * n_blocks
    for block in blocks:
        offsets.append(position)
        position += len(block)
    return header + struct.pack(f"<{n_blocks}Q", *offsets) + b"".join(blocks)


# --- writing ---------------------------------------------------------------------------------


def temporary_name(path: Path) -> Path:
    """The hidden temporary file a frame is written to before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)


def write_file(path: Path, prepared: np.ndarray, image_format: str) -> None:
    """Write a prepared frame to ``path`` directly (not atomically)."""
    if image_format == "jpeg":
        from PIL import Image

        Image.fromarray(prepared, "RGB").save(path, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    elif image_format in ("png8", "png16"):
        _write_bytes(path, encode_png(prepared))
    else:
        _write_bytes(path, encode_exr(prepared))


def write_atomically(path: Path, prepared: np.ndarray, image_format: str) -> None:
    """Write a prepared frame as ``path`` via a hidden temporary file in the same folder.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``path`` is left untouched; a file at ``path`` is always a whole frame. The file's
    bytes are flushed to the disk (``fsync``) before the rename, so a power cut cannot
    leave a frame-named file without its content (the rename itself is made durable by
    the folder's ``fsync`` in ``frame_folder``).
    """
    path = Path(path)
    temporary = temporary_name(path)
    try:
        write_file(temporary, prepared, image_format)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
