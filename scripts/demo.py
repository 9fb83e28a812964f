"""The demo: music -> sound strip -> visualizer strip -> MP4 with sound, all headless.

    python scripts/demo.py [--out demo_out] [--seconds 12] [--style NAME]

Run with a Python that has the bpy wheel (`make demo` does). It builds nothing itself:
it installs the extension zip from dist/ into a throw-away Blender user folder (your own
Blender settings are not touched), writes a code-generated music clip, makes a scene with
it as a sound strip, runs "Add Visualizer Strip" and renders the sequencer to an
H.264 + AAC MP4. Prints the MP4's path.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTENSION_MODULE = "bl_ext.user_default.neural_aesthetics"
FPS = 24
SIZE = (640, 360)


def install_extension(zip_path: Path):
    """Install and enable the built extension in this bpy session; return its module."""
    import bpy

    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    if result != {"FINISHED"}:
        raise SystemExit(f"demo: installing {zip_path} failed")
    return sys.modules[EXTENSION_MODULE]


def build_scene(out_dir: Path, seconds: float):
    """Save ``out_dir/demo.blend`` with the generated clip as the sound strip 'Music'."""
    import bpy

    import synth_music

    compat = sys.modules[f"{EXTENSION_MODULE}.operators.blender.compat"]
    samples, _onsets = synth_music.render_demo_clip(seconds=seconds)
    synth_music.write_wav(out_dir / "music.wav", samples, 44100)

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"  # show the frames' colours as baked
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 backups
    bpy.ops.wm.save_as_mainfile(filepath=str(out_dir / "demo.blend"))
    strip = compat.new_sound_strip(scene, "Music", "//music.wav", channel=1, frame_start=1)
    scene.sequence_editor.active_strip = strip
    scene.frame_start, scene.frame_end = strip.frame_final_start, strip.frame_final_end - 1
    return scene, strip


def render_video(scene, mp4_path: Path) -> Path:
    """Render the scene's sequencer to an H.264 + AAC MP4 at ``mp4_path``."""
    import bpy

    compat = sys.modules[f"{EXTENSION_MODULE}.operators.blender.compat"]
    compat.set_video_output(scene, str(mp4_path))
    scene.render.use_file_extension = False
    bpy.ops.render.render(animation=True, scene=scene.name)
    return mp4_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the Neural Aesthetics demo video headless.")
    parser.add_argument("--out", default=str(ROOT / "demo_out"), help="output folder (default: demo_out/)")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the music clip in seconds")
    parser.add_argument("--style", help="bundled style name (default: the first one)")
    parser.add_argument("--zip", help="extension zip (default: the linux-x64 zip in dist/)")
    args = parser.parse_args(argv)

    zips = [Path(args.zip)] if args.zip else sorted((ROOT / "dist").glob("neural_aesthetics-*-linux_x64.zip"))
    if not zips or not zips[-1].is_file():
        print("demo: no extension zip in dist/: run `make build` first (make demo does)", file=sys.stderr)
        return 1
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    home = tempfile.mkdtemp(prefix="na-demo-home-")
    os.environ["HOME"] = home  # a throw-away Blender user folder; must precede `import bpy`
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bpy

        install_extension(zips[-1])
        scene, strip = build_scene(out_dir, args.seconds)
        if args.style:
            scene.neural_aesthetics.style = args.style
        result = bpy.ops.neural_aesthetics.add_visualizer_strip()
        if result != {"FINISHED"}:
            print("demo: adding the visualizer strip failed", file=sys.stderr)
            return 1
        bpy.ops.wm.save_mainfile()
        mp4 = render_video(scene, out_dir / "demo.mp4")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"demo: {strip.frame_final_duration} frames at {FPS} fps, {SIZE[0]}x{SIZE[1]}")
    print(f"demo: wrote {mp4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
