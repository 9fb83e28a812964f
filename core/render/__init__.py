"""Drawing frames: styles, the CPPN renderers, music-to-motion mapping and baking.

- ``style``: style files (safetensors weights + JSON sidecar + PNG thumbnail).
- ``cppn``, ``cppn_torch``, ``backend``: the network that draws a style, in NumPy or torch,
  and which of them draws a bake.
- ``mapping``: per-frame audio features -> latents and coordinate moves (presets).
- ``imageio``: PNG/JPEG/EXR encoding and atomic writes.
- ``bake``: a planned frame range to numbered files, resumable, with the folder lock.
- ``visualizer``: one whole bake of a song (``BakeRequest`` -> ``VisualizerBake``).
- ``preview``: one small frame for a moment, for Blender's live view.

May import ``core.audio``; never ``core.train`` or ``core.jobs``.
"""
