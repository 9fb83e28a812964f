"""Hearing a song: from a sound file to features on exactly the video frames they belong to.

The public API is re-exported here (``from core import audio; audio.analyze(...)``).
Modules, in the order the data flows:

- ``params``: the settings (``AnalysisParams``, ``ChannelShape``), channel names, ``AudioError``.
- ``decoding``: sound file -> mono float32 blocks (libsndfile, PyAV, Blender's ``aud``),
  ``duration_s``, ``check_exists``.
- ``spectral``: the streaming passes over the samples (STFT series, harmonic/percussive
  split, level).
- ``beats``: tempo curve, beat tracking, downbeats and onset refinement from an onset envelope.
- ``sections``: where the song changes section.
- ``harmony``: key per section and chord per beat from the pitch-class energies.
- ``grid``: series of file time (``Grid``, ``SoundAnalysis``) and their integration over frames.
- ``song``: the timing-independent analysis of a song (``analyze_sound``, ``analyze_file``).
- ``features``: per-frame channels (``frame_features``) and the entry point ``analyze``;
  its docstring describes every channel.
- ``smoothing``: attack/release, smoothing and adaptive normalisation of curves, in seconds.
- ``timing``: video frames <-> seconds in the sound file (``Timing``).
- ``cache``: analyses on disk, keyed by the file's content and the analysis settings.

Imports nothing from the other ``core`` packages but ``core.errors`` and ``core.progress``.
"""

from .params import (BASIC_CHANNELS, BEAT_CHANNELS, CHANNELS, CHROMA_CHANNELS, MAX_BEATS_PER_BAR, MAX_DURATION_S,
                     PULSE_CHANNELS, SAMPLE_RATE_RANGE_HZ, TEMPO_HINT_RANGE_BPM,
                     SECTION_CHANNELS, AnalysisParams, AudioError, ChannelShape, check_duration, check_tempo_hint)
from .decoding import check_exists, decode, duration_s
from .grid import SoundAnalysis
from .song import ANALYSING, analyze_file, analyze_sound
from .features import FeatureTrack, analyze, analyze_samples, frame_features, harmony_of, sound_analysis
from .timing import Timing

__all__ = [
    "AnalysisParams", "AudioError", "ChannelShape", "FeatureTrack", "SoundAnalysis", "Timing",
    "BASIC_CHANNELS", "BEAT_CHANNELS", "CHANNELS", "CHROMA_CHANNELS", "SECTION_CHANNELS",
    "PULSE_CHANNELS", "MAX_BEATS_PER_BAR", "MAX_DURATION_S", "SAMPLE_RATE_RANGE_HZ", "TEMPO_HINT_RANGE_BPM",
    "ANALYSING",
    "analyze", "analyze_file", "analyze_samples", "analyze_sound", "frame_features", "harmony_of", "sound_analysis",
    "check_exists", "check_duration", "check_tempo_hint", "decode", "duration_s",
]
