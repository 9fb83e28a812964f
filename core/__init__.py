"""Pure-Python engine of Neural Aesthetics: audio analysis, CPPN styles, mapping and baking.

Nothing in this package imports ``bpy``: it runs unchanged inside Blender, in a worker
subprocess and in a plain virtual environment (tests, render-farm nodes).
"""
