"""Audio features per video frame: what a visual follows, on exactly the right frames.

``analyze(path, timing, params)`` decodes a sound file and returns a :class:`FeatureTrack`:
one row per video frame of ``timing`` (see :mod:`.timing`), each row integrated over that
frame's exact time interval ``[edges[i], edges[i + 1])`` in file seconds. Nothing is
snapped to the frame rate or accumulated frame by frame: every analysis series is a
piecewise-constant function of file time (cells of a fixed length in seconds) and a
frame's value is the difference of its cumulative integral at the frame's two edges, so a
29.97 fps track does not drift over any length, and moving or trimming a strip only
shifts or drops rows. Event channels (beats, sections) are event *times* placed on the
frame whose interval contains them.

The work is split in two stages:

1. :func:`analyze_sound` (slow, timing-independent): decode, one STFT pass, beat
   tracking, harmonic/percussive split, structure. Its result, a :class:`SoundAnalysis`,
   is what the disk cache (:mod:`.cache`) stores, keyed by the file's content
   and the parameters, so moving, trimming or re-timing a strip reuses it. A file is
   decoded and analysed ``DECODE_BLOCK_SAMPLES`` at a time (a second pass reads the
   samples around the beats to refine them), so memory grows with the song's length only
   by its analysis series (a few MB a minute), and the result does not depend on the
   block size.
2. :func:`frame_features` (fast): integrate over the frames, normalise, shape.

Units: times are seconds, frequencies Hz, levels dB relative to full scale. Time outside
the file (before 0 s or after its end) is silence: every channel is 0 on frames that do
not overlap the file. Every channel is float32 and finite; an all-silent file gives zeros.

Channels (``CHANNELS``; the band names come from ``AnalysisParams.bands``):

``rms``
    Linear RMS amplitude of the mono mix over the frame (a full-scale sine gives 0.707).
    The squared signal is integrated in cells of ``level_cell_s`` (0.5 ms): exact for
    whole cells, a partly covered cell counts in proportion.
``loudness``
    0..1: the RMS level in dB mapped linearly from ``loudness_floor_db`` (0) to the
    track's ``normalise_percentile`` level (1), clipped.
``onset_strength``
    >= 0: positive log-magnitude spectral flux, summed over 1/6-octave frequency bands,
    averaged over the frame (see :func:`onset_envelope`).
``onset``
    0..1: how far ``onset_strength`` rises above its running median over
    ``onset_baseline_s`` (the steady flux every sound has), divided by the track's
    ``normalise_percentile`` value of that rise -- or by the track's median
    ``onset_strength`` if that is larger, so a sound without attacks (a held chord, a
    pad, noise) stays near 0 instead of being scaled up into constant "hits". Clipped.
``beat``, ``downbeat``
    1.0 on the frame whose interval contains a beat (a bar's first beat), else 0. Beat
    times are refined to the onset sample (about 1 ms): see :mod:`.beats`.
``tempo_bpm``
    Local tempo in beats per minute: 60 / the length of the beat interval that contains
    the frame's start (the first/last interval before/after the tracked beats); 0 if fewer
    than two beats were found.
``beat_phase``
    0..1: how far the frame's start is into the current beat, where a frame that contains
    a beat has that beat as its current beat (so it reads exactly 0 on every beat frame,
    then rises linearly until the next beat frame).
``bass``, ``low_mid``, ``high_mid``, ``treble`` (or the names of ``bands``)
    0..1: RMS amplitude of the band's frequency range (Hz, ``bands``), divided by the
    track's ``normalise_percentile`` value of that band (but at most ``band_range_db``
    below the loudest band's), clipped.
``centroid_hz``
    Spectral centroid in Hz (power-weighted mean frequency over the frame); 0 in silence.
``flux``
    0..1: linear-magnitude spectral flux (RMS of the magnitude increases), normalised
    like ``onset``. Smoother and more level-dependent than ``onset``.
``chroma_0`` .. ``chroma_11``
    0..1: energy of each pitch class C, C#, .. B over the frame, divided by the frame's
    strongest class (all 0 in silence).
``percussive``, ``harmonic``
    0..1: RMS amplitude of the percussive and of the harmonic part of a median-filter
    harmonic/percussive split (percussive: what rises above each 1/12-octave band's
    running median over ``hpss_time_s``), each divided by its own ``normalise_percentile`` value,
    clipped (linear, like the bands: drum hits stand out as pulses).
``section``
    Section index 0, 1, 2, ... (float32 holding integers): the number of section
    boundaries (structure segmentation, see :mod:`.sections`) up to this frame.
``section_change``
    1.0 on the first frame of every section (including the first, at the file's start;
    none in an all-silent file).

Normalisation (``AnalysisParams.normalise`` or per channel in ``shapes``):
``"percentile"`` (default) as described above, or ``"adaptive"``: the channel's linear
quantity (RMS, strength, flux) divided by its centred running average over
``adaptive_window_s`` seconds, so values hover around 1.0 (clipped to 0..4).
Shaping (``shapes``): per channel a latency/look-ahead in milliseconds, an attack/release
envelope and a Gaussian smoothing in seconds (fps-invariant; see :mod:`.smoothing`).

The per-track statistics are taken over every video frame of the same frame grid that
overlaps the file, whatever frame range was asked for, so the value of a frame does not
depend on trims.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import beats as beat_tools
from . import sections as section_tools
from . import smoothing
from ..errors import UserError
from .timing import Timing

__all__ = [
    "AudioError",
    "AnalysisParams",
    "ChannelShape",
    "FeatureTrack",
    "SoundAnalysis",
    "CHANNELS",
    "BASIC_CHANNELS",
    "analyze",
    "analyze_samples",
    "analyze_sound",
    "analyze_stems",
    "frame_features",
    "check_exists",
    "decode",
    "duration_s",
    "onset_envelope",
]

DEFAULT_BANDS = (("bass", 20.0, 250.0), ("low_mid", 250.0, 2000.0), ("high_mid", 2000.0, 6000.0),
                 ("treble", 6000.0, 20000.0))
CHROMA_CHANNELS = tuple(f"chroma_{i}" for i in range(12))
BASIC_CHANNELS = ("rms", "loudness", "onset_strength", "onset")
BEAT_CHANNELS = ("beat", "downbeat", "tempo_bpm", "beat_phase")
SECTION_CHANNELS = ("section", "section_change")
CHANNELS = (BASIC_CHANNELS + BEAT_CHANNELS + tuple(name for name, _lo, _hi in DEFAULT_BANDS)
            + ("centroid_hz", "flux") + CHROMA_CHANNELS + ("percussive", "harmonic") + SECTION_CHANNELS)
READABLE_FORMATS = "WAV, FLAC, OGG (Vorbis/Opus), MP3, AIFF or M4A/AAC"  # M4A/AAC: with PyAV or inside Blender
NORMALISE_MODES = ("percentile", "adaptive")

_FFT_BLOCK_FRAMES = 1024  # STFT frames transformed at once (bounds memory, not results)


class AudioError(UserError):
    """A sound file that cannot be used: ``str(error)`` is one line naming the file and the fix."""


@dataclass(frozen=True)
class ChannelShape:
    """How one channel is shaped after normalisation (all fps-invariant).

    Attributes:
        latency_ms: delay in milliseconds (negative: look-ahead, the channel moves before
            the music). Event channels (beats, sections) move their event times.
        attack_s, release_s: envelope follower time constants in seconds (0 = off).
        smooth_s: standard deviation in seconds of a centred Gaussian smoothing (0 = off).
        normalise: "percentile" or "adaptive" for this channel; None = the track default.
    """

    latency_ms: float = 0.0
    attack_s: float = 0.0
    release_s: float = 0.0
    smooth_s: float = 0.0
    normalise: str | None = None

    def __post_init__(self):
        if self.normalise is not None and self.normalise not in NORMALISE_MODES:
            raise ValueError(f"normalise must be one of {NORMALISE_MODES} or None, got {self.normalise!r}")
        if min(self.attack_s, self.release_s, self.smooth_s) < 0 or not math.isfinite(self.latency_ms):
            raise ValueError("attack_s, release_s and smooth_s must be >= 0 seconds, latency_ms finite")


@dataclass(frozen=True)
class AnalysisParams:
    """Settings of :func:`analyze`.

    Attributes:
        onset_hop_s: hop in seconds between successive STFT frames (rounded to whole
            samples): the time resolution of every spectral feature.
        onset_window_s: STFT window length in seconds.
        loudness_floor_db: level in dB re full scale that ``loudness`` maps to 0 (and
            anything quieter).
        normalise_percentile: percentile (0-100] of a track's frames that normalised
            channels map to 1.
        spectral_floor_db: magnitude floor in dB of the onset spectrum, relative to white
            noise of full-scale RMS; spectral content below it counts as silence.
        bands: ``(name, low_hz, high_hz)`` of each band-energy channel.
        level_cell_s: resolution in seconds of the squared signal behind ``rms``.
        tempo_min_bpm, tempo_max_bpm, tempo_prior_bpm: tempo range searched and the
            tempo preferred when double or half would fit as well.
        beat_tightness: how strictly beats keep to the local tempo (lower follows
            expressive timing and tempo changes more freely).
        refine_beats: move beats to their onset sample (about 1 ms accurate).
        beats_per_bar: for downbeats.
        hpss_time_s: running-median length of the harmonic/percussive split, seconds.
        section_kernel_s, min_section_s, section_threshold: structure segmentation
            (see :func:`.sections.section_boundaries`).
        band_range_db: with "percentile" normalisation a band is never scaled up by more
            than this many dB relative to the loudest band, so a band with almost nothing
            in it reads near 0, not a full-range copy of its noise.
        onset_baseline_s: window in seconds of the running median that ``onset`` rises
            above (see the module docstring).
        normalise: "percentile" or "adaptive" for every normalised channel (see module).
        adaptive_window_s: running-average length of "adaptive" normalisation, seconds.
        shapes: ``((channel, ChannelShape), ...)``: per-channel latency and smoothing.
    """

    onset_hop_s: float = 0.005
    onset_window_s: float = 0.046
    loudness_floor_db: float = -60.0
    normalise_percentile: float = 98.0
    spectral_floor_db: float = -80.0
    bands: tuple = DEFAULT_BANDS
    level_cell_s: float = 0.0005
    tempo_min_bpm: float = 60.0
    tempo_max_bpm: float = 180.0
    tempo_prior_bpm: float = 120.0
    beat_tightness: float = 100.0
    refine_beats: bool = True
    beats_per_bar: int = 4
    hpss_time_s: float = 0.2
    section_kernel_s: float = 12.0
    min_section_s: float = 8.0
    section_threshold: float = 0.25
    band_range_db: float = 30.0
    onset_baseline_s: float = 0.5
    normalise: str = "percentile"
    adaptive_window_s: float = 4.0
    shapes: tuple = ()

    def __post_init__(self):
        if not (self.onset_hop_s > 0 and self.onset_window_s > 0 and self.level_cell_s > 0):
            raise ValueError("onset_hop_s, onset_window_s and level_cell_s must be positive seconds")
        if not 0 < self.normalise_percentile <= 100:
            raise ValueError(f"normalise_percentile must be in (0, 100], got {self.normalise_percentile}")
        if not (math.isfinite(self.loudness_floor_db) and math.isfinite(self.spectral_floor_db)):
            raise ValueError("floor levels must be finite dB values")
        if self.normalise not in NORMALISE_MODES:
            raise ValueError(f"normalise must be one of {NORMALISE_MODES}, got {self.normalise!r}")
        if not self.onset_baseline_s > 0:
            raise ValueError(f"onset_baseline_s must be positive seconds, got {self.onset_baseline_s}")
        names = set()
        for band in self.bands:
            name, low, high = band
            if not (0 <= low < high) or name in names:
                raise ValueError(f"band {band!r}: needs a unique name and 0 <= low_hz < high_hz")
            names.add(name)
        if not 0 < self.tempo_min_bpm < self.tempo_max_bpm:
            raise ValueError("tempo range must satisfy 0 < tempo_min_bpm < tempo_max_bpm")
        if self.beats_per_bar < 1:
            raise ValueError("beats_per_bar must be at least 1")
        for entry in self.shapes:
            channel, shape = entry
            if not isinstance(channel, str) or not isinstance(shape, ChannelShape):
                raise ValueError(f"shapes entries are (channel name, ChannelShape), got {entry!r}")

    def with_shapes(self, **shapes: ChannelShape) -> "AnalysisParams":
        """A copy with ``shapes`` for the named channels (``bass=ChannelShape(...)``)."""
        merged = dict(self.shapes)
        merged.update(shapes)
        return dataclasses.replace(self, shapes=tuple(sorted(merged.items())))

    def band_names(self) -> tuple[str, ...]:
        return tuple(name for name, _lo, _hi in self.bands)

    def channel_names(self) -> tuple[str, ...]:
        """Every channel :func:`analyze` produces with these parameters, in a fixed order."""
        return (BASIC_CHANNELS + BEAT_CHANNELS + self.band_names() + ("centroid_hz", "flux") + CHROMA_CHANNELS
                + ("percussive", "harmonic") + SECTION_CHANNELS)


# Parameters that only affect the per-frame stage: not part of the sound-analysis cache key.
FRAME_STAGE_FIELDS = ("loudness_floor_db", "normalise_percentile", "band_range_db", "onset_baseline_s", "normalise",
                      "adaptive_window_s", "shapes")


def sound_params_key(params: AnalysisParams) -> dict:
    """The parameters :func:`analyze_sound` depends on, as JSON-ready plain values."""
    values = dataclasses.asdict(params)
    for name in FRAME_STAGE_FIELDS:
        values.pop(name)
    values["bands"] = [list(band) for band in params.bands]
    return values


@dataclass
class FeatureTrack:
    """Audio features, one row per video frame of ``timing``.

    Attributes:
        timing: the frames the rows belong to (row ``i`` is scene frame
            ``timing.frame_first + i``).
        channels: name -> float32 array of shape ``(timing.n_frames,)``.
        beats_s, downbeats_s, sections_s: event times in file seconds (sections: the
            start of every section after the first).
    """

    timing: Timing
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    beats_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    downbeats_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sections_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.channels[name]
        except KeyError:
            raise KeyError(f"no channel {name!r}; channels are {sorted(self.channels)}") from None


@dataclass
class Grid:
    """A piecewise-constant function of file time: ``values[i]`` holds on
    ``[first_s + i * cell_s, first_s + (i + 1) * cell_s)`` seconds (rows; extra axes are columns)."""

    values: np.ndarray
    first_s: float
    cell_s: float


@dataclass
class SoundAnalysis:
    """Everything about a sound file that does not depend on the video frames (cacheable)."""

    sample_rate: int
    n_samples: int
    grids: dict[str, Grid]
    beats_s: np.ndarray
    downbeats_s: np.ndarray
    sections_s: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.sample_rate)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array form (for ``np.savez``)."""
        out = {
            "meta": np.array([self.sample_rate, self.n_samples], dtype=np.int64),
            "beats_s": self.beats_s, "downbeats_s": self.downbeats_s, "sections_s": self.sections_s,
        }
        for name, grid in self.grids.items():
            out[f"grid.{name}"] = grid.values
            out[f"grid.{name}.time"] = np.array([grid.first_s, grid.cell_s], dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "SoundAnalysis":
        grids = {}
        for key in arrays:
            if key.startswith("grid.") and not key.endswith(".time"):
                first_s, cell_s = (float(v) for v in arrays[f"{key}.time"])
                grids[key[len("grid."):]] = Grid(np.asarray(arrays[key]), first_s, cell_s)
        meta = arrays["meta"]
        return cls(int(meta[0]), int(meta[1]), grids, np.asarray(arrays["beats_s"]),
                   np.asarray(arrays["downbeats_s"]), np.asarray(arrays["sections_s"]))


# --------------------------------------------------------------------------- decoding

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

    return int(handle.samplerate), blocks()


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
        frames = container.decode(container.streams.audio[0])
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

    return int(first.sample_rate), blocks()


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
    return sample_rate, (data[start:start + DECODE_BLOCK_SAMPLES] for start in range(0, len(data), DECODE_BLOCK_SAMPLES))


_DECODERS = (_sndfile_stream, _av_stream, _aud_stream)


def _decode_with(path, consume):
    """``consume(sample_rate, blocks, reopen)`` with the first decoder that reads all of ``path``.

    ``blocks`` yields the file's mono float32 samples in [-1, 1] (the average of the
    channels; non-finite values become 0) in order, ``DECODE_BLOCK_SAMPLES`` or so at a
    time; ``reopen()`` decodes the file again with the same decoder (a new ``blocks``).
    A decoder that fails part-way is dropped and the next one starts ``consume`` again.

    Raises:
        AudioError: the file is missing or no decoder can read it.
    """
    path = check_exists(path)
    failure = None
    for open_stream in _DECODERS:
        try:
            sample_rate, blocks = open_stream(path)
            return consume(sample_rate, blocks, lambda stream=open_stream: stream(path)[1])
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
    def whole(sample_rate, blocks, _reopen):
        parts = list(blocks)
        return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), sample_rate

    return _decode_with(path, whole)


def duration_s(path: str | os.PathLike) -> float:
    """Length of a sound file in seconds, read from its header (decoded if it has none).

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    path = check_exists(path)
    soundfile = _soundfile()
    try:
        info = soundfile.info(path)
    except Exception:
        return _decode_with(path, lambda rate, blocks, _reopen: sum(len(block) for block in blocks) / float(rate))
    if info.samplerate <= 0:
        raise _undecodable(path)
    return info.frames / float(info.samplerate)


class _Excerpts:
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
    def read(cls, blocks, n_samples: int, ranges) -> "_Excerpts":
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


def _cumulative(values: np.ndarray) -> np.ndarray:
    """``c[0] = 0, c[i] = sum(values[:i])`` in float64 (along the first axis)."""
    values = np.asarray(values)
    out = np.empty((len(values) + 1,) + values.shape[1:], dtype=np.float64)
    out[0] = 0.0
    np.cumsum(values, axis=0, dtype=np.float64, out=out[1:])
    return out


def _integral_at(cum: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Integral from 0 to ``pos`` of a function constant on unit cells ``[i, i + 1)``.

    ``cum`` is the cumulative sum of the cell values (length ``n_cells + 1``, extra axes
    are columns); positions are in cell units and clipped to ``[0, n_cells]`` (the
    function is 0 outside).
    """
    n_cells = len(cum) - 1
    if n_cells <= 0:
        return np.zeros((len(pos),) + cum.shape[1:], dtype=np.float64)
    pos = np.clip(pos, 0.0, float(n_cells))
    index = np.minimum(np.floor(pos).astype(np.int64), n_cells - 1)
    frac = pos - index
    if cum.ndim > 1:
        frac = frac.reshape((-1,) + (1,) * (cum.ndim - 1))
    return cum[index] + frac * (cum[index + 1] - cum[index])


def _interval_means(cum: np.ndarray, start: np.ndarray, stop: np.ndarray, cell_s: float, first_cell_s: float,
                    end_s: float) -> np.ndarray:
    """Mean over each ``[start, stop)`` (seconds) of a piecewise-constant function.

    Cell ``i`` of the function covers ``[first_cell_s + i * cell_s, ... + cell_s)`` seconds;
    the function is 0 before 0 s, after ``end_s`` and outside its cells.
    """
    def position(t):
        return (np.clip(t, 0.0, end_s) - first_cell_s) / cell_s

    area = _integral_at(cum, position(stop)) - _integral_at(cum, position(start))
    duration_cells = (stop - start) / cell_s
    if area.ndim > 1:
        duration_cells = duration_cells.reshape((-1,) + (1,) * (area.ndim - 1))
    return np.maximum(area, 0.0) / duration_cells


def _grid_means(grid: Grid, edges: np.ndarray, end_s: float, cum: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``grid`` over each interval between consecutive ``edges`` (seconds)."""
    if cum is None:
        cum = _cumulative(grid.values)
    return _interval_means(cum, edges[:-1], edges[1:], grid.cell_s, grid.first_s, end_s)


# --------------------------------------------------------------------------- onset envelope

_RISE_HOPS = 2  # length of the onset window's rising edge, in hops
_PLACEMENT_DELAY_HOPS = 0.25  # flux value k is placed on [k + 1/4, k + 5/4) hops
_LOWEST_BAND_HZ = 30.0
_BANDS_PER_OCTAVE = 6


def _onset_window(length: int, rise: int) -> np.ndarray:
    """Analysis window whose newest ``rise`` samples rise from 0 and older ones fall slowly.

    A symmetric window only reaches a new sound's full level half a window after the
    sound starts, so its flux would trail the onset by up to ``onset_window_s / 2``. This
    window's short rising edge (at the end: the newest samples) makes the log magnitude
    jump within ``rise`` samples of the start of a sound; the long half-Hann tail keeps
    the frequency resolution of the full length.
    """
    rise = min(max(1, rise), length - 1)
    fall = length - rise
    window = np.empty(length, dtype=np.float64)
    window[:fall] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fall) + 0.5) / fall)
    window[fall:] = 0.5 + 0.5 * np.cos(np.pi * (np.arange(rise) + 0.5) / rise)
    return window


def _band_starts(n_bins: int, bin_hz: float, per_octave: int = _BANDS_PER_OCTAVE) -> np.ndarray:
    """First FFT bin of each band: 1/``per_octave``-octave bands from 30 Hz, each at least one bin wide."""
    top_hz = (n_bins - 1) * bin_hz
    if top_hz <= _LOWEST_BAND_HZ:
        return np.zeros(1, dtype=np.int64)
    n_edges = int(math.ceil(math.log2(top_hz / _LOWEST_BAND_HZ) * per_octave))
    edges_hz = _LOWEST_BAND_HZ * 2.0 ** (np.arange(n_edges) / per_octave)
    starts = np.unique(np.concatenate([[0], np.ceil(edges_hz / bin_hz).astype(np.int64)]))
    return starts[starts < n_bins]


_FINE_PER_OCTAVE = 12  # bands per octave of the spectrum behind the harmonic/percussive split
_CHROMA_LOW_HZ, _CHROMA_HIGH_HZ = 100.0, 5000.0


def _peak_chroma(power: np.ndarray, first_bin: int, bin_hz: float) -> np.ndarray:
    """Pitch-class energy ``(rows, 12)`` from the spectral peaks of ``power[:, first_bin - 1:]``.

    Each local maximum's frequency is refined by parabolic interpolation of the log power
    (so a low note is placed to a fraction of a semitone although a bin is wider), and
    the power of its three bins goes to the nearest pitch class (C = 0).
    """
    rows_n = len(power)
    segment = power[:, first_bin - 1:]
    if segment.shape[1] < 3:
        return np.zeros((rows_n, 12))
    log = np.log(segment + 1e-20)
    left, mid, right = log[:, :-2], log[:, 1:-1], log[:, 2:]
    rows, cols = np.nonzero((mid > left) & (mid >= right) & (segment[:, 1:-1] > 1e-14))
    if len(rows) == 0:
        return np.zeros((rows_n, 12))
    a, b, c = left[rows, cols], mid[rows, cols], right[rows, cols]
    curvature = a - 2.0 * b + c
    delta = np.clip(np.where(curvature < 0, 0.5 * (a - c) / np.where(curvature < 0, curvature, -1.0), 0.0), -0.5, 0.5)
    freq = (first_bin + cols + delta) * bin_hz
    pitch_class = np.round(69.0 + 12.0 * np.log2(freq / 440.0)).astype(np.int64) % 12
    energy = segment[rows, cols] + segment[rows, cols + 1] + segment[rows, cols + 2]
    return np.bincount(rows * 12 + pitch_class, weights=energy, minlength=rows_n * 12).reshape(rows_n, 12)


def _rfft():
    """A real FFT over rows: scipy's (float32 in, complex64 out, both cores) if available."""
    try:
        import scipy.fft
    except ImportError:  # numpy's: float64, one core
        return lambda frames, n: np.fft.rfft(frames, n=n, axis=1)
    return lambda frames, n: scipy.fft.rfft(frames, n=n, axis=1, workers=-1)


def _concatenated(parts: list, columns: tuple = (), dtype=np.float64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0,) + columns, dtype=dtype)


class _SpectralStream:
    """The STFT pass behind :func:`onset_envelope` and :func:`analyze_sound`, fed in blocks.

    ``feed(samples)`` takes a file's mono float32 samples in order, in blocks of any size;
    ``finish()`` returns the series as a dict: the onset flux (see
    :func:`onset_envelope`) and, with ``extras``, per-window spectral series (band powers,
    centroid, linear flux, chroma) and what the analysis keeps of the 1/12-octave band
    powers (the harmonic/percussive split, the bass below 150 Hz, half-octave timbre).
    Windows are transformed ``_FFT_BLOCK_FRAMES`` at a time once all their samples have
    arrived, so memory is a few blocks whatever the file's length, and the result does
    not depend on the block sizes.
    """

    def __init__(self, sample_rate: int, params: AnalysisParams, extras: bool):
        self.sample_rate = int(sample_rate)
        self.extras = extras
        self.hop = max(1, int(round(params.onset_hop_s * sample_rate)))
        self.hop_s = self.hop / float(sample_rate)
        self.window_len = max(2, int(round(params.onset_window_s * sample_rate)))
        self.n_fft = 1 << (self.window_len - 1).bit_length()
        window = _onset_window(self.window_len, _RISE_HOPS * self.hop)
        self.power_scale = 1.0 / float(np.sum(window ** 2))
        self.window = window.astype(np.float32)
        n_bins = self.n_fft // 2 + 1
        self.bin_hz = sample_rate / self.n_fft
        self.starts = _band_starts(n_bins, self.bin_hz)
        self.band_scale = self.power_scale / np.diff(np.append(self.starts, n_bins))
        self.floor_power = 10.0 ** (params.spectral_floor_db / 10.0)
        self.previous = 0.5 * np.log(np.full(len(self.starts), self.floor_power))  # window 0: silence
        self.rfft = _rfft()
        # padded samples: window_len zeros (the silence before the file), the file, then
        # its end reflected; window j is padded[j * hop:j * hop + window_len]
        self._buffer = np.zeros(self.window_len, dtype=np.float32)
        self._buffer_start = 0  # padded index of self._buffer[0]
        self._last = np.zeros(0, dtype=np.float32)  # the file's last hop + 1 samples (its end)
        self.n_samples = 0
        self._next_window = 1  # window 0 is all silence: nothing to transform
        self._out: dict[str, list] = {"flux": []}
        if extras:
            # the spectral features use a symmetric Hann window (low leakage between bands)
            hann = (0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(self.window_len) + 0.5) / self.window_len))
            self.ms_scale = 2.0 / (self.n_fft * float(np.sum(hann ** 2)))  # bin power -> share of the mean square
            self.hann = hann.astype(np.float32)
            self.user_bins = [(max(1, int(math.ceil(low / self.bin_hz))), min(n_bins, int(math.ceil(high / self.bin_hz))))
                              for _name, low, high in params.bands]
            self.freqs = np.arange(n_bins) * self.bin_hz
            self.chroma_first = max(1, int(math.ceil(_CHROMA_LOW_HZ / self.bin_hz)))
            self.chroma_last = min(n_bins - 1, int(_CHROMA_HIGH_HZ / self.bin_hz) + 1)
            self.fine_starts = _band_starts(n_bins, self.bin_hz, _FINE_PER_OCTAVE)
            self.fine_hz = self.fine_starts * self.bin_hz
            self.bass_bands = self.fine_hz < _DOWNBEAT_BASS_HZ
            self.previous_mag = np.zeros(n_bins)
            self.hpss = _HarmonicPercussiveStream(self.fine_hz, self.hop_s, params)
            self._out.update(band_ms=[], centroid=[], lin_flux=[], chroma=[], bass=[], timbre=[])

    def feed(self, samples: np.ndarray) -> None:
        """Take the next samples of the file (mono float32) and transform what is complete."""
        if len(samples) == 0:
            return
        self._buffer = np.concatenate([self._buffer, samples])
        self._last = np.concatenate([self._last[-self.hop:], samples[-(self.hop + 1):]])[-(self.hop + 1):]
        self.n_samples += len(samples)
        # a block of windows whose samples are all in the file (window j: j * hop <= n)
        while (self._next_window + _FFT_BLOCK_FRAMES - 1) * self.hop <= self.n_samples:
            self._transform(self._next_window, self._next_window + _FFT_BLOCK_FRAMES)

    def finish(self) -> dict:
        n, hop = self.n_samples, self.hop
        out = {"flux": np.zeros(0), "flux_first_s": _PLACEMENT_DELAY_HOPS * self.hop_s, "hop_s": self.hop_s,
               "hop": hop}
        if n == 0:
            return out
        n_cells = -(-n // hop)  # ceil: the cells cover the whole file
        n_windows = n_cells + 1  # window j covers samples [j * hop - window_len, j * hop)
        tail = n_cells * hop - n
        end = self._last[-(tail + 1):] if tail < n else self._last  # all that the reflection reads
        self._buffer = np.concatenate([self._buffer, np.pad(end, (0, tail), mode="reflect")[len(end):]])
        for first in range(self._next_window, n_windows, _FFT_BLOCK_FRAMES):
            self._transform(first, min(first + _FFT_BLOCK_FRAMES, n_windows))
        for name in list(self._out):  # (each list is dropped as soon as it is joined)
            out[name] = _concatenated(self._out.pop(name))
        if self.extras:
            # window j (ending at sample j * hop) is centred half a window earlier; cell
            # j - 1 of these series is centred there
            out.update(spectral_first_s=(hop - 0.5 * self.window_len - 0.5 * hop) / self.sample_rate,
                       hp=self.hpss.finish())
        return out

    def _transform(self, first: int, last: int) -> None:
        """Windows ``[first, last)``: one row each of every series."""
        hop = self.hop
        offset = first * hop - self._buffer_start
        frames = np.lib.stride_tricks.sliding_window_view(
            self._buffer[offset:offset + (last - 1 - first) * hop + self.window_len], self.window_len)[::hop]
        spectrum = self.rfft(frames * self.window, self.n_fft)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        bands = np.add.reduceat(power, self.starts, axis=1, dtype=np.float64)
        bands *= self.band_scale
        bands += self.floor_power
        log_mag = 0.5 * np.log(bands)
        steps = np.diff(log_mag, axis=0, prepend=self.previous[None, :])
        np.maximum(steps, 0.0, out=steps)
        self._out["flux"].append(steps.sum(axis=1))
        self.previous = log_mag[-1]
        if self.extras:
            self._spectral_rows(frames)
        self._next_window = last
        drop = last * hop - self._buffer_start  # samples no later window reads
        self._buffer = self._buffer[drop:]
        self._buffer_start += drop

    def _spectral_rows(self, frames: np.ndarray) -> None:
        spectrum = self.rfft(frames * self.hann, self.n_fft)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        power *= self.ms_scale
        band_ms = np.zeros((len(power), len(self.user_bins)), dtype=np.float32)
        for column, (lo, hi) in enumerate(self.user_bins):
            if lo < hi:
                band_ms[:, column] = power[:, lo:hi].sum(axis=1)
        centroid = np.zeros((len(power), 2), dtype=np.float64)
        centroid[:, 0] = power @ self.freqs
        centroid[:, 1] = power[:, 1:].sum(axis=1)
        magnitude = np.sqrt(power)
        rise = np.diff(magnitude, axis=0, prepend=self.previous_mag[None, :])
        np.maximum(rise, 0.0, out=rise)
        self._out["lin_flux"].append(np.sqrt(np.einsum("ij,ij->i", rise, rise)).astype(np.float32))
        self.previous_mag = magnitude[-1]
        chroma = np.zeros((len(power), 12), dtype=np.float32)
        if self.chroma_last - self.chroma_first >= 1:
            chroma[:] = _peak_chroma(power[:, :self.chroma_last + 1], self.chroma_first, self.bin_hz)
        fine = np.add.reduceat(power, self.fine_starts, axis=1)
        self._out["band_ms"].append(band_ms)
        self._out["centroid"].append(centroid)
        self._out["chroma"].append(chroma)
        self._out["bass"].append(fine[:, self.bass_bands].sum(axis=1))
        self._out["timbre"].append(_timbre_sums(fine))
        self.hpss.feed(fine)


def _timbre_sums(fine: np.ndarray) -> np.ndarray:
    """Half-octave sums of 1/12-octave band powers (rows: windows), float32."""
    per_group = _FINE_PER_OCTAVE // 2
    n_groups = -(-fine.shape[1] // per_group)
    grouped = np.zeros((len(fine), n_groups * per_group), dtype=np.float64)
    grouped[:, : fine.shape[1]] = fine
    return grouped.reshape(len(fine), n_groups, per_group).sum(axis=2).astype(np.float32)


def onset_envelope(samples: np.ndarray, sample_rate: int,
                   params: AnalysisParams = AnalysisParams()) -> tuple[np.ndarray, float, float]:
    """Fine onset-strength envelope: positive log-magnitude spectral flux per hop.

    STFT window ``j`` (``onset_window_s`` long, see :func:`_onset_window`) ends at sample
    ``j * hop``. Its power spectrum is summed into 1/6-octave bands (so that steady noise
    does not add up to a flux of its own and a kick counts as much as a hi-hat), each
    band scaled so that white noise of RMS ``s`` reads ``s**2``, floored softly at
    ``spectral_floor_db`` and log-compressed (natural log of magnitude). Value ``k`` is
    the sum over bands of the increases from window ``k`` to window ``k + 1``: what the
    samples ``[k * hop, (k + 1) * hop)`` brought in. The window's rising edge is two hops
    long, so that rise is spread over the two or three hops after a sound starts; value
    ``k`` is placed on ``[(k + 1/4) * hop, (k + 5/4) * hop)``. Measured on clicks, noise
    bursts and kicks, this shows a sound in the video frame where it starts unless it
    starts in the last two hops or so of that frame (then it may peak in the next frame),
    and at most a small part of its flux precedes it.

    The file is preceded by silence (a sound that starts the file is an onset) and its
    end is padded by reflection (a file cut mid-sound has no onset at its end).

    Returns:
        ``(values, first_s, hop_s)``: float64 values (sum of nepers per hop), value
        ``k`` describing file time ``[first_s + k * hop_s, first_s + (k + 1) * hop_s)``
        seconds; ``hop_s`` is ``onset_hop_s`` rounded to whole samples.
    """
    stream = _SpectralStream(sample_rate, params, extras=False)
    for block in _array_blocks(np.asarray(samples, dtype=np.float32)):
        stream.feed(block)
    result = stream.finish()
    return result["flux"], result["flux_first_s"], result["hop_s"]


def _array_blocks(samples: np.ndarray):
    """Decoded samples in the blocks a decoder would give (the same code runs for both)."""
    return (samples[start:start + DECODE_BLOCK_SAMPLES] for start in range(0, len(samples), DECODE_BLOCK_SAMPLES))


# --------------------------------------------------------------------------- sound analysis


def _odd(value: float, minimum: int = 3) -> int:
    size = max(minimum, int(round(value)))
    return size if size % 2 else size + 1


class _HarmonicPercussiveStream:
    """(harmonic, percussive) mean square per STFT window, from 1/12-octave band powers
    fed in order (rows: windows); memory is a few blocks of rows whatever the length.

    Band powers are averaged over groups of 4 windows. Each band's running median over
    ``hpss_time_s`` (of groups) is its *held* level (Fitzgerald's harmonic median filter);
    a median over one octave of bands is its *broadband* level (his percussive filter).
    Power that rises above the held level counts as percussive in the proportion
    ``broad**2 / (broad**2 + held**2)``; the rest is harmonic. Requiring both (a rise, and
    a broadband one) keeps a chord's tremolo and beating out of the percussive part. A
    group is split as soon as the groups its median reaches have arrived.
    """

    GROUP = 4

    def __init__(self, fine_hz: np.ndarray, hop_s: float, params: AnalysisParams):
        self.size = _odd(params.hpss_time_s / (self.GROUP * hop_s))
        self.radius = self.size // 2
        widths = np.diff(np.append(fine_hz, fine_hz[-1] * 2 ** (1 / _FINE_PER_OCTAVE)))
        self.widths = np.maximum(widths, 1e-9)[None, :]
        n_bands = len(fine_hz)
        self._fine = np.zeros((0, n_bands), dtype=np.float32)  # windows of groups not yet split
        self._coarse = np.zeros((0, n_bands), dtype=np.float32)  # group means from group self._coarse_first
        self._coarse_first = 0
        self._split = 0  # groups split so far
        self._split_rows: list[np.ndarray] = []  # (harmonic, percussive) per window, float32

    def feed(self, fine: np.ndarray) -> None:
        self._fine = np.concatenate([self._fine, fine])
        self._add_coarse(self._split + len(self._fine) // self.GROUP)
        self._split_until(self._coarse_first + len(self._coarse) - self.radius, at_end=False)

    def finish(self) -> np.ndarray:
        """(n_windows, 2) float32: harmonic, percussive mean square of each window."""
        n_groups = self._split + -(-len(self._fine) // self.GROUP)
        self._add_coarse(n_groups)
        self._split_until(n_groups, at_end=True)
        return _concatenated(self._split_rows, (2,), np.float32)

    def _add_coarse(self, n_groups: int) -> None:
        """Group means up to group ``n_groups`` (a last, partial group padded with zeros)."""
        have = self._coarse_first + len(self._coarse)
        if n_groups <= have:
            return
        rows = self._fine[(have - self._split) * self.GROUP:(n_groups - self._split) * self.GROUP]
        padded = np.zeros(((n_groups - have) * self.GROUP, rows.shape[1]), dtype=np.float32)
        padded[:len(rows)] = rows
        coarse = padded.reshape(n_groups - have, self.GROUP, rows.shape[1]).mean(axis=1)
        self._coarse = np.concatenate([self._coarse, coarse])

    def _split_until(self, end: int, at_end: bool) -> None:
        """Split groups ``[self._split, end)``: their medians' groups are all there (or the file ended)."""
        from scipy.ndimage import median_filter

        if end <= self._split:
            return
        # the median of group g reads groups g - radius .. g + radius: from the file's start
        # or end it reflects, as it does over the whole file
        lo = max(0, self._split - self.radius)
        hi = self._coarse_first + len(self._coarse) if at_end else end + self.radius
        window = self._coarse[lo - self._coarse_first:hi - self._coarse_first]
        held = median_filter(window, size=(self.size, 1), mode="reflect")[self._split - lo:end - lo]
        coarse = window[self._split - lo:end - lo]
        density = coarse / self.widths
        broad = median_filter(density, size=(1, _odd(_FINE_PER_OCTAVE)), mode="reflect")
        held_density = held / self.widths
        b2, h2 = broad.astype(np.float64) ** 2, held_density.astype(np.float64) ** 2
        broadband = np.where(b2 + h2 > 0, b2 / np.where(b2 + h2 > 0, b2 + h2, 1.0), 0.0)
        n_rows = min(len(self._fine), (end - self._split) * self.GROUP)
        fine = self._fine[:n_rows]
        held = np.repeat(held, self.GROUP, axis=0)[:n_rows]
        broadband = np.repeat(broadband, self.GROUP, axis=0)[:n_rows]
        percussive_ms = np.einsum("ij,ij->i", np.maximum(fine - held, 0.0), broadband)
        harmonic_ms = fine.sum(axis=1, dtype=np.float64) - percussive_ms
        self._split_rows.append(np.stack([np.maximum(harmonic_ms, 0.0), percussive_ms], axis=1).astype(np.float32))
        self._fine = self._fine[n_rows:]
        self._split = end
        keep_from = max(0, end - self.radius)  # the next medians read back this far
        self._coarse = self._coarse[keep_from - self._coarse_first:]
        self._coarse_first = keep_from


def _sustained(values: np.ndarray, hop_s: float, length_s: float, group: int = 4) -> np.ndarray:
    """A running median over ``length_s`` along time of ``group``-window means (keeps
    held notes, drops drum hits): one row per ``group`` windows."""
    from scipy.ndimage import median_filter

    n = len(values)
    if n == 0:
        return values
    n_groups = -(-n // group)
    padded = np.zeros((n_groups * group,) + values.shape[1:], dtype=np.float32)
    padded[:n] = values
    coarse = padded.reshape((n_groups, group) + values.shape[1:]).mean(axis=1)
    return median_filter(coarse, size=(_odd(length_s / (group * hop_s)), 1), mode="reflect")


_MIN_BEATS = 4
_DOWNBEAT_BASS_HZ = 150.0  # fine bands below this carry the bass onsets that mark bars


def _beats(samples_near, sample_rate, n_samples, flux, flux_first_s, hop_s, params):
    """Beat times (seconds) from the onset flux: tempo curve, DP tracking, onset refinement.

    ``samples_near(n_samples, ranges)`` gives the file's samples in those ``(start, stop)``
    ranges, sliced like the whole mono array (see ``beats.onset_search_ranges``).
    """
    duration = n_samples / float(sample_rate)
    pairs = len(flux) // 2
    if pairs < 4 or not np.any(flux > 0):
        return np.zeros(0)
    novelty = flux[: 2 * pairs].reshape(pairs, 2).sum(axis=1)
    cell_s = 2 * hop_s
    times, bpm = beat_tools.tempo_curve(novelty, cell_s, params.tempo_min_bpm, params.tempo_max_bpm,
                                        params.tempo_prior_bpm)
    bpm_per_cell = np.interp((np.arange(pairs) + 0.5) * cell_s, times, bpm)
    cells = beat_tools.track_beats(novelty, cell_s, bpm_per_cell, tightness=params.beat_tightness)
    beat_s = flux_first_s + cells * cell_s
    if params.refine_beats and len(beat_s):
        near = beat_s + 0.5 * cell_s
        samples = samples_near(n_samples, beat_tools.onset_search_ranges(n_samples, sample_rate, near))
        beat_s = beat_tools.refine_onsets(samples, sample_rate, near)
    beat_s = np.unique(beat_s[(beat_s >= 0) & (beat_s < duration)])
    if len(beat_s) < _MIN_BEATS:  # a hit or two is not a pulse
        return np.zeros(0)
    if len(beat_s) > 1:  # two beats refined onto the same hit: keep one
        keep = np.concatenate([[True], np.diff(beat_s) > 0.25 * np.median(np.diff(beat_s))])
        beat_s = beat_s[keep]
    return beat_s


def _downbeats(beat_s, bass, chroma_grid, duration, params):
    """The beats that start bars: a bass onset and a harmonic change mark a bar's first beat.

    ``bass``: the power below ``_DOWNBEAT_BASS_HZ`` per STFT window, a ``Grid``.
    """
    if len(beat_s) < 2 * params.beats_per_bar:
        return beat_s[:1] if params.beats_per_bar == 1 else np.zeros(0)
    bass_cum = _cumulative(bass.values)
    span = 0.08
    after = _interval_means(bass_cum, beat_s, beat_s + span, bass.cell_s, bass.first_s, duration)
    before = _interval_means(bass_cum, beat_s - span, beat_s, bass.cell_s, bass.first_s, duration)
    bass_onset = np.maximum(0.0, np.log(after + 1e-10) - np.log(before + 1e-10))
    edges = np.append(beat_s, min(duration, beat_s[-1] + (beat_s[-1] - beat_s[-2])))
    chroma = _grid_means(chroma_grid, edges, duration)
    norms = np.linalg.norm(chroma, axis=1)
    unit = chroma / np.maximum(norms, 1e-12)[:, None]
    change = np.zeros(len(beat_s))
    change[1:] = 1.0 - np.sum(unit[1:] * unit[:-1], axis=1)
    evidence = np.zeros(len(beat_s))
    for part in (bass_onset, change):
        mean = float(np.mean(part))
        if mean > 0:
            evidence += part / mean
    return beat_s[beat_tools.downbeat_mask(evidence, params.beats_per_bar)]


def _sections(timbre_grid, chroma_grid, beat_s, downbeat_s, duration, params):
    """Section start times (seconds, after the first section), snapped to (down)beats.

    ``timbre_grid``: half-octave band powers per STFT window (``_timbre_sums``), a ``Grid``.
    """
    if duration < 2 * params.min_section_s:
        return np.zeros(0)
    block_s = max(0.5, duration / 1500.0)
    edges = np.arange(0.0, duration + 1e-9, block_s)
    if len(edges) < 5:
        return np.zeros(0)
    # column by column: one float64 running sum of the song at a time, not twenty
    timbre = np.stack([_grid_means(Grid(timbre_grid.values[:, column], timbre_grid.first_s, timbre_grid.cell_s),
                                   edges, duration) for column in range(timbre_grid.values.shape[1])], axis=1)
    timbre = np.log10(timbre + 1e-10)
    chroma = _grid_means(chroma_grid, edges, duration)
    chroma = chroma / np.maximum(chroma.max(axis=1, keepdims=True), 1e-12)
    features = np.concatenate([timbre, chroma], axis=1)
    bounds = section_tools.section_boundaries(features, block_s, params.section_kernel_s, params.min_section_s,
                                              params.section_threshold)
    snapped = []
    period = float(np.median(np.diff(beat_s))) if len(beat_s) > 1 else 0.0
    for t in bounds:
        if len(downbeat_s) and abs(downbeat_s - t).min() <= period:
            t = float(downbeat_s[np.argmin(abs(downbeat_s - t))])
        elif len(beat_s):
            t = float(beat_s[np.argmin(abs(beat_s - t))])
        if 0 < t < duration and (not snapped or t > snapped[-1]):
            snapped.append(t)
    return np.array(snapped, dtype=np.float64)


def analyze_sound(samples: np.ndarray, sample_rate: int, params: AnalysisParams = AnalysisParams()) -> SoundAnalysis:
    """The timing-independent analysis of mono samples (what the cache stores)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {samples.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    return _analyze_blocks(sample_rate, _array_blocks(samples), lambda _n, _ranges: samples, params)


def _analyze_file(path: str, params: AnalysisParams) -> SoundAnalysis:
    """The timing-independent analysis of a sound file, decoded block by block.

    Memory does not grow with the file's length but for the analysis series (a few MB a
    minute); beat refinement reads the samples around the beats in a second decode pass.
    """
    def consume(sample_rate, blocks, reopen):
        return _analyze_blocks(sample_rate, blocks, lambda n, ranges: _Excerpts.read(reopen(), n, ranges), params)

    return _decode_with(path, consume)


def _analyze_blocks(sample_rate: int, blocks, samples_near, params: AnalysisParams) -> SoundAnalysis:
    """``analyze_sound`` of a file's mono float32 samples given in ``blocks`` (in order).

    ``samples_near(n_samples, ranges)``: the samples in those ``(start, stop)`` ranges,
    sliced like the whole array (for beat refinement, after ``blocks`` is exhausted).
    """
    cell = max(1, int(round(params.level_cell_s * sample_rate)))
    level = _LevelStream(cell)
    spectral = _SpectralStream(sample_rate, params, extras=True)
    for block in blocks:
        level.feed(block)
        spectral.feed(block)
    n = spectral.n_samples
    duration = n / float(sample_rate)
    series = spectral.finish()
    hop_s = series["hop_s"]
    grids = {
        "level": Grid(level.finish(), 0.0, cell / float(sample_rate)),
        "onset": Grid(series["flux"], series["flux_first_s"], hop_s),
    }
    beat_s = np.zeros(0)
    downbeat_s = np.zeros(0)
    section_s = np.zeros(0)
    if n:
        first_s = series["spectral_first_s"]
        chroma = _sustained(series["chroma"], hop_s, params.hpss_time_s)
        grids.update(
            bands=Grid(series["band_ms"], first_s, hop_s),
            centroid=Grid(series["centroid"], first_s, hop_s),
            flux=Grid(series["lin_flux"], first_s, hop_s),
            chroma=Grid(chroma, first_s, 4 * hop_s),
            hp=Grid(series["hp"], first_s, hop_s),
        )
        beat_s = _beats(samples_near, sample_rate, n, series["flux"], series["flux_first_s"], hop_s, params)
        downbeat_s = _downbeats(beat_s, Grid(series["bass"], first_s, hop_s), grids["chroma"], duration, params)
        section_s = _sections(Grid(series["timbre"], first_s, hop_s), grids["chroma"], beat_s, downbeat_s,
                              duration, params)
    return SoundAnalysis(int(sample_rate), n, grids, beat_s, downbeat_s, section_s)


class _LevelStream:
    """Mean square of the samples per cell of ``cell`` samples, fed in blocks (float32 out).

    The last cell holds only the file's samples (its mean is over those).
    """

    def __init__(self, cell: int):
        self.cell = cell
        self._rest = np.zeros(0, dtype=np.float32)
        self._means: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        data = np.concatenate([self._rest, samples])
        whole = len(data) // self.cell * self.cell
        if whole:
            sums = np.square(data[:whole], dtype=np.float64).reshape(-1, self.cell).sum(axis=1)
            self._means.append((sums / float(self.cell)).astype(np.float32))
        self._rest = data[whole:]

    def finish(self) -> np.ndarray:
        if len(self._rest):  # a last, partial cell: the mean of the samples it holds
            last = np.zeros(self.cell, dtype=np.float64)
            last[:len(self._rest)] = np.square(self._rest, dtype=np.float64)
            self._means.append((last.reshape(1, self.cell).sum(axis=1) / float(len(self._rest))).astype(np.float32))
        return _concatenated(self._means, dtype=np.float32)


# --------------------------------------------------------------------------- per-frame stage


def _level_db(rms: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(rms, 1e-12))


def _robust_top(values: np.ndarray, percentile: float, above: float) -> float | None:
    """The ``percentile`` of ``values``, or their maximum if that is not above ``above``.

    None when no value is above ``above`` (nothing to normalise by).
    """
    if values.size == 0:
        return None
    top = float(np.percentile(values, percentile))
    if top <= above:
        top = float(np.max(values))
    return top if top > above else None


def _db_scale(rms: np.ndarray, floor_db: float, percentile: float) -> np.ndarray:
    top_db = _robust_top(_level_db(rms), percentile, floor_db)
    if top_db is None:
        return np.zeros_like(rms)
    return np.clip((_level_db(rms) - floor_db) / (top_db - floor_db), 0.0, 1.0)


def _linear_scale(values: np.ndarray, percentile: float) -> np.ndarray:
    top = _robust_top(values, percentile, 0.0)
    if top is None:
        return np.zeros_like(values)
    return np.clip(values / top, 0.0, 1.0)


def _onset_scale(strength: np.ndarray, fps: float, baseline_s: float, percentile: float) -> np.ndarray:
    """The ``onset`` channel from per-frame ``onset_strength`` (see the module docstring).

    ``baseline_s``: the running median's window in seconds (odd, at least 3 frames;
    reflected at the ends). The divisor is never below the track's median strength.
    """
    from scipy.ndimage import median_filter

    if strength.size == 0:
        return np.zeros_like(strength)
    window = max(3, int(round(baseline_s * fps)) | 1)
    rise = np.maximum(strength - median_filter(strength, size=window, mode="reflect"), 0.0)
    top = max(_robust_top(rise, percentile, 0.0) or 0.0, float(np.median(strength)))
    return np.clip(rise / top, 0.0, 1.0) if top > 0 else np.zeros_like(strength)


def _event_rows(times_s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows (frames between consecutive ``edges``) that contain each time; outside: dropped."""
    rows = np.searchsorted(edges, np.asarray(times_s, dtype=np.float64), side="right") - 1
    return rows[(rows >= 0) & (rows < len(edges) - 1)]


def _pulses(times_s, edges) -> np.ndarray:
    out = np.zeros(len(edges) - 1)
    out[_event_rows(times_s, edges)] = 1.0
    return out


def _tempo_and_phase(beat_s: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the local tempo (BPM) and the phase 0..1 within the current beat."""
    n = len(edges) - 1
    if len(beat_s) < 2:
        return np.zeros(n), np.zeros(n)
    starts, ends = edges[:-1], edges[1:]
    intervals = np.diff(beat_s)
    # tempo: the beat interval that contains the frame's start (edge intervals extend)
    k = np.clip(np.searchsorted(beat_s, starts, side="right") - 1, 0, len(intervals) - 1)
    tempo = 60.0 / intervals[k]
    # phase: the current beat is the latest beat before the frame's end
    current = np.searchsorted(beat_s, ends, side="left") - 1
    phase = np.empty(n)
    before = current < 0
    phase[before] = ((starts[before] - beat_s[0]) / intervals[0]) % 1.0
    c = current[~before]
    period = intervals[np.minimum(c, len(intervals) - 1)]
    x = np.maximum(0.0, (starts[~before] - beat_s[c]) / period)
    # after the last beat the beats are extrapolated at the last interval
    phase[~before] = np.where(c >= len(intervals), x % 1.0, np.minimum(x, 1.0))
    return tempo, np.minimum(phase, 1.0)


def frame_features(sound: SoundAnalysis, timing: Timing, params: AnalysisParams = AnalysisParams()) -> FeatureTrack:
    """The per-frame channels of an analysed sound for ``timing`` (see the module docstring)."""
    duration = sound.duration_s
    fps = timing.fps
    shapes = dict(params.shapes)
    unknown = set(shapes) - set(params.channel_names())
    if unknown:
        raise ValueError(f"shapes name unknown channels {sorted(unknown)}; channels are {params.channel_names()}")
    # Every frame of this grid that overlaps the file: values and statistics are computed
    # there, independent of the requested range, so moving or trimming keeps values.
    whole_first = math.floor(timing.origin_frame)
    whole_end = max(whole_first, math.ceil(timing.origin_frame + duration * fps)) if sound.n_samples else whole_first
    whole = Timing(fps, timing.origin_frame, whole_first, whole_end)
    edges = whole.frame_edges_s()
    n = whole.n_frames

    def mode(name):
        shape = shapes.get(name)
        return shape.normalise if shape is not None and shape.normalise else params.normalise

    def normalised(name, linear, percentile_value):
        if mode(name) == "adaptive":
            return smoothing.adaptive_normalise(linear, fps, params.adaptive_window_s)
        return percentile_value()

    def means(name):
        grid = sound.grids.get(name)
        if grid is None or n == 0:
            return None
        return _grid_means(grid, edges, duration)

    pct, floor = params.normalise_percentile, params.loudness_floor_db
    channels: dict[str, np.ndarray] = {}
    zeros = np.zeros(n)
    level = means("level")
    rms = np.sqrt(level) if level is not None else zeros
    strength = means("onset")
    strength = strength if strength is not None else zeros
    channels["rms"] = rms
    channels["loudness"] = normalised("loudness", rms, lambda: _db_scale(rms, floor, pct))
    channels["onset_strength"] = strength
    channels["onset"] = normalised("onset", strength, lambda: _onset_scale(strength, fps, params.onset_baseline_s, pct))

    bands = means("bands")
    band_rms = np.sqrt(bands) if bands is not None else np.zeros((n, len(params.bands)))
    tops = [_robust_top(band_rms[:, column], pct, 0.0) or 0.0 for column in range(band_rms.shape[1])]
    least_top = max(tops, default=0.0) * 10.0 ** (-params.band_range_db / 20.0)
    for column, name in enumerate(params.band_names()):
        values, top = band_rms[:, column], max(tops[column], least_top)
        channels[name] = normalised(name, values, lambda v=values, top=top: (
            np.clip(v / top, 0.0, 1.0) if top > 0 else np.zeros_like(v)))
    centroid = means("centroid")
    if centroid is not None:
        power = centroid[:, 1]
        channels["centroid_hz"] = np.where(power > 1e-12, centroid[:, 0] / np.where(power > 1e-12, power, 1.0), 0.0)
    else:
        channels["centroid_hz"] = zeros
    flux = means("flux")
    flux = flux if flux is not None else zeros
    channels["flux"] = normalised("flux", flux, lambda: _linear_scale(flux, pct))
    chroma = means("chroma")
    if chroma is not None:
        top = chroma.max(axis=1, keepdims=True)
        audible = (chroma.sum(axis=1, keepdims=True) > 1e-9) & (top > 0)
        chroma = np.where(audible, chroma / np.where(top > 0, top, 1.0), 0.0)
    for index, name in enumerate(CHROMA_CHANNELS):
        channels[name] = chroma[:, index] if chroma is not None else zeros
    hp = means("hp")
    for column, name in enumerate(("harmonic", "percussive")):
        part = np.sqrt(hp[:, column]) if hp is not None else zeros
        channels[name] = normalised(name, part, lambda v=part: _linear_scale(v, pct))

    def shifted(name, times):
        shape = shapes.get(name)
        return times + (shape.latency_ms * 1e-3 if shape is not None else 0.0)

    channels["beat"] = _pulses(shifted("beat", sound.beats_s), edges)
    channels["downbeat"] = _pulses(shifted("downbeat", sound.downbeats_s), edges)
    channels["tempo_bpm"] = _tempo_and_phase(shifted("tempo_bpm", sound.beats_s), edges)[0]
    channels["beat_phase"] = _tempo_and_phase(shifted("beat_phase", sound.beats_s), edges)[1]
    audible = n > 0 and bool(np.any(rms > 0))
    section_starts = np.concatenate([[0.0], sound.sections_s]) if audible else np.zeros(0)
    channels["section_change"] = _pulses(shifted("section_change", section_starts), edges)
    section_rows = np.sort(_event_rows(shifted("section", section_starts), edges))
    channels["section"] = np.maximum(np.searchsorted(section_rows, np.arange(n), side="right") - 1, 0).astype(
        np.float64)

    event_channels = set(BEAT_CHANNELS + SECTION_CHANNELS)
    for name, shape in shapes.items():
        values = channels[name]
        if shape.latency_ms and name not in event_channels:
            values = smoothing.shift(values, fps, shape.latency_ms)
        if shape.attack_s or shape.release_s:
            values = smoothing.attack_release(values, fps, shape.attack_s, shape.release_s)
        if shape.smooth_s:
            values = smoothing.smooth(values, fps, shape.smooth_s)
        channels[name] = values

    # the requested rows: those of the whole grid, zeros outside the file
    out = {}
    lo = max(timing.frame_first, whole.frame_first)
    hi = min(timing.frame_end, whole.frame_end)
    for name in params.channel_names():
        values = np.zeros(timing.n_frames, dtype=np.float32)
        if hi > lo:
            part = channels[name][lo - whole.frame_first:hi - whole.frame_first]
            values[lo - timing.frame_first:hi - timing.frame_first] = np.nan_to_num(
                part, nan=0.0, posinf=0.0, neginf=0.0)
        out[name] = values
    return FeatureTrack(timing=timing, channels=out, beats_s=sound.beats_s.copy(),
                        downbeats_s=sound.downbeats_s.copy(), sections_s=sound.sections_s.copy())


# --------------------------------------------------------------------------- entry points


def analyze_samples(samples: np.ndarray, sample_rate: int, timing: Timing,
                    params: AnalysisParams = AnalysisParams()) -> FeatureTrack:
    """:func:`analyze` for samples already decoded (mono, float, ``sample_rate`` Hz)."""
    return frame_features(analyze_sound(samples, sample_rate, params), timing, params)


def _frames_key(sound_key: str, timing: Timing, params: AnalysisParams) -> str:
    import hashlib
    import json

    stage = {name: getattr(params, name) for name in FRAME_STAGE_FIELDS}
    stage["shapes"] = [[channel, dataclasses.asdict(shape)] for channel, shape in params.shapes]
    text = json.dumps({"sound": sound_key, "timing": [repr(timing.fps), repr(timing.origin_frame),
                                                      timing.frame_first, timing.frame_end],
                       "stage": stage}, sort_keys=True)
    return "frames-" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load_sound(path: str, params: AnalysisParams, cache, key: str | None) -> SoundAnalysis:
    if cache is not None:
        arrays = cache.load(key)
        if arrays is not None:
            try:
                return SoundAnalysis.from_arrays(arrays)
            except (KeyError, ValueError, IndexError):
                pass  # an entry from an incompatible version: analyse again and replace it
    sound = _analyze_file(path, params)
    if cache is not None:
        cache.store(key, sound.to_arrays())
    return sound


def load_sound_analysis(path: str | os.PathLike, params: AnalysisParams = AnalysisParams(),
                        cache_dir: str | os.PathLike | None = None) -> SoundAnalysis:
    """The :class:`SoundAnalysis` of a file: from ``cache_dir`` if it holds one for this
    content and these parameters, else analysed now (and stored there)."""
    path = check_exists(path)
    if cache_dir is None:
        return _load_sound(path, params, None, None)
    from .cache import AnalysisCache

    cache = AnalysisCache(cache_dir)
    return _load_sound(path, params, cache, cache.key(path, sound_params_key(params)))


def analyze(path: str | os.PathLike, timing: Timing, params: AnalysisParams = AnalysisParams(),
            cache_dir: str | os.PathLike | None = None) -> FeatureTrack:
    """Features of the sound file ``path``, one row per video frame of ``timing``.

    Row ``i`` integrates the file over ``timing.frame_edges_s()[i:i + 2]`` seconds; see
    the module docstring for the channels. Time outside the file is silence.

    With a ``cache_dir`` (see :mod:`.cache`) two things are cached there: the
    slow timing-independent :class:`SoundAnalysis` (reused when the strip is moved,
    trimmed or the frame rate changes) and the finished track for this exact timing and
    these parameters (a repeat analysis only reads it back).

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    path = check_exists(path)
    if cache_dir is None:
        return frame_features(_load_sound(path, params, None, None), timing, params)
    from .cache import AnalysisCache

    cache = AnalysisCache(cache_dir)
    sound_key = cache.key(path, sound_params_key(params))
    frames_key = _frames_key(sound_key, timing, params)
    arrays = cache.load(frames_key)
    names = params.channel_names()
    if arrays is not None and all(f"channel.{name}" in arrays for name in names):
        return FeatureTrack(timing=timing, channels={name: arrays[f"channel.{name}"] for name in names},
                            beats_s=arrays["beats_s"], downbeats_s=arrays["downbeats_s"],
                            sections_s=arrays["sections_s"])
    track = frame_features(_load_sound(path, params, cache, sound_key), timing, params)
    stored = {f"channel.{name}": values for name, values in track.channels.items()}
    stored.update(beats_s=track.beats_s, downbeats_s=track.downbeats_s, sections_s=track.sections_s)
    cache.store(frames_key, stored)
    return track


def analyze_stems(stems: dict, params: AnalysisParams = AnalysisParams(),
                  cache_dir: str | os.PathLike | None = None) -> dict[str, FeatureTrack]:
    """Several sound files (stems) analysed separately, addressable by name.

    Args:
        stems: ``{name: (path, timing)}``, e.g. ``{"drums": (path, timing), "bass": ...}``.

    Returns:
        ``{name: FeatureTrack}`` in the order of ``stems``. The same file given twice
        is decoded and analysed once.
    """
    sounds: dict[str, SoundAnalysis] = {}
    out = {}
    for name, (path, timing) in stems.items():
        if cache_dir is not None:
            out[name] = analyze(path, timing, params, cache_dir)
            continue
        real = os.path.realpath(os.fspath(path))
        if real not in sounds:
            sounds[real] = load_sound_analysis(path, params)
        out[name] = frame_features(sounds[real], timing, params)
    return out
