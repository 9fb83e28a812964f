"""Training a style: a prompt, mood board or palette becomes a CPPN style file.

- ``training``: the configuration, recipes and the loop that saves a style (``train_style``).
- ``torch_trainer``: one optimisation step in torch (imports torch): views, CLIP, palette, smoothness.
- ``numpy_trainer``: palette-only training in NumPy (no torch needed).
- ``sampling``: the random latents and views of a step (NumPy, shared by both trainers).
- ``objectives``: what is optimised: CLIP similarity terms and the palette distance.
- ``report``: the training report (PNG + JSON) written beside every trained style.
- ``colour_names``: CSS and XKCD colour names for palettes (``colour_names.json``).
- ``clip_model``: loading CLIP through open_clip (local checkpoints or the hub cache).

May import ``core.render`` (the CPPN and style files); never ``core.jobs``.
"""
