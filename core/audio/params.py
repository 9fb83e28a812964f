"""What the analysis is asked for: its settings (``AnalysisParams``, ``ChannelShape``),
the names of the channels it produces, and the error a sound file that cannot be used raises.

The channels themselves are described in :mod:`.features`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import UserError
from .harmony import HARMONY_CHANNELS

DEFAULT_BANDS = (("bass", 20.0, 250.0), ("low_mid", 250.0, 2000.0), ("high_mid", 2000.0, 6000.0),
                 ("treble", 6000.0, 20000.0))
CHROMA_CHANNELS = tuple(f"chroma_{i}" for i in range(12))
BASIC_CHANNELS = ("rms", "loudness", "onset_strength", "onset")
BEAT_CHANNELS = ("beat", "downbeat", "tempo_bpm", "beat_phase")  # from the beat times (latency moves them)
PULSE_CHANNELS = ("beat_confidence", "beats_per_bar")
SECTION_CHANNELS = ("section", "section_change")
CHANNELS = (BASIC_CHANNELS + BEAT_CHANNELS + PULSE_CHANNELS + tuple(name for name, _lo, _hi in DEFAULT_BANDS)
            + ("centroid_hz", "flux") + CHROMA_CHANNELS + ("percussive", "harmonic") + SECTION_CHANNELS
            + HARMONY_CHANNELS)
READABLE_FORMATS = "WAV, FLAC, OGG (Vorbis/Opus), MP3, AIFF or M4A/AAC"  # M4A/AAC: with PyAV or inside Blender
NORMALISE_MODES = ("percentile", "adaptive")
MAX_BEATS_PER_BAR = 16
SAMPLE_RATE_RANGE_HZ = (4000, 768000)
"""Sample rates a sound file may declare (a 1 Hz file would be a strip of millions of frames)."""
MAX_DURATION_S = 6 * 3600.0
"""The longest song (and sound strip) analysed or baked, in seconds."""


class AudioError(UserError):
    """A sound file that cannot be used: ``str(error)`` is one line naming the file and the fix."""


def check_duration(seconds: float, what: str) -> None:
    """An ``AudioError`` if ``seconds`` is beyond ``MAX_DURATION_S`` (``what``: "Sound file x.wav")."""
    if seconds > MAX_DURATION_S:
        raise AudioError(f"{what} is {seconds / 3600.0:.1f} h long: the limit is {MAX_DURATION_S / 3600.0:g} h"
                         " — cut it into shorter strips")


@dataclass(frozen=True)
class ChannelShape:
    """How one channel is shaped after normalisation (all fps-invariant).

    Attributes:
        latency_ms: delay in milliseconds (negative: look-ahead, the channel moves before
            the music). Event channels (beats, sections) move their event times.
        attack_s, release_s: envelope follower time constants in seconds (0 = off).
        smooth_s: standard deviation in seconds of a centred Gaussian smoothing (0 = off).
        normalise: "percentile" or "adaptive" for this channel; None = the track default.
    """

    latency_ms: float = 0.0
    attack_s: float = 0.0
    release_s: float = 0.0
    smooth_s: float = 0.0
    normalise: str | None = None

    def __post_init__(self):
        if self.normalise is not None and self.normalise not in NORMALISE_MODES:
            raise ValueError(f"normalise must be one of {NORMALISE_MODES} or None, got {self.normalise!r}")
        if min(self.attack_s, self.release_s, self.smooth_s) < 0 or not math.isfinite(self.latency_ms):
            raise ValueError("attack_s, release_s and smooth_s must be >= 0 seconds, latency_ms finite")


@dataclass(frozen=True)
class AnalysisParams:
    """Settings of :func:`analyze`.

    Attributes:
        onset_hop_s: hop in seconds between successive STFT frames (rounded to whole
            samples): the time resolution of every spectral feature.
        onset_window_s: STFT window length in seconds.
        loudness_floor_db: level in dB re full scale that ``loudness`` maps to 0 (and
            anything quieter).
        normalise_percentile: percentile (0-100] of a track's frames that normalised
            channels map to 1.
        spectral_floor_db: magnitude floor in dB of the onset spectrum, relative to white
            noise of full-scale RMS; spectral content below it counts as silence.
        bands: ``(name, low_hz, high_hz)`` of each band-energy channel.
        level_cell_s: resolution in seconds of the squared signal behind ``rms``.
        tempo_min_bpm, tempo_max_bpm, tempo_prior_bpm: tempo range searched and the
            tempo preferred when double or half would fit as well.
        tempo_prior_octaves: standard deviation of the log-normal tempo prior, octaves.
        beat_tightness: how strictly beats keep to the local tempo (lower follows
            expressive timing and tempo changes more freely).
        refine_beats: move beats to their onset sample (about 1 ms accurate).
        beats_per_bar: beats per bar of the downbeats; 0 = the meter heard in the song
            (2, 3, 4 or 6, see :func:`.beats.beats_per_bar`).
        hpss_time_s: running-median length of the harmonic/percussive split, seconds.
        section_kernel_s, min_section_s, section_threshold: structure segmentation
            (see :func:`.sections.section_boundaries`).
        band_range_db: with "percentile" normalisation a band is never scaled up by more
            than this many dB relative to the loudest band, so a band with almost nothing
            in it reads near 0, not a full-range copy of its noise.
        onset_baseline_s: window in seconds of the running median that ``onset`` rises
            above (see the module docstring).
        normalise: "percentile" or "adaptive" for every normalised channel (see module).
        adaptive_window_s: running-average length of "adaptive" normalisation, seconds.
        shapes: ``((channel, ChannelShape), ...)``: per-channel latency and smoothing.
    """

    onset_hop_s: float = 0.005
    onset_window_s: float = 0.046
    loudness_floor_db: float = -60.0
    normalise_percentile: float = 98.0
    spectral_floor_db: float = -80.0
    bands: tuple = DEFAULT_BANDS
    level_cell_s: float = 0.0005
    tempo_min_bpm: float = 60.0
    tempo_max_bpm: float = 180.0
    tempo_prior_bpm: float = 120.0
    tempo_prior_octaves: float = 1.0
    beat_tightness: float = 100.0
    refine_beats: bool = True
    beats_per_bar: int = 0
    hpss_time_s: float = 0.2
    section_kernel_s: float = 12.0
    min_section_s: float = 8.0
    section_threshold: float = 0.25
    band_range_db: float = 30.0
    onset_baseline_s: float = 0.5
    normalise: str = "percentile"
    adaptive_window_s: float = 4.0
    shapes: tuple = ()

    def __post_init__(self):
        if not (self.onset_hop_s > 0 and self.onset_window_s > 0 and self.level_cell_s > 0):
            raise ValueError("onset_hop_s, onset_window_s and level_cell_s must be positive seconds")
        if not 0 < self.normalise_percentile <= 100:
            raise ValueError(f"normalise_percentile must be in (0, 100], got {self.normalise_percentile}")
        if not (math.isfinite(self.loudness_floor_db) and math.isfinite(self.spectral_floor_db)):
            raise ValueError("floor levels must be finite dB values")
        if self.normalise not in NORMALISE_MODES:
            raise ValueError(f"normalise must be one of {NORMALISE_MODES}, got {self.normalise!r}")
        if not self.onset_baseline_s > 0:
            raise ValueError(f"onset_baseline_s must be positive seconds, got {self.onset_baseline_s}")
        names = set()
        for band in self.bands:
            name, low, high = band
            if not (0 <= low < high) or name in names:
                raise ValueError(f"band {band!r}: needs a unique name and 0 <= low_hz < high_hz")
            names.add(name)
        if not 0 < self.tempo_min_bpm < self.tempo_max_bpm:
            raise ValueError("tempo range must satisfy 0 < tempo_min_bpm < tempo_max_bpm")
        if not self.tempo_prior_octaves > 0:
            raise ValueError(f"tempo_prior_octaves must be positive, got {self.tempo_prior_octaves}")
        if not 0 <= self.beats_per_bar <= MAX_BEATS_PER_BAR:
            raise ValueError(f"beats_per_bar must be 0 (heard) or 1 to {MAX_BEATS_PER_BAR}, got {self.beats_per_bar}")
        for entry in self.shapes:
            channel, shape = entry
            if not isinstance(channel, str) or not isinstance(shape, ChannelShape):
                raise ValueError(f"shapes entries are (channel name, ChannelShape), got {entry!r}")

    def with_shapes(self, **shapes: ChannelShape) -> "AnalysisParams":
        """A copy with ``shapes`` for the named channels (``bass=ChannelShape(...)``)."""
        merged = dict(self.shapes)
        merged.update(shapes)
        return dataclasses.replace(self, shapes=tuple(sorted(merged.items())))

    def with_song_hints(self, beats_per_bar: int = 0, tempo_bpm: float = 0.0) -> "AnalysisParams":
        """A copy set to what the user knows of the song: ``beats_per_bar`` (0 = heard) and
        ``tempo_bpm``, about how many beats a minute it has (0 = heard). A tempo hint
        centres a narrow tempo prior on it (``TEMPO_HINT_PRIOR_OCTAVES``) and keeps the search
        within ``TEMPO_HINT_OCTAVES`` either side, so neither double nor half that speed can be heard:
        the cure for a slow song tracked at twice its speed, or a fast one at half."""
        hinted = dataclasses.replace(self, beats_per_bar=int(beats_per_bar))
        check_tempo_hint(tempo_bpm)
        if tempo_bpm:
            spread = 2.0 ** TEMPO_HINT_OCTAVES
            hinted = dataclasses.replace(hinted, tempo_prior_bpm=float(tempo_bpm), tempo_min_bpm=tempo_bpm / spread,
                                         tempo_max_bpm=tempo_bpm * spread,
                                         tempo_prior_octaves=TEMPO_HINT_PRIOR_OCTAVES)
        return hinted

    def band_names(self) -> tuple[str, ...]:
        return tuple(name for name, _lo, _hi in self.bands)

    def channel_names(self) -> tuple[str, ...]:
        """Every channel :func:`analyze` produces with these parameters, in a fixed order."""
        return (BASIC_CHANNELS + BEAT_CHANNELS + PULSE_CHANNELS + self.band_names() + ("centroid_hz", "flux")
                + CHROMA_CHANNELS + ("percussive", "harmonic") + SECTION_CHANNELS + HARMONY_CHANNELS)


TEMPO_HINT_RANGE_BPM = (30.0, 300.0)
"""Tempo hints (beats per minute) ``AnalysisParams.with_song_hints`` takes."""
TEMPO_HINT_OCTAVES = 0.45
"""With a tempo hint, tempi are searched this many octaves either side of it (x/÷1.37):
room for a guess a little off and a song that speeds up or slows down, none for double
or half the hint, nor for 3:2 of it (dotted beats)."""
TEMPO_HINT_PRIOR_OCTAVES = 0.25
"""With a tempo hint, the tempo prior's standard deviation (octaves; 1 without): a tempo 4:3
of the hint must repeat about four times as clearly as the hint's own to be heard."""


def check_tempo_hint(tempo_bpm: float) -> None:
    """Raises ``AudioError`` unless ``tempo_bpm`` is 0 (heard) or within ``TEMPO_HINT_RANGE_BPM``."""
    low, high = TEMPO_HINT_RANGE_BPM
    if tempo_bpm != 0 and not low <= tempo_bpm <= high:  # (NaN is neither)
        raise AudioError(f"Tempo {tempo_bpm:g} beats per minute is out of range: use 0 (heard) or {low:g} to {high:g}")


# Parameters that only affect the per-frame stage: not part of the sound-analysis cache key.
FRAME_STAGE_FIELDS = ("loudness_floor_db", "normalise_percentile", "band_range_db", "onset_baseline_s", "normalise",
                      "adaptive_window_s", "shapes")


def sound_params_key(params: AnalysisParams) -> dict:
    """The parameters :func:`analyze_sound` depends on, as JSON-ready plain values."""
    values = dataclasses.asdict(params)
    for name in FRAME_STAGE_FIELDS:
        values.pop(name)
    values["bands"] = [list(band) for band in params.bands]
    return values
