"""Import a style file into the user's style folder, and export a style to share it."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ...core.render import style as style_io
from ...core.errors import UserError
from ..blender import style_previews as styles
from ..blender.paths import user_folder


class NEURAL_AESTHETICS_OT_import_style(bpy.types.Operator, ImportHelper):
    """Add a style file (.safetensors with its .json) to your styles; it is checked and never executed"""

    bl_idname = "neural_aesthetics.import_style"
    bl_label = "Import Style"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default="*.safetensors;*.json", options={"HIDDEN"})
    replace_existing: bpy.props.BoolProperty(
        name="Replace Existing", description="Replace a style of the same name in your styles folder", default=False
    )

    def execute(self, context):
        target = user_folder("styles")
        bundled = frozenset(info.name for info in styles.available() if info.path.parent == styles.BUNDLED_DIR)
        try:
            path = style_io.import_style(Path(self.filepath), target, overwrite=self.replace_existing,
                                         reserved=bundled)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        context.scene.neural_aesthetics.style = path.stem
        renamed = style_io.safe_style_name(Path(self.filepath).stem) in bundled
        self.report({"INFO"}, f"Imported style '{path.stem}'" + (
            " (a bundled style has its name)" if renamed else ""))
        return {"FINISHED"}


class NEURAL_AESTHETICS_OT_export_style(bpy.types.Operator):
    """Write the current style's files (.safetensors, .json, .png) into a folder to share it"""

    bl_idname = "neural_aesthetics.export_style"
    bl_label = "Export Style"

    directory: bpy.props.StringProperty(subtype="DIR_PATH")
    replace_existing: bpy.props.BoolProperty(
        name="Replace Existing", description="Replace files of the same name in that folder", default=False
    )

    @classmethod
    def poll(cls, context):
        if context.scene.neural_aesthetics.style == "NONE":
            cls.poll_message_set("No style is selected")
            return False
        return True

    def invoke(self, context, _event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        name = context.scene.neural_aesthetics.style
        try:
            path = style_io.import_style(styles.resolve(name), Path(bpy.path.abspath(self.directory)),
                                         overwrite=self.replace_existing)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported style '{name}' to {path.parent}")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_import_style, NEURAL_AESTHETICS_OT_export_style)
