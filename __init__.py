"""Neural Aesthetics: audio-reactive CPPN visuals baked from a sound strip.

Layers (see docs/ARCHITECTURE.md): ``panels`` draw, ``operators`` talk to Blender,
``core`` does the work in pure Python.
"""

from . import panels
from .operators import registry


def register() -> None:
    registry.register()
    panels.register()


def unregister() -> None:
    panels.unregister()
    registry.unregister()
