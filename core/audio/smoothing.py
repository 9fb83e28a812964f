"""Shaping per-frame feature curves so motion is neither twitchy nor static: fps-invariant.

Every function takes one value per video frame and the frame rate ``fps`` (frames per
second), and every time constant is given in seconds (latencies in milliseconds), so
the same settings give the same motion at 24 and at 60 fps. Ends are padded by
reflection (``np.pad(mode="reflect")``): the end of a track never wraps into its start.

- :func:`shift`: delay (latency > 0) or look-ahead (latency < 0), fractional frames.
- :func:`attack_release`: an envelope follower that rises with ``attack_s`` and falls
  with ``release_s`` (one-pole, time constants in seconds).
- :func:`smooth`: a Gaussian blur with a standard deviation of ``sigma_s`` seconds.
- :func:`adaptive_normalise`: divide by a centred running average (values around 1.0).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["shift", "attack_release", "smooth", "adaptive_normalise"]


def _reflect(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """``values`` padded by reflection about its first and last samples (no wrap-around)."""
    if len(values) < 2:
        return np.pad(values, (before, after), mode="edge")
    return np.pad(values, (before, after), mode="reflect")


def shift(values: np.ndarray, fps: float, latency_ms: float) -> np.ndarray:
    """``values`` delayed by ``latency_ms`` milliseconds (negative: ahead of the music).

    Output frame ``i`` holds the input at fractional frame ``i - latency_ms * fps / 1000``,
    linearly interpolated; positions beyond either end read the reflected curve.
    """
    values = np.asarray(values, dtype=np.float64)
    if latency_ms == 0 or len(values) == 0:
        return values.copy()
    offset = latency_ms * 1e-3 * fps
    pad = int(math.ceil(abs(offset))) + 2
    padded = _reflect(values, pad, pad)
    positions = np.arange(len(values), dtype=np.float64) - offset + pad
    return np.interp(positions, np.arange(len(padded), dtype=np.float64), padded)


def attack_release(values: np.ndarray, fps: float, attack_s: float, release_s: float) -> np.ndarray:
    """Envelope follower: rises towards rising input with time constant ``attack_s`` seconds
    and decays after falling input with ``release_s`` seconds (0 = instantly).

    One pole per direction, coefficient ``exp(-1 / (tau * fps))`` per frame: the same
    step response in seconds at any frame rate. The state starts from a reflected run-in
    of the first frames (not from zero), so the first frames are not an artificial rise.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or (attack_s <= 0 and release_s <= 0):
        return values.copy()
    up = math.exp(-1.0 / (attack_s * fps)) if attack_s > 0 else 0.0
    down = math.exp(-1.0 / (release_s * fps)) if release_s > 0 else 0.0
    run_in = min(len(values) - 1, int(math.ceil(5.0 * max(attack_s, release_s) * fps)))
    padded = _reflect(values, run_in, 0)
    out = np.empty_like(padded)
    state = float(padded[0])
    for i, x in enumerate(padded.tolist()):
        coef = up if x > state else down
        state = x + coef * (state - x)
        out[i] = state
    return out[run_in:]


def smooth(values: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """Gaussian blur with a standard deviation of ``sigma_s`` seconds (centred: no delay)."""
    values = np.asarray(values, dtype=np.float64)
    sigma = sigma_s * fps
    if sigma <= 0 or len(values) == 0:
        return values.copy()
    radius = int(math.ceil(4.0 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    return np.convolve(_reflect(values, radius, radius), taps, mode="valid")


def adaptive_normalise(values: np.ndarray, fps: float, window_s: float, ceiling: float = 4.0) -> np.ndarray:
    """``values`` relative to their centred running average over ``window_s`` seconds.

    A passage as strong as its surroundings reads about 1.0 whatever its absolute level;
    the result is clipped to ``[0, ceiling]``. Where the running average is below a
    millionth of the track's mean (silence) the result is 0.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values.copy()
    half = max(1, int(round(0.5 * window_s * fps)))
    padded = _reflect(values, half, half)
    cum = np.concatenate([[0.0], np.cumsum(padded)])
    width = 2 * half + 1
    average = (cum[width:] - cum[:-width]) / width
    floor = 1e-6 * max(float(np.mean(np.abs(values))), 1e-30)
    out = np.where(average > floor, values / np.maximum(average, floor), 0.0)
    return np.clip(out, 0.0, ceiling)
