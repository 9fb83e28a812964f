"""What a training step draws at random, in NumPy: latents, views (cutouts) and their features.

Pure NumPy (no torch), shared by the torch trainer (``torch_trainer``) and the NumPy
palette trainer (``numpy_trainer``), so both train on the same distribution and a
Blender without the training pack can train a palette style.

A *view* of a latent's 16:9 frame is what one CLIP cutout sees: a square window of
random size, position, rotation and mirror, seen through a random perspective tilt,
then (for CLIP only, in torch) colour jitter and pixel noise. Rendering the window's
coordinates straight at the render size is the crop-and-resize augmentation without
resampling. Units: coordinates in CPPN units (the frame's shorter side spans [-1, 1]),
angles in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FRAME_HALF_WIDTH = 16.0 / 9.0
"""Half-width of a 16:9 frame in CPPN units (the shorter side spans [-1, 1])."""
HELD_OUT_LATENTS = 16
HELD_OUT_SEED = 7_654_321
"""Seed of the held-out latents that score a style (the same for every run, never trained on)."""
EVALUATION_DIRECTIONS = 64
EVALUATION_SEED = 20_240_607
"""Projections of the held-out palette metric (fixed, so scores compare across runs)."""


@dataclass
class StepResult:
    """What one training step measured: the total loss and the batch's CLIP score (None without CLIP)."""

    loss: float
    score: float | None


@dataclass
class ViewRanges:
    """How far the random views of a frame reach (the training distribution).

    half_size: (low, high) half-side of the square window in CPPN units (the crop scale).
    rotation: largest rotation either way, radians. mirror: chance of a left-right flip.
    perspective: largest projective tilt: the window's far edge shrinks by up to this
        fraction (0 = flat crops).
    brightness, contrast, saturation: colour jitter, the largest offset / relative change.
    noise: standard deviation of the pixel noise (colour units).
    """

    half_size: tuple[float, float] = (0.4, 1.0)
    rotation: float = 0.3
    mirror: float = 0.5
    perspective: float = 0.25
    brightness: float = 0.08
    contrast: float = 0.15
    saturation: float = 0.2
    noise: float = 0.02


TRAINING_VIEWS = ViewRanges()
UNSEEN_VIEWS = ViewRanges(half_size=(0.3, 1.1), rotation=0.5, perspective=0.35, brightness=0.12,
                          contrast=0.25, saturation=0.3, noise=0.03)
"""Wider views than training ever draws, from another seed: the held-out score on them
asks whether a style holds up beyond the crops it was fitted to."""


def sample_latents(rng: np.random.Generator, count: int, latent_dim: int) -> np.ndarray:
    """(count, latent_dim) float32 latents spread like those the music produces.

    ``core.render.mapping`` moves a latent along a path whose entries have variance ~1 and
    pulls it towards "hit" latents of standard deviation 1.5; each sample here is a
    standard normal vector scaled by a random factor from 0.5 to 1.6, covering both.
    """
    scale = 0.5 + 1.1 * rng.random((count, 1))
    return (rng.standard_normal((count, latent_dim)) * scale).astype(np.float32)


def held_out_latents(latent_dim: int) -> np.ndarray:
    """The ``HELD_OUT_LATENTS`` fixed latents every score and report is measured on."""
    return sample_latents(np.random.default_rng(HELD_OUT_SEED), HELD_OUT_LATENTS, latent_dim)


def latent_path(latent_dim: int, frames: int = 96, seed: int = 11) -> np.ndarray:
    """(frames, latent_dim): a fixed smooth latent path like music drives (a slow random
    walk through the latent space, ~0.12 units per frame), for measuring flicker."""
    rng = np.random.default_rng(seed)
    velocity = np.zeros(latent_dim)
    position = rng.standard_normal(latent_dim)
    path = []
    for _ in range(frames):
        velocity = 0.8 * velocity + 0.2 * rng.standard_normal(latent_dim) * 0.3
        position = 0.98 * position + velocity
        path.append(position.copy())
    return np.asarray(path, dtype=np.float32)


@dataclass
class Windows:
    """Random square windows of a frame, one per entry of each (count,) array (see ``sample_windows``)."""

    half: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    angle: np.ndarray
    mirror: np.ndarray
    tilt: np.ndarray  # (count, 2): projective tilt along u and v

    @classmethod
    def centred(cls, count: int = 1) -> "Windows":
        """The whole frame's central square, unrotated: the renderer's own grid."""
        one, zero = np.ones(count), np.zeros(count)
        return cls(one, zero, zero, zero, one, np.zeros((count, 2)))


def sample_windows(rng: np.random.Generator, count: int, ranges: ViewRanges = TRAINING_VIEWS) -> Windows:
    """``count`` random windows inside a 16:9 frame, drawn from ``ranges``."""
    low, high = ranges.half_size
    half = low + (high - low) * rng.random(count)
    centre_x = (rng.random(count) * 2 - 1) * np.maximum(FRAME_HALF_WIDTH - half, 0)
    centre_y = (rng.random(count) * 2 - 1) * np.maximum(1.0 - half, 0)
    angle = (rng.random(count) * 2 - 1) * ranges.rotation
    mirror = np.where(rng.random(count) < ranges.mirror, -1.0, 1.0)
    tilt = (rng.random((count, 2)) * 2 - 1) * ranges.perspective
    return Windows(half, centre_x, centre_y, angle, mirror, tilt)


def grid_points(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of a ``size`` x ``size`` grid of pixel centres in [-1, 1], rows from the top
    (v grows upwards), in row order as ``cppn.pixel_coordinates``."""
    steps = (np.arange(size, dtype=np.float64) + 0.5) / size * 2 - 1
    v, u = np.meshgrid(-steps, steps, indexing="ij")
    return u.reshape(-1), v.reshape(-1)


def window_features(windows: Windows, u: np.ndarray, v: np.ndarray, inputs: list[str],
                    fourier: list[float] | tuple = ()) -> np.ndarray:
    """(count, P, n_features) float32 CPPN coordinate features of points (u, v) in [-1, 1]
    of each window (u, v: (P,) shared, or (count, P) per window).

    The tilt is a projective map of the unit square that keeps its centre:
    ``(u, v) / (1 + tu u + tv v)``. A centred window (``Windows.centred``) on
    ``grid_points(size)`` gives exactly ``cppn.pixel_coordinates(inputs, size, size)``.
    """
    u, v = np.broadcast_to(u, (len(windows.half), np.shape(u)[-1])), np.broadcast_to(v, (len(windows.half), np.shape(v)[-1]))
    divisor = 1.0 + windows.tilt[:, :1] * u + windows.tilt[:, 1:] * v
    u, v = u / divisor, v / divisor
    cos, sin = np.cos(windows.angle)[:, None], np.sin(windows.angle)[:, None]
    scaled_u = u * (windows.half * windows.mirror)[:, None]
    scaled_v = v * windows.half[:, None]
    x = (windows.centre_x[:, None] + cos * scaled_u - sin * scaled_v).astype(np.float32)
    y = (windows.centre_y[:, None] + sin * scaled_u + cos * scaled_v).astype(np.float32)
    columns = [{"x": x, "y": y, "r": np.hypot(x, y)}[name] for name in inputs]
    for scale in fourier:
        for axis in (x, y):
            phase = (math.pi * float(scale)) * axis.astype(np.float64)
            columns += [np.sin(phase).astype(np.float32), np.cos(phase).astype(np.float32)]
    return np.stack(columns, axis=2)


def colour_jitter(rng: np.random.Generator, count: int, ranges: ViewRanges = TRAINING_VIEWS) -> np.ndarray:
    """(count, 3) float32 per view: brightness offset, contrast factor, saturation factor
    (applied in ``torch_trainer``: ``grey + saturation * (rgb - grey)``, then
    ``mean + contrast * (rgb - mean) + brightness``)."""
    brightness = (rng.random(count) * 2 - 1) * ranges.brightness
    contrast = 1.0 + (rng.random(count) * 2 - 1) * ranges.contrast
    saturation = 1.0 + (rng.random(count) * 2 - 1) * ranges.saturation
    return np.stack([brightness, contrast, saturation], axis=1).astype(np.float32)


def unit_directions(rng: np.random.Generator | None, count: int) -> np.ndarray:
    """(count, 3) float32 unit vectors in RGB: the three colour axes and grey first, then random ones."""
    fixed = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])
    extra = rng.standard_normal((max(0, count - len(fixed)), 3)) if rng is not None else np.zeros((0, 3))
    directions = np.concatenate([fixed, extra])[:count]
    return (directions / np.linalg.norm(directions, axis=1, keepdims=True)).astype(np.float32)


def evaluation_directions() -> np.ndarray:
    """The fixed projections of the held-out palette distance."""
    return unit_directions(np.random.default_rng(EVALUATION_SEED), EVALUATION_DIRECTIONS)


def learning_rate_at(step: int, total_steps: int | None, base: float) -> float:
    """Adam's step size at ``step`` (0-based): a cosine from ``base`` down to a tenth of it
    at the last of ``total_steps`` (constant when ``total_steps`` is None)."""
    if not total_steps:
        return base
    progress = min(1.0, step / max(1, total_steps - 1))
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """(F - 1,) mean absolute change of 8-bit levels between consecutive frames of (F, H, W, 3) in [0, 1]."""
    levels = np.round(np.clip(frames, 0, 1) * 255).astype(np.int16)
    return np.abs(np.diff(levels, axis=0)).mean(axis=(1, 2, 3))
