"""Headless commands: ``blender -b file.blend --command neural_aesthetics <command> ...``.

- ``analyze``: the audio features of a sound strip, one row per frame, to a CSV file, and/or
  its song map (loudness, bands, beats, bars, sections, chords, key on its frames) to a PNG;
- ``bake``: bake a sound strip's frames (or a chunk of them, ``--frames 101-200``) without
  touching the .blend, so render-farm machines can each bake a part;
- ``add-strip``: bake whatever frames are missing and add the image strip above the sound
  strip; ``--save`` keeps it in the .blend;
- ``train``: train a style from a prompt, palette, reference images or a bundled recipe
  (the training pack unless it is a palette alone); no .blend needed.

Prints one progress line per frame on stdout and one line per error on stderr; returns 0
on success, 1 when the scene or files are not right, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import os
import re
import sys
from pathlib import Path

import bpy

from ..core import audio
from ..core.render import imageio, mapping, song_map, timeline
from ..core.train import report, training as train
from ..core.render.backend import BACKENDS
from ..core.errors import UserError
from ..core.render.limits import MAX_SEED
from ..core.render.visualizer import MAX_SIDE_PX, bake_visualizer, pulse_words
from .settings import preferences
from .blender import colour, strips, style_previews as styles, style_timeline
from .blender.paths import user_folder

COMMAND = "neural_aesthetics"
EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """A bad command-line argument (reported on one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage + message and exit
        raise _UsageError(message)

    def exit(self, status=0, message=None):  # --help: argparse already printed it
        if message:
            print(message, file=sys.stderr, end="")
        raise SystemExit(status)


MIN_SIDE_PX = 16
"""Smallest frame side the scene's Width/Height settings accept."""
MAX_SMOOTHING_S = 60.0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1920x1080, got '{text}'") from None
    if not (MIN_SIDE_PX <= width <= MAX_SIDE_PX and MIN_SIDE_PX <= height <= MAX_SIDE_PX):
        raise argparse.ArgumentTypeError(f"size {text}: each side must be {MIN_SIDE_PX} to {MAX_SIDE_PX} px")
    return width, height


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be a whole number from 0 to {MAX_SEED}, got '{text}'")
    return seed


def _effect_value(what: str, limit: float):
    """A parser of ``EFFECT=VALUE`` (an effect of ``mapping.EFFECTS``, a value 0..limit)."""

    def parse(text: str) -> tuple[str, float]:
        effect, equals, value = text.partition("=")
        if not equals or effect not in mapping.EFFECTS:
            raise argparse.ArgumentTypeError(
                f"{what} must look like pulse=1.5, with one of {', '.join(mapping.EFFECTS)}; got '{text}'")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not 0.0 <= number <= limit:
            raise argparse.ArgumentTypeError(f"{what} of {effect} must be a number from 0 to {limit:g}, got '{value}'")
        return effect, number

    return parse


def _effect_strip(text: str) -> tuple[str, str]:
    """``EFFECT=STRIP``: an effect of ``mapping.EFFECTS`` and a strip name (checked against the scene later)."""
    effect, equals, strip = text.partition("=")
    if not equals or effect not in mapping.EFFECTS or not strip:
        raise argparse.ArgumentTypeError(
            f"source must look like pulse=Drums, with one of {', '.join(mapping.EFFECTS)}; got '{text}'")
    return effect, strip


_FRAME_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$")


def _frame_range(text: str) -> tuple[int, int]:
    """``A-B`` (inclusive scene frames, either may be negative: ``-50--40``) or a single frame ``A``."""
    match = _FRAME_RANGE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"frames must look like 101-200 (or -50--40), got '{text}'")
    first_frame = int(match.group(1))
    last_frame = int(match.group(2)) if match.group(2) is not None else first_frame
    if last_frame < first_frame:
        raise argparse.ArgumentTypeError(f"frame range {text} ends before it starts")
    return first_frame, last_frame


def _palette(text: str) -> list[str]:
    try:
        return train.parse_palette_text(text)
    except train.TrainError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _whole_number(low: int, high: int):
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got '{text}'")
        return number

    return parse


def _train_options(parser) -> None:
    what = parser.add_argument_group("what to train towards (at least one, or --recipe)")
    what.add_argument("--recipe", help="a recipe of the recipes file (prompts, palette and settings), e.g. "
                      "cosmic-nebula; the options below change it")
    what.add_argument("--recipes", metavar="FILE", help="the recipes file (default: the bundled styles/recipes.json)")
    what.add_argument("--prompt", action="append", help="what the style should look like, repeatable")
    what.add_argument("--negative", help="what the style should not look like")
    what.add_argument("--palette", type=_palette, help="colours the frames should be made of: hex codes and/or colour names (CSS, XKCD), "
                      "e.g. 'teal, coral, midnight blue' or '#ff2a6d,#05d9e8'")
    what.add_argument("--reference", action="append", metavar="IMAGE",
                      help="a reference image (mood board) the style should look like, repeatable")
    how = parser.add_argument_group("how")
    how.add_argument("--steps", type=_whole_number(1, 1_000_000), help="training steps (default: 600, or the recipe's)")
    how.add_argument("--seed", type=_seed, help="seed of the training (default: 0, or the recipe's)")
    how.add_argument("--views", type=_whole_number(0, 64),
                     help="cutouts of each latent's frame per step (default 0: 4 on a CPU, 16 on a GPU)")
    how.add_argument("--smoothness", type=float, help=f"weight of the term that keeps nearby latents' pictures close "
                     f"(default {train.DEFAULT_SMOOTHNESS:g}; 0 = off)")
    how.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"),
                     help="where to train (default: the preferences' Device)")
    how.add_argument("--clip-model", help="open_clip model name (default: the preferences')")
    how.add_argument("--clip-pretrained", help="open_clip pretrained tag, downloaded once (default: the preferences')")
    how.add_argument("--clip-checkpoint", metavar="PATH",
                     help="a local CLIP weights file or open_clip model folder instead of downloading")
    out = parser.add_argument_group("output")
    out.add_argument("--name", help="the style's name (default: the recipe's or the first prompt's; a name "
                     "already taken gets a number)")
    out.add_argument("--out", metavar="DIR", help="folder for the style files (default: the extension's user "
                     "styles folder, where Blender's Style menu finds them)")


def _strip_options(parser) -> None:
    parser.add_argument("--scene", help="scene name (default: the active scene)")
    parser.add_argument("--strip", help="sound strip name (default: the active strip, or the only sound strip)")
    parser.add_argument("--beats-per-bar", type=int, choices=(0, 2, 3, 4, 5, 6, 7), metavar="N",
                        help="beats in a bar, which places the downbeats: 0 = heard in the song, or 2 to 7 "
                             "(default: the scene's Beats per Bar)")
    parser.add_argument("--tempo", type=float, metavar="BPM",
                        help="about how many beats a minute the song has, when its beats are heard at double or "
                             "half its speed: 0 = heard in the song, or 30 to 300 (default: the scene's Tempo)")


def _bake_options(parser) -> None:
    _strip_options(parser)
    parser.add_argument("--style", help="style name or .safetensors path (default: the scene's style setting)")
    parser.add_argument("--output", help="frame folder; '//' is next to the .blend (default: the scene's setting)")
    parser.add_argument("--size", type=_size, help="frame size WIDTHxHEIGHT (default: the scene's output size)")
    parser.add_argument("--seed", type=_seed, help="seed of the visuals' path (default: the scene's setting)")
    parser.add_argument("--preset", choices=list(mapping.PRESETS),
                        help="how the music moves the image (default: the scene's Mapping setting)")
    parser.add_argument("--strength", type=_effect_value("strength", mapping.MAX_STRENGTH), action="append",
                        metavar="EFFECT=VALUE", help="strength of one effect, 0 to 10, repeatable, e.g. "
                        f"--strength pulse=2 (effects: {', '.join(mapping.EFFECTS)}; default: the preset's)")
    parser.add_argument("--smoothing", type=_effect_value("smoothing", MAX_SMOOTHING_S), action="append",
                        metavar="EFFECT=SECONDS", help="smoothing of one effect in seconds, repeatable "
                        "(default: the scene's setting)")
    parser.add_argument("--source", type=_effect_strip, action="append", metavar="EFFECT=STRIP",
                        help="a sound strip (a stem, e.g. drums) one effect listens to, repeatable, e.g. "
                        "--source pulse=Drums (default: the scene's Listen To settings, else the sound strip)")
    parser.add_argument("--format", choices=list(imageio.FORMATS),
                        help="frame files: png8, png16, jpeg (sRGB) or exr (linear half float) "
                        "(default: the scene's setting)")
    parser.add_argument("--style-map", metavar="MAP",
                        help="change style along the song: MOMENT=STYLE pairs, e.g. 'verse=nebula,chorus=lava,"
                        "drop=glitch' (a moment is a marker name, 'section 2' or a time like 45s or 1:30), or a "
                        ".json file (default: the scene's Style Timeline when it is on)")
    parser.add_argument("--transition", metavar="KIND[:LEN]",
                        help="how each style comes in: cut, crossfade:2b (2 beats) or morph:1.5s (default: cut, "
                        "or each entry's own in the scene's timeline)")
    parser.add_argument("--draft", action="store_true",
                        help="bake at half the width and height, marked as a draft (a bake without --draft "
                        "replaces it)")
    parser.add_argument("--backend", choices=list(BACKENDS),
                        help="what computes the frames (auto: gpu, else torch, else numpy); pin one for "
                        "byte-identical chunks across farm machines (default: the scene's setting)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"blender -b file.blend --command {COMMAND}",
        description="Neural Aesthetics: audio-reactive visuals from a sound strip, headless.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    analyze = commands.add_parser(
        "analyze", help="write a sound strip's audio features (one row per frame) to a CSV file, and/or its song map",
        description="Analyse a sound strip of the open .blend: one CSV row per scene frame it covers, and/or "
        "a picture of the analysis on those frames.",
    )
    _strip_options(analyze)
    analyze.add_argument("--out", metavar="CSV", help="the CSV file to write ('//' = next to the .blend); an existing "
                         "file is replaced only if this command wrote it")
    analyze.add_argument("--map", metavar="PNG", help="a song map picture to write: loudness, bands, beats, bars, "
                         "sections, chords and key on the strip's frames ('//' = next to the .blend)")
    analyze.add_argument("--map-width", type=_whole_number(song_map.MIN_WIDTH, song_map.MAX_WIDTH),
                         default=song_map.DEFAULT_WIDTH, metavar="PIXELS",
                         help=f"width of the song map's time axis (default {song_map.DEFAULT_WIDTH})")
    analyze.add_argument("--overwrite", action="store_true", help="replace the --out or --map file even if this "
                         "command did not write it (never the sound file itself)")

    bake = commands.add_parser(
        "bake", help="bake a sound strip's frames (or a chunk of them); the .blend is not changed",
        description="Bake the frames of a sound strip. Frames already baked are kept, so machines "
        "of a render farm can each bake a chunk into the same folder; then run add-strip once.",
    )
    _bake_options(bake)
    bake.add_argument("--frames", type=_frame_range, metavar="A-B",
                      help="only these scene frames (inclusive), e.g. 101-200 (default: the scene's Range "
                      "setting, the whole strip unless set)")

    add_strip = commands.add_parser(
        "add-strip", help="bake what is missing and add the image strip above the sound strip",
        description="Bake any missing frames of a sound strip and add an image strip above it (same "
        "start and duration). Render afterwards with `blender -b file.blend -a`.",
    )
    _bake_options(add_strip)
    save = add_strip.add_mutually_exclusive_group()
    save.add_argument("--save", action="store_true", help="save the .blend in place after adding the strip")
    save.add_argument("--save-as", metavar="PATH", help="save the .blend to PATH after adding the strip")

    train_command = commands.add_parser(
        "train", help="train a style from a prompt, palette, reference images or a recipe",
        description="Train a style with CLIP (and/or towards a palette) and save it as a style file, with a "
        "training report beside it. A prompt or reference images need the training pack (torch + open_clip); "
        f"a palette alone does not. No .blend is needed: blender -b --command {COMMAND} train --recipe cosmic-nebula",
    )
    _train_options(train_command)
    return parser


def _scene(args):
    scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
    if scene is None:
        raise UserError(f"No scene named '{args.scene}' in this .blend")
    return scene


def _progress(done: int, total: int, message: str) -> None:
    """One line per frame; a frame that takes long adds a line every few seconds (its tiles)."""
    if ": " in message:  # e.g. "Frame 4/96: 120 tiles drawn"
        print(f"{COMMAND}: {message[:1].lower()}{message[1:]}", flush=True)
    elif message == audio.ANALYSING:  # (done/total: seconds of the song decoded)
        print(f"{COMMAND}: {message} {done}/{total} s", flush=True)
    else:
        print(f"{COMMAND}: frame {done}/{total}", flush=True)


class _Overridden:
    """The scene's visualizer settings as the command line changes them, read-only: the
    scene's own settings are never written, so a saved .blend keeps the user's."""

    def __init__(self, settings, overrides: dict):
        self._settings, self._overrides = settings, overrides

    def __getattr__(self, name):
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._settings, name)

    def is_property_set(self, name: str) -> bool:
        return name in self._overrides or self._settings.is_property_set(name)


def _settings(args, scene) -> _Overridden:
    """The scene's settings with the command line's options over them."""
    overrides = {"draft": bool(getattr(args, "draft", False))}
    if args.size:
        overrides["use_scene_resolution"] = False
        overrides["resolution_x"], overrides["resolution_y"] = args.size
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.preset:
        overrides["preset"] = args.preset  # (and its strengths, as choosing it in the panel does)
        overrides.update({f"strength_{effect}": value for effect, value in mapping.PRESETS[args.preset].items()})
    if args.strength:
        overrides["use_custom_strengths"] = True
        overrides.update({f"strength_{effect}": value for effect, value in args.strength})
    if args.smoothing:
        overrides["use_custom_smoothing"] = True
        overrides.update({f"smoothing_{effect}": value for effect, value in args.smoothing})
    overrides.update({f"source_{effect}": strip_name for effect, strip_name in args.source or ()})
    if args.format:
        overrides["image_format"] = args.format
    if args.backend:
        overrides["backend"] = args.backend
    return _Overridden(scene.neural_aesthetics, overrides)


def _request(args, scene):
    settings = _settings(args, scene)
    sound_strip = strips.find_sound_strip(scene, args.strip)
    request = strips.bake_request(scene, sound_strip, settings, style=args.style, output_dir=args.output)
    if args.style_map or args.transition:
        request = dataclasses.replace(request, style_map=_style_map(args, settings))
    if args.beats_per_bar is not None:  # (into the request only: never saved into the .blend)
        request = dataclasses.replace(request, beats_per_bar=args.beats_per_bar)
    if args.tempo is not None:
        request = dataclasses.replace(request, tempo_bpm=args.tempo)
    return sound_strip, request, settings


def _style_map(args, settings) -> dict:
    """The request's style map from --style-map / --transition (over the scene's timeline)."""
    if args.style_map:
        text = args.style_map
        if text.strip().lower().endswith(".json"):
            text = bpy.path.abspath(text.strip())
        style_map = timeline.parse_style_map(text, args.transition)
    else:
        style_map = style_timeline.settings_style_map(settings)
        if style_map is None:
            raise UserError("--transition needs a style map: give --style-map, or turn on the scene's Style Timeline")
        style_map = style_timeline.with_transition(style_map, args.transition)
    return style_timeline.request_style_map(style_map)


def _warn(text: str) -> None:
    print(f"{COMMAND}: warning: {text}", file=sys.stderr, flush=True)


CSV_HEADER_START = "frame,"
"""How a features CSV written by ``analyze`` starts (its first column is the scene frame)."""


def check_csv_target(out: Path, sound: Path, overwrite: bool) -> None:
    """Refuse an ``analyze --out`` path that would destroy something: the sound file itself
    (even with ``overwrite``), a folder, or an existing file that is not a features CSV this
    command wrote (unless ``overwrite``)."""
    if out.exists() and sound.exists() and os.path.samefile(out, sound):
        raise UserError(f"--out {out} is the sound file being analysed: write the CSV to another file")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name, e.g. {out / 'features.csv'}")
    if not out.exists() or overwrite:
        return
    try:
        with open(out, encoding="utf-8") as stream:
            ours = stream.read(len(CSV_HEADER_START)) == CSV_HEADER_START
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise UserError(f"--out {out} already exists and is not a features CSV written by analyze: choose another "
                        f"file, or pass --overwrite to replace it")


def _analyze(args) -> int:
    if not (args.out or args.map):
        raise _UsageError("give --out CSV, --map PNG or both")
    picture = Path(bpy.path.abspath(args.map)) if args.map else None
    if picture is not None and picture.suffix.lower() != ".png":
        raise UserError(f"The song map is a PNG picture: name it .png, not '{picture.name}'")
    if picture is not None and picture.exists() and not args.overwrite:
        raise UserError(f"{picture} exists: choose another --map file, or add --overwrite to replace it")
    scene = _scene(args)
    sound_strip = strips.find_sound_strip(scene, args.strip)
    timing = strips.strip_timing(scene, sound_strip)
    sound = strips.sound_file(sound_strip)
    out = Path(bpy.path.abspath(args.out)) if args.out else None
    if out is not None:
        check_csv_target(out, sound, args.overwrite)
    hints = strips.song_hints(scene.neural_aesthetics)
    given = {"beats_per_bar": args.beats_per_bar, "tempo_bpm": args.tempo}
    hints.update({name: value for name, value in given.items() if value is not None})  # (the request only)
    track = audio.analyze(sound, timing, audio.AnalysisParams().with_song_hints(**hints))
    if picture is not None:
        song_map.write_png(picture, track, args.map_width)
        print(f"{COMMAND}: wrote the song map of {timing.n_frames} frames to {picture}")
    if out is not None:
        _write_csv(out, track)
    return EXIT_OK


def _write_csv(out: Path, track) -> None:
    """The features CSV, one row per scene frame, written atomically (never half a file)."""
    timing = track.timing
    names = sorted(track.channels)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["frame", *names])
    for row, frame in enumerate(timing.frames()):
        writer.writerow([int(frame), *(f"{float(track[name][row]):.6g}" for name in names)])
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", newline="", encoding="utf-8") as stream:
            stream.write(text.getvalue())
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    print(f"{COMMAND}: wrote {timing.n_frames} frames x {len(names)} features to {out}")


def _print_device(backend: str) -> None:
    """The first line of a bake: which device draws (``GPU: <name>``, ``CPU: NumPy``...),
    and why the GPU is not used when Auto would have liked it."""
    from ..core.render import backend as backends
    from . import gpu_render

    line = backends.device_line(backend)
    known = gpu_render.provider.probed()
    if backend == "auto" and known is not None and not known.available:
        line += f" (no GPU: {known.reason})"
    print(f"{COMMAND}: {line}", flush=True)


def _bake(args) -> int:
    _sound_strip, request, _settings = _request(args, _scene(args))
    _print_device(request.backend)
    if args.frames:
        # Frames are named and drawn by their place in the song: a chunk is the same
        # frames a whole bake makes.
        request = dataclasses.replace(request, frames=args.frames)
    result = bake_visualizer(request, _progress)
    print(f"{COMMAND}: baked frames {result.frame_first}-{result.frame_first + len(result.paths) - 1} "
          f"({result.written} new, {result.skipped} already there) into {request.out_dir}; "
          f"{pulse_words(result.heard)}")
    return EXIT_OK


def _save_target(args) -> str | None:
    """Where --save/--save-as will write the .blend, checked before any frame is baked."""
    if args.save and not bpy.data.filepath:
        raise UserError("--save needs a saved .blend: open one (blender -b file.blend ...) or use --save-as")
    if not (args.save or args.save_as):
        return None
    target = bpy.path.abspath(args.save_as) if args.save_as else bpy.data.filepath
    folder = Path(target).parent
    if not folder.is_dir():
        raise UserError(f"The folder of --save-as does not exist: {folder} (create it first)")
    if not os.access(folder, os.W_OK):
        raise UserError(f"The folder of --save-as is not writable: {folder}")
    return target


def _add_strip(args) -> int:
    target = _save_target(args)
    scene = _scene(args)
    sound_strip, request, settings = _request(args, scene)
    _print_device(request.backend)
    result = bake_visualizer(request, _progress)
    image_strip, updated = strips.place_visualizer(
        scene, sound_strip, result, strips.bake_recipe(settings, draft=settings.draft))
    print(f"{COMMAND}: {'updated' if updated else 'added'} '{image_strip.name}' (channel {image_strip.channel}, "
          f"frames {result.frame_first}-{result.frame_first + len(result.paths) - 1}) from {request.out_dir}; "
          f"{pulse_words(result.heard)}")
    for warning in (colour.view_warning(scene, request.image_format), strips.past_end_warning(scene, sound_strip)):
        if warning:
            _warn(warning)
    if target:
        try:
            bpy.ops.wm.save_as_mainfile(filepath=target)
        except RuntimeError as error:  # Blender's own message, e.g. a permission problem
            raise UserError(f"Could not save {target}: {str(error).strip().splitlines()[-1]}") from None
        print(f"{COMMAND}: saved {target}")
    else:
        print(f"{COMMAND}: the .blend was not saved (pass --save or --save-as to keep the strip)")
    return EXIT_OK


def _train_config(args) -> tuple[train.TrainConfig, str | None]:
    """The training settings of the arguments over the recipe's over the preferences', and the recipe's name."""
    prefs = preferences.get()
    config = train.TrainConfig(device=prefs.device.lower(), clip_model=prefs.clip_model.strip(),
                               clip_pretrained=prefs.clip_pretrained.strip(),
                               clip_checkpoint=bpy.path.abspath(prefs.clip_checkpoint) if prefs.clip_checkpoint else "")
    if args.recipe:
        recipes = train.load_recipes(bpy.path.abspath(args.recipes) if args.recipes else None)
        if args.recipe not in recipes:
            raise UserError(f"No recipe named '{args.recipe}': recipes are {', '.join(sorted(recipes))}")
        recipe = recipes[args.recipe]
        config = dataclasses.replace(recipe, device=config.device, clip_model=config.clip_model,
                                     clip_pretrained=config.clip_pretrained, clip_checkpoint=config.clip_checkpoint)
    given = {"prompts": args.prompt, "negative_prompt": args.negative, "palette": args.palette,
             "reference_images": [bpy.path.abspath(path) for path in args.reference or ()] or None,
             "steps": args.steps, "seed": args.seed, "views": args.views, "smoothness": args.smoothness,
             "device": args.device, "clip_model": args.clip_model,
             "clip_pretrained": args.clip_pretrained,
             "clip_checkpoint": bpy.path.abspath(args.clip_checkpoint) if args.clip_checkpoint else None}
    config = dataclasses.replace(config, **{key: value for key, value in given.items() if value is not None},
                                 cache_dir=str(preferences.cache_dir()), allow_download=bool(bpy.app.online_access),
                                 preview_every=0)
    return config, args.recipe


def _train(args) -> int:
    if not (args.recipe or args.prompt or args.palette or args.reference):
        raise _UsageError("train needs --prompt, --palette, --reference or --recipe")
    config, recipe = _train_config(args)
    out_dir = Path(bpy.path.abspath(args.out)) if args.out else user_folder("styles")
    taken = {path.stem for path in out_dir.glob("*.json")} if out_dir.is_dir() else set()
    if not args.out:
        taken |= {info.name for info in styles.available()}  # a bundled style would hide a user style
    if args.name:
        name = args.name
        if name in taken:
            raise UserError(f"A style named '{name}' already exists in {out_dir}: choose another --name")
    else:
        name = train.free_style_name(recipe or (config.prompts[0] if config.prompts else "palette"), taken)

    def progress(step: train.TrainProgress) -> None:
        print(f"{COMMAND}: step {step.step}/{step.total}: {step.message.partition(': ')[2]}", flush=True)

    path = train.train_style(config, out_dir, name, progress)
    print(f"{COMMAND}: saved style '{name}' to {path}")
    print(f"{COMMAND}: training report: {report.report_paths(path)[0]}")
    return EXIT_OK


HANDLERS = {"analyze": _analyze, "bake": _bake, "add-strip": _add_strip, "train": _train}


def _joined_values(argv: list[str]) -> list[str]:
    """``--frames -50--40`` as ``--frames=-50--40``: argparse takes a value starting with '-'
    for an option unless it is joined to its option."""
    words, index = [], 0
    while index < len(argv):
        if argv[index] == "--frames" and index + 1 < len(argv) and argv[index + 1].startswith("-"):
            words.append(f"--frames={argv[index + 1]}")
            index += 2
        else:
            words.append(argv[index])
            index += 1
    return words


def main(argv: list[str]) -> int:
    """Entry point of the registered command; ``argv`` are the words after the command name."""
    try:
        args = build_parser().parse_args(_joined_values(argv))
    except _UsageError as error:
        print(f"{COMMAND}: error: {error} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return int(done.code or 0)
    if args.command is None:
        print(f"{COMMAND}: error: give a command: {', '.join(HANDLERS)} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return HANDLERS[args.command](args)
    except _UsageError as error:
        print(f"{COMMAND}: error: {error} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except UserError as error:
        print(f"{COMMAND}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:  # e.g. a full disk or a read-only folder
        print(f"{COMMAND}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:  # a bug: one line here, its traceback in a log file
        log = _traceback_log()
        print(f"{COMMAND}: error: {type(error).__name__}: {error} (traceback in {log})", file=sys.stderr)
        return EXIT_USER_ERROR


def _traceback_log() -> Path:
    """Write the exception being handled to a log file in the extension's user folder; its path."""
    import time
    import traceback

    log = user_folder("logs") / f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log.write_text(traceback.format_exc(), encoding="utf-8")
    return log
