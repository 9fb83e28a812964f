"""Training a style: a prompt, mood board or palette becomes a CPPN style file.

- ``training``: the configuration, recipes and the loop that saves a style (``train_style``).
- ``torch_trainer``: one optimisation step in torch (imports torch).
- ``objectives``: what is optimised: CLIP similarity terms and the palette distance.
- ``clip_model``: loading CLIP through open_clip (local checkpoints or the hub cache).

May import ``core.render`` (the CPPN and style files); never ``core.jobs``.
"""
