"""Key and chords of a song from its pitch-class energies (pure NumPy).

The analysis already measures, per short window, the energy of each of the 12 pitch
classes (C = 0 .. B = 11; see ``spectral._peak_chroma``), median-filtered so that drum
hits do not count. This module turns those into harmony:

- **Chords**, one per *segment*: the song is cut at its beats (:func:`segment_edges`; a
  song without beats is cut every ``FALLBACK_SEGMENT_S`` seconds) and each segment's mean
  chroma is matched against templates of the 60 chords (12 roots x major, minor,
  dominant seventh, minor seventh, major seventh) and "N" (no chord: silence, noise,
  drums alone). A Viterbi pass over the segments prefers keeping the chord over changing
  it (``CHANGE_PENALTY``), so a passing melody note does not flip the label.
- **Key**, one per section of the song: the section's chroma, summed over its audible
  segments, correlated with the Krumhansl-Kessler major and minor key profiles rotated to
  each of the 12 tonics (24 keys), with a bonus for keys whose tonic chord the chords
  above land on most. The confidence is how clearly the best key beats the others.

Units: times in seconds of the sound file, pitch classes 0..11 with C = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Harmony", "QUALITIES", "PITCH_NAMES", "chord_name", "key_name", "segment_edges", "estimate",
           "frame_channels", "HARMONY_CHANNELS"]

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES = ("maj", "min", "7", "m7", "maj7")
"""Chord qualities; a chord's ``quality`` is an index into this."""
_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11)}
_SUFFIX = {"maj": "", "min": "m", "7": "7", "m7": "m7", "maj7": "maj7"}
MINOR_QUALITIES = (1, 3)
SEVENTH_QUALITIES = (2, 3, 4)
HARMONY_CHANNELS = ("key_index", "key_minor", "key_confidence", "chord_present", "chord_root", "chord_minor",
                    "chord_seventh", "chord_change")

FALLBACK_SEGMENT_S = 0.5
"""Segment length in seconds when a song has fewer than two beats."""
MIN_EDGE_SEGMENT_S = 0.15
"""A beat closer than this to the file's start or end starts no segment of its own."""
SILENT_DB = -35.0
"""A segment whose chroma energy is this many dB below the song's loud segments is "N"."""
NO_CHORD_SCORE = 0.75
"""Template match (cosine, 0..1) that "N" scores: a segment matching no chord better is "N"."""
SEVENTH_HANDICAP = 0.025
"""Subtracted from seventh chords' match, so a triad with a stray note stays a triad."""
MATCH_SHARPNESS = 25.0
"""Log-likelihood per unit of template match."""
CHANGE_PENALTY = 2.0
"""Log-likelihood a chord change costs in the Viterbi pass."""
KEY_SHARPNESS = 30.0
"""Softmax sharpness over the 24 keys' scores (confidence)."""
TONIC_CHORD_BONUS = 0.15
"""Added to a key's profile correlation per unit share of time its tonic chord sounds."""

# Krumhansl & Kessler (1982) probe-tone ratings of the 12 pitch classes above a tonic.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def chord_name(root: int, quality: int) -> str:
    """``"C"``, ``"F#m"``, ``"G7"``, ``"Am7"``, ``"Ebmaj7"``; ``"N"`` for ``root < 0``."""
    if root < 0:
        return "N"
    return PITCH_NAMES[root % 12] + _SUFFIX[QUALITIES[quality]]


def key_name(tonic: int, minor: bool) -> str:
    """``"C major"``, ``"F# minor"``."""
    return f"{PITCH_NAMES[tonic % 12]} {'minor' if minor else 'major'}"


@dataclass
class Harmony:
    """Chords per segment and keys per section of a song.

    Attributes:
        edges_s: ``(n_segments + 1,)`` segment boundaries in seconds (beats, plus the
            file's start and end).
        chord_root: ``(n_segments,)`` root pitch class 0..11, or -1 for "N" (no chord).
        chord_quality: ``(n_segments,)`` index into ``QUALITIES`` (0 where "N").
        section_starts_s: ``(n_sections,)`` start of each section in seconds (first 0).
        key_tonic, key_minor, key_confidence: per section: tonic pitch class 0..11,
            1 for a minor key, and 0..1 how sure the key is (0 where nothing sounds).
    """

    edges_s: np.ndarray
    chord_root: np.ndarray
    chord_quality: np.ndarray
    section_starts_s: np.ndarray
    key_tonic: np.ndarray
    key_minor: np.ndarray
    key_confidence: np.ndarray

    _FIELDS = ("edges_s", "chord_root", "chord_quality", "section_starts_s", "key_tonic", "key_minor",
               "key_confidence")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``"harmony.<field>" -> array`` form (for ``np.savez``)."""
        return {f"harmony.{name}": np.asarray(getattr(self, name)) for name in self._FIELDS}

    @classmethod
    def from_arrays(cls, arrays) -> "Harmony | None":
        """The inverse of :meth:`to_arrays`; None if ``arrays`` holds no harmony."""
        if not all(f"harmony.{name}" in arrays for name in cls._FIELDS):
            return None
        return cls(*(np.asarray(arrays[f"harmony.{name}"]) for name in cls._FIELDS))

    def labels(self) -> list[str]:
        """The chord name of every segment (``chord_name``)."""
        return [chord_name(int(r), int(q)) for r, q in zip(self.chord_root, self.chord_quality)]

    def change_indices(self) -> np.ndarray:
        """The segments whose chord differs from the one before (the first segment included)."""
        root, quality = self.chord_root, np.where(self.chord_root >= 0, self.chord_quality, 0)
        differs = (root[1:] != root[:-1]) | (quality[1:] != quality[:-1])
        return np.flatnonzero(np.concatenate([[len(root) > 0], differs]))

    def changes(self) -> tuple[np.ndarray, list[str]]:
        """Times in seconds where the chord changes (the first chord included) and the new chords' names."""
        keep = self.change_indices()
        labels = self.labels()
        return self.edges_s[keep].astype(np.float64), [labels[i] for i in keep]

    def chord_starts(self) -> tuple[np.ndarray, list[str]]:
        """Like :meth:`changes`, but only where a chord starts (not where "N" begins)."""
        keep = self.change_indices()
        keep = keep[self.chord_root[keep] >= 0]
        return self.edges_s[keep].astype(np.float64), [chord_name(int(self.chord_root[i]), int(self.chord_quality[i]))
                                                      for i in keep]

    def key_names(self) -> list[str]:
        return [key_name(int(t), bool(m)) for t, m in zip(self.key_tonic, self.key_minor)]


def segment_edges(beat_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Segment boundaries in seconds: 0, every beat inside the file, the file's end.

    With fewer than two beats, every ``FALLBACK_SEGMENT_S`` seconds instead. Beats within
    ``MIN_EDGE_SEGMENT_S`` of the file's start or end are left out (no sliver of a chord).
    """
    if duration_s <= 0:
        return np.zeros(1)
    beat_s = np.asarray(beat_s, dtype=np.float64)
    inside = beat_s[(beat_s >= MIN_EDGE_SEGMENT_S) & (beat_s <= duration_s - MIN_EDGE_SEGMENT_S)]
    if len(inside) < 2:
        inside = np.arange(FALLBACK_SEGMENT_S, duration_s, FALLBACK_SEGMENT_S)
    return np.unique(np.concatenate([[0.0], inside, [duration_s]]))


def _templates() -> np.ndarray:
    """``(60, 12)`` unit chord templates, chord ``c = quality * 12 + root``."""
    rows = []
    for quality in QUALITIES:
        for root in range(12):
            row = np.zeros(12)
            row[[(root + interval) % 12 for interval in _INTERVALS[quality]]] = 1.0
            rows.append(row / np.linalg.norm(row))
    return np.array(rows)


_TEMPLATES = _templates()


def _unit_rows(chroma: np.ndarray) -> np.ndarray:
    """Amplitude-like chroma (square root of energy), each row scaled to unit length."""
    amplitude = np.sqrt(np.maximum(chroma, 0.0))
    norms = np.linalg.norm(amplitude, axis=1, keepdims=True)
    return np.divide(amplitude, norms, out=np.zeros_like(amplitude), where=norms > 0)


def _audible(chroma: np.ndarray) -> np.ndarray:
    energy = np.maximum(chroma, 0.0).sum(axis=1)
    if not np.any(energy > 0):
        return np.zeros(len(chroma), dtype=bool)
    loud = float(np.percentile(energy[energy > 0], 90))
    return energy > loud * 10.0 ** (SILENT_DB / 10.0)


def _viterbi(log_likelihood: np.ndarray, change_penalty: float) -> np.ndarray:
    """Most likely state per row where staying costs nothing and any change ``change_penalty``."""
    n, states = log_likelihood.shape
    back = np.zeros((n, states), dtype=np.int64)
    score = log_likelihood[0].copy()
    for row in range(1, n):
        best = int(np.argmax(score))
        switch = score[best] - change_penalty
        stay = score >= switch
        back[row] = np.where(stay, np.arange(states), best)
        score = np.where(stay, score, switch) + log_likelihood[row]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for row in range(n - 1, 0, -1):
        path[row - 1] = back[row, path[row]]
    return path


def _chords(chroma: np.ndarray, audible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    match = _unit_rows(chroma) @ _TEMPLATES.T  # (segments, 60) cosine
    match[:, 24:] -= SEVENTH_HANDICAP
    no_chord = np.where(audible, NO_CHORD_SCORE, 2.0)[:, None]
    match = np.where(audible[:, None], match, 0.0)
    path = _viterbi(MATCH_SHARPNESS * np.concatenate([match, no_chord], axis=1), CHANGE_PENALTY)
    none = path == len(_TEMPLATES)
    root = np.where(none, -1, path % 12)
    quality = np.where(none, 0, path // 12)
    return root.astype(np.int64), quality.astype(np.int64)


def _key_profiles() -> np.ndarray:
    """``(24, 12)`` zero-mean unit profiles, key ``k = minor * 12 + tonic``."""
    rows = [np.roll(profile, tonic) for profile in (_MAJOR_PROFILE, _MINOR_PROFILE) for tonic in range(12)]
    rows = np.array(rows) - np.mean(rows, axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


_KEY_PROFILES = _key_profiles()


def _key(chroma: np.ndarray, weights: np.ndarray, root: np.ndarray, quality: np.ndarray) -> tuple[int, int, float]:
    """``(tonic, minor, confidence)`` of segments ``chroma`` weighted by ``weights`` (seconds, 0 = not counted)."""
    total = weights.sum()
    if total <= 0:
        return 0, 0, 0.0
    profile = (_unit_rows(chroma) * weights[:, None]).sum(axis=0)
    profile = profile - profile.mean()
    norm = np.linalg.norm(profile)
    if norm <= 0:
        return 0, 0, 0.0
    score = _KEY_PROFILES @ (profile / norm)
    minor = np.isin(quality, MINOR_QUALITIES)
    for key in range(24):
        tonic, is_minor = key % 12, key >= 12
        share = weights[(root == tonic) & (minor == is_minor)].sum() / total
        score[key] += TONIC_CHORD_BONUS * share
    best = int(np.argmax(score))
    odds = np.exp(KEY_SHARPNESS * (score - score[best]))
    return best % 12, int(best >= 12), float(1.0 / odds.sum())


def estimate(segment_chroma: np.ndarray, edges_s: np.ndarray, section_starts_s) -> Harmony:
    """Chords and keys of a song.

    Args:
        segment_chroma: ``(n_segments, 12)`` mean pitch-class energy of each segment
            (any linear energy unit; only ratios count).
        edges_s: ``(n_segments + 1,)`` the segments' boundaries in seconds (see
            :func:`segment_edges`).
        section_starts_s: start of every section in seconds (the first at 0).
    """
    chroma = np.asarray(segment_chroma, dtype=np.float64).reshape(-1, 12)
    edges_s = np.asarray(edges_s, dtype=np.float64)
    if len(edges_s) != len(chroma) + 1:
        raise ValueError(f"need one more edge than segments, got {len(edges_s)} edges for {len(chroma)} segments")
    starts = np.unique(np.concatenate([[0.0], np.asarray(section_starts_s, dtype=np.float64)]))
    n_sections = len(starts)
    if len(chroma) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Harmony(edges_s, empty, empty, starts, np.zeros(n_sections, np.int64), np.zeros(n_sections, np.int64),
                       np.zeros(n_sections))
    audible = _audible(chroma)
    root, quality = _chords(chroma, audible)
    lengths = np.diff(edges_s) * audible
    section_of = np.searchsorted(starts, edges_s[:-1], side="right") - 1
    keys = [_key(chroma[section_of == s], lengths[section_of == s], root[section_of == s],
                 quality[section_of == s]) for s in range(n_sections)]
    tonic, minor, confidence = (np.array(column) for column in zip(*keys))
    return Harmony(edges_s, root, quality, starts, tonic.astype(np.int64), minor.astype(np.int64),
                   confidence.astype(np.float64))


def frame_channels(harmony: Harmony, frame_edges_s: np.ndarray) -> dict[str, np.ndarray]:
    """The ``HARMONY_CHANNELS`` per video frame (frame ``i`` spans ``frame_edges_s[i:i + 2]``).

    A frame shows the chord (key) sounding at its end: the frame that contains a chord
    change already has the new chord. ``chord_present`` is 1.0 where a chord sounds (0 for
    "N" and outside the file); ``chord_root`` its root pitch class 0..11 (0 without a
    chord); ``chord_minor`` / ``chord_seventh`` 1.0 for minor / seventh chords;
    ``chord_change`` 1.0 on the frame that contains the start of each chord (a change to
    "N" is not a chord start); ``key_index`` the tonic pitch class 0..11 of the section's
    key, ``key_minor`` 1.0 for a minor key, ``key_confidence`` 0..1.
    """
    frame_edges_s = np.asarray(frame_edges_s, dtype=np.float64)
    n = max(len(frame_edges_s) - 1, 0)
    out = {name: np.zeros(n) for name in HARMONY_CHANNELS}
    if n == 0 or len(harmony.chord_root) == 0:
        return out
    ends = frame_edges_s[1:]
    inside = (ends > harmony.edges_s[0]) & (frame_edges_s[:-1] < harmony.edges_s[-1])
    segment = np.clip(np.searchsorted(harmony.edges_s, ends, side="left") - 1, 0, len(harmony.chord_root) - 1)
    root = harmony.chord_root[segment]
    quality = harmony.chord_quality[segment]
    present = inside & (root >= 0)
    out["chord_present"] = present.astype(np.float64)
    out["chord_root"] = np.where(present, root, 0).astype(np.float64)
    out["chord_minor"] = (present & np.isin(quality, MINOR_QUALITIES)).astype(np.float64)
    out["chord_seventh"] = (present & np.isin(quality, SEVENTH_QUALITIES)).astype(np.float64)
    rows = np.searchsorted(frame_edges_s, harmony.chord_starts()[0], side="right") - 1
    out["chord_change"][rows[(rows >= 0) & (rows < n)]] = 1.0
    section = np.clip(np.searchsorted(harmony.section_starts_s, ends, side="left") - 1, 0,
                      len(harmony.key_tonic) - 1)
    out["key_index"] = np.where(inside, harmony.key_tonic[section], 0).astype(np.float64)
    out["key_minor"] = np.where(inside, harmony.key_minor[section], 0).astype(np.float64)
    out["key_confidence"] = np.where(inside, harmony.key_confidence[section], 0.0)
    return out
