"""Blender verbs: gather inputs from bpy, run a ``core`` job, wire results back into bpy."""

from __future__ import annotations

import bpy

from . import cli, properties, visualizer

_cli_handle = None


def register() -> None:
    global _cli_handle
    properties.register()
    for cls in visualizer.CLASSES:
        bpy.utils.register_class(cls)
    _cli_handle = bpy.utils.register_cli_command(cli.COMMAND, cli.main)


def unregister() -> None:
    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    for cls in reversed(visualizer.CLASSES):
        bpy.utils.unregister_class(cls)
    properties.unregister()
