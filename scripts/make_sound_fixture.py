"""Write tests/fixtures/sound_strip.blend: one scene with one sound strip, for Blender 4.2 tests.

The bpy 4.2 wheels are built without audio support, so they cannot create sound strips,
but they read them from a file. Run with a bpy that has audio and writes 4.2-readable
files (bpy 4.5):  python scripts/make_sound_fixture.py
The strip plays ``//music.wav``; tests put a FIXTURE_SECONDS-long WAV there.
"""

import sys
from pathlib import Path

import bpy
import numpy as np
import soundfile

FIXTURE_SECONDS = 4.0
FPS = 24
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sound_strip.blend"


def main() -> int:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backup beside the fixture
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 320, 180, 100
    wav = OUT.with_name("music.wav")
    soundfile.write(wav, np.zeros((int(FIXTURE_SECONDS * 44100), 2), np.float32), 44100)
    bpy.ops.wm.save_as_mainfile(filepath=str(OUT))
    scene.sequence_editor_create()
    strips = scene.sequence_editor.strips if hasattr(scene.sequence_editor, "strips") else scene.sequence_editor.sequences
    strip = strips.new_sound(name="Music", filepath="//music.wav", channel=1, frame_start=1)
    scene.sequence_editor.active_strip = strip
    scene.frame_start, scene.frame_end = 1, strip.frame_final_end - 1
    bpy.ops.wm.save_as_mainfile(filepath=str(OUT), compress=True, relative_remap=True)
    wav.unlink()
    print(OUT, strip.frame_final_duration, "frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
