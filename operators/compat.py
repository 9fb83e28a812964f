"""Every difference between the Blender versions we support (4.2 LTS to 5.0), in one place.

| | 4.2 / 4.3 | 4.4+ / 5.0 |
|---|---|---|
| VSE top-level strips | ``sequence_editor.sequences`` | ``sequence_editor.strips`` |
| every strip, meta contents too | ``sequences_all`` | ``strips_all`` |
| video output | ``image_settings.file_format = 'FFMPEG'`` | 5.0: ``media_type = 'VIDEO'`` first |
| sound strip's file offset | none | ``strip.sound_offset`` (seconds) |

Nothing outside this module tests ``bpy.app.version`` or probes for these names.
"""

from __future__ import annotations

import bpy


def _editor(scene: bpy.types.Scene):
    return scene.sequence_editor


def top_level_strips(scene: bpy.types.Scene):
    """The scene's top-level strip collection (has ``new_image``, ``new_sound``, ``remove``)."""
    editor = _editor(scene)
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def all_strips(scene: bpy.types.Scene) -> list:
    """Every strip of the scene, including strips inside meta strips; empty if no editor."""
    editor = _editor(scene)
    if editor is None:
        return []
    return list(editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)


def new_image_strip(scene, name: str, filepaths: list[str], channel: int, frame_start: int):
    """Add an image-sequence strip showing ``filepaths`` (same folder) from ``frame_start``."""
    strip = top_level_strips(scene).new_image(
        name=name, filepath=filepaths[0], channel=channel, frame_start=frame_start
    )
    for path in filepaths[1:]:
        strip.elements.append(bpy.path.basename(path))
    return strip


def new_sound_strip(scene, name: str, filepath: str, channel: int, frame_start: int):
    """Add a sound strip (needs a Blender built with audio support)."""
    scene.sequence_editor_create()
    return top_level_strips(scene).new_sound(
        name=name, filepath=filepath, channel=channel, frame_start=frame_start
    )


def set_video_output(scene, filepath: str) -> None:
    """Make ``scene`` render an H.264 + AAC MP4 to ``filepath`` (absolute or ``//``)."""
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    ffmpeg = scene.render.ffmpeg
    ffmpeg.format = "MPEG4"
    ffmpeg.codec = "H264"
    ffmpeg.audio_codec = "AAC"
    ffmpeg.audio_channels = "STEREO"
    scene.render.filepath = filepath


def sound_offset_s(strip) -> float:
    """Seconds of the sound file skipped at the strip's content start (4.2 has no such offset)."""
    return float(getattr(strip, "sound_offset", 0.0))
