"""Blender verbs: gather inputs from bpy, run a ``core`` job, wire results back into bpy."""

from __future__ import annotations

import bpy

from . import preview  # (the live preview's frame handler and draw callback)
from . import (audio_tools, cli, jobs_ui, preferences, properties, resync, style_files, styles, training, visualizer,
               wiring)

# Every module with operator classes, each listing them in its CLASSES.
OPERATOR_MODULES = (visualizer, resync, wiring, style_files, training, preferences, audio_tools, jobs_ui)

_cli_handle = None


def _classes() -> list:
    return [cls for module in OPERATOR_MODULES for cls in module.CLASSES]


def register() -> None:
    global _cli_handle
    preferences.register_paths()
    styles.register()
    training.register()
    properties.register()
    for cls in _classes():
        bpy.utils.register_class(cls)
    _cli_handle = bpy.utils.register_cli_command(cli.COMMAND, cli.main)
    preview.register()


def unregister() -> None:
    global _cli_handle
    preview.unregister()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    properties.unregister()
    training.unregister()
    styles.unregister()
