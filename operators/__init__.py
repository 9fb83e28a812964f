"""The Blender side: gather inputs from bpy, run a ``core`` job, wire results back into bpy.

- ``verbs/``: one module per button (Add Visualizer Strip, Re-sync, Apply to Material...).
- ``settings/``: the scene's properties and the extension preferences.
- ``blender/``: adapters (``compat`` holds every 4.2/5.0 difference; strips; folders; previews).
- ``gpu_render/``: the GPU path (a GPU context, its probe, the ``gpu`` renderer).
- ``live_preview``: the preview drawn while the timeline plays.
- ``cli``: the headless command ``blender -b --command neural_aesthetics``.

Registration lives here: with it in a submodule (``operators/registry.py``), a Blender 4.2
process that ran the headless command crashed at exit (SIGSEGV, the farm test).
"""


from __future__ import annotations

import bpy

from . import live_preview  # (the live preview's frame handler and draw callback)
from .verbs import (add_visualizer, audio_features, job_progress, resync, song_map, style_files, style_sheet,
                    style_timeline, train_style, use_frames, view_transform)
from . import cli
from .settings import preferences, properties
from .blender import style_previews
from . import gpu_render

# Every module with operator classes, each listing them in its CLASSES.
OPERATOR_MODULES = (add_visualizer, resync, use_frames, style_files, train_style, preferences, audio_features,
                    job_progress, style_timeline, view_transform, style_sheet, song_map)

_cli_handle = None


def _classes() -> list:
    return [cls for module in OPERATOR_MODULES for cls in module.CLASSES]


def register() -> None:
    global _cli_handle
    preferences.register_paths()
    style_previews.register()
    train_style.register()
    properties.register()
    for cls in _classes():
        bpy.utils.register_class(cls)
    _cli_handle = bpy.utils.register_cli_command(cli.COMMAND, cli.main)
    live_preview.register()
    gpu_render.install()
    if not bpy.app.background:  # (in background mode the probe runs when a bake first needs it)
        gpu_render.probe_in_background()


def unregister() -> None:
    global _cli_handle
    gpu_render.uninstall()
    live_preview.unregister()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    properties.unregister()
    train_style.unregister()
    style_previews.unregister()
