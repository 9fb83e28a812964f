"""Decoding a sound file to mono float32 blocks: libsndfile, then PyAV (FFmpeg), then
Blender's ``aud``; a decoder failing part-way hands the whole file to the next one.

A song's length is its decoded length: an MP3's header can be wrong (a VBR file without
a Xing header, two MP3s concatenated) and libsndfile stops where the header says, so
MP3s go to FFmpeg first. Files outside the limits (``params.SAMPLE_RATE_RANGE_HZ``,
``params.MAX_DURATION_S``) are refused before they are decoded (or, for a length no
header tells, as soon as the decoded part passes the limit).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .params import MAX_DURATION_S, READABLE_FORMATS, SAMPLE_RATE_RANGE_HZ, AudioError, check_duration


DECODE_BLOCK_SAMPLES = 1 << 18
"""Sample frames decoded at a time (about 6 s at 44.1 kHz). Analysis memory depends on it,
results do not: a file is never held in memory whole (but by Blender's ``aud``, below)."""


def check_exists(path) -> str:
    """``path`` as a string if it is a file, else an ``AudioError`` naming it and the fix."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"Sound file not found: {path} — check the sound strip's file path")
    return path


def _ffmpeg_available() -> bool:
    """Whether an FFmpeg-backed decoder (PyAV, or Blender's ``aud``) can be imported here."""
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in ("av", "aud"))


def _undecodable(path: str) -> AudioError:
    formats = READABLE_FORMATS if _ffmpeg_available() else "WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF"
    return AudioError(
        f"Could not decode sound file {path}: it is damaged or not a supported format"
        f" — use {formats}"
    )


def _soundfile():
    try:
        import soundfile
    except (ImportError, OSError) as error:  # OSError: the libsndfile library is missing
        raise AudioError(
            f"Cannot read sound files: the soundfile module is unavailable ({type(error).__name__})"
            " — reinstall the Neural Aesthetics extension"
        ) from error
    return soundfile


class _DecodeFailed(Exception):
    """One decoder could not read (the rest of) a file: the next one is tried from the start."""


@dataclass
class Stream:
    """An opened sound file: its rate (Hz) and its mono float32 sample blocks, in order.

    ``frames_hint`` is the length in samples the header gives (None: unknown); ``exact``
    says whether it is the decoded length (an MP3's header only estimates it).
    """

    sample_rate: int
    blocks: Iterator[np.ndarray]
    frames_hint: int | None
    exact: bool


def _mono(data: np.ndarray) -> np.ndarray:
    if data.ndim == 2:
        data = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float64).astype(np.float32)
    data = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(data, -1.0, 1.0, out=data)
    return np.ascontiguousarray(data, dtype=np.float32)


def _sndfile_stream(path: str):
    """``(sample_rate, mono blocks)`` read with libsndfile: WAV, FLAC, OGG, MP3, AIFF..."""
    soundfile = _soundfile()
    try:
        handle = soundfile.SoundFile(path)
    except Exception as error:  # libsndfile reports every failure as its own error type
        raise _DecodeFailed(str(error)) from error
    if handle.samplerate <= 0:
        handle.close()
        raise _DecodeFailed("no sample rate")
    frames = int(handle.frames) if 0 <= handle.frames < 2 ** 62 else None

    def blocks():
        with handle:
            while True:
                try:
                    data = handle.read(DECODE_BLOCK_SAMPLES, dtype="float32", always_2d=True)
                except Exception as error:
                    raise _DecodeFailed(str(error)) from error
                if len(data) == 0:
                    return
                yield _mono(data)

    # an MP3's frame count is libsndfile's estimate from its header (see the module docstring)
    return Stream(int(handle.samplerate), blocks(), frames, exact=handle.format != "MPEG")


def _av_stream(path: str):
    """``(sample_rate, mono blocks)`` decoded with PyAV (FFmpeg): M4A/AAC and the rest FFmpeg reads."""
    try:
        import av
    except ImportError as error:
        raise _DecodeFailed("PyAV is not installed") from error
    try:
        container = av.open(path)
    except Exception as error:  # FFmpeg's errors: undecodable
        raise _DecodeFailed(str(error)) from error
    try:
        if not container.streams.audio:
            raise _DecodeFailed("no audio stream")
        frames = _av_frames(av, container, container.streams.audio[0])
        first = next(frames, None)
    except _DecodeFailed:
        container.close()
        raise
    except Exception as error:
        container.close()
        raise _DecodeFailed(str(error)) from error
    if first is None or not first.sample_rate:
        container.close()
        raise _DecodeFailed("no audio frames")

    def mono(frame) -> np.ndarray:
        data = frame.to_ndarray()
        if data.dtype.kind in "iu":
            data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
        channels = len(frame.layout.channels)
        data = data.reshape(channels, -1) if frame.format.is_planar else data.reshape(-1, channels).T
        return data.mean(axis=0, dtype=np.float64).astype(np.float32)

    def blocks():
        with container:
            pending, size = [mono(first)], first.samples
            while True:
                try:
                    frame = next(frames, None)
                except Exception as error:
                    raise _DecodeFailed(str(error)) from error
                if frame is not None:
                    pending.append(mono(frame))
                    size += frame.samples
                if pending and (frame is None or size >= DECODE_BLOCK_SAMPLES):
                    yield _mono(np.concatenate(pending))
                    pending, size = [], 0
                if frame is None:
                    return

    return Stream(int(first.sample_rate), blocks(), None, exact=False)


def _av_frames(av, container, stream):
    """The decoded frames of ``stream``, skipping packets FFmpeg finds invalid (as players
    do: e.g. the tag between two MP3 files concatenated into one)."""
    for packet in container.demux(stream):
        try:
            decoded = packet.decode()
        except av.error.InvalidDataError:
            continue
        yield from decoded


def _aud_stream(path: str):
    """``(sample_rate, mono blocks)`` from Blender's own audio library, when running in Blender.

    The last resort: ``aud`` hands over the whole file at once.
    """
    try:
        import aud
    except ImportError as error:
        raise _DecodeFailed("not inside Blender") from error
    try:
        sound = aud.Sound(path)
        sample_rate = int(sound.specs[0])
        data = np.asarray(sound.data(), dtype=np.float32)
    except Exception as error:
        raise _DecodeFailed(str(error)) from error
    if sample_rate <= 0:
        raise _DecodeFailed("no sample rate")
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float64).astype(np.float32)
    data = _mono(data)
    blocks = (data[start:start + DECODE_BLOCK_SAMPLES] for start in range(0, len(data), DECODE_BLOCK_SAMPLES))
    return Stream(sample_rate, blocks, len(data), exact=True)


_MP3_SUFFIXES = (".mp3", ".mp2", ".mpga")


def _looks_like_mp3(path: str) -> bool:
    """An ID3 tag or an MPEG audio frame at the start, or an MP3 file name."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(3)
    except OSError:
        return False
    frame_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head == b"ID3" or frame_sync or path.lower().endswith(_MP3_SUFFIXES)


def _decoders(path: str) -> tuple:
    """The decoders to try on ``path``, in order: FFmpeg first for MP3s (it decodes every
    frame; libsndfile stops at the header's estimate)."""
    if _looks_like_mp3(path):
        return (_av_stream, _aud_stream, _sndfile_stream)
    return (_sndfile_stream, _av_stream, _aud_stream)


def _check_rate(path: str, sample_rate: int) -> None:
    low, high = SAMPLE_RATE_RANGE_HZ
    if not low <= sample_rate <= high:
        raise AudioError(f"Sound file {path} declares a sample rate of {sample_rate} Hz: the limit is {low} to"
                         f" {high} Hz — export it again at 44.1 or 48 kHz")


def _limited(path: str, stream: "Stream") -> Iterator[np.ndarray]:
    """``stream``'s blocks, stopped with an ``AudioError`` once they pass ``MAX_DURATION_S``."""
    return _limited_blocks(path, stream.sample_rate, stream.blocks)


def _limited_blocks(path: str, rate: int, blocks) -> Iterator[np.ndarray]:
    decoded = 0
    for block in blocks:
        decoded += len(block)
        if decoded > MAX_DURATION_S * rate:
            check_duration(decoded / rate, f"Sound file {path}")
        yield block


def decode_with(path, consume):
    """``consume(stream, reopen)`` with the first decoder that reads all of ``path``.

    ``stream.blocks`` yields the file's mono float32 samples in [-1, 1] (the average of
    the channels; non-finite values become 0) in order, ``DECODE_BLOCK_SAMPLES`` or so at
    a time; ``reopen()`` decodes the file again with the same decoder (new blocks).
    A decoder that fails part-way is dropped and the next one starts ``consume`` again.

    Raises:
        AudioError: the file is missing, no decoder can read it, or it is outside the
            limits on sample rate and length.
    """
    path = check_exists(path)
    failure = None
    for open_stream in _decoders(path):
        try:
            stream = open_stream(path)
            _check_rate(path, stream.sample_rate)
            if stream.exact and stream.frames_hint is not None:
                check_duration(stream.frames_hint / stream.sample_rate, f"Sound file {path}")
            stream.blocks = _limited(path, stream)
            return consume(stream, lambda opener=open_stream: _limited(path, opener(path)))
        except _DecodeFailed as error:
            failure = failure or error
    raise _undecodable(path) from failure


def decode(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a whole sound file to mono (the analysis streams instead: see ``analyze``).

    Args:
        path: a file libsndfile reads (WAV, FLAC, OGG, MP3, AIFF, ...), or, when PyAV or
            Blender's ``aud`` module is available, anything FFmpeg reads (M4A/AAC, ...);
            any sample rate and channel count.

    Returns:
        ``(samples, sample_rate)``: float32 mono samples in [-1, 1] (the average of the
        channels; non-finite values become 0) and the sample rate in Hz.

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    def whole(stream, _reopen):
        parts = list(stream.blocks)
        return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), stream.sample_rate

    return decode_with(path, whole)


def duration_s(path: str | os.PathLike) -> float:
    """Length of a sound file in seconds: from its header where that is exact, else decoded
    (an MP3's header is an estimate: see the module docstring).

    Raises:
        AudioError: the file is missing, cannot be decoded or is outside the limits.
    """
    def length(stream, _reopen):
        if stream.exact and stream.frames_hint is not None:
            return stream.frames_hint / float(stream.sample_rate)
        return sum(len(block) for block in stream.blocks) / float(stream.sample_rate)

    return decode_with(path, length)


class Excerpts:
    """Some sample ranges of a file, sliced like the whole mono array would be (``len`` and
    ``[a:b]`` inside one range): what beat refinement reads, without the rest of the file."""

    def __init__(self, n_samples: int, pieces: list[tuple[int, np.ndarray]]):
        self._n = n_samples
        self._pieces = pieces

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, part: slice) -> np.ndarray:
        start, stop, _step = part.indices(self._n)
        for first, values in self._pieces:
            if first <= start and stop <= first + len(values):
                return values[start - first:stop - first]
        raise IndexError(f"samples {start}..{stop} were not read")

    @classmethod
    def read(cls, blocks, n_samples: int, ranges) -> "Excerpts":
        """The ``(start, stop)`` sample ranges of a decode pass (``blocks``), overlaps merged."""
        merged: list[list[int]] = []
        for start, stop in sorted((max(0, int(a)), min(n_samples, int(b))) for a, b in ranges):
            if stop <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        pieces = [(start, np.zeros(stop - start, np.float32)) for start, stop in merged]
        offset, index = 0, 0
        for block in blocks:
            end = offset + len(block)
            while index < len(pieces) and pieces[index][0] + len(pieces[index][1]) <= offset:
                index += 1
            for first, values in pieces[index:]:
                if first >= end:
                    break
                lo, hi = max(first, offset), min(first + len(values), end)
                values[lo - first:hi - first] = block[lo - offset:hi - offset]
            offset = end
            if index >= len(pieces):
                break
        return cls(n_samples, pieces)


# --------------------------------------------------------------------------- integration
