"""Sidebar tabs in the Sequencer and the 3D Viewport. Drawing only: no logic here."""

from __future__ import annotations

import bpy

from ..operators.visualizer import NEURAL_AESTHETICS_OT_add_visualizer_strip as AddVisualizer

CATEGORY = "Neural"


class _VisualizerPanel:
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_label = "Neural Aesthetics"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        settings = context.scene.neural_aesthetics
        job = context.window_manager.neural_aesthetics_job

        layout.prop(settings, "style")
        layout.prop(settings, "seed")
        layout.prop(settings, "strength", slider=True)

        column = layout.column(heading="Bake")
        column.prop(settings, "output_dir")
        column.prop(settings, "use_scene_resolution")
        sub = column.column(align=True)
        sub.active = not settings.use_scene_resolution
        sub.prop(settings, "resolution_x")
        sub.prop(settings, "resolution_y")

        if job.status == "RUNNING":
            layout.progress(factor=job.progress, type="BAR", text=job.message or "Baking")
            layout.label(text="Press Esc to cancel", icon="INFO")
            return
        layout.operator(AddVisualizer.bl_idname, icon="SEQ_STRIP_DUPLICATE")
        if job.status == "FAILED":
            layout.label(text=job.message, icon="ERROR")


class NEURAL_AESTHETICS_PT_sequencer(_VisualizerPanel, bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_idname = "NEURAL_AESTHETICS_PT_sequencer"


class NEURAL_AESTHETICS_PT_view3d(_VisualizerPanel, bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_idname = "NEURAL_AESTHETICS_PT_view3d"


CLASSES = (NEURAL_AESTHETICS_PT_sequencer, NEURAL_AESTHETICS_PT_view3d)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
