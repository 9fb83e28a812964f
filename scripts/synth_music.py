"""Code-generated music for tests and the demo: drums, bass and a chord pad (no licences).

    python scripts/synth_music.py out.wav [--seconds 8] [--bpm 120] [--seed 0]

The clip is a 4/4 groove: a pitch-swept sine kick, a noise snare with a tonal body,
high-passed noise hi-hats on every eighth note, a low-passed saw bass on the eighths and a
soft detuned chord pad, one chord per bar. Around the middle there is one quiet passage
(:func:`quiet_passage_s`) where only the pad plays, near silence, so a test can compare
the frames of drum hits with quiet frames of the same clip. Everything is a pure
function of the arguments: the same seed gives the same samples.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["render_demo_clip", "quiet_passage_s", "Part", "BeatTrack", "render_beat_track", "Chord", "ChordTrack",
           "POP_PROGRESSION", "MINOR_PROGRESSION", "JAZZ_PROGRESSION", "render_chord_track", "write_wav", "main"]

PEAK = 0.89  # about -1 dBFS

# Chord progressions as semitone offsets of each chord's root from the key's root, with
# the chord quality ("m" minor, "M" major).
_PROGRESSIONS = (
    ((0, "m"), (8, "M"), (3, "M"), (10, "M")),   # i  VI  III VII
    ((0, "m"), (5, "m"), (8, "M"), (7, "M")),    # i  iv  VI  V
    ((0, "m"), (10, "M"), (8, "M"), (10, "M")),  # i  VII VI  VII
)
_KEY_ROOTS_MIDI = (45, 48, 50, 52)  # A2, C3, D3, E3


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def quiet_passage_s(seconds: float, bpm: float = 120.0) -> tuple[float, float]:
    """``(start, end)`` in seconds of the clip's quiet passage (pad only, no drums or bass).

    It starts on the beat at (or just before) the middle of the clip and lasts a quarter
    of the clip's beats, at least one beat and at most one bar. Notes started before it
    may ring into its first few hundred milliseconds.
    """
    beat_s = 60.0 / bpm
    total_beats = max(1, int(seconds / beat_s))
    length = min(4, max(1, total_beats // 4))
    start = total_beats // 2
    return start * beat_s, min(seconds, (start + length) * beat_s)


def _fft_filter(signal: np.ndarray, sample_rate: int, low_hz: float | None = None,
                high_hz: float | None = None) -> np.ndarray:
    """Zero-phase band limit with 4th-order Butterworth-like magnitude slopes."""
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1.0 / sample_rate)
    gain = np.ones_like(freqs)
    if low_hz is not None:  # high-pass at low_hz
        ratio = (freqs / low_hz) ** 4
        gain *= np.sqrt(ratio / (1.0 + ratio))
    if high_hz is not None:  # low-pass at high_hz
        gain /= np.sqrt(1.0 + (freqs / high_hz) ** 4)
    return np.fft.irfft(spectrum * gain, n=len(signal))


def _attack(tau: np.ndarray, attack_s: float) -> np.ndarray:
    return np.clip(tau / attack_s, 0.0, 1.0)


def _kick(tau, rng, sample_rate):
    sweep_s, low_hz, extra_hz = 0.035, 45.0, 115.0
    phase = 2.0 * np.pi * (low_hz * tau + extra_hz * sweep_s * (1.0 - np.exp(-tau / sweep_s)))
    body = np.sin(phase) * np.exp(-tau / 0.22)
    click = _fft_filter(rng.standard_normal(len(tau)), sample_rate, low_hz=1500.0) * np.exp(-tau / 0.003)
    return (0.95 * body + 0.25 * click) * _attack(tau, 0.0008)


def _snare(tau, rng, sample_rate):
    noise = _fft_filter(rng.standard_normal(len(tau)), sample_rate, low_hz=1200.0, high_hz=9000.0)
    body = np.sin(2.0 * np.pi * 185.0 * tau) * np.exp(-tau / 0.045)
    return (0.55 * noise * np.exp(-tau / 0.085) + 0.45 * body) * _attack(tau, 0.0008)


def _hat(tau, rng, sample_rate, open_hat=False):
    noise = _fft_filter(rng.standard_normal(len(tau)), sample_rate, low_hz=7000.0)
    decay_s = 0.11 if open_hat else 0.028
    return 0.3 * noise * np.exp(-tau / decay_s) * _attack(tau, 0.0005)


def _bass(tau, hz, note_s, sample_rate):
    saw = 2.0 * ((hz * tau) % 1.0) - 1.0
    saw = _fft_filter(saw, sample_rate, high_hz=520.0)
    release = np.clip((note_s - tau) / 0.02, 0.0, 1.0)
    return 0.5 * saw * np.exp(-tau / 0.2) * _attack(tau, 0.004) * release


def _pad_note(tau, hz, length_s):
    """A soft organ-like tone: slow attack, held for ``length_s``, 0.3 s release."""
    tone = np.zeros_like(tau)
    for harmonic, level in ((1, 1.0), (2, 0.3), (3, 0.12)):
        tone += level * np.sin(2.0 * np.pi * hz * harmonic * tau)
    envelope = _attack(tau, 0.3) * np.clip((length_s + 0.3 - tau) / 0.3, 0.0, 1.0)
    return tone * envelope


def _pluck(tau, hz):
    """A plucked string: bright attack, harmonics dying faster than the fundamental."""
    tone = np.zeros_like(tau)
    for harmonic in range(1, 5):
        tone += np.sin(2.0 * np.pi * hz * harmonic * tau) * np.exp(-tau * (3.0 + 4.0 * harmonic)) / harmonic
    return tone * _attack(tau, 0.002)


def _mixer(out: np.ndarray, sample_rate: int):
    """A function ``add(time_s, length_s, render, pan, gain)`` mixing into stereo ``out``.

    ``render(tau)`` gets the seconds since ``time_s`` of each sample it covers, so a
    sound starts exactly at ``time_s`` (sub-sample offsets); ``pan`` -1 left .. 1 right
    (constant power); ``length_s`` is clipped at the end of ``out``.
    """
    n = len(out)

    def add(time_s: float, length_s: float, render, pan: float = 0.0, gain: float = 1.0):
        first = int(math.ceil(time_s * sample_rate))
        last = min(n, first + int(length_s * sample_rate))
        if first >= last:
            return
        tau = np.arange(first, last) / sample_rate - time_s
        mono = gain * render(tau)
        angle = (pan + 1.0) * np.pi / 4.0
        out[first:last, 0] += mono * math.cos(angle) * math.sqrt(2.0)
        out[first:last, 1] += mono * math.sin(angle) * math.sqrt(2.0)

    return add


def render_demo_clip(seconds: float = 8.0, sample_rate: int = 44100, bpm: float = 120.0,
                     seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Render the clip.

    Args:
        seconds: length of the clip in seconds.
        sample_rate: samples per second (Hz).
        bpm: tempo in beats (quarter notes) per minute.
        seed: picks the key, chord progression, kick variation and noise.

    Returns:
        ``(samples, onset_times_s)``: float32 stereo samples of shape ``(n, 2)`` in
        [-1, 1] (peak about -1 dBFS), and the sorted start times in seconds of every
        drum hit (kick, snare, hi-hat; simultaneous hits listed once). Every hit starts
        exactly at its listed time (rendered with sub-sample offsets).
    """
    if not (seconds > 0 and sample_rate > 0 and bpm > 0):
        raise ValueError("seconds, sample_rate and bpm must be positive")
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    out = np.zeros((n, 2), dtype=np.float64)

    add = _mixer(out, sample_rate)

    key = _KEY_ROOTS_MIDI[int(rng.integers(len(_KEY_ROOTS_MIDI)))]
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    extra_kick = int(rng.choice([6, 10, 14]))  # a third kick on an off eighth, per seed
    open_hat_step = int(rng.choice([6, 14]))
    bass_octaves = rng.choice([0, 0, 0, 12], size=8)  # per eighth note of a bar

    beat_s = 60.0 / bpm
    step_s = beat_s / 4.0  # sixteenth note
    bar_s = 4.0 * beat_s
    quiet_start, quiet_end = quiet_passage_s(seconds, bpm)
    hits: set[float] = set()

    n_bars = int(math.ceil(seconds / bar_s))
    for bar in range(n_bars):
        bar_start = bar * bar_s
        chord_root, quality = progression[bar % len(progression)]
        root = key + chord_root
        third = 3 if quality == "m" else 4
        pad_notes = (root + 12, root + 12 + third, root + 19, root + 24)
        for index, note in enumerate(pad_notes):
            add(bar_start, bar_s + 0.3,
                lambda tau, hz=_midi_hz(note): _pad_note(tau, hz, bar_s),
                pan=-0.5 if index % 2 else 0.5, gain=0.03)
        for step in range(16):
            time_s = bar_start + step * step_s
            if time_s >= seconds or quiet_start <= time_s < quiet_end:
                continue
            hit = False
            if step in (0, 8, extra_kick):
                add(time_s, 0.6, lambda tau: _kick(tau, rng, sample_rate), gain=0.9)
                hit = True
            if step in (4, 12):
                add(time_s, 0.4, lambda tau: _snare(tau, rng, sample_rate), pan=-0.1, gain=0.75)
                hit = True
            if step % 2 == 0:
                is_open = step == open_hat_step
                add(time_s, 0.4 if is_open else 0.15,
                    lambda tau, o=is_open: _hat(tau, rng, sample_rate, o), pan=0.35, gain=0.8)
                hit = True
                bass_note = root - 12 + int(bass_octaves[step // 2])
                add(time_s, 2.0 * step_s,
                    lambda tau, hz=_midi_hz(bass_note): _bass(tau, hz, 2.0 * step_s, sample_rate),
                    gain=0.7)
            if hit:
                hits.add(time_s)

    peak = float(np.max(np.abs(out))) if n else 0.0
    if peak > 0:
        out *= PEAK / peak
    samples = np.clip(out, -1.0, 1.0).astype(np.float32)
    return samples, sorted(hits)


@dataclass(frozen=True)
class Part:
    """One part of :func:`render_beat_track`: ``bars`` bars of 4/4 at ``bpm``.

    ``key`` is the MIDI note of the key's root, ``progression`` an index into the chord
    progressions; the flags choose the instruments (a part without kick and bass, in
    another key, sounds like a different section).
    """

    bpm: float = 120.0
    bars: int = 8
    key: int = 45
    progression: int = 0
    kick: bool = True
    snare: bool = True
    hats: bool = True
    bass: bool = True
    pad_gain: float = 0.03
    lead: bool = False


@dataclass
class BeatTrack:
    """What :func:`render_beat_track` made: stereo samples and the exact event times (s)."""

    samples: np.ndarray
    sample_rate: int
    beats_s: list = field(default_factory=list)
    downbeats_s: list = field(default_factory=list)
    part_starts_s: list = field(default_factory=list)
    hits_s: list = field(default_factory=list)


def render_beat_track(parts=(Part(120.0, 8), Part(140.0, 8)), sample_rate: int = 44100, seed: int = 0,
                      lead_in_s: float = 0.0, tail_s: float = 1.0) -> BeatTrack:
    """A drum-and-bass-and-chords track with exactly known beats, bars and parts.

    The parts play one after another with no gap (a tempo change takes effect on the
    bar line). Every bar: kick on beats 1 and 3 (and one off-beat eighth, per seed),
    snare on 2 and 4, closed hi-hats on the eighths, a saw bass on the eighths following
    the bar's chord, a chord pad (a new chord every bar) and, if asked, a lead arpeggio
    on the sixteenths. Beats start ``lead_in_s`` after the file's start; ``tail_s`` of
    ringing follows the last bar. Every hit starts exactly at its listed time.
    """
    if not parts or sample_rate <= 0:
        raise ValueError("need at least one part and a positive sample rate")
    rng = np.random.default_rng(seed)
    total_s = lead_in_s + sum(4 * 60.0 / part.bpm * part.bars for part in parts) + tail_s
    n = int(round(total_s * sample_rate))
    out = np.zeros((n, 2), dtype=np.float64)

    add = _mixer(out, sample_rate)

    extra_kick = int(rng.choice([6, 10, 14]))
    track = BeatTrack(samples=out, sample_rate=sample_rate)
    hits = set()
    time_s = lead_in_s
    for part in parts:
        track.part_starts_s.append(time_s)
        beat_s = 60.0 / part.bpm
        step_s = beat_s / 4.0
        progression = _PROGRESSIONS[part.progression % len(_PROGRESSIONS)]
        for bar in range(part.bars):
            bar_start = time_s + bar * 4 * beat_s
            track.downbeats_s.append(bar_start)
            track.beats_s.extend(bar_start + b * beat_s for b in range(4))
            chord_root, quality = progression[bar % len(progression)]
            root = part.key + chord_root
            third = 3 if quality == "m" else 4
            for index, note in enumerate((root + 12, root + 12 + third, root + 19, root + 24)):
                add(bar_start, 4 * beat_s + 0.3, lambda tau, hz=_midi_hz(note), l=4 * beat_s: _pad_note(tau, hz, l),
                    pan=-0.5 if index % 2 else 0.5, gain=part.pad_gain)
            for step in range(16):
                t = bar_start + step * step_s
                if part.kick and step in (0, 8, extra_kick):
                    add(t, 0.6, lambda tau: _kick(tau, rng, sample_rate), gain=0.9)
                    hits.add(t)
                if part.snare and step in (4, 12):
                    add(t, 0.4, lambda tau: _snare(tau, rng, sample_rate), pan=-0.1, gain=0.75)
                    hits.add(t)
                if part.hats and step % 2 == 0:
                    add(t, 0.15, lambda tau: _hat(tau, rng, sample_rate), pan=0.35, gain=0.8)
                    hits.add(t)
                if part.bass and step % 2 == 0:
                    add(t, 2.0 * step_s, lambda tau, hz=_midi_hz(root - 12), l=2.0 * step_s: _bass(tau, hz, l, sample_rate),
                        gain=0.7)
                if part.lead:
                    note = root + 24 + (0, third, 7, 12)[step % 4]
                    add(t, step_s, lambda tau, hz=_midi_hz(note), l=step_s: _pad_note(tau, hz, l) * np.exp(-tau / 0.08),
                        pan=0.2, gain=0.08)
        time_s += part.bars * 4 * beat_s
    peak = float(np.max(np.abs(out))) if n else 0.0
    if peak > 0:
        out *= PEAK / peak
    track.samples = np.clip(out, -1.0, 1.0).astype(np.float32)
    track.hits_s = sorted(hits)
    return track


# --- chord progressions with exact truth (key and chord tests) ------------------------------

_CHORD_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
                    "maj7": (0, 4, 7, 11)}


@dataclass(frozen=True)
class Chord:
    """A chord as semitones of its root above the key's tonic and a quality
    (``"maj"``, ``"min"``, ``"7"``, ``"m7"`` or ``"maj7"``)."""

    offset: int
    quality: str = "maj"


POP_PROGRESSION = (Chord(0), Chord(7), Chord(9, "min"), Chord(5))
"""I - V - vi - IV of a major key."""
MINOR_PROGRESSION = (Chord(0, "min"), Chord(8), Chord(3), Chord(7))
"""i - VI - III - V of a minor key (the V major, as in harmonic minor)."""
JAZZ_PROGRESSION = (Chord(2, "m7"), Chord(7, "7"), Chord(0, "maj7"), Chord(9, "m7"))
"""ii7 - V7 - Imaj7 - vi7 of a major key."""


@dataclass
class ChordTrack:
    """What :func:`render_chord_track` made: stereo samples and the exact truth.

    ``beats_s``: every beat's time in seconds; ``beat_chords``: per beat the sounding
    chord as ``(root pitch class, quality)`` (C = 0); ``key``: ``(tonic pitch class,
    minor)``.
    """

    samples: np.ndarray
    sample_rate: int
    key: tuple
    beats_s: list = field(default_factory=list)
    beat_chords: list = field(default_factory=list)


def render_chord_track(progression=POP_PROGRESSION, tonic: int = 0, minor: bool = False, bpm: float = 110.0,
                       beats_per_chord: int = 4, repeats: int = 2, drums: bool = True, arpeggio: bool = True,
                       sample_rate: int = 22050, seed: int = 0, tail_s: float = 0.5) -> ChordTrack:
    """A chord progression in a known key: pad, bass, plucked arpeggio and (optionally) drums.

    Args:
        progression: :class:`Chord` s relative to ``tonic``, played in order ``repeats`` times.
        tonic: the key's tonic pitch class (C = 0 .. B = 11); ``minor``: a minor key.
        bpm: beats per minute; every chord lasts ``beats_per_chord`` beats.
        drums: kick on beats 1 and 3, snare on 2 and 4, hats on the eighths.
        arpeggio: a plucked arpeggio of the chord tones on the eighths (with passing
            notes of the key's scale on some off-beats, as a melody would).
        seed: chooses the voicing's register, the noise and the passing notes.
    """
    if not (bpm > 0 and beats_per_chord >= 1 and repeats >= 1 and progression):
        raise ValueError("need bpm > 0, beats_per_chord >= 1, repeats >= 1 and at least one chord")
    rng = np.random.default_rng(seed)
    beat_s = 60.0 / bpm
    chords = list(progression) * repeats
    total_s = len(chords) * beats_per_chord * beat_s + tail_s
    out = np.zeros((int(round(total_s * sample_rate)), 2), dtype=np.float64)
    add = _mixer(out, sample_rate)
    scale = (0, 2, 3, 5, 7, 8, 10) if minor else (0, 2, 4, 5, 7, 9, 11)
    base = 55 + int(rng.integers(0, 6))  # the lowest voicing note: G3 .. C4
    track = ChordTrack(samples=out, sample_rate=sample_rate, key=(tonic % 12, bool(minor)))
    for index, chord in enumerate(chords):
        start = index * beats_per_chord * beat_s
        length = beats_per_chord * beat_s
        root_pc = (tonic + chord.offset) % 12
        root = base + (root_pc - base) % 12
        tones = [root + interval for interval in _CHORD_INTERVALS[chord.quality]]
        for voice, note in enumerate(tones):
            add(start, length + 0.3, lambda tau, hz=_midi_hz(note), l=length: _pad_note(tau, hz, l),
                pan=-0.4 if voice % 2 else 0.4, gain=0.05)
        for beat in range(beats_per_chord):
            t = start + beat * beat_s
            track.beats_s.append(t)
            track.beat_chords.append((root_pc, chord.quality))
            add(t, beat_s, lambda tau, hz=_midi_hz(root - 12), l=beat_s: _bass(tau, hz, l, sample_rate), gain=0.5)
            for half in range(2):
                when = t + half * beat_s / 2.0
                if arpeggio:
                    note = tones[(2 * beat + half) % len(tones)] + 12
                    if half and rng.random() < 0.25:  # a passing note of the scale
                        note = 60 + (tonic + scale[int(rng.integers(len(scale)))]) % 12
                    add(when, beat_s / 2.0, lambda tau, hz=_midi_hz(note): _pluck(tau, hz), pan=0.2, gain=0.12)
                if drums:
                    add(when, 0.15, lambda tau: _hat(tau, rng, sample_rate), pan=0.35, gain=0.6)
            if drums:
                if beat % 2 == 0:
                    add(t, 0.6, lambda tau: _kick(tau, rng, sample_rate), gain=0.9)
                else:
                    add(t, 0.4, lambda tau: _snare(tau, rng, sample_rate), pan=-0.1, gain=0.75)
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0:
        out *= PEAK / peak
    track.samples = np.clip(out, -1.0, 1.0).astype(np.float32)
    return track


def write_wav(path, samples: np.ndarray, sample_rate: int) -> None:
    """Write ``samples`` (``(n,)`` or ``(n, channels)``, float in [-1, 1]) as 16-bit PCM WAV."""
    samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    try:
        import soundfile
    except ImportError:  # e.g. Blender's own Python: fall back to the standard library
        import wave

        pcm = np.round(samples * 32767.0).astype("<i2")
        with wave.open(str(path), "wb") as stream:
            stream.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
            stream.setsampwidth(2)
            stream.setframerate(int(sample_rate))
            stream.writeframes(pcm.tobytes())
        return
    soundfile.write(str(path), samples, int(sample_rate), subtype="PCM_16")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a code-generated music clip as a 16-bit WAV.")
    parser.add_argument("out", help="output .wav path")
    parser.add_argument("--seconds", type=float, default=8.0, help="clip length in seconds (default 8)")
    parser.add_argument("--bpm", type=float, default=120.0, help="tempo in beats per minute (default 120)")
    parser.add_argument("--seed", type=int, default=0, help="variation seed (default 0)")
    parser.add_argument("--sample-rate", type=int, default=44100, help="samples per second (default 44100)")
    args = parser.parse_args(argv)
    if not (args.seconds > 0 and args.bpm > 0 and args.sample_rate > 0):
        parser.error("--seconds, --bpm and --sample-rate must be positive")
    samples, onsets = render_demo_clip(args.seconds, args.sample_rate, args.bpm, args.seed)
    out = Path(args.out)
    write_wav(out, samples, args.sample_rate)
    quiet = quiet_passage_s(args.seconds, args.bpm)
    print(f"wrote {out}: {args.seconds:g} s, {len(onsets)} drum hits, quiet {quiet[0]:g}-{quiet[1]:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
