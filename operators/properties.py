"""Settings saved with the scene, and the running job's state kept on the window manager."""

from __future__ import annotations

import bpy

from . import styles


def _style_items(_self, _context):
    return styles.enum_items()


class NeuralAestheticsSettings(bpy.types.PropertyGroup):
    """Per-scene settings of the visualizer (saved in the .blend)."""

    style: bpy.props.EnumProperty(
        name="Style",
        description="The look of the visualizer: a trained or procedural CPPN style",
        items=_style_items,
    )
    output_dir: bpy.props.StringProperty(
        name="Output Folder",
        description="Folder for baked frames; each sound strip gets a subfolder named after it. "
        "'//' means next to the .blend file",
        default="//neural_frames/",
        subtype="DIR_PATH",
    )
    use_scene_resolution: bpy.props.BoolProperty(
        name="Scene Resolution",
        description="Bake at the scene's output resolution (including its percentage)",
        default=True,
    )
    resolution_x: bpy.props.IntProperty(
        name="Width", description="Frame width in pixels", default=1280, min=16, max=16384, subtype="PIXEL"
    )
    resolution_y: bpy.props.IntProperty(
        name="Height", description="Frame height in pixels", default=720, min=16, max=16384, subtype="PIXEL"
    )
    seed: bpy.props.IntProperty(
        name="Seed", description="Seed of the path the visuals travel; same seed, same frames", default=0, min=0
    )
    strength: bpy.props.FloatProperty(
        name="Strength", description="How strongly the music moves the image", default=1.0, min=0.0, max=4.0
    )


class NeuralAestheticsJob(bpy.types.PropertyGroup):
    """State of the bake running in the background (not saved, not undone)."""

    status: bpy.props.EnumProperty(
        items=(
            ("IDLE", "Idle", "No job has run yet"),
            ("RUNNING", "Running", "A job is running"),
            ("DONE", "Done", "The last job finished"),
            ("FAILED", "Failed", "The last job failed: see the message"),
            ("CANCELLED", "Cancelled", "The last job was cancelled"),
        ),
        default="IDLE",
    )
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, default=0.0, subtype="FACTOR")
    message: bpy.props.StringProperty(default="")
    cancel_requested: bpy.props.BoolProperty(
        default=False, description="The Cancel button was pressed: the job stops after its current step")


CLASSES = (NeuralAestheticsSettings, NeuralAestheticsJob)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.neural_aesthetics = bpy.props.PointerProperty(type=NeuralAestheticsSettings)
    bpy.types.WindowManager.neural_aesthetics_job = bpy.props.PointerProperty(type=NeuralAestheticsJob)


def unregister() -> None:
    del bpy.types.WindowManager.neural_aesthetics_job
    del bpy.types.Scene.neural_aesthetics
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
