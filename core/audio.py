"""Audio features per video frame: loudness and onsets of a sound file, frame-exact.

``analyze(path, timing)`` decodes a sound file and returns a :class:`FeatureTrack`: one
row per video frame of ``timing`` (see :mod:`.timing`), each row integrated over that
frame's exact time interval ``[edges[i], edges[i + 1])`` in file seconds. Nothing is
snapped to the frame rate or accumulated frame by frame, so a 29.97 fps track does not
drift, and moving or trimming a strip only shifts or drops rows.

Units: times are seconds, sample rates Hz, levels dB relative to full scale. Time
outside the file (before 0 s or after its end) is silence. Every channel is float32 and
finite; an all-silent file gives all zeros.

Channels:

``rms``
    Linear RMS amplitude of the mono mix over the frame (a full-scale sine gives 0.707);
    sample ``k`` holds for ``[k, k + 1) / sample_rate`` s, so partly covered samples
    count in proportion.
``loudness``
    0..1: the RMS level in dB mapped linearly from ``loudness_floor_db`` (0) to the
    track's ``normalise_percentile`` level (1), clipped.
``onset_strength``
    >= 0: positive log-magnitude spectral flux, summed over 1/6-octave frequency bands,
    averaged over the frame (see :func:`onset_envelope`).
``onset``
    0..1: ``onset_strength`` divided by the track's ``normalise_percentile`` value, clipped.

The per-track statistics used by ``loudness`` and ``onset`` are taken over every video
frame of the same frame grid that overlaps the file, whatever frame range was asked
for, so the value of a frame does not depend on trims.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import UserError
from .timing import Timing

__all__ = [
    "AudioError",
    "AnalysisParams",
    "FeatureTrack",
    "CHANNELS",
    "analyze",
    "analyze_samples",
    "decode",
    "duration_s",
    "onset_envelope",
]

CHANNELS = ("rms", "loudness", "onset_strength", "onset")
READABLE_FORMATS = "WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF"

_FFT_BLOCK_FRAMES = 1024  # STFT frames transformed at once (bounds memory, not results)


class AudioError(UserError):
    """A sound file that cannot be used: ``str(error)`` is one line naming the file and the fix."""


@dataclass(frozen=True)
class AnalysisParams:
    """Settings of :func:`analyze`.

    Attributes:
        onset_hop_s: hop in seconds between successive STFT frames of the onset-strength
            envelope (rounded to whole samples; its time resolution).
        onset_window_s: STFT window length in seconds for onset strength.
        loudness_floor_db: level in dB re full scale that ``loudness`` maps to 0 (and
            anything quieter).
        normalise_percentile: percentile (0-100] of a track's frames that ``loudness``
            and ``onset`` map to 1.
        spectral_floor_db: magnitude floor in dB of the onset spectrum, relative to white
            noise of full-scale RMS; spectral content below it counts as silence.
    """

    onset_hop_s: float = 0.005
    onset_window_s: float = 0.046
    loudness_floor_db: float = -60.0
    normalise_percentile: float = 98.0
    spectral_floor_db: float = -80.0

    def __post_init__(self):
        if not (self.onset_hop_s > 0 and self.onset_window_s > 0):
            raise ValueError("onset_hop_s and onset_window_s must be positive seconds")
        if not 0 < self.normalise_percentile <= 100:
            raise ValueError(f"normalise_percentile must be in (0, 100], got {self.normalise_percentile}")
        if not (math.isfinite(self.loudness_floor_db) and math.isfinite(self.spectral_floor_db)):
            raise ValueError("floor levels must be finite dB values")


@dataclass
class FeatureTrack:
    """Audio features, one row per video frame of ``timing``.

    Attributes:
        timing: the frames the rows belong to (row ``i`` is scene frame
            ``timing.frame_first + i``).
        channels: name -> float32 array of shape ``(timing.n_frames,)``.
    """

    timing: Timing
    channels: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.channels[name]
        except KeyError:
            raise KeyError(f"no channel {name!r}; channels are {sorted(self.channels)}") from None


# --------------------------------------------------------------------------- decoding


def _check_exists(path) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"Sound file not found: {path} — check the sound strip's file path")
    return path


def _undecodable(path: str) -> AudioError:
    return AudioError(
        f"Could not decode sound file {path}: it is damaged or not a supported format"
        f" — use {READABLE_FORMATS}"
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


def decode(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a sound file to mono.

    Args:
        path: a file libsndfile reads (WAV, FLAC, OGG, MP3, AIFF, ...), any sample rate
            and channel count.

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
    except Exception as error:  # libsndfile reports every failure as its own error type
        raise _undecodable(path) from error
    if data.shape[1] == 1:
        mono = data[:, 0]
    else:
        mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)
    mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(mono, -1.0, 1.0, out=mono)
    return np.ascontiguousarray(mono, dtype=np.float32), int(sample_rate)


def duration_s(path: str | os.PathLike) -> float:
    """Length of a sound file in seconds, read from its header (no decoding).

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    path = _check_exists(path)
    soundfile = _soundfile()
    try:
        info = soundfile.info(path)
    except Exception as error:
        raise _undecodable(path) from error
    if info.samplerate <= 0:
        raise _undecodable(path)
    return info.frames / float(info.samplerate)


# --------------------------------------------------------------------------- integration


def _cumulative(values: np.ndarray) -> np.ndarray:
    """``c[0] = 0, c[i] = sum(values[:i])`` in float64."""
    out = np.empty(len(values) + 1, dtype=np.float64)
    out[0] = 0.0
    np.cumsum(values, dtype=np.float64, out=out[1:])
    return out


def _integral_at(cum: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Integral from 0 to ``pos`` of a function constant on unit cells ``[i, i + 1)``.

    ``cum`` is the cumulative sum of the cell values (length ``n_cells + 1``); positions
    are in cell units and clipped to ``[0, n_cells]`` (the function is 0 outside).
    """
    n_cells = len(cum) - 1
    if n_cells <= 0:
        return np.zeros_like(pos, dtype=np.float64)
    pos = np.clip(pos, 0.0, float(n_cells))
    index = np.minimum(np.floor(pos).astype(np.int64), n_cells - 1)
    frac = pos - index
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
    return np.maximum(area, 0.0) / duration_cells


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


def _band_starts(n_bins: int, bin_hz: float) -> np.ndarray:
    """First FFT bin of each band: 1/6-octave bands from 30 Hz, each at least one bin wide."""
    top_hz = (n_bins - 1) * bin_hz
    if top_hz <= _LOWEST_BAND_HZ:
        return np.zeros(1, dtype=np.int64)
    n_edges = int(math.ceil(math.log2(top_hz / _LOWEST_BAND_HZ) * _BANDS_PER_OCTAVE))
    edges_hz = _LOWEST_BAND_HZ * 2.0 ** (np.arange(n_edges) / _BANDS_PER_OCTAVE)
    starts = np.unique(np.concatenate([[0], np.ceil(edges_hz / bin_hz).astype(np.int64)]))
    return starts[starts < n_bins]


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
    samples = np.asarray(samples, dtype=np.float32)
    n = len(samples)
    hop = max(1, int(round(params.onset_hop_s * sample_rate)))
    hop_s = hop / float(sample_rate)
    first_s = _PLACEMENT_DELAY_HOPS * hop_s
    if n == 0:
        return np.zeros(0), first_s, hop_s
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
    starts = _band_starts(n_bins, sample_rate / n_fft)
    band_scale = power_scale / np.diff(np.append(starts, n_bins))
    floor_power = 10.0 ** (params.spectral_floor_db / 10.0)

    flux = np.empty(n_cells, dtype=np.float64)
    previous = 0.5 * np.log(np.full(len(starts), floor_power))  # window 0: silence, as below
    for first in range(1, n_windows, _FFT_BLOCK_FRAMES):
        last = min(first + _FFT_BLOCK_FRAMES, n_windows)
        spectrum = np.fft.rfft(frames[first:last] * window, n=n_fft, axis=1)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        bands = np.add.reduceat(power, starts, axis=1)
        bands *= band_scale
        bands += floor_power
        log_mag = 0.5 * np.log(bands)
        steps = np.diff(log_mag, axis=0, prepend=previous[None, :])
        np.maximum(steps, 0.0, out=steps)
        flux[first - 1:last - 1] = steps.sum(axis=1)
        previous = log_mag[-1]
    return flux, first_s, hop_s


# --------------------------------------------------------------------------- analysis


def _frame_features(samples_cum, sample_rate, n_samples, flux_cum, flux_first_s, hop_s, edges):
    """Raw (rms, onset_strength) for the frames between consecutive ``edges`` (seconds)."""
    start, stop = edges[:-1], edges[1:]
    end_s = n_samples / float(sample_rate)
    mean_square = _interval_means(samples_cum, start, stop, 1.0 / sample_rate, 0.0, end_s)
    rms = np.sqrt(mean_square)
    strength = _interval_means(flux_cum, start, stop, hop_s, flux_first_s, end_s)
    return rms, strength


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


def analyze_samples(samples: np.ndarray, sample_rate: int, timing: Timing,
                    params: AnalysisParams = AnalysisParams()) -> FeatureTrack:
    """:func:`analyze` for samples already decoded (mono, float, ``sample_rate`` Hz)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples, got shape {samples.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    n = len(samples)
    duration = n / float(sample_rate)

    samples_cum = _cumulative(np.square(samples, dtype=np.float64))
    flux, flux_first_s, hop_s = onset_envelope(samples, sample_rate, params)
    flux_cum = _cumulative(flux)

    def features(edges):
        return _frame_features(samples_cum, sample_rate, n, flux_cum, flux_first_s, hop_s, edges)

    rms, strength = features(timing.frame_edges_s())
    # Statistics over every frame of this grid that overlaps the file: independent of
    # the requested range, so trimming or moving the strip by whole frames keeps values.
    whole = Timing(timing.fps, timing.origin_frame, math.floor(timing.origin_frame),
                   math.ceil(timing.origin_frame + duration * timing.fps))
    whole_rms, whole_strength = features(whole.frame_edges_s())

    floor = params.loudness_floor_db
    top_db = _robust_top(_level_db(whole_rms), params.normalise_percentile, floor)
    if top_db is None:
        loudness = np.zeros_like(rms)
    else:
        loudness = np.clip((_level_db(rms) - floor) / (top_db - floor), 0.0, 1.0)
    top_strength = _robust_top(whole_strength, params.normalise_percentile, 0.0)
    if top_strength is None:
        onset = np.zeros_like(strength)
    else:
        onset = np.clip(strength / top_strength, 0.0, 1.0)

    channels = {
        "rms": rms,
        "loudness": loudness,
        "onset_strength": strength,
        "onset": onset,
    }
    channels = {name: np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
                for name, values in channels.items()}
    return FeatureTrack(timing=timing, channels=channels)


def analyze(path: str | os.PathLike, timing: Timing, params: AnalysisParams = AnalysisParams()) -> FeatureTrack:
    """Features of the sound file ``path``, one row per video frame of ``timing``.

    Row ``i`` integrates the file over ``timing.frame_edges_s()[i:i + 2]`` seconds; see
    the module docstring for the channels. Time outside the file is silence.

    Raises:
        AudioError: the file is missing or cannot be decoded.
    """
    samples, sample_rate = decode(path)
    return analyze_samples(samples, sample_rate, timing, params)
