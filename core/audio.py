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
   is what the disk cache (:mod:`.analysis_cache`) stores, keyed by the file's content
   and the parameters, so moving, trimming or re-timing a strip reuses it.
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
from .errors import UserError
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


def _check_exists(path) -> str:
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


def _decode_av(path: str) -> tuple[np.ndarray, int] | None:
    """Decode with PyAV (FFmpeg) if it is installed: M4A/AAC, and anything else FFmpeg reads."""
    try:
        import av
    except ImportError:
        return None
    with av.open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        chunks, sample_rate = [], None
        for frame in container.decode(stream):
            data = frame.to_ndarray()
            if data.dtype.kind in "iu":
                data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
            channels = len(frame.layout.channels)
            if frame.format.is_planar:
                data = data.reshape(channels, -1)
            else:
                data = data.reshape(-1, channels).T
            chunks.append(data.mean(axis=0, dtype=np.float64).astype(np.float32))
            sample_rate = frame.sample_rate
    if sample_rate is None:
        return None
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32), int(sample_rate)


def _decode_aud(path: str) -> tuple[np.ndarray, int] | None:
    """Decode with Blender's own audio library (FFmpeg inside Blender), if running in Blender."""
    try:
        import aud
    except ImportError:
        return None
    sound = aud.Sound(path)
    sample_rate = int(sound.specs[0])
    data = np.asarray(sound.data(), dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float64).astype(np.float32)
    return data, sample_rate


def _mono(data: np.ndarray) -> np.ndarray:
    if data.ndim == 2:
        data = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float64).astype(np.float32)
    data = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(data, -1.0, 1.0, out=data)
    return np.ascontiguousarray(data, dtype=np.float32)


def decode(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a sound file to mono.

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
    path = _check_exists(path)
    soundfile = _soundfile()
    try:
        data, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as first_error:  # libsndfile reports every failure as its own error type
        for fallback in (_decode_av, _decode_aud):
            try:
                decoded = fallback(path)
            except Exception:  # FFmpeg's errors: treat as undecodable
                decoded = None
            if decoded is not None and decoded[1] > 0:
                return _mono(decoded[0]), decoded[1]
        raise _undecodable(path) from first_error
    if sample_rate <= 0:
        raise _undecodable(path)
    return _mono(data), int(sample_rate)


def duration_s(path: str | os.PathLike) -> float:
    """Length of a sound file in seconds, read from its header (decoded if it has none).

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    path = _check_exists(path)
    soundfile = _soundfile()
    try:
        info = soundfile.info(path)
    except Exception:
        samples, sample_rate = decode(path)
        return len(samples) / float(sample_rate)
    if info.samplerate <= 0:
        raise _undecodable(path)
    return info.frames / float(info.samplerate)


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


def _spectral_pass(samples: np.ndarray, sample_rate: int, params: AnalysisParams, extras: bool) -> dict:
    """One STFT pass: the onset flux (see :func:`onset_envelope`) and, with ``extras``,
    per-window spectral series (band powers, centroid, linear flux, chroma, 1/12-octave bands)."""
    samples = np.asarray(samples, dtype=np.float32)
    n = len(samples)
    hop = max(1, int(round(params.onset_hop_s * sample_rate)))
    hop_s = hop / float(sample_rate)
    out = {"flux": np.zeros(0), "flux_first_s": _PLACEMENT_DELAY_HOPS * hop_s, "hop_s": hop_s, "hop": hop}
    if n == 0:
        return out
    window_len = max(2, int(round(params.onset_window_s * sample_rate)))
    n_fft = 1 << (window_len - 1).bit_length()
    n_cells = -(-n // hop)  # ceil: the cells cover the whole file
    n_windows = n_cells + 1  # window j covers samples [j * hop - window_len, j * hop)
    tail = n_cells * hop - n
    end = samples[-(tail + 1):] if tail < n else samples  # all that the reflection reads
    padded = np.concatenate([
        np.zeros(window_len, dtype=np.float32),
        samples,
        np.pad(end, (0, tail), mode="reflect")[len(end):],
    ])
    frames = np.lib.stride_tricks.sliding_window_view(padded, window_len)[::hop]
    window = _onset_window(window_len, _RISE_HOPS * hop)
    power_scale = 1.0 / float(np.sum(window ** 2))
    window = window.astype(np.float32)

    n_bins = n_fft // 2 + 1
    bin_hz = sample_rate / n_fft
    starts = _band_starts(n_bins, bin_hz)
    band_scale = power_scale / np.diff(np.append(starts, n_bins))
    floor_power = 10.0 ** (params.spectral_floor_db / 10.0)

    flux = np.empty(n_cells, dtype=np.float64)
    previous = 0.5 * np.log(np.full(len(starts), floor_power))  # window 0: silence, as below
    rfft = _rfft()
    if extras:
        # the spectral features use a symmetric Hann window (low leakage between bands)
        hann = (0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(window_len) + 0.5) / window_len))
        ms_scale = 2.0 / (n_fft * float(np.sum(hann ** 2)))  # power of a bin -> its share of the mean square
        hann = hann.astype(np.float32)
        user_bins = [(max(1, int(math.ceil(low / bin_hz))), min(n_bins, int(math.ceil(high / bin_hz))))
                     for _name, low, high in params.bands]
        freqs = np.arange(n_bins) * bin_hz
        chroma_first = max(1, int(math.ceil(_CHROMA_LOW_HZ / bin_hz)))
        chroma_last = min(n_bins - 1, int(_CHROMA_HIGH_HZ / bin_hz) + 1)
        fine_starts = _band_starts(n_bins, bin_hz, _FINE_PER_OCTAVE)
        band_ms = np.zeros((n_cells, len(user_bins)), dtype=np.float32)
        centroid = np.zeros((n_cells, 2), dtype=np.float64)
        lin_flux = np.zeros(n_cells, dtype=np.float32)
        chroma = np.zeros((n_cells, 12), dtype=np.float32)
        fine = np.zeros((n_cells, len(fine_starts)), dtype=np.float32)
        previous_mag = np.zeros(n_bins)
    for first in range(1, n_windows, _FFT_BLOCK_FRAMES):
        last = min(first + _FFT_BLOCK_FRAMES, n_windows)
        spectrum = rfft(frames[first:last] * window, n_fft)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        bands = np.add.reduceat(power, starts, axis=1, dtype=np.float64)
        bands *= band_scale
        bands += floor_power
        log_mag = 0.5 * np.log(bands)
        steps = np.diff(log_mag, axis=0, prepend=previous[None, :])
        np.maximum(steps, 0.0, out=steps)
        flux[first - 1:last - 1] = steps.sum(axis=1)
        previous = log_mag[-1]
        if not extras:
            continue
        rows = slice(first - 1, last - 1)
        spectrum = rfft(frames[first:last] * hann, n_fft)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        power *= ms_scale
        for column, (lo, hi) in enumerate(user_bins):
            if lo < hi:
                band_ms[rows, column] = power[:, lo:hi].sum(axis=1)
        centroid[rows, 0] = power @ freqs
        centroid[rows, 1] = power[:, 1:].sum(axis=1)
        magnitude = np.sqrt(power)
        rise = np.diff(magnitude, axis=0, prepend=previous_mag[None, :])
        np.maximum(rise, 0.0, out=rise)
        lin_flux[rows] = np.sqrt(np.einsum("ij,ij->i", rise, rise))
        previous_mag = magnitude[-1]
        if chroma_last - chroma_first >= 1:
            chroma[rows] = _peak_chroma(power[:, :chroma_last + 1], chroma_first, bin_hz)
        fine[rows] = np.add.reduceat(power, fine_starts, axis=1)
    out["flux"] = flux
    if extras:
        # window j (ending at sample j * hop) is centred half a window earlier; cell j - 1
        # of these series is centred there
        first_s = (hop - 0.5 * window_len - 0.5 * hop) / sample_rate
        out.update(spectral_first_s=first_s, band_ms=band_ms, centroid=centroid, lin_flux=lin_flux,
                   chroma=chroma, fine=fine, fine_hz=fine_starts * bin_hz)
    return out


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
    result = _spectral_pass(samples, sample_rate, params, extras=False)
    return result["flux"], result["flux_first_s"], result["hop_s"]


# --------------------------------------------------------------------------- sound analysis


def _odd(value: float, minimum: int = 3) -> int:
    size = max(minimum, int(round(value)))
    return size if size % 2 else size + 1


def _hpss(fine: np.ndarray, fine_hz: np.ndarray, hop_s: float, params: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    """(harmonic, percussive) mean square per STFT window, from 1/12-octave band powers.

    Each band's running median over ``hpss_time_s`` (on 20 ms cells) is its *held*
    level (Fitzgerald's harmonic median filter); a median over one octave of bands is
    its *broadband* level (his percussive filter). Power that rises above the held level
    counts as percussive in the proportion ``broad**2 / (broad**2 + held**2)``; the rest
    is harmonic. Requiring both (a rise, and a broadband one) keeps a chord's tremolo
    and beating out of the percussive part.
    """
    from scipy.ndimage import median_filter

    n, n_bands = fine.shape
    if n == 0 or n_bands == 0:
        return np.zeros(n), np.zeros(n)
    group = 4
    n_groups = -(-n // group)
    padded = np.zeros((n_groups * group, n_bands), dtype=np.float32)
    padded[:n] = fine
    coarse = padded.reshape(n_groups, group, n_bands).mean(axis=1)
    held = median_filter(coarse, size=(_odd(params.hpss_time_s / (group * hop_s)), 1), mode="reflect")
    widths = np.diff(np.append(fine_hz, fine_hz[-1] * 2 ** (1 / _FINE_PER_OCTAVE)))
    density = coarse / np.maximum(widths, 1e-9)[None, :]
    broad = median_filter(density, size=(1, _odd(_FINE_PER_OCTAVE)), mode="reflect")
    held_density = held / np.maximum(widths, 1e-9)[None, :]
    b2, h2 = broad.astype(np.float64) ** 2, held_density.astype(np.float64) ** 2
    broadband = np.where(b2 + h2 > 0, b2 / np.where(b2 + h2 > 0, b2 + h2, 1.0), 0.0)
    held = np.repeat(held, group, axis=0)[:n]
    broadband = np.repeat(broadband, group, axis=0)[:n]
    percussive_ms = np.einsum("ij,ij->i", np.maximum(fine - held, 0.0), broadband)
    harmonic_ms = fine.sum(axis=1, dtype=np.float64) - percussive_ms
    return np.maximum(harmonic_ms, 0.0), percussive_ms


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


def _beats(samples, sample_rate, flux, flux_first_s, hop_s, duration, params):
    """Beat times (seconds) from the onset flux: tempo curve, DP tracking, onset refinement."""
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
        beat_s = beat_tools.refine_onsets(samples, sample_rate, beat_s + 0.5 * cell_s)
    beat_s = np.unique(beat_s[(beat_s >= 0) & (beat_s < duration)])
    if len(beat_s) < _MIN_BEATS:  # a hit or two is not a pulse
        return np.zeros(0)
    if len(beat_s) > 1:  # two beats refined onto the same hit: keep one
        keep = np.concatenate([[True], np.diff(beat_s) > 0.25 * np.median(np.diff(beat_s))])
        beat_s = beat_s[keep]
    return beat_s


def _downbeats(beat_s, fine_grid, fine_hz, chroma_grid, duration, params):
    """The beats that start bars: a bass onset and a harmonic change mark a bar's first beat."""
    if len(beat_s) < 2 * params.beats_per_bar:
        return beat_s[:1] if params.beats_per_bar == 1 else np.zeros(0)
    low = fine_hz < 150.0
    bass = Grid(fine_grid.values[:, low].sum(axis=1), fine_grid.first_s, fine_grid.cell_s)
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


def _sections(fine_grid, chroma_grid, beat_s, downbeat_s, duration, params):
    """Section start times (seconds, after the first section), snapped to (down)beats."""
    if duration < 2 * params.min_section_s:
        return np.zeros(0)
    block_s = max(0.5, duration / 1500.0)
    edges = np.arange(0.0, duration + 1e-9, block_s)
    if len(edges) < 5:
        return np.zeros(0)
    fine = _grid_means(fine_grid, edges, duration)
    per_group = _FINE_PER_OCTAVE // 2  # half-octave timbre bands
    n_groups = -(-fine.shape[1] // per_group)
    grouped = np.zeros((len(fine), n_groups * per_group))
    grouped[:, : fine.shape[1]] = fine
    timbre = np.log10(grouped.reshape(len(fine), n_groups, per_group).sum(axis=2) + 1e-10)
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
    n = len(samples)
    duration = n / float(sample_rate)

    cell = max(1, int(round(params.level_cell_s * sample_rate)))
    n_level = -(-n // cell)
    squares = np.zeros(n_level * cell, dtype=np.float64)
    squares[:n] = np.square(samples, dtype=np.float64)
    level = squares.reshape(n_level, cell).sum(axis=1)
    counts = np.full(n_level, float(cell))
    if n_level:
        counts[-1] = n - (n_level - 1) * cell  # the last cell holds only the file's samples
    level /= counts
    level = level.astype(np.float32)

    spectral = _spectral_pass(samples, sample_rate, params, extras=True)
    hop_s = spectral["hop_s"]
    grids = {
        "level": Grid(level, 0.0, cell / float(sample_rate)),
        "onset": Grid(spectral["flux"], spectral["flux_first_s"], hop_s),
    }
    beat_s = np.zeros(0)
    downbeat_s = np.zeros(0)
    section_s = np.zeros(0)
    if n:
        first_s = spectral["spectral_first_s"]
        fine = spectral["fine"]
        harmonic, percussive = _hpss(fine, spectral["fine_hz"], hop_s, params)
        chroma = _sustained(spectral["chroma"], hop_s, params.hpss_time_s)
        grids.update(
            bands=Grid(spectral["band_ms"], first_s, hop_s),
            centroid=Grid(spectral["centroid"], first_s, hop_s),
            flux=Grid(spectral["lin_flux"], first_s, hop_s),
            chroma=Grid(chroma, first_s, 4 * hop_s),
            hp=Grid(np.stack([harmonic, percussive], axis=1).astype(np.float32), first_s, hop_s),
        )
        fine_grid = Grid(fine, first_s, hop_s)
        beat_s = _beats(samples, sample_rate, spectral["flux"], spectral["flux_first_s"], hop_s, duration, params)
        downbeat_s = _downbeats(beat_s, fine_grid, spectral["fine_hz"], grids["chroma"], duration, params)
        section_s = _sections(fine_grid, grids["chroma"], beat_s, downbeat_s, duration, params)
    return SoundAnalysis(int(sample_rate), n, grids, beat_s, downbeat_s, section_s)


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
    samples, sample_rate = decode(path)
    sound = analyze_sound(samples, sample_rate, params)
    if cache is not None:
        cache.store(key, sound.to_arrays())
    return sound


def load_sound_analysis(path: str | os.PathLike, params: AnalysisParams = AnalysisParams(),
                        cache_dir: str | os.PathLike | None = None) -> SoundAnalysis:
    """The :class:`SoundAnalysis` of a file: from ``cache_dir`` if it holds one for this
    content and these parameters, else analysed now (and stored there)."""
    path = _check_exists(path)
    if cache_dir is None:
        return _load_sound(path, params, None, None)
    from . import analysis_cache

    cache = analysis_cache.AnalysisCache(cache_dir)
    return _load_sound(path, params, cache, cache.key(path, sound_params_key(params)))


def analyze(path: str | os.PathLike, timing: Timing, params: AnalysisParams = AnalysisParams(),
            cache_dir: str | os.PathLike | None = None) -> FeatureTrack:
    """Features of the sound file ``path``, one row per video frame of ``timing``.

    Row ``i`` integrates the file over ``timing.frame_edges_s()[i:i + 2]`` seconds; see
    the module docstring for the channels. Time outside the file is silence.

    With a ``cache_dir`` (see :mod:`.analysis_cache`) two things are cached there: the
    slow timing-independent :class:`SoundAnalysis` (reused when the strip is moved,
    trimmed or the frame rate changes) and the finished track for this exact timing and
    these parameters (a repeat analysis only reads it back).

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    path = _check_exists(path)
    if cache_dir is None:
        return frame_features(_load_sound(path, params, None, None), timing, params)
    from . import analysis_cache

    cache = analysis_cache.AnalysisCache(cache_dir)
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
