"""Code-generated grooves with exact ground truth for the beat, tempo and meter tests and
the benchmark: swing, waltzes, 6/8, half-time, a tempo change, rubato, songs without drums
(plucked notes, a sung-like melody with vibrato) and sounds without a beat (a drone,
speech-like noise bursts).

    render_groove("waltz", seconds=12.0, seed=0) -> Groove (samples, beats_s, downbeats_s, ...)

Every event is placed exactly at its listed time; the same arguments give the same
samples. Instruments are those of :mod:`synth_music`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from synth_music import PEAK, _bass, _hat, _kick, _midi_hz, _mixer, _snare

__all__ = ["Groove", "GROOVES", "BEATLESS", "render_groove"]

RATE = 44100


@dataclass
class Groove:
    """A rendered groove: mono samples and the exact beats, bars and meter (None: no beat)."""

    name: str
    samples: np.ndarray
    sample_rate: int
    beats_s: list = field(default_factory=list)
    downbeats_s: list = field(default_factory=list)
    beats_per_bar: int | None = None
    bpm: float = 0.0


def _pluck(tau, hz, decay_s=0.5):
    """A plucked string: bright attack, harmonics dying faster than the fundamental."""
    tone = np.zeros_like(tau)
    for harmonic in range(1, 7):
        tone += np.sin(2 * np.pi * hz * harmonic * tau) * np.exp(-tau * harmonic / decay_s) / harmonic
    return tone * np.clip(tau / 0.002, 0, 1)


def _sung(tau, hz, length_s, rng_phase):
    """A sung-like vowel: vibrato (5.5 Hz, +-0.4 semitone), a soft swell and release."""
    vibrato = 0.4 / 12 * np.log(2) * np.sin(2 * np.pi * 5.5 * tau + rng_phase)
    phase = 2 * np.pi * hz * np.cumsum(np.exp(vibrato)) / RATE
    tone = sum(np.sin(k * phase) * level for k, level in ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.15)))
    envelope = np.clip(tau / 0.06, 0, 1) * np.clip((length_s - tau) / 0.05, 0, 1)
    return tone * envelope


_CHORDS = ((0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14))  # I vi IV V


def _beat_times(bpm_at, n_beats: int, start_s: float) -> list[float]:
    """Beat times where beat ``i`` lasts ``60 / bpm_at(i)`` seconds."""
    times, t = [], start_s
    for i in range(n_beats):
        times.append(t)
        t += 60.0 / bpm_at(i)
    return times


def render_groove(name: str, seconds: float = 12.0, seed: int = 0, bpm: float | None = None) -> Groove:
    """One of ``GROOVES`` or ``BEATLESS``, about ``seconds`` long (whole bars), mono 44.1 kHz;
    ``bpm``: the beats per minute of a drummed groove (not the tempo change), None for its own."""
    rng = np.random.default_rng(seed)
    n = int((seconds + 1.5) * RATE)
    out = np.zeros((n, 2))
    add = _mixer(out, RATE)
    lead_in = 0.3
    groove = Groove(name, np.zeros(0, np.float32), RATE)

    def drums_bar(beats, per_bar, kick_on, snare_on, hats_per_beat=2, swing=0.5):
        for b, t in enumerate(beats):
            period = (beats[b + 1] - t) if b + 1 < len(beats) else (t - beats[b - 1])
            if b % per_bar in kick_on:
                add(t, 0.6, lambda tau: _kick(tau, rng, RATE), gain=0.9)
            if b % per_bar in snare_on:
                add(t, 0.4, lambda tau: _snare(tau, rng, RATE), gain=0.7)
            offsets = (0.0, swing) if hats_per_beat == 2 else (0.0,)
            for off in offsets:
                add(t + off * period, 0.15, lambda tau: _hat(tau, rng, RATE), gain=0.6)

    def bass_and_chords(beats, per_bar, bass_on=(0,), stabs_on=(), bars_per_chord=1):
        for b, t in enumerate(beats):
            bar = b // per_bar
            chord = _CHORDS[bar // bars_per_chord % len(_CHORDS)]
            if b % per_bar in bass_on:  # (root, or the fifth in the second bar of a chord)
                root = 36 + chord[0] + (7 if bar % bars_per_chord else 0)
                add(t, 0.4, lambda tau, hz=_midi_hz(root): _bass(tau, hz, 0.35, RATE), gain=0.7)
            if b % per_bar in stabs_on:
                for note in chord:
                    add(t, 0.5, lambda tau, hz=_midi_hz(60 + note): _pluck(tau, hz, 0.25), gain=0.12)

    if name in ("swing", "waltz", "slow_waltz", "six_eight", "half_time", "tempo_change", "four"):
        meter = {"waltz": 3, "slow_waltz": 3, "six_eight": 6}.get(name, 4)
        bpm = bpm or {"swing": 100.0, "waltz": 150.0, "slow_waltz": 96.0, "six_eight": 150.0, "half_time": 140.0,
                      "four": 120.0, "tempo_change": 96.0}[name]
        n_beats = int(seconds * bpm / 60.0) // meter * meter
        if name == "tempo_change":
            half = n_beats // 2 // 4 * 4
            beats = _beat_times(lambda i: 96.0 if i < half else 128.0, int(n_beats * 1.15) // 4 * 4, lead_in)
        else:
            beats = _beat_times(lambda i: bpm, n_beats, lead_in)
        if name == "swing":  # shuffle: hats and bass on the beat and its last triplet
            drums_bar(beats, 4, (0, 2), (1, 3), swing=2 / 3)
            bass_and_chords(beats, 4, bass_on=(0, 1, 2, 3), stabs_on=(1, 3))
        elif name == "waltz":  # oom-pah-pah
            drums_bar(beats, 3, (0,), (), hats_per_beat=1)
            bass_and_chords(beats, 3, bass_on=(0,), stabs_on=(1, 2))
        elif name == "slow_waltz":  # oom-pah-pah, a chord for two bars (root, then fifth), snare on 2 and 3
            drums_bar(beats, 3, (0,), (1, 2), hats_per_beat=2)
            bass_and_chords(beats, 3, bass_on=(0,), stabs_on=(1, 2), bars_per_chord=2)
        elif name == "six_eight":  # beats are the eighths: kick on 1, snare on 4
            drums_bar(beats, 6, (0,), (3,), hats_per_beat=1)
            bass_and_chords(beats, 6, bass_on=(0, 3), stabs_on=(0,))
        elif name == "half_time":  # kick on 1, snare on 3, hats on the eighths
            drums_bar(beats, 4, (0,), (2,))
            bass_and_chords(beats, 4, bass_on=(0,), stabs_on=(0,))
        else:
            drums_bar(beats, 4, (0, 2), (1, 3))
            bass_and_chords(beats, 4, bass_on=(0, 2), stabs_on=(0,))
        groove.beats_per_bar = meter
    elif name in ("plucked", "rubato"):  # finger-picking: bass on 1 and 3, arpeggio on every beat
        bpm = 96.0 if name == "plucked" else 84.0
        n_beats = int(seconds * bpm / 60.0) // 4 * 4
        swell = (lambda i: bpm * (1.0 + 0.08 * math.sin(2 * math.pi * i / 16.0))) if name == "rubato" else (
            lambda i: bpm)
        beats = _beat_times(swell, n_beats, lead_in)
        for b, t in enumerate(beats):
            chord = _CHORDS[(b // 4) % len(_CHORDS)]
            if b % 2 == 0:
                add(t, 1.2, lambda tau, hz=_midi_hz(40 + chord[0]): _pluck(tau, hz, 0.8), gain=0.5)
            note = 64 + chord[(b % 3)] + (12 if b % 4 == 3 else 0)
            add(t, 0.9, lambda tau, hz=_midi_hz(note): _pluck(tau, hz, 0.5), gain=0.35)
        groove.beats_per_bar = 4
    elif name == "vibrato_melody":  # a voice singing a note per beat over a soft plucked bass
        bpm = 90.0
        n_beats = int(seconds * bpm / 60.0) // 4 * 4
        beats = _beat_times(lambda i: bpm, n_beats, lead_in)
        melody = (0, 2, 4, 7, 9, 7, 4, 2, 0, 4, 5, 9, 7, 4, 2, -1)
        for b, t in enumerate(beats):
            length = 60.0 / bpm
            hz = _midi_hz(67 + melody[b % len(melody)])
            add(t, length, lambda tau, hz=hz, l=length, p=float(rng.uniform(0, 6.28)): _sung(tau, hz, l, p),
                gain=0.35)
            if b % 4 == 0:
                chord = _CHORDS[(b // 4) % len(_CHORDS)]
                add(t, 1.5, lambda tau, hz=_midi_hz(43 + chord[0]): _pluck(tau, hz, 1.0), gain=0.25)
        groove.beats_per_bar = 4
    elif name == "drone":  # held tones, slowly beating: no pulse
        t = np.arange(n) / RATE
        for hz in (110.0, 110.7, 165.0, 220.4):
            out[:, 0] += 0.2 * np.sin(2 * np.pi * hz * t + 0.3 * np.sin(2 * np.pi * 0.13 * t))
        out[:, 1] = out[:, 0]
        beats = []
    elif name == "speech_like":  # syllable-like noise bursts and voiced blips at irregular times
        t, beats = 0.2, []
        while t < seconds:
            length = float(rng.uniform(0.06, 0.28))
            hz = float(rng.uniform(110, 220))
            add(t, length, lambda tau, hz=hz, l=length: (np.sin(2 * np.pi * hz * tau) + 0.3 * rng.standard_normal(
                len(tau))) * np.sin(np.pi * np.clip(tau / l, 0, 1)), gain=0.3)
            t += length + float(rng.choice([0.03, 0.05, 0.09, 0.15, 0.3, 0.6]) * rng.uniform(0.5, 1.5))
    elif name == "silence":
        beats = []
    else:
        raise ValueError(f"unknown groove {name!r}: one of {GROOVES + BEATLESS}")
    mono = out.mean(axis=1)
    peak = float(np.max(np.abs(mono)))
    if peak > 0:
        mono *= PEAK / peak
    groove.samples = mono.astype(np.float32)
    groove.beats_s = [float(b) for b in beats if b < len(mono) / RATE - 0.2]
    if groove.beats_per_bar:
        groove.downbeats_s = groove.beats_s[::groove.beats_per_bar]
        groove.bpm = 60.0 / float(np.median(np.diff(groove.beats_s)))
    return groove


GROOVES = ("four", "swing", "waltz", "slow_waltz", "six_eight", "half_time", "tempo_change", "plucked", "rubato",
           "vibrato_melody")
BEATLESS = ("drone", "speech_like", "silence")
