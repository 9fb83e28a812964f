"""Render the README's pictures with the extension's own engine (no screenshots: the
``bpy`` module has no user interface to capture).

    .venvs/blender-5.0/bin/python scripts/readme_images.py [--out docs/images]

Writes:
- ``styles.png``: every bundled style, one frame each on the demo music, labelled with
  its name and how it was made;
- ``filmstrip.png``: one second of a bake on the demo music (every third frame at 24 fps)
  above the onset strength of each frame, so a drum hit can be seen moving the picture;
- ``transition.png``: a style timeline's change from nebula to lava at 4 s, baked as a
  crossfade and as a morph over the second before it (every third frame).
- ``song_map.png``: the song map (``core.render.song_map``) of a generated 48 s song in
  three parts (A minor with drums, D minor without kick and with a lead, A minor again).

Deterministic: the music is generated from a seed and bakes are a function of the seed.
Pillow, scipy and soundfile come from the extension's wheels when the venv lacks them
(as for the benchmarks: ``benchmarks/_setup.py``; run ``make build`` once first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _setup  # noqa: E402  (the extension's light wheels, importable outside Blender)

_setup.ensure_libs()
from PIL import Image, ImageDraw  # noqa: E402
if "neural_aesthetics" not in sys.modules:  # the repository root is the package
    _package = types.ModuleType("neural_aesthetics")
    _package.__path__ = [str(ROOT)]
    sys.modules["neural_aesthetics"] = _package
sys.path.insert(0, str(ROOT / "scripts"))

import synth_music  # noqa: E402
from neural_aesthetics.core import audio
from neural_aesthetics.core.render import imageio, song_map, style, timeline, visualizer  # noqa: E402
from neural_aesthetics.core.render.preview import Preview  # noqa: E402
from neural_aesthetics.core.audio.timing import Timing  # noqa: E402
from neural_aesthetics.core.render.visualizer import BakeRequest  # noqa: E402

FPS = 24
SECONDS = 8.0
TILE = (320, 180)
BACKGROUND = (24, 24, 28)
TEXT = (230, 230, 230)
DIM_TEXT = (150, 150, 160)


def _request(music: Path, style_path: Path) -> BakeRequest:
    timing = Timing(FPS, 0, 0, int(SECONDS * FPS))
    return BakeRequest(audio_path=music, timing=timing, style_path=style_path, out_dir=music.parent,
                       width=TILE[0], height=TILE[1], backend="numpy")


def _tile(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(imageio.to_rgb8(rgb))


def contact_sheet(music: Path, styles_dir: Path, columns: int = 3) -> Image.Image:
    """Every style in ``styles_dir`` at the same moment of the music (2.0 s: a kick)."""
    infos = style.list_styles([styles_dir])
    label_h = 40
    rows = -(-len(infos) // columns)
    sheet = Image.new("RGB", (columns * (TILE[0] + 8) + 8, rows * (TILE[1] + label_h + 8) + 8), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, info in enumerate(infos):
        x = 8 + (index % columns) * (TILE[0] + 8)
        y = 8 + (index // columns) * (TILE[1] + label_h + 8)
        preview = Preview.from_request(_request(music, info.path))
        sheet.paste(_tile(preview.frame_at(2.0, *TILE)), (x, y))
        draw.text((x + 2, y + TILE[1] + 4), info.name, fill=TEXT)
        draw.text((x + 2, y + TILE[1] + 20), info.origin, fill=DIM_TEXT)
    return sheet


def filmstrip(music: Path, style_path: Path, first_s: float = 1.75, every: int = 3, count: int = 8) -> Image.Image:
    """``count`` frames from ``first_s``, ``every`` frames apart, over a bar chart of onset."""
    request = _request(music, style_path)
    preview = Preview.from_request(request)
    onset = audio.analyze(music, request.timing)["onset"]
    small = (TILE[0] // 2, TILE[1] // 2)
    chart_h = 60
    strip = Image.new("RGB", (count * (small[0] + 4) + 4, small[1] + chart_h + 30), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    first_frame = round(first_s * FPS)
    for index in range(count):
        frame = first_frame + index * every
        x = 4 + index * (small[0] + 4)
        strip.paste(_tile(preview.frame_at(frame / FPS, *small)), (x, 4))
        bar = int(round(float(onset[frame]) * (chart_h - 8)))
        base = small[1] + 8 + chart_h - 4
        draw.rectangle((x + small[0] // 3, base - bar, x + 2 * small[0] // 3, base), fill=(240, 140, 60))
        draw.text((x + 2, base + 4), f"frame {frame}  onset {float(onset[frame]):.2f}", fill=DIM_TEXT)
    return strip


def transition_strip(music: Path, folder: Path, before: str = "nebula", after: str = "lava", moment_s: float = 4.0,
                     every: int = 3) -> Image.Image:
    """A crossfade row and a morph row of the change ``before`` -> ``after`` at ``moment_s``,
    baked by ``bake_visualizer`` (the frames a user gets), from 1/4 s before the transition."""
    small = (TILE[0] // 2, TILE[1] // 2)
    first, last = round((moment_s - 1.25) * FPS), round(moment_s * FPS)
    frames = list(range(first, last + 1, every))
    label_w, label_h = 84, 16
    strip = Image.new("RGB", (label_w + len(frames) * (small[0] + 4) + 4, 2 * (small[1] + 8) + label_h + 4),
                      BACKGROUND)
    draw = ImageDraw.Draw(strip)
    paths = {name: ROOT / "styles" / f"{name}.safetensors" for name in (before, after)}
    for row, kind in enumerate(("crossfade", "morph")):
        style_map = timeline.StyleMap((timeline.Entry("0s", str(paths[before])),
                                       timeline.Entry(f"{moment_s:g}s", str(paths[after]))),
                                      timeline.parse_transition(f"{kind}:1s"))
        request = BakeRequest(audio_path=music, timing=Timing(FPS, 0, 0, int(SECONDS * FPS)),
                              style_path=paths[before], out_dir=folder / kind, width=small[0], height=small[1],
                              frames=(first, last), backend="numpy", style_map=style_map.to_json())
        baked = visualizer.bake_visualizer(request)
        y = 4 + row * (small[1] + 8)
        draw.text((4, y + small[1] // 2 - 6), kind, fill=TEXT)
        for column, frame in enumerate(frames):
            strip.paste(Image.open(baked.paths[frame - first]).convert("RGB"), (label_w + column * (small[0] + 4), y))
    for column, frame in enumerate(frames):
        weight = min(1.0, max(0.0, (frame / FPS - (moment_s - 1.0)) / 1.0))
        draw.text((label_w + column * (small[0] + 4) + 2, 2 * (small[1] + 8) + 2),
                  f"{frame / FPS:.2f} s  {after} {weight:.2f}", fill=DIM_TEXT)
    return strip


def song_map_picture(path: Path, width: int = 1400) -> None:
    """The song map of a generated song in three parts, on a 24 fps strip from frame 1."""
    parts = (synth_music.Part(120.0, 8, key=45, progression=1),
             synth_music.Part(120.0, 8, key=50, progression=2, kick=False, lead=True),
             synth_music.Part(120.0, 8, key=45, progression=1))
    track = synth_music.render_beat_track(parts, sample_rate=44100, seed=2)
    seconds = len(track.samples) / track.sample_rate
    timing = Timing(FPS, 1.0, 1, 1 + int(np.ceil(seconds * FPS)))
    song_map.write_png(path, audio.analyze_samples(track.samples.mean(axis=1), track.sample_rate, timing), width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--style", default="neon", help="style of the filmstrip")
    parser.add_argument("--only", choices=("styles", "filmstrip", "transition", "song_map"), help="write just this picture")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only == "song_map":
        song_map_picture(args.out / "song_map.png")
        print(f"wrote {args.out / 'song_map.png'}")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        music = Path(folder) / "music.wav"
        samples, _hits = synth_music.render_demo_clip(seconds=SECONDS, seed=0)
        synth_music.write_wav(music, samples, 44100)
        if args.only in (None, "styles"):
            contact_sheet(music, ROOT / "styles").save(args.out / "styles.png", optimize=True)
        if args.only in (None, "filmstrip"):
            filmstrip(music, ROOT / "styles" / f"{args.style}.safetensors").save(args.out / "filmstrip.png",
                                                                                 optimize=True)
        if args.only in (None, "transition"):
            transition_strip(music, Path(folder)).save(args.out / "transition.png", optimize=True)
    if args.only is None:
        song_map_picture(args.out / "song_map.png")
    print(f"wrote the pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
