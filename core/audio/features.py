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
    averaged over the frame (see :class:`.spectral.SpectralStream`).
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
``beat_confidence``
    0..1: how clearly the music repeats at its beat period around the frame (the pulse
    clarity of :func:`.beats.tempo_curve` over 8 s windows, 1 s apart, divided by 0.5;
    at least 0.05 in a song with beats). Steady drums read 1; finger-picked, sung or
    rubato music lower. Beats are tracked wherever the song has a pulse at all;
    silence, drones and speech-like sound have no beats and read 0 here.
``beats_per_bar``
    The meter of the downbeats (2, 3, 4 or 6 heard, or ``AnalysisParams.beats_per_bar``
    when set, e.g. 5 or 7) on every frame that overlaps the file; 0 without beats.
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
``key_index``, ``key_minor``, ``key_confidence``
    The key of the frame's section (see :mod:`.harmony`): its tonic pitch class 0..11
    (C = 0, float32 holding integers), 1.0 for a minor key (else 0), and 0..1 how sure.
``chord_present``, ``chord_root``, ``chord_minor``, ``chord_seventh``, ``chord_change``
    The chord of the beat sounding at the frame's end (one chord per beat): 1.0 where a
    chord sounds (0 for "no chord": silence, drums alone); its root pitch class 0..11 (0
    without a chord); 1.0 for a minor (minor or minor seventh) chord; 1.0 for a seventh
    chord (dominant, minor or major seventh); 1.0 on the frame that contains the start of
    each chord.

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

from ..progress import CancelToken, ProgressCallback
from . import harmony as harmony_tools
from . import smoothing
from .cache import AnalysisCache
from .decoding import check_exists
from .grid import SoundAnalysis, grid_means
from .params import (BEAT_CHANNELS, CHROMA_CHANNELS, FRAME_STAGE_FIELDS, SECTION_CHANNELS, AnalysisParams,
                     sound_params_key)
from .song import analyze_file, analyze_sound
from .timing import Timing



@dataclass
class FeatureTrack:
    """Audio features, one row per video frame of ``timing``.

    Attributes:
        timing: the frames the rows belong to (row ``i`` is scene frame
            ``timing.frame_first + i``).
        channels: name -> float32 array of shape ``(timing.n_frames,)``.
        beats_s, downbeats_s, sections_s: event times in file seconds (sections: the
            start of every section after the first).
        harmony: the song's chords and keys (:class:`.harmony.Harmony`), None if not analysed.
    """

    timing: Timing
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    beats_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    downbeats_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sections_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    harmony: harmony_tools.Harmony | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.channels[name]
        except KeyError:
            raise KeyError(f"no channel {name!r}; channels are {sorted(self.channels)}") from None


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


_CLARITY_SURE = 0.5  # the pulse clarity (beats.tempo_curve) read as beat_confidence 1
_CONFIDENCE_FLOOR = 0.05  # beat_confidence in a song with beats, however unclear the pulse there


def _share_in_file(edges: np.ndarray, duration: float) -> np.ndarray:
    """The share of each frame (between consecutive ``edges``) that lies inside the file."""
    covered = np.clip(edges[1:], 0.0, duration) - np.clip(edges[:-1], 0.0, duration)
    return covered / np.maximum(edges[1:] - edges[:-1], 1e-12)


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


def harmony_of(sound: SoundAnalysis) -> harmony_tools.Harmony:
    """Chords per beat and keys per section of an analysed sound (see :mod:`.harmony`)."""
    duration = sound.duration_s
    edges = harmony_tools.segment_edges(sound.beats_s, duration)
    grid = sound.grids.get("chroma")
    chroma = grid_means(grid, edges, duration) if grid is not None and len(edges) > 1 else np.zeros((len(edges) - 1, 12))
    return harmony_tools.estimate(chroma, edges, sound.sections_s)


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
        return grid_means(grid, edges, duration)

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
    has_beats = len(sound.beats_s) > 0
    clarity = means("pulse_clarity")
    in_file = _share_in_file(edges, duration) > 0
    channels["beat_confidence"] = (np.where(in_file, np.clip(clarity / _CLARITY_SURE, _CONFIDENCE_FLOOR, 1.0), 0.0)
                                   if has_beats and clarity is not None else zeros)
    channels["beats_per_bar"] = np.where(in_file, float(sound.beats_per_bar), 0.0) if has_beats else zeros
    audible = n > 0 and bool(np.any(rms > 0))
    section_starts = np.concatenate([[0.0], sound.sections_s]) if audible else np.zeros(0)
    channels["section_change"] = _pulses(shifted("section_change", section_starts), edges)
    section_rows = np.sort(_event_rows(shifted("section", section_starts), edges))
    channels["section"] = np.maximum(np.searchsorted(section_rows, np.arange(n), side="right") - 1, 0).astype(
        np.float64)

    song_harmony = harmony_of(sound)
    channels.update(harmony_tools.frame_channels(song_harmony, edges))

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
                        downbeats_s=sound.downbeats_s.copy(), sections_s=sound.sections_s.copy(),
                        harmony=song_harmony)




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


def _load_sound(path: str, params: AnalysisParams, cache, key: str | None, progress=None,
                cancel=None) -> SoundAnalysis:
    if cache is not None:
        arrays = cache.load(key)
        if arrays is not None:
            try:
                return SoundAnalysis.from_arrays(arrays)
            except (KeyError, ValueError, IndexError):
                pass  # an entry from an incompatible version: analyse again and replace it
    sound = analyze_file(path, params, progress, cancel)
    if cache is not None:
        cache.store(key, sound.to_arrays())
    return sound


def sound_analysis(path: str | os.PathLike, params: AnalysisParams = AnalysisParams(),
                   cache_dir: str | os.PathLike | None = None, progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> SoundAnalysis:
    """The timing-independent :class:`SoundAnalysis` of a file: from ``cache_dir`` if it
    holds one for this content and these parameters (a few MB read back, no decoding),
    else analysed now (``progress``/``cancel``: see :func:`.song.analyze_file`) and
    stored there. Its ``duration_s`` is the decoded length of the song.

    Raises:
        AudioError: the file is missing, cannot be decoded or is outside the limits.
        Cancelled: ``cancel`` was cancelled.
    """
    path = check_exists(path)
    if cache_dir is None:
        return _load_sound(path, params, None, None, progress, cancel)
    cache = AnalysisCache(cache_dir)
    return _load_sound(path, params, cache, cache.key(path, sound_params_key(params)), progress, cancel)


def analyze(path: str | os.PathLike, timing: Timing, params: AnalysisParams = AnalysisParams(),
            cache_dir: str | os.PathLike | None = None, progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> FeatureTrack:
    """Features of the sound file ``path``, one row per video frame of ``timing``.

    Row ``i`` integrates the file over ``timing.frame_edges_s()[i:i + 2]`` seconds; see
    the module docstring for the channels. Time outside the file is silence.

    With a ``cache_dir`` (see :mod:`.cache`) two things are cached there: the
    slow timing-independent :class:`SoundAnalysis` (reused when the strip is moved,
    trimmed or the frame rate changes) and the finished track for this exact timing and
    these parameters (a repeat analysis only reads it back). ``progress`` and ``cancel``:
    see :func:`.song.analyze_file`.

    Raises:
        AudioError: the file is missing, cannot be decoded or is outside the limits.
        Cancelled: ``cancel`` was cancelled.
    """
    path = check_exists(path)
    if cache_dir is None:
        return frame_features(_load_sound(path, params, None, None, progress, cancel), timing, params)
    cache = AnalysisCache(cache_dir)
    sound_key = cache.key(path, sound_params_key(params))
    frames_key = _frames_key(sound_key, timing, params)
    arrays = cache.load(frames_key)
    names = params.channel_names()
    if arrays is not None and all(f"channel.{name}" in arrays for name in names):
        return FeatureTrack(timing=timing, channels={name: arrays[f"channel.{name}"] for name in names},
                            beats_s=arrays["beats_s"], downbeats_s=arrays["downbeats_s"],
                            sections_s=arrays["sections_s"], harmony=harmony_tools.Harmony.from_arrays(arrays))
    track = frame_features(_load_sound(path, params, cache, sound_key, progress, cancel), timing, params)
    stored = {f"channel.{name}": values for name, values in track.channels.items()}
    stored.update(beats_s=track.beats_s, downbeats_s=track.downbeats_s, sections_s=track.sections_s,
                  **track.harmony.to_arrays())
    cache.store(frames_key, stored)
    return track
