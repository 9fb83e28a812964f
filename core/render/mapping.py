"""Music -> motion: per-video-frame audio features become CPPN latents and coordinate moves.

``plan(features, fps, latent_dim, seed, preset=..., strengths=..., smoothing_s=...)`` is
the full mapping: five *effects*, each with a strength (0 = off) and a smoothing time in
seconds, mixed by a named *preset* (see ``PRESETS`` and ``EFFECTS``):

``flow``
    motion speed from energy: the latent travels a smooth seeded path whose speed is
    ``BASE_SPEED + LOUDNESS_SPEED * strength * loudness`` path units per second (a
    time-warped latent path; loudness smoothed over ``smoothing_s``).
``pulse``
    a decaying impulse on onsets (time constant ``smoothing_s``) pulls the latent toward
    seeded "hit" latents (each new onset takes the next of ``N_HITS``) and swells the zoom.
``chroma``
    the 12 pitch-class energies (smoothed) mix seeded latent directions: chords and keys
    colour the image.
``bass``
    bass energy (smoothed) zooms in, turns the image (a seeded direction) and warps the
    coordinates.
``sections``
    each section of the song (``section`` / ``section_change``) has its own seeded
    latent offset; the change crossfades over ``smoothing_s``.
``harmony``
    the key tints the palette: each of the 24 keys (``key_index``, ``key_minor``) has its
    own seeded latent offset, weighted by ``key_confidence`` and crossfaded over
    ``KEY_FADE`` times ``smoothing_s``; each chord (``chord_root``, ``chord_minor``,
    ``chord_seventh``; none where ``chord_present`` is 0) adds its own smaller offset that
    glides in over ``smoothing_s``, and every chord change (``chord_change``) kicks the
    zoom and turns the picture a step (both easing over ``smoothing_s``).

Channels a track lacks disable the effects that need them (``flow`` falls back from
``loudness`` to ``rms``; ``pulse`` needs ``onset``; ``chroma`` needs ``chroma_0``..``11``;
``bass`` needs ``bass``; ``sections`` needs ``section`` or ``section_change``; ``harmony``
needs the key and chord channels), so a track
with only ``rms, loudness, onset_strength, onset`` still plans ``flow`` and ``pulse``.
Smoothing is zero-phase (a one-pole filter run forward then backward), and every rate is
in seconds: the same music gives the same picture at the same time whatever the frame
rate (up to the frame grid). The plan covers a whole song in one pass, so a frame's plan
does not depend on which frames are baked.
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
        rotation: (n_frames,) float32 counter-clockwise rotation in radians (default 0).
        warp: (n_frames,) float32 coordinate warp amplitude (default 0, see ``cppn``).
        warp_phase: (n_frames,) float32 warp phase in radians (default 0).
    """

    latents: np.ndarray
    zoom: np.ndarray
    rotation: np.ndarray | None = None
    warp: np.ndarray | None = None
    warp_phase: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.latents)
        for name in ("rotation", "warp", "warp_phase"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.latents)

    def rows(self, selection) -> "FramePlan":
        """The plan of some rows (a slice or index array)."""
        return FramePlan(latents=self.latents[selection], zoom=self.zoom[selection],
                         rotation=self.rotation[selection], warp=self.warp[selection],
                         warp_phase=self.warp_phase[selection])

    def view(self, row: int) -> dict:
        """Render keyword arguments of one row (``zoom``, ``rotation_rad``, ``warp``, ``warp_phase``)."""
        return {"zoom": float(self.zoom[row]), "rotation_rad": float(self.rotation[row]),
                "warp": float(self.warp[row]), "warp_phase": float(self.warp_phase[row])}


def pulse_envelope(onset: np.ndarray, fps: float, pulse_decay_s: float) -> np.ndarray:
    """Per-frame pulse in [0, 1]: jumps to each onset's value, decays with ``pulse_decay_s`` seconds."""
    decay_per_frame = math.exp(-1.0 / (fps * pulse_decay_s))
    envelope = np.empty_like(onset)
    level = 0.0
    for index, value in enumerate(onset):
        level = max(value, level * decay_per_frame)
        envelope[index] = level
    return envelope


def first_latent(latent_dim: int, seed: int = 0) -> np.ndarray:
    """The latent a bake of ``seed`` starts from in silence (plan row 0): what a style's
    thumbnail and a training preview show."""
    silence = {"loudness": np.zeros(1), "onset": np.zeros(1)}
    return plan(silence, 24.0, latent_dim, seed).latents[0]


# --- presets -------------------------------------------------------------------------------

EFFECTS = ("flow", "pulse", "chroma", "bass", "sections", "harmony")
"""The effects a preset mixes; ``strengths`` and ``smoothing_s`` are keyed by these."""
DEFAULT_SMOOTHING_S = {"flow": 0.3, "pulse": 0.25, "chroma": 0.6, "bass": 0.12, "sections": 1.5, "harmony": 0.3}
"""Default smoothing per effect in seconds (``pulse``: the decay time constant)."""
PRESETS = {
    "balanced": {"flow": 1.0, "pulse": 1.0, "chroma": 0.6, "bass": 0.6, "sections": 1.0, "harmony": 0.0},
    "pulse": {"flow": 0.4, "pulse": 1.6, "chroma": 0.0, "bass": 0.0, "sections": 0.5, "harmony": 0.0},
    "flow": {"flow": 1.6, "pulse": 0.3, "chroma": 0.4, "bass": 0.0, "sections": 0.5, "harmony": 0.0},
    "chroma": {"flow": 0.5, "pulse": 0.3, "chroma": 1.6, "bass": 0.0, "sections": 0.5, "harmony": 0.0},
    "bass": {"flow": 0.5, "pulse": 0.5, "chroma": 0.0, "bass": 1.6, "sections": 0.5, "harmony": 0.0},
    "sections": {"flow": 0.7, "pulse": 0.3, "chroma": 0.3, "bass": 0.0, "sections": 1.6, "harmony": 0.0},
    "harmony": {"flow": 0.5, "pulse": 0.3, "chroma": 0.0, "bass": 0.0, "sections": 0.3, "harmony": 1.6},
}
"""Preset name -> strength of each effect. ``balanced`` is the default."""
DEFAULT_PRESET = "balanced"
MAX_STRENGTH = 10.0
N_HITS = 4
"""Hit latents the pulse cycles through, one per onset."""
ONSET_EVENT = 0.3
"""An onset starts a new hit when it exceeds this and the decayed pulse."""
CHROMA_SCALE = 2.0
"""Latent offset per unit of (normalised chroma - uniform) at strength 1."""
BASS_ZOOM = 0.25
"""Extra zoom at full bass (times strength)."""
BASS_SPIN = 0.6
"""Radians per second of turn at full bass (times strength)."""
BASS_WARP = 0.12
"""Coordinate warp amplitude at full bass (times strength)."""
WARP_PHASE_SPEED = 1.3
"""Radians per second the warp pattern travels."""
SECTION_MAGNITUDE = 1.2
"""Typical size of a section's latent offset entries (times strength)."""
KEY_MAGNITUDE = 1.0
"""Typical size of a key's latent offset entries (times strength and key confidence)."""
KEY_FADE = 4.0
"""A key change crossfades over this many times the harmony smoothing."""
CHORD_MAGNITUDE = 0.6
"""Typical size of a chord's latent offset entries (times strength)."""
CHORD_ZOOM = 0.06
"""Extra zoom right after a chord change (times strength), easing out."""
CHORD_TURN = 0.35
"""Radians the picture turns per chord change (times strength), eased in."""


def _checked_settings(preset: str, strengths: dict | None, smoothing_s: dict | None,
                      strength: float) -> tuple[dict, dict]:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
    effective = dict(PRESETS[preset])
    smoothing = dict(DEFAULT_SMOOTHING_S)
    for name, values, target in (("strength", strengths, effective), ("smoothing", smoothing_s, smoothing)):
        for effect, value in (values or {}).items():
            if effect not in EFFECTS:
                raise ValueError(f"unknown effect {effect!r} in {name}s: use {', '.join(EFFECTS)}")
            value = float(value)
            if not (math.isfinite(value) and 0.0 <= value <= (MAX_STRENGTH if name == "strength" else 60.0)):
                raise ValueError(f"{name} of {effect} must be from 0 to "
                                 f"{MAX_STRENGTH if name == 'strength' else 60.0:g}, got {value!r}")
            target[effect] = value
    overall = float(strength)
    if not (math.isfinite(overall) and overall >= 0):
        raise ValueError(f"strength must be a number >= 0, got {strength!r}")
    return {effect: value * overall for effect, value in effective.items()}, smoothing


def _one_pole(values: np.ndarray, keep: float) -> np.ndarray:
    out = np.empty_like(values)
    level = values[0]
    if values.ndim == 1:
        rows = values.tolist()
        for index, value in enumerate(rows):
            level = keep * level + (1.0 - keep) * value
            rows[index] = level
        return np.asarray(rows, dtype=np.float64)
    for index in range(len(values)):
        level = keep * level + (1.0 - keep) * values[index]
        out[index] = level
    return out


def smooth(values: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    """Zero-phase one-pole smoothing along axis 0 with time constant ``seconds`` (0 = none).

    The filter runs forward, then backward over the result, so nothing lags the music.
    """
    values = np.asarray(values, dtype=np.float64)
    if seconds <= 0 or len(values) < 2:
        return values.copy()
    keep = math.exp(-1.0 / (fps * seconds))
    return _one_pole(_one_pole(values, keep)[::-1], keep)[::-1].copy()


def _channels_of(features, sources: dict | None) -> callable:
    """A lookup ``channel(effect, name) -> 1-D array or None`` over tracks or plain dicts.

    ``features``: a ``FeatureTrack``, a dict channel name -> array, or a dict stem name ->
    FeatureTrack (several strips); ``sources`` maps an effect to the stem it listens to
    (default: the first stem that has the channel).
    """
    def as_dict(track):
        return getattr(track, "channels", track)

    stems = None
    if isinstance(features, dict) and features and all(hasattr(value, "channels") or isinstance(value, dict)
                                                       for value in features.values()):
        stems = {name: as_dict(track) for name, track in features.items()}
    channels = as_dict(features) if stems is None else None

    def channel(effect: str, name: str):
        if stems is None:
            pool = [channels]
        elif sources and effect in sources:
            if sources[effect] not in stems:
                raise ValueError(f"effect {effect!r} listens to stem {sources[effect]!r}, "
                                 f"which is not among {sorted(stems)}")
            pool = [stems[sources[effect]]]
        else:
            pool = list(stems.values())
        for table in pool:
            if name in table:
                values = np.asarray(table[name], dtype=np.float64)
                if values.ndim != 1 or not np.all(np.isfinite(values)):
                    raise ValueError(f"channel {name!r} must be finite values, one per frame")
                return values
        return None

    return channel


def _hit_indices(onset: np.ndarray, pulse: np.ndarray, fps: float, decay_s: float) -> np.ndarray:
    """Per frame, which hit latent the pulse pulls toward: advances on every onset event."""
    decay = math.exp(-1.0 / (fps * decay_s))
    previous = np.concatenate([[0.0], pulse[:-1]]) * decay
    events = (onset >= ONSET_EVENT) & (onset > previous + 1e-9)
    return (np.cumsum(events) - 1) % N_HITS


def _section_index(channel) -> np.ndarray | None:
    section = channel("sections", "section")
    if section is not None:
        return np.maximum(0, np.rint(section)).astype(np.int64)
    change = channel("sections", "section_change")
    if change is not None:
        starts = np.cumsum(change > 0.5)
        return np.maximum(0, starts - (1 if change[:1].sum() > 0.5 else 0)).astype(np.int64)
    return None


def _harmony_motion(channel, rng: np.random.Generator, n: int, latent_dim: int, fps: float, weight: float,
                    smoothing_s: float):
    """``(latent offsets, zoom factors, rotation)`` of the ``harmony`` effect, or None (off / no channels)."""
    names = ("key_index", "key_minor", "key_confidence", "chord_present", "chord_root", "chord_minor",
             "chord_seventh", "chord_change")
    values = {name: channel("harmony", name) for name in names}
    if weight <= 0 or any(v is None for v in values.values()):
        return None
    key = (np.clip(np.rint(values["key_index"]), 0, 11) + 12 * (values["key_minor"] > 0.5)).astype(np.int64)
    key_offsets = rng.standard_normal((24, latent_dim)) * KEY_MAGNITUDE
    tint = key_offsets[key] * np.clip(values["key_confidence"], 0.0, 1.0)[:, None]
    chord = (np.clip(np.rint(values["chord_root"]), 0, 11) + 12 * (values["chord_minor"] > 0.5)
             + 24 * (values["chord_seventh"] > 0.5)).astype(np.int64)
    chord_offsets = rng.standard_normal((48, latent_dim)) * CHORD_MAGNITUDE
    present = (values["chord_present"] > 0.5)[:, None]
    offsets = smooth(tint, fps, KEY_FADE * smoothing_s) + smooth(chord_offsets[chord] * present, fps, smoothing_s)
    kick = pulse_envelope(np.clip(values["chord_change"], 0.0, 1.0), fps, max(smoothing_s, 1e-3))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    steps = np.cumsum(values["chord_change"] > 0.5).astype(np.float64)
    turn = direction * CHORD_TURN * weight * smooth(steps, fps, smoothing_s)
    return weight * offsets, 1.0 + CHORD_ZOOM * weight * kick, turn


def plan(
    features,
    fps: float,
    latent_dim: int,
    seed: int,
    preset: str = DEFAULT_PRESET,
    strengths: dict | None = None,
    smoothing_s: dict | None = None,
    strength: float = 1.0,
    sources: dict | None = None,
) -> FramePlan:
    """Latents, zoom, rotation and warp for every frame of a song under a preset.

    Args:
        features: a ``FeatureTrack``, a dict channel -> per-frame array, or a dict stem
            name -> FeatureTrack; the whole song (one row per video frame).
        fps: video frames per second.
        latent_dim: size of the style's latent vector.
        seed: chooses the path, hits and offsets; same inputs and seed, same plan.
        preset: a name from ``PRESETS``.
        strengths: per-effect strengths replacing the preset's (keys from ``EFFECTS``).
        smoothing_s: per-effect smoothing in seconds replacing ``DEFAULT_SMOOTHING_S``.
        strength: overall multiplier of every effect's strength (0 = steady drift only).
        sources: effect -> stem name, when ``features`` holds several stems.

    Raises ``ValueError`` (one line) for unknown presets/effects and bad values.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be at least 1, got {latent_dim!r}")
    weights, smoothing = _checked_settings(preset, strengths, smoothing_s, strength)
    channel = _channels_of(features, sources)
    lengths = {len(values) for effect, names in (("flow", ("loudness", "rms", "onset")),
                                                 ("pulse", ("onset",)), ("bass", ("bass",)))
               for values in [channel(effect, name) for name in names] if values is not None}
    if len(lengths) > 1:
        raise ValueError(f"channels have different lengths {sorted(lengths)}")
    if not lengths:
        raise ValueError("the features have none of the channels loudness, rms or onset")
    n = lengths.pop()
    time_s = np.arange(n) / fps

    # Independent random streams per effect: changing one effect never moves another.
    def rng(effect: str) -> np.random.Generator:
        return np.random.default_rng([int(seed) & 0xFFFFFFFF, EFFECTS.index(effect) + 1])

    # flow: a seeded sinusoid path, travelled faster when loud.
    path_rng = rng("flow")
    shape = (latent_dim, SINUSOIDS_PER_DIMENSION)
    angular_frequency = path_rng.uniform(*ANGULAR_FREQUENCY_RANGE, size=shape)
    phase = path_rng.uniform(0.0, 2.0 * math.pi, size=shape)
    energy = channel("flow", "loudness")
    if energy is None:
        energy = channel("flow", "rms")
    energy = np.zeros(n) if energy is None else np.clip(smooth(energy, fps, smoothing["flow"]), 0.0, 1.0)
    step = (BASE_SPEED + weights["flow"] * LOUDNESS_SPEED * energy) / fps
    position = np.cumsum(step) - step
    amplitude = math.sqrt(2.0 / SINUSOIDS_PER_DIMENSION)
    latents = amplitude * np.sin(position[:, None, None] * angular_frequency + phase).sum(axis=2)

    # chroma: pitch classes mix seeded latent directions.
    directions = rng("chroma").standard_normal((12, latent_dim))
    chroma = [channel("chroma", f"chroma_{k}") for k in range(12)]
    if weights["chroma"] > 0 and all(values is not None for values in chroma):
        table = np.stack([smooth(np.clip(values, 0.0, 1.0), fps, smoothing["chroma"]) for values in chroma], axis=1)
        total = table.sum(axis=1, keepdims=True)
        share = np.divide(table, total, out=np.full_like(table, 1.0 / 12.0), where=total > 1e-6)
        latents += weights["chroma"] * CHROMA_SCALE * (share - 1.0 / 12.0) @ directions

    # sections: each section its own offset, crossfaded.
    section_rng = rng("sections")
    section = _section_index(channel)
    if weights["sections"] > 0 and section is not None:
        offsets = section_rng.standard_normal((int(section.max()) + 1, latent_dim)) * SECTION_MAGNITUDE
        latents += weights["sections"] * smooth(offsets[section], fps, smoothing["sections"])

    # harmony: the key tints, each chord adds its offset, chord changes kick zoom and turn.
    zoom = np.ones(n)
    rotation = np.zeros(n)
    harmony = _harmony_motion(channel, rng("harmony"), n, latent_dim, fps, weights["harmony"], smoothing["harmony"])
    if harmony is not None:
        latents += harmony[0]
        zoom *= harmony[1]
        rotation += harmony[2]

    # pulse: onsets pull toward hit latents and swell the zoom.
    hits = rng("pulse").standard_normal((N_HITS, latent_dim)) * HIT_MAGNITUDE
    onset = channel("pulse", "onset")
    if weights["pulse"] > 0 and onset is not None:
        onset = np.clip(onset, 0.0, 1.0)
        decay_s = max(smoothing["pulse"], 1e-3)
        envelope = pulse_envelope(onset, fps, decay_s)
        target = hits[_hit_indices(onset, envelope, fps, decay_s)]
        pull = np.minimum(1.0, HIT_PULL * weights["pulse"] * envelope)[:, None]
        latents = latents + pull * (target - latents)
        zoom *= 1.0 + ZOOM_PULSE * weights["pulse"] * envelope

    # bass: zoom in, turn and warp.
    warp = np.zeros(n)
    bass_rng = rng("bass")
    spin_direction = 1.0 if bass_rng.random() < 0.5 else -1.0
    warp_phase0 = bass_rng.uniform(0.0, 2.0 * math.pi)
    bass = channel("bass", "bass")
    if weights["bass"] > 0 and bass is not None:
        bass = np.clip(smooth(np.clip(bass, 0.0, 1.0), fps, smoothing["bass"]), 0.0, 1.0)
        zoom *= 1.0 + BASS_ZOOM * weights["bass"] * bass
        turn = spin_direction * BASS_SPIN * weights["bass"] * bass / fps
        rotation += np.cumsum(turn) - turn
        warp = BASS_WARP * weights["bass"] * bass
    warp_phase = (warp_phase0 + WARP_PHASE_SPEED * time_s) % (2.0 * math.pi)

    return FramePlan(latents=latents.astype(np.float32), zoom=zoom.astype(np.float32),
                     rotation=np.remainder(rotation, 2.0 * math.pi).astype(np.float32),
                     warp=warp.astype(np.float32), warp_phase=warp_phase.astype(np.float32))
