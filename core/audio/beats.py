"""Beats, downbeats and local tempo from an onset-strength envelope: pure numpy.

The pipeline (used by :mod:`.song`):

1. :func:`tempo_curve`: a local tempo every ``step_s`` seconds from the autocorrelation
   of the envelope over ``window_s``-second windows (at each candidate period and its
   first multiples), weighted by a log-normal prior around
   ``prior_bpm`` and chosen by a Viterbi path that allows tempo changes but not jitter.
2. :func:`track_beats`: dynamic-programming beat tracking (Ellis 2007) with that
   *time-varying* period: each beat prefers its predecessor one local period earlier,
   with a penalty ``tightness * log(interval / period)**2``.
3. :func:`refine_onsets`: each beat moves to the sample where the signal's short-time
   energy jumps most within a few milliseconds of it (if it jumps by at least 6 dB),
   so beat times are accurate to about a millisecond, not to the envelope's hop.
4. :func:`downbeat_mask`: which beats start bars, from per-beat evidence (bass onsets
   and harmonic change), with a constant number of beats per bar and the bar phase
   chosen over a few bars around each beat.

Units: times in seconds, tempi in beats per minute (BPM).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["tempo_curve", "track_beats", "refine_onsets", "downbeat_phase", "downbeat_mask", "beats_per_bar"]


GRID_ANCHOR_BPM = 60.0
"""Every tempo ``tempo_curve`` considers is this times a whole power of 2^(1/24)."""


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(n) + 0.5) / n)


def tempo_curve(novelty: np.ndarray, cell_s: float, min_bpm: float = 60.0, max_bpm: float = 200.0,
                prior_bpm: float = 120.0, prior_octaves: float = 1.0, window_s: float = 8.0,
                step_s: float = 1.0, change_cost: float = 0.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local tempo along an onset envelope.

    Args:
        novelty: onset strength per cell (>= 0), cells ``cell_s`` seconds long.
        min_bpm, max_bpm: the tempo range considered.
        prior_bpm, prior_octaves: centre and standard deviation (in octaves) of the
            log-normal tempo prior (settles double/half-tempo ambiguities).
        window_s, step_s: autocorrelation window length and spacing, seconds.
        change_cost: Viterbi cost per 1/24 octave of tempo change between windows.

    Returns:
        ``(times_s, bpm, clarity)``: window centres (seconds from the envelope's start),
        the tempo there and how clearly the envelope repeats at that tempo (0..1: the
        mean normalised autocorrelation at the beat period and its first multiples; a
        steady pulse reads 0.5 or more, noise and speech near 0); empty arrays for an
        envelope shorter than two cells.
    """
    novelty = np.asarray(novelty, dtype=np.float64)
    n = len(novelty)
    if n < 2:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    # The tempo grid: 1/24-octave steps from GRID_ANCHOR_BPM, within [min_bpm, max_bpm], so that a
    # narrower range (a tempo hint) reads the same tempi as the full one.
    first_step = math.ceil(24 * math.log2(min_bpm / GRID_ANCHOR_BPM) - 1e-9)
    last_step = math.floor(24 * math.log2(max_bpm / GRID_ANCHOR_BPM) + 1e-9)
    grid = GRID_ANCHOR_BPM * 2.0 ** (np.arange(first_step, max(first_step, last_step) + 1) / 24.0)
    lags = 60.0 / grid / cell_s
    prior = np.exp(-0.5 * (np.log2(grid / prior_bpm) / prior_octaves) ** 2)
    win = max(4, int(round(window_s / cell_s)))
    step = max(1, int(round(step_s / cell_s)))
    centres = np.arange(0, n, step)
    n_fft = 1 << (2 * win - 1).bit_length()
    emissions = np.empty((len(centres), len(grid)))
    strengths = np.zeros((len(centres), len(grid)))
    for row, centre in enumerate(centres):
        lo, hi = max(0, centre - win // 2), min(n, centre + win // 2)
        segment = novelty[lo:hi] - novelty[lo:hi].mean()
        segment = segment * _hann(len(segment))
        spectrum = np.fft.rfft(segment, n_fft)
        ac = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, n_fft)[: len(segment)]
        if ac[0] <= 0:
            emissions[row] = np.log(0.01 + prior)
            continue
        ac = ac / ac[0]
        ac = ac / np.maximum(1.0 - np.arange(len(ac)) / len(ac), 0.25)  # unbias the shrinking overlap
        strength = np.maximum(_comb(ac, lags), 0.0)
        strengths[row] = strength
        score = strength * prior
        top = score.max()
        emissions[row] = np.log(0.01 + (score / top if top > 0 else prior))
    # Viterbi over the tempo grid: a change of k grid steps costs change_cost * k.
    k = np.arange(len(grid))
    transition = -change_cost * np.abs(k[:, None] - k[None, :])
    total = emissions[0].copy()
    back = np.zeros((len(centres), len(grid)), dtype=np.int64)
    for row in range(1, len(centres)):
        candidates = total[:, None] + transition
        back[row] = np.argmax(candidates, axis=0)
        total = candidates[back[row], k] + emissions[row]
    path = np.empty(len(centres), dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for row in range(len(centres) - 1, 0, -1):
        path[row - 1] = back[row, path[row]]
    return (centres + 0.5) * cell_s, grid[path], np.clip(strengths[np.arange(len(centres)), path], 0.0, 1.0)


_SUB_STEPS = np.linspace(-0.5, 0.5, 5) / 24.0  # across a tempo_curve grid cell, in octaves


def _comb(ac: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """The mean of the autocorrelation at each lag's first four multiples (a comb).

    A beat period repeats at its multiples too, which a period of 3/2 or 3/4 beat does
    not match as well. The first tooth reads the highest value within the middle of the
    lag's tempo-grid cell (1/24 octave): the peak at the period itself is narrower than a
    cell, and reading it exactly at the grid lag misses it for some tempi (a shuffle
    at 100 BPM then reads as 150); the wider teeth at its multiples are read exactly.
    """
    positions = np.arange(len(ac))
    first = np.max([np.interp(lags * 2.0 ** step, positions, ac, right=0.0) for step in _SUB_STEPS], axis=0)
    rest = [np.interp(k * lags, positions, ac, right=0.0) for k in range(2, 5)]
    return np.mean([first] + rest, axis=0)


def track_beats(novelty: np.ndarray, cell_s: float, bpm_per_cell: np.ndarray, tightness: float = 100.0,
                trim: float = 0.5, min_contrast: float = 1.6) -> np.ndarray:
    """Beat cells of an onset envelope, by dynamic programming with a local period.

    Args:
        novelty: onset strength per cell (>= 0).
        cell_s: cell length, seconds.
        bpm_per_cell: the local tempo at every cell (see :func:`tempo_curve`).
        tightness: how strongly beat intervals keep to the local period (where the
            tempo changes, to the period at either of the interval's two beats).
        trim: leading and trailing beats weaker than ``trim`` times the RMS strength
            of all beats are dropped (fade-ins, fade-outs, silence).
        min_contrast: the mean (lightly smoothed) onset strength on the beats must be at
            least this many times the envelope's mean, else there is no pulse to follow
            (a held tone, a pad) and no beats are returned.

    Returns:
        Sorted int64 cell indices of the beats (empty for a silent envelope).
    """
    novelty = np.asarray(novelty, dtype=np.float64)
    n = len(novelty)
    if n == 0 or not np.any(novelty > 0):
        return np.zeros(0, dtype=np.int64)
    local = novelty / (novelty.std() + 1e-12)
    # tolerate a little timing jitter: a short Gaussian (sigma 20 ms)
    sigma = max(0.02 / cell_s, 0.5)
    radius = int(math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    local = np.convolve(np.pad(local, radius, mode="reflect") if n > radius else np.pad(local, radius),
                        taps / taps.sum(), mode="valid")
    periods = 60.0 / np.asarray(bpm_per_cell, dtype=np.float64) / cell_s
    cum = np.empty(n)
    back = np.full(n, -1, dtype=np.int64)
    penalties: dict[int, tuple[int, int, np.ndarray]] = {}
    # per cell, the latest cell (at or before it) whose period differs from the one before
    rounded = np.maximum(2, np.round(periods)).astype(np.int64)
    changed = np.concatenate([[False], rounded[1:] != rounded[:-1]])
    last_change = np.maximum.accumulate(np.where(changed, np.arange(n), 0))
    for i in range(n):
        period = int(rounded[i])
        entry = penalties.get(period)
        if entry is None:
            nearest, farthest = max(1, int(round(period / 2))), int(round(2 * period))
            distances = np.arange(farthest, nearest - 1, -1)  # oldest predecessor first
            entry = (nearest, farthest, -tightness * np.log(distances / period) ** 2)
            penalties[period] = entry
        nearest, farthest, penalty = entry
        hi = i - nearest + 1
        if hi <= 0:
            cum[i] = local[i]
            continue
        lo = i - farthest
        start = max(lo, 0)
        if last_change[hi - 1] > start:  # the tempo changes inside the window: an interval
            # may keep either its own beat's period or its predecessor's
            distances = i - np.arange(start, hi)
            own = np.log(distances / periods[i]) ** 2
            theirs = np.log(distances / periods[start:hi]) ** 2
            scores = cum[start:hi] - tightness * np.minimum(own, theirs)
        else:
            scores = cum[start:hi] + penalty[start - lo:]
        best = int(np.argmax(scores))
        if scores[best] < 0:  # no earlier beat helps (the song's first beat): the path starts here
            cum[i] = local[i]
            continue
        back[i] = start + best
        cum[i] = local[i] + scores[best]
    end_period = int(rounded[-1])
    tail = slice(max(0, n - end_period), n)
    # the last beat: the best-scoring local maximum of the envelope in the last period
    last = tail.start + int(np.argmax(cum[tail] + 1e-9 * np.arange(tail.stop - tail.start)))
    beats = []
    while last >= 0:
        beats.append(last)
        last = int(back[last])
    beats = np.array(beats[::-1], dtype=np.int64)
    strength = local[beats]
    if float(np.mean(strength)) < min_contrast * float(np.mean(local)):
        return np.zeros(0, dtype=np.int64)
    threshold = trim * math.sqrt(float(np.mean(strength ** 2)))
    strong = np.flatnonzero(strength >= threshold)
    if len(strong) == 0:
        return np.zeros(0, dtype=np.int64)
    return beats[strong[0]:strong[-1] + 1]


ONSET_BEFORE_S = 0.035
ONSET_AFTER_S = 0.015
ONSET_POST_S = 0.001
ONSET_PRE_S = 0.01


def _onset_search(time_s: float, sample_rate: int, n: int, before_s: float, after_s: float, post: int,
                  pre: int) -> tuple[int, int, int]:
    """``(first, last, lo)``: candidate samples ``first..last`` of ``refine_onsets`` for one
    time, and ``lo``, the first sample its energies read (may be negative: silence)."""
    first = max(0, int(math.floor((time_s - before_s) * sample_rate)))
    last = min(n - post, int(math.ceil((time_s + after_s) * sample_rate)))
    return first, last, first - pre - 2  # two more samples: the second difference needs them


def onset_search_ranges(n_samples: int, sample_rate: int, times_s: np.ndarray, before_s: float = ONSET_BEFORE_S,
                        after_s: float = ONSET_AFTER_S, post_s: float = ONSET_POST_S,
                        pre_s: float = ONSET_PRE_S) -> list[tuple[int, int]]:
    """The ``(start, stop)`` sample ranges ``refine_onsets`` reads for these times (same
    arguments), so a caller can decode just those parts of a long file."""
    post = max(1, int(round(post_s * sample_rate)))
    pre = max(1, int(round(pre_s * sample_rate)))
    ranges = []
    for time_s in np.asarray(times_s, dtype=np.float64):
        first, last, lo = _onset_search(float(time_s), sample_rate, n_samples, before_s, after_s, post, pre)
        if last > first:
            ranges.append((max(0, lo), last + post))
    return ranges


def refine_onsets(samples, sample_rate: int, times_s: np.ndarray, before_s: float = ONSET_BEFORE_S,
                  after_s: float = ONSET_AFTER_S, post_s: float = ONSET_POST_S, pre_s: float = ONSET_PRE_S,
                  min_jump_db: float = 6.0, late_s: float = 0.00025) -> np.ndarray:
    """Move each time to the onset of the sound nearest to it, to the sample.

    On the first difference of the signal (which favours the broadband edge of a hit
    over low, steady sound), for every candidate sample ``t`` in
    ``[time - before_s, time + after_s]`` the mean energy of the ``post_s`` after ``t`` is
    compared with the mean energy of the ``pre_s`` before it. The time becomes the ``t``
    with the largest ratio if that ratio is at least ``min_jump_db``, else it stays. The
    long ``pre_s`` averages over the waveform of what was already sounding, so the onset
    is not placed early where that waveform happens to be quiet. Measured on drum hits
    the onset sample is found within about +-0.1 ms; ``late_s`` (0.25 ms) is added so
    that a hit exactly on a video frame's start is not put on the frame before. Time
    before the file is silence. Returns seconds, float64.

    ``samples``: the mono samples, or anything sliced like them that has ``len`` and holds
    at least the ranges ``onset_search_ranges`` names (only those are read).
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    out = times_s.copy()
    n = len(samples)
    post = max(1, int(round(post_s * sample_rate)))
    pre = max(1, int(round(pre_s * sample_rate)))
    min_log = math.log(10.0 ** (min_jump_db / 10.0))
    for index, time_s in enumerate(times_s):
        first, last, lo = _onset_search(float(time_s), sample_rate, n, before_s, after_s, post, pre)
        if last <= first:
            continue
        segment = np.asarray(samples[max(0, lo):last + post], dtype=np.float64)
        if lo < 0:
            segment = np.concatenate([np.zeros(-lo), segment])
        edge = np.diff(segment, 2)
        cum = np.concatenate([[0.0], np.cumsum(edge * edge)])
        t = np.arange(pre, pre + last - first + 1)  # candidate positions within ``edge``
        after = (cum[t + post] - cum[t]) / post
        before = (cum[t] - cum[t - pre]) / pre
        floor = 1e-12 + 1e-6 * float(after.max(initial=0.0))
        ratio = np.log(after + floor) - np.log(before + floor)
        best = int(np.argmax(ratio))
        if ratio[best] >= min_log:
            out[index] = (first + best) / sample_rate + late_s
    return out


def downbeat_phase(evidence: np.ndarray, beats_per_bar: int) -> int:
    """Index (``0 .. beats_per_bar - 1``) of the first beat that starts a bar.

    ``evidence`` holds one value per beat (higher: more like a bar start); the phase
    whose beats have the largest mean evidence wins (0 when there is too little).
    """
    evidence = np.asarray(evidence, dtype=np.float64)
    if beats_per_bar <= 1 or len(evidence) < beats_per_bar:
        return 0
    means = [float(np.mean(evidence[p::beats_per_bar])) for p in range(beats_per_bar)]
    return int(np.argmax(means))


_TRIPLE_GAIN = 1.15  # how much more a bar of 3 must stand out than one of 2 to be heard


def _meter_score(evidence: np.ndarray, beats_per_bar: int) -> float:
    """How much more evidence the best bar phase holds than the average beat (1 = none)."""
    usable = len(evidence) // beats_per_bar * beats_per_bar
    by_phase = evidence[:usable].reshape(-1, beats_per_bar).mean(axis=0)
    mean = float(np.mean(evidence[:usable]))
    return float(by_phase.max()) / mean if mean > 0 else 1.0


_COMPOUND_CONTRAST = 1.35
"""How much more unlike each other the onsets of beats 3 apart must be than those of beats
6 apart for bars of 6 rather than 3. On generated grooves at 90-180 beats a minute: waltzes
(one with a chord for two bars, a root-fifth bass and snares on 2 and 3) 0.71-1.19, 6/8
with a backbeat 1.56-2.29; the threshold sits between them on a log scale."""


def pattern_distance(onsets: np.ndarray, lag: int) -> float:
    """Mean distance between the per-beat onset vectors (beats, bands) of beats ``lag`` apart."""
    return float(np.mean(np.linalg.norm(onsets[lag:] - onsets[:-lag], axis=1)))


def beats_per_bar(evidence: np.ndarray, onsets: np.ndarray | None = None) -> int:
    """The meter (2, 3, 4 or 6 beats per bar) of per-beat downbeat ``evidence``.

    Duple and triple bars compete: 3 wins when its best bar phase stands out
    ``_TRIPLE_GAIN`` times more than the best phase of 2; within duple time 4 wins
    unless bars of 4 stand out no more than bars of 2 (the common meter wins a tie the
    evidence cannot break). A triple meter is 6 (compound: 6/8 counted in eighths)
    when the beats' ``onsets`` (beats, bands) repeat every 6 beats but not every 3: the
    two halves of its bar differ (a backbeat on the 4th), while a waltz's bars are alike
    (``_COMPOUND_CONTRAST``). Bars of 5 or 7 are not heard: the Beats per Bar setting
    sets them.
    """
    evidence = np.asarray(evidence, dtype=np.float64)
    if len(evidence) < 12 or not np.any(evidence > 0):
        return 4
    score = {m: _meter_score(evidence, m) for m in (2, 3, 4)}
    if score[3] > score[2] * _TRIPLE_GAIN:
        if (onsets is not None and len(onsets) >= 18
                and pattern_distance(onsets, 3) > _COMPOUND_CONTRAST * pattern_distance(onsets, 6)):
            return 6
        return 3
    return 2 if score[4] < score[2] * 1.01 else 4


def downbeat_mask(evidence: np.ndarray, beats_per_bar: int, window_bars: int = 4) -> np.ndarray:
    """Which beats start bars, choosing the bar phase locally.

    For each beat, the phase (beat index modulo ``beats_per_bar``) with the largest
    mean evidence over the ``window_bars`` bars before and after it wins, so one missed
    or extra beat (e.g. at a tempo change) only shifts the bars until the evidence
    re-locks them, not for the rest of the track.
    """
    evidence = np.asarray(evidence, dtype=np.float64)
    n = len(evidence)
    if beats_per_bar <= 1:
        return np.ones(n, dtype=bool)
    if n < beats_per_bar:
        return np.zeros(n, dtype=bool)
    half = window_bars * beats_per_bar
    index = np.arange(n)
    scores = np.empty((beats_per_bar, n))
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, n)

    def window_sums(values):
        cum = np.concatenate([[0.0], np.cumsum(values)])
        return cum[hi] - cum[lo]

    for phase in range(beats_per_bar):
        on = (index % beats_per_bar == phase).astype(float)
        scores[phase] = window_sums(evidence * on) / np.maximum(window_sums(on), 1.0)
    return index % beats_per_bar == np.argmax(scores, axis=0)
