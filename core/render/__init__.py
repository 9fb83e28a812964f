"""Drawing frames: styles, the CPPN renderers, music-to-motion mapping and baking.

- ``style``: style files (safetensors weights + JSON sidecar + PNG thumbnail).
- ``cppn``, ``cppn_torch``, ``backend``: the network that draws a style, in NumPy or torch,
  and which of them draws a bake.
- ``mapping``: per-frame audio features -> latents and coordinate moves (presets).
- ``imageio``: PNG/JPEG/EXR encoding and atomic writes.
- ``bake``: a planned frame range to numbered files, resumable.
- ``frame_folder``: the record proving which frames a bake wrote (name, size, SHA-256), and
  ``reuse_problem``, the one rule for whether frames can be reused (and why not).
- ``folder_lock``: one bake per folder (farm chunks of one bake excepted).
- ``limits``: seed range and frame memory, checked before any work.
- ``visualizer``: one whole bake of a song (``BakeRequest`` -> ``VisualizerBake``).
- ``preview``: one small frame for a moment, for Blender's live view.
- ``contact_sheet``: every style on one moment of a song, as small tiles and one sheet.
- ``estimate``: the time a bake will take on this machine, measured on a few tiles.

May import ``core.audio``; never ``core.train`` or ``core.jobs``.
"""
