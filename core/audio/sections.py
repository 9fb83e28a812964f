"""Structure segmentation: where a track changes section (verse, chorus, break...).

Foote's checkerboard novelty on a self-similarity matrix: the track is cut into blocks
(``block_s`` seconds), each described by a feature vector (timbre bands and chroma);
blocks are compared by cosine similarity; a Gaussian-tapered checkerboard kernel
``kernel_s`` seconds wide slides along the diagonal and peaks where the music before a
point resembles itself, the music after it resembles itself, and the two differ. Peaks
above ``threshold`` at least ``min_section_s`` apart (and from either end) are section
boundaries. Pure numpy; times in seconds.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["novelty_curve", "section_boundaries"]


def _prepare(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    centred = features - features.mean(axis=0, keepdims=True)
    scale = centred.std(axis=0, keepdims=True)
    centred = centred / np.maximum(scale, 1e-9 + 1e-3 * float(scale.max(initial=0.0)))
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.maximum(norms, 1e-12)


def novelty_curve(features: np.ndarray, block_s: float, kernel_s: float = 12.0) -> np.ndarray:
    """Checkerboard novelty per block (about 0 inside a section, up to ~2 at a sharp change).

    Args:
        features: ``(n_blocks, n_dims)`` feature vectors, one per ``block_s`` seconds.
        kernel_s: width of the checkerboard kernel in seconds (half before, half after).
    """
    n = len(features)
    if n < 4:
        return np.zeros(n)
    unit = _prepare(features)
    half = max(2, int(round(kernel_s / block_s / 2)))
    offsets = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * half)) ** 2)
    sign = np.sign(offsets)
    kernel = np.outer(sign * taper, sign * taper)
    kernel /= np.abs(kernel).sum() / 2.0  # +1 for perfectly self-similar halves that are opposite
    padded = np.pad(unit, ((half, half), (0, 0)), mode="reflect") if n > half else np.pad(unit, ((half, half), (0, 0)))
    novelty = np.empty(n)
    for i in range(n):  # the boundary lies between block i - 1 and block i
        window = padded[i:i + 2 * half]
        novelty[i] = float(np.sum(kernel * (window @ window.T)))
    return novelty


def section_boundaries(features: np.ndarray, block_s: float, kernel_s: float = 12.0, min_section_s: float = 8.0,
                       threshold: float = 0.25, contrast: float = 2.0) -> np.ndarray:
    """Times (seconds, > 0) where new sections start, from block features (see :func:`novelty_curve`).

    A boundary is a local maximum of the novelty of at least ``threshold`` and at least
    ``contrast`` times the median height of all its local maxima (chord changes inside
    a section make small peaks everywhere; a new section stands out of them), at least
    ``min_section_s`` from the track's ends and from every stronger boundary.
    """
    novelty = novelty_curve(features, block_s, kernel_s)
    n = len(novelty)
    if n < 4:
        return np.zeros(0)
    margin = int(math.ceil(min_section_s / block_s))
    gap = margin
    maxima = [i for i in range(1, n - 1) if novelty[i] >= novelty[i - 1] and novelty[i] > novelty[i + 1]]
    if not maxima:
        return np.zeros(0)
    level = max(threshold, contrast * float(np.median(novelty[maxima])))
    peaks = [i for i in maxima if novelty[i] >= level and margin <= i <= n - margin]
    chosen: list[int] = []
    for i in sorted(peaks, key=lambda j: -novelty[j]):
        if all(abs(i - j) >= gap for j in chosen):
            chosen.append(i)
    return np.array(sorted(chosen), dtype=np.float64) * block_s
