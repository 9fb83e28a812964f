"""Use Standard: show baked frames in the render with the colours they were baked with."""

from __future__ import annotations

import bpy

from ..blender import colour


class NEURAL_AESTHETICS_OT_use_standard_view(bpy.types.Operator):
    """Set the scene's view transform to Standard (no look, exposure 0, gamma 1), so the render shows the frames' own colours"""

    bl_idname = "neural_aesthetics.use_standard_view"
    bl_label = "Use Standard"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not colour.view_changes_frames(context.scene, "png8"):
            cls.poll_message_set("The view transform is already Standard")
            return False
        return True

    def execute(self, context):
        view = context.scene.view_settings
        before = view.view_transform
        view.view_transform = colour.NEUTRAL_VIEW
        view.look = "None"
        view.exposure, view.gamma = 0.0, 1.0
        self.report({"INFO"}, f"View transform {before} -> Standard: the render shows the frames' own colours "
                              "(Ctrl Z puts it back)")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_use_standard_view,)
