"""Scoring detected event times (beats, downbeats) against exact ground truth, for the
tests and benchmarks: the usual beat-tracking F-measure with a +-70 ms window.

Not part of the extension: the analysis itself never scores itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_events", "f_measure"]


def match_events(reference_s, estimated_s, window_s: float = 0.07) -> list[tuple[int, int]]:
    """Pairs ``(reference index, estimate index)`` of times within ``window_s`` seconds.

    Each time is matched at most once, closest pairs first. Indices refer to the
    inputs sorted in ascending order.
    """
    reference = np.sort(np.asarray(reference_s, dtype=np.float64))
    estimated = np.sort(np.asarray(estimated_s, dtype=np.float64))
    pairs = []
    for i, t in enumerate(reference):
        lo, hi = np.searchsorted(estimated, [t - window_s, t + window_s + 1e-12])
        pairs.extend((abs(estimated[j] - t), i, j) for j in range(lo, hi) if abs(estimated[j] - t) <= window_s)
    pairs.sort()
    used_ref, used_est, matches = set(), set(), []
    for _distance, i, j in pairs:
        if i not in used_ref and j not in used_est:
            used_ref.add(i)
            used_est.add(j)
            matches.append((i, j))
    return sorted(matches)


def f_measure(reference_s, estimated_s, window_s: float = 0.07) -> tuple[float, float, float]:
    """``(f, precision, recall)`` of estimated event times against reference times.

    An estimate matches a reference within ``window_s`` seconds (see
    :func:`match_events`). Two empty lists score 1.0.
    """
    n_ref, n_est = len(reference_s), len(estimated_s)
    if n_ref == 0 and n_est == 0:
        return 1.0, 1.0, 1.0
    if n_ref == 0 or n_est == 0:
        return 0.0, 0.0, 0.0
    matched = len(match_events(reference_s, estimated_s, window_s))
    precision, recall = matched / n_est, matched / n_ref
    f = 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)
    return f, precision, recall
