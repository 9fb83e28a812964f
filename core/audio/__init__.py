"""Hearing a song: from a sound file to features on exactly the video frames they belong to.

- ``analysis``: decoding, the streaming spectral passes, the frame grid and the per-frame
  features of a song (``analyze``), with their types (``AnalysisParams``, ``SoundAnalysis``).
- ``beats``: beats, downbeats and local tempo from an onset envelope.
- ``sections``: where the song changes section.
- ``smoothing``: attack/release and normalisation of feature curves, in seconds.
- ``timing``: video frames <-> seconds in the sound file (``Timing``).
- ``cache``: analyses on disk, keyed by the file's content and the analysis settings.

Imports nothing from the other ``core`` packages but ``core.errors`` and ``core.progress``.
"""
