"""Neural Aesthetics: audio-reactive CPPN visuals baked from a sound strip.

Layers (see docs/ARCHITECTURE.md): ``panels`` draw, ``operators`` talk to Blender,
``core`` does the work in pure Python.
"""

from . import operators, panels


def register() -> None:
    operators.register()
    panels.register()


def unregister() -> None:
    panels.unregister()
    operators.unregister()
