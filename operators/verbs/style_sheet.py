"""Preview Styles: every style on one moment of your song, as a contact sheet in the panel.

Renders each style at the current frame of the sound strip (its middle when the playhead
is outside it) the way a bake would draw it, small, in a few seconds. The sheet is shown
in the Style panel, and the style thumbnails can show these tiles instead of the bundled
pictures (Style › Thumbnails: On Your Song).
"""

from __future__ import annotations

import bpy

from ...core.errors import UserError
from ...core.render import contact_sheet, imageio
from .. import live_preview
from ..blender import strips, style_previews as styles
from ..blender.paths import user_folder
from . import job_progress as jobs_ui


def sheet_folder():
    """Where the last contact sheet and its tiles are kept (the extension's user cache)."""
    return user_folder("style_sheet")


def song_frame(scene, strip) -> int:
    """The frame to show: the playhead when it is on the strip, else the strip's middle."""
    if strip.frame_final_start <= scene.frame_current < strip.frame_final_end:
        return scene.frame_current
    return (strip.frame_final_start + strip.frame_final_end - 1) // 2


class NEURAL_AESTHETICS_OT_preview_styles(jobs_ui.ExplainsPoll, bpy.types.Operator):
    """Draw every style on the current moment of your song, small, as a contact sheet (a few seconds)"""

    bl_idname = "neural_aesthetics.preview_styles"
    bl_label = "Preview All Styles"
    bl_options = {"REGISTER"}

    @classmethod
    def problem(cls, context):
        return jobs_ui.running_problem(context) or strips.active_sound_strip_problem(context)

    def execute(self, context):
        scene = context.scene
        strip, _problem = strips.bake_source(scene)
        try:
            request = live_preview.preview_request(scene, strip, scene.neural_aesthetics)
            infos = styles.available()
            if not infos:
                raise UserError("No styles found: reinstall the extension")
            width, height = live_preview.preview_size(request.width, request.height)
            frame = song_frame(scene, strip)
            tiles = contact_sheet.style_tiles(request, [info.path for info in infos], frame, width, height)
        except UserError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        folder = sheet_folder()
        for stale in folder.glob("*.png"):
            stale.unlink()
        for info, tile in zip(infos, tiles):
            imageio.write_atomically(folder / f"{info.name}.png", imageio.prepare(tile, "png8"), "png8")
        labels = [info.name.replace("_", " ").title() for info in infos]
        sheet = contact_sheet.sheet(tiles, labels)
        imageio.write_atomically(folder / styles.SHEET_NAME, sheet, "png8")
        styles.song_thumbnails_changed(folder)
        scene.neural_aesthetics.thumbnails = "SONG"
        self.report({"INFO"}, f"{len(tiles)} styles drawn at frame {frame} of '{strip.name}' "
                              "(the thumbnails show them now)")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_preview_styles,)
