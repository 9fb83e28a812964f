"""Long work outside Blender's main thread: the worker process and the optional pack.

- ``worker``: the subprocess that runs a bake, a training or an install, speaking JSON lines.
- ``background``: starting that worker and reading its progress without blocking (no bpy).
- ``deps``: the optional training pack (torch + open_clip) and where it is installed.

The top of ``core``: may import ``core.audio``, ``core.render`` and ``core.train``.
"""
