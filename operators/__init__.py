"""The Blender side: gather inputs from bpy, run a ``core`` job, wire results back into bpy.

- ``verbs/``: one module per button (Add Visualizer Strip, Re-sync, Apply to Material...).
- ``settings/``: the scene's properties and the extension preferences.
- ``blender/``: adapters (``compat`` holds every 4.2/5.0 difference; strips; folders; previews).
- ``gpu_render/``: the GPU path (a GPU context, its probe, the ``gpu`` renderer).
- ``live_preview``: the preview drawn while the timeline plays.
- ``cli``: the headless command ``blender -b --command neural_aesthetics``.
- ``registry``: registers all of it with Blender.

Importing this package runs nothing: the worker process imports ``gpu_render`` alone.
"""
