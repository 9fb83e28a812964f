"""The timing-independent analysis of a song (:class:`.grid.SoundAnalysis`): the
streaming passes, then beats, downbeats and sections from their series.

This is the slow stage that the disk cache (:mod:`.cache`) stores; :mod:`.features`
turns its result into per-frame channels.
"""

from __future__ import annotations

import numpy as np

from . import beats as beat_tools
from . import sections as section_tools
from . import decoding
from .decoding import Excerpts, decode_with
from .grid import Grid, SoundAnalysis, cumulative, grid_means, interval_means
from ..progress import CancelToken, ProgressCallback
from .params import AnalysisParams
from .spectral import LevelStream, SpectralStream, sustained



_MIN_BEATS = 4
_MIN_CONTRAST = 1.3  # mean onset strength on the beats / on the whole song (see beats.track_beats)
_MIN_CLARITY = 0.12  # the song's median pulse clarity (see beats.tempo_curve) below which it has no beat


def _beats(samples_near, sample_rate, n_samples, flux, flux_first_s, hop_s, params):
    """Beat times (seconds) from the onset flux: tempo curve, DP tracking, onset refinement,
    and the pulse clarity as a ``Grid`` (0..1 per tempo window, see ``beats.tempo_curve``).

    A song has beats when its beats stand out from the rest of the envelope (contrast)
    *and* the envelope repeats at the beat period (clarity): finger-picked or rubato
    music passes with a weak contrast, while speech and noise bursts, whose tracked
    "beats" can stand out as much, do not repeat. ``samples_near(n_samples, ranges)``
    gives the file's samples in those ``(start, stop)`` ranges, sliced like the whole
    mono array (see ``beats.onset_search_ranges``).
    """
    duration = n_samples / float(sample_rate)
    pairs = len(flux) // 2
    none = np.zeros(0), Grid(np.zeros(0), 0.0, 1.0)
    if pairs < 4 or not np.any(flux > 0):
        return none
    novelty = flux[: 2 * pairs].reshape(pairs, 2).sum(axis=1)
    cell_s = 2 * hop_s
    step_s = 1.0
    times, bpm, clarity = beat_tools.tempo_curve(novelty, cell_s, params.tempo_min_bpm, params.tempo_max_bpm,
                                                 params.tempo_prior_bpm, params.tempo_prior_octaves, step_s=step_s)
    clarity_grid = Grid(clarity, flux_first_s + times[0] - 0.5 * step_s, step_s)
    if float(np.median(clarity)) < _MIN_CLARITY:
        return none
    bpm_per_cell = np.interp((np.arange(pairs) + 0.5) * cell_s, times, bpm)
    cells = beat_tools.track_beats(novelty, cell_s, bpm_per_cell, tightness=params.beat_tightness,
                                   min_contrast=_MIN_CONTRAST)
    beat_s = flux_first_s + cells * cell_s
    if params.refine_beats and len(beat_s):
        near = beat_s + 0.5 * cell_s
        samples = samples_near(n_samples, beat_tools.onset_search_ranges(n_samples, sample_rate, near))
        beat_s = beat_tools.refine_onsets(samples, sample_rate, near)
    beat_s = np.unique(beat_s[(beat_s >= 0) & (beat_s < duration)])
    if len(beat_s) < _MIN_BEATS:  # a hit or two is not a pulse
        return none
    if len(beat_s) > 1:  # two beats refined onto the same hit: keep one
        keep = np.concatenate([[True], np.diff(beat_s) > 0.25 * np.median(np.diff(beat_s))])
        beat_s = beat_s[keep]
    return beat_s, clarity_grid


_ONSET_SPAN_S = 0.08
"""Seconds after a beat weighed against as many before it to hear an onset on the beat."""


def _onsets_at(grid: Grid, beat_s: np.ndarray, duration: float) -> np.ndarray:
    """How much the power in the ``_ONSET_SPAN_S`` after each beat exceeds that of as long
    before it, as a log ratio (0 where the power falls): (beats,) for a grid of one series,
    (beats, columns) for one of several (a float64 running sum of one column at a time)."""
    values = grid.values if grid.values.ndim == 2 else grid.values[:, None]
    onsets = np.empty((len(beat_s), values.shape[1]))
    for column in range(values.shape[1]):
        cum = cumulative(values[:, column])
        after = interval_means(cum, beat_s, beat_s + _ONSET_SPAN_S, grid.cell_s, grid.first_s, duration)
        before = interval_means(cum, beat_s - _ONSET_SPAN_S, beat_s, grid.cell_s, grid.first_s, duration)
        onsets[:, column] = np.maximum(0.0, np.log(after + 1e-10) - np.log(before + 1e-10))
    return onsets if grid.values.ndim == 2 else onsets[:, 0]


def _downbeats(beat_s, bass, timbre, chroma_grid, duration, params) -> tuple[np.ndarray, int]:
    """The beats that start bars, and the beats per bar (``params.beats_per_bar``, or the
    meter heard when it is 0): a bass onset and a harmonic change mark a bar's first beat;
    the onsets of each beat across the bands tell bars of 6 from bars of 3.

    ``bass``: the power below ``spectral.DOWNBEAT_BASS_HZ`` per STFT window, a ``Grid``;
    ``timbre``: half-octave band powers per STFT window, a ``Grid``.
    """
    if len(beat_s) < 4:
        return np.zeros(0), 0
    bass_onset = _onsets_at(bass, beat_s, duration)
    edges = np.append(beat_s, min(duration, beat_s[-1] + (beat_s[-1] - beat_s[-2])))
    chroma = grid_means(chroma_grid, edges, duration)
    unit = chroma / np.maximum(np.linalg.norm(chroma, axis=1), 1e-12)[:, None]
    # the harmony of the two beats from each beat on against the two before it: a chord
    # that changes on the bar line stands out, a bass note on beat 3 under the same chord
    # does not (beat to beat, both look alike)
    padded = np.concatenate([np.zeros((2, unit.shape[1])), unit, np.zeros((1, unit.shape[1]))])
    before_sum = padded[:-3] + padded[1:-2]  # beats i-2, i-1
    after_sum = padded[2:-1] + padded[3:]  # beats i, i+1
    dots = np.sum(before_sum * after_sum, axis=1)
    sizes = np.linalg.norm(before_sum, axis=1) * np.linalg.norm(after_sum, axis=1)
    change = np.where(sizes > 1e-12, 1.0 - dots / np.maximum(sizes, 1e-12), 0.0)
    change[0] = 0.0
    evidence = np.zeros(len(beat_s))
    for part in (bass_onset, change):
        mean = float(np.mean(part))
        if mean > 0:
            evidence += part / mean
    beats_per_bar = params.beats_per_bar or beat_tools.beats_per_bar(evidence, _onsets_at(timbre, beat_s, duration))
    if len(beat_s) < 2 * beats_per_bar:
        return (beat_s[:1] if beats_per_bar == 1 else np.zeros(0)), beats_per_bar
    return beat_s[beat_tools.downbeat_mask(evidence, beats_per_bar)], beats_per_bar


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
    timbre = np.stack([grid_means(Grid(timbre_grid.values[:, column], timbre_grid.first_s, timbre_grid.cell_s),
                                   edges, duration) for column in range(timbre_grid.values.shape[1])], axis=1)
    timbre = np.log10(timbre + 1e-10)
    chroma = grid_means(chroma_grid, edges, duration)
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


ANALYSING = "Analysing song…"
"""The progress message of an analysis."""


class _Reporter:
    """Progress per decoded block (``done``/``total`` in whole seconds of audio, the total
    from the file's header when it gives one) and the checks that stop a cancelled analysis."""

    def __init__(self, progress: ProgressCallback | None, cancel: CancelToken | None, sample_rate: int,
                 expected_samples: int | None):
        self.progress, self.cancel = progress, cancel
        self.sample_rate, self.expected = sample_rate, expected_samples or 0

    def check(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    def decoded(self, n_samples: int) -> None:
        self.check()
        if self.progress is not None:
            total = max(self.expected, n_samples)
            self.progress(n_samples // self.sample_rate, total // self.sample_rate, ANALYSING)

    def checked(self, blocks):
        """``blocks``, checking for a cancel before each."""
        for block in blocks:
            self.check()
            yield block


def analyze_file(path, params: AnalysisParams = AnalysisParams(), progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> SoundAnalysis:
    """The timing-independent analysis of a sound file, decoded block by block.

    Memory does not grow with the file's length but for the analysis series (a few MB a
    minute); beat refinement reads the samples around the beats in a second decode pass.
    ``progress`` is called after every decoded block (``DECODE_BLOCK_SAMPLES``, a few
    seconds of audio, a fraction of a second of work) with the message ``ANALYSING``;
    ``cancel`` stops the analysis within one block or stage (``Cancelled``).
    """
    def consume(stream, reopen):
        report = _Reporter(progress, cancel, stream.sample_rate, stream.frames_hint)
        return _analyze_blocks(stream.sample_rate, stream.blocks,
                               lambda n, ranges: Excerpts.read(report.checked(reopen()), n, ranges), params, report)

    return decode_with(path, consume)


def _analyze_blocks(sample_rate: int, blocks, samples_near, params: AnalysisParams,
                    report: _Reporter | None = None) -> SoundAnalysis:
    """``analyze_sound`` of a file's mono float32 samples given in ``blocks`` (in order).

    ``samples_near(n_samples, ranges)``: the samples in those ``(start, stop)`` ranges,
    sliced like the whole array (for beat refinement, after ``blocks`` is exhausted).
    """
    report = report or _Reporter(None, None, sample_rate, None)
    cell = max(1, int(round(params.level_cell_s * sample_rate)))
    level = LevelStream(cell)
    spectral = SpectralStream(sample_rate, params)
    for block in blocks:
        level.feed(block)
        spectral.feed(block)
        report.decoded(spectral.n_samples)
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
    beats_per_bar = 0
    if n:
        first_s = series["spectral_first_s"]
        chroma = sustained(series["chroma"], hop_s, params.hpss_time_s)
        grids.update(
            bands=Grid(series["band_ms"], first_s, hop_s),
            centroid=Grid(series["centroid"], first_s, hop_s),
            flux=Grid(series["lin_flux"], first_s, hop_s),
            chroma=Grid(chroma, first_s, 4 * hop_s),
            hp=Grid(series["hp"], first_s, hop_s),
        )
        report.check()
        beat_s, grids["pulse_clarity"] = _beats(samples_near, sample_rate, n, series["flux"],
                                                series["flux_first_s"], hop_s, params)
        report.check()
        timbre = Grid(series["timbre"], first_s, hop_s)
        downbeat_s, beats_per_bar = _downbeats(beat_s, Grid(series["bass"], first_s, hop_s), timbre,
                                               grids["chroma"], duration, params)
        report.check()
        section_s = _sections(timbre, grids["chroma"], beat_s, downbeat_s, duration, params)
    return SoundAnalysis(int(sample_rate), n, grids, beat_s, downbeat_s, section_s, beats_per_bar)


def _array_blocks(samples: np.ndarray):
    """Decoded samples in the blocks a decoder would give (the same code runs for both)."""
    return (samples[start:start + decoding.DECODE_BLOCK_SAMPLES] for start in range(0, len(samples), decoding.DECODE_BLOCK_SAMPLES))


