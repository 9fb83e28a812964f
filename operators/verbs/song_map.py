"""Song Map: a picture of the Audio panel's sound strip's analysis, as a Blender image.

The operator analyses the strip the Audio panel follows (``strips.source_sound_strip``;
cached like Bake Audio Features) and draws its song map (``core.render.song_map``: loudness,
bands, pitch classes, beats and bars, sections, chords and keys on the strip's frames)
into the image ``Song Map: <strip name>``, packed into the .blend so it travels with the
project. The Audio panel shows it as a preview; an Image Editor open in the window shows
it too. Running it again redraws the same image (a moved or trimmed strip gets a new map).
"""

from __future__ import annotations

import bpy
import numpy as np

from ...core.errors import UserError
from ...core.render import song_map
from ..blender import strips
from .audio_features import analyse_strip

IMAGE_PREFIX = "Song Map: "


def image_name(strip) -> str:
    return f"{IMAGE_PREFIX}{strip.name}"


def map_image(strip):
    """The song map image drawn for ``strip``, or None."""
    return bpy.data.images.get(image_name(strip)) if strip is not None else None


def _store_image(name: str, rgb: np.ndarray):
    """``rgb`` (H, W, 3 display values, top row first) as the packed 8-bit image ``name``."""
    height, width, _ = rgb.shape
    image = bpy.data.images.get(name)
    if image is not None and tuple(image.size) != (width, height):
        image.scale(width, height)
    if image is None:
        image = bpy.data.images.new(name, width, height, alpha=False)
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[:, :, :3] = np.rint(np.clip(rgb[::-1], 0.0, 1.0) * 255.0) / 255.0  # Blender's rows start at the bottom
    image.pixels.foreach_set(rgba.ravel())
    image.update()
    image.pack()
    return image


class NEURAL_AESTHETICS_OT_song_map(bpy.types.Operator):
    """Draw the sound strip's analysis (loudness, bands, beats, bars, sections, chords, key) on its frames"""

    bl_idname = "neural_aesthetics.song_map"
    bl_label = "Song Map"
    bl_options = {"REGISTER", "UNDO"}

    width: bpy.props.IntProperty(
        name="Width", description="Pixels across the song's time axis", default=song_map.DEFAULT_WIDTH,
        min=song_map.MIN_WIDTH, max=song_map.MAX_WIDTH)

    @classmethod
    def poll(cls, context):
        if strips.source_sound_strip(context.scene) is None:
            cls.poll_message_set(strips.active_sound_strip_problem(context) or "Click a sound strip first")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        strip = strips.source_sound_strip(scene)
        try:
            track = analyse_strip(scene, strip)
            drawn = song_map.render(track, self.width)
        except (UserError, ValueError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        image = _store_image(image_name(strip), drawn.rgb)
        for area in context.screen.areas if context.screen is not None else ():
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
        self.report({"INFO"}, f"Drew the song map of '{strip.name}' ({track.timing.n_frames} frames) "
                              f"into the image '{image.name}'")
        return {"FINISHED"}


CLASSES = (NEURAL_AESTHETICS_OT_song_map,)
