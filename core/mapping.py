"""Music -> motion: per-video-frame audio features become CPPN latents and zoom.

Two motions add up:

- **travel**: the latent follows a smooth, seeded path (per dimension a sum of sinusoids
  of the path position). The position advances at ``BASE_SPEED + LOUDNESS_SPEED * loudness``
  path units per second, so loud passages flow faster than quiet ones.
- **pulse**: an onset jumps a pulse envelope up to the onset's strength; the envelope
  decays exponentially with time constant ``pulse_decay_s`` seconds. The latent is pulled
  toward a seeded "hit" latent, and the zoom swells, in proportion to the envelope.

Every rate is in seconds, never in frames, so the same music gives the same picture at
the same time whatever the frame rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BASE_SPEED = 0.15
"""Path units per second travelled in silence."""
LOUDNESS_SPEED = 1.2
"""Extra path units per second at full loudness (times ``strength``)."""
SINUSOIDS_PER_DIMENSION = 3
ANGULAR_FREQUENCY_RANGE = (0.6, 1.8)
"""Radians per path unit of the path's sinusoids."""
HIT_PULL = 0.6
"""Fraction of the way to the hit latent at a full pulse (times ``strength``, at most 1)."""
HIT_MAGNITUDE = 1.5
"""Typical size of a hit latent's entries relative to the path's (about 1)."""
ZOOM_PULSE = 0.08
"""Extra zoom at a full pulse (times ``strength``): 0.08 = 8 % magnification."""


@dataclass
class FramePlan:
    """What to render for each video frame.

    Attributes:
        latents: (n_frames, latent_dim) float32 latent vectors.
        zoom: (n_frames,) float32 magnification, 1.0 = none.
    """

    latents: np.ndarray
    zoom: np.ndarray


def _feature(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per frame (1-D), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.clip(array, 0.0, 1.0)


def pulse_envelope(onset: np.ndarray, fps: float, pulse_decay_s: float) -> np.ndarray:
    """Per-frame pulse in [0, 1]: jumps to each onset's value, decays with ``pulse_decay_s`` seconds."""
    decay_per_frame = math.exp(-1.0 / (fps * pulse_decay_s))
    envelope = np.empty_like(onset)
    level = 0.0
    for index, value in enumerate(onset):
        level = max(value, level * decay_per_frame)
        envelope[index] = level
    return envelope


def plan_frames(
    loudness: np.ndarray,
    onset: np.ndarray,
    fps: float,
    latent_dim: int,
    seed: int,
    strength: float = 1.0,
    pulse_decay_s: float = 0.25,
) -> FramePlan:
    """Latents and zoom for each video frame from its loudness and onset strength.

    Args:
        loudness: per-frame loudness in 0..1 (values outside are clipped).
        onset: per-frame onset strength in 0..1, same length.
        fps: video frames per second.
        latent_dim: size of the style's latent vector.
        seed: chooses the path and the hit latent; same seed, same plan.
        strength: how strongly the music moves the image; 0 = steady drift only.
        pulse_decay_s: time constant of the pulse's exponential decay in seconds.

    Frame ``i`` shows the path position reached at its start time ``i / fps`` seconds.
    """
    loudness = _feature(loudness, "loudness")
    onset = _feature(onset, "onset")
    if loudness.shape != onset.shape:
        raise ValueError(f"loudness has {loudness.size} frames but onset has {onset.size}")
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not pulse_decay_s > 0:
        raise ValueError(f"pulse_decay_s must be positive, got {pulse_decay_s!r}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be at least 1, got {latent_dim!r}")
    strength = max(0.0, float(strength))

    rng = np.random.default_rng(seed)
    shape = (latent_dim, SINUSOIDS_PER_DIMENSION)
    angular_frequency = rng.uniform(*ANGULAR_FREQUENCY_RANGE, size=shape)
    phase = rng.uniform(0.0, 2.0 * math.pi, size=shape)
    hit = rng.standard_normal(latent_dim) * HIT_MAGNITUDE

    step = (BASE_SPEED + strength * LOUDNESS_SPEED * loudness) / fps  # path units per frame
    position = np.cumsum(step) - step  # reached at each frame's start
    amplitude = math.sqrt(2.0 / SINUSOIDS_PER_DIMENSION)  # each dimension has variance ~1
    path = amplitude * np.sin(position[:, None, None] * angular_frequency + phase).sum(axis=2)

    pulse = pulse_envelope(onset, fps, pulse_decay_s)
    pull = np.minimum(1.0, HIT_PULL * strength * pulse)[:, None]
    latents = path + pull * (hit - path)
    zoom = 1.0 + ZOOM_PULSE * strength * pulse
    return FramePlan(latents=latents.astype(np.float32), zoom=zoom.astype(np.float32))
