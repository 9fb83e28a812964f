"""Headless commands: ``blender -b file.blend --command neural_aesthetics <command> ...``.

- ``analyze``: the audio features of a sound strip, one row per frame, to a CSV file, and/or
  its song map (loudness, bands, beats, bars, sections, chords, key on its frames) to a PNG;
- ``bake``: bake a sound strip's frames (or a chunk of them, ``--frames 101-200``) without
  touching the .blend, so render-farm machines can each bake a part;
- ``add-strip``: bake whatever frames are missing and add the image strip above the sound
  strip; ``--save`` keeps it in the .blend;
- ``train``: train a style from a prompt, palette, reference images or a bundled recipe
  (needs the training pack); no .blend needed.

Prints one progress line per frame on stdout and one line per error on stderr; returns 0
on success, 1 when the scene or files are not right, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from pathlib import Path

import bpy

from ..core import audio
from ..core.render import imageio, mapping, song_map
from ..core.train import training as train
from ..core.render.backend import BACKENDS
from ..core.errors import UserError
from ..core.render.visualizer import MAX_SIDE_PX, bake_visualizer
from .settings import preferences
from .blender import strips, style_previews as styles
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
    if seed < 0:
        raise argparse.ArgumentTypeError(f"seed must be a whole number >= 0, got '{text}'")
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


def _frame_range(text: str) -> tuple[int, int]:
    """``A-B`` (inclusive scene frames) or a single frame ``A``."""
    try:
        first, _, last = text.partition("-")
        first_frame = int(first)
        last_frame = int(last) if last else first_frame
    except ValueError:
        raise argparse.ArgumentTypeError(f"frames must look like 101-200, got '{text}'") from None
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
    what.add_argument("--palette", type=_palette, help="colours the frames should be made of, e.g. '#ff2a6d,#05d9e8'")
    what.add_argument("--reference", action="append", metavar="IMAGE",
                      help="a reference image (mood board) the style should look like, repeatable")
    how = parser.add_argument_group("how")
    how.add_argument("--steps", type=_whole_number(1, 1_000_000), help="training steps (default: 600, or the recipe's)")
    how.add_argument("--seed", type=_seed, help="seed of the training (default: 0, or the recipe's)")
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
    parser.add_argument("--backend", choices=list(BACKENDS),
                        help="what computes the frames; pin numpy or torch for bit-identical chunks across "
                        "farm machines (default: the scene's setting)")


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
    analyze.add_argument("--out", metavar="CSV", help="the CSV file to write ('//' = next to the .blend)")
    analyze.add_argument("--map", metavar="PNG", help="a song map picture to write: loudness, bands, beats, bars, "
                         "sections, chords and key on the strip's frames ('//' = next to the .blend)")
    analyze.add_argument("--map-width", type=_whole_number(song_map.MIN_WIDTH, song_map.MAX_WIDTH),
                         default=song_map.DEFAULT_WIDTH, metavar="PIXELS",
                         help=f"width of the song map's time axis (default {song_map.DEFAULT_WIDTH})")

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
        "train", help="train a style from a prompt, palette, reference images or a recipe (training pack needed)",
        description="Train a style with CLIP (and/or towards a palette) and save it as a style file. "
        "Needs the training pack (torch + open_clip). No .blend is needed: blender -b --command "
        f"{COMMAND} train --recipe cosmic-nebula",
    )
    _train_options(train_command)
    return parser


def _scene(args):
    scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
    if scene is None:
        raise UserError(f"No scene named '{args.scene}' in this .blend")
    return scene


def _progress(done: int, total: int, _message: str) -> None:
    print(f"{COMMAND}: frame {done}/{total}", flush=True)


def _request(args, scene):
    settings = scene.neural_aesthetics
    if args.size:
        settings.use_scene_resolution = False
        settings.resolution_x, settings.resolution_y = args.size
    if args.seed is not None:
        settings.seed = args.seed
    if args.preset:
        settings.preset = args.preset  # (loads the preset's strengths)
    if args.strength:
        settings.use_custom_strengths = True
        for effect, value in args.strength:
            setattr(settings, f"strength_{effect}", value)
    if args.smoothing:
        settings.use_custom_smoothing = True
        for effect, value in args.smoothing:
            setattr(settings, f"smoothing_{effect}", value)
    for effect, strip_name in args.source or ():
        setattr(settings, f"source_{effect}", strip_name)
    if args.format:
        settings.image_format = args.format
    if args.backend:
        settings.backend = args.backend
    sound_strip = strips.find_sound_strip(scene, args.strip)
    return sound_strip, strips.bake_request(scene, sound_strip, settings, style=args.style, output_dir=args.output)


def _analyze(args) -> int:
    if not (args.out or args.map):
        raise _UsageError("give --out CSV, --map PNG or both")
    picture = Path(bpy.path.abspath(args.map)) if args.map else None
    if picture is not None and picture.suffix.lower() != ".png":
        raise UserError(f"The song map is a PNG picture: name it .png, not '{picture.name}'")
    scene = _scene(args)
    sound_strip = strips.find_sound_strip(scene, args.strip)
    timing = strips.strip_timing(scene, sound_strip)
    track = audio.analyze(strips.sound_file(sound_strip), timing)
    if picture is not None:
        song_map.write_png(picture, track, args.map_width)
        print(f"{COMMAND}: wrote the song map of {timing.n_frames} frames to {picture}")
    if args.out:
        _write_csv(bpy.path.abspath(args.out), track)
    return EXIT_OK


def _write_csv(out: str, track) -> None:
    timing = track.timing
    names = sorted(track.channels)
    with open(out, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["frame", *names])
        for row, frame in enumerate(timing.frames()):
            writer.writerow([int(frame), *(f"{float(track[name][row]):.6g}" for name in names)])
    print(f"{COMMAND}: wrote {timing.n_frames} frames x {len(names)} features to {out}")


def _bake(args) -> int:
    _sound_strip, request = _request(args, _scene(args))
    if args.frames:
        # Frames are named and drawn by their place in the song: a chunk is the same
        # frames a whole bake makes.
        request = dataclasses.replace(request, frames=args.frames)
    result = bake_visualizer(request, _progress)
    print(f"{COMMAND}: baked frames {result.frame_first}-{result.frame_first + len(result.paths) - 1} "
          f"({result.written} new, {result.skipped} already there) into {request.out_dir}")
    return EXIT_OK


def _add_strip(args) -> int:
    if args.save and not bpy.data.filepath:
        raise UserError("--save needs a saved .blend: open one (blender -b file.blend ...) or use --save-as")
    scene = _scene(args)
    sound_strip, request = _request(args, scene)
    result = bake_visualizer(request, _progress)
    image_strip = strips.add_image_strip(scene, sound_strip, result)
    print(f"{COMMAND}: added '{image_strip.name}' (channel {image_strip.channel}, frames "
          f"{result.frame_first}-{result.frame_first + len(result.paths) - 1}) from {request.out_dir}")
    if args.save or args.save_as:
        target = bpy.path.abspath(args.save_as) if args.save_as else bpy.data.filepath
        bpy.ops.wm.save_as_mainfile(filepath=target)
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
             "steps": args.steps, "seed": args.seed, "device": args.device, "clip_model": args.clip_model,
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
    return EXIT_OK


HANDLERS = {"analyze": _analyze, "bake": _bake, "add-strip": _add_strip, "train": _train}


def main(argv: list[str]) -> int:
    """Entry point of the registered command; ``argv`` are the words after the command name."""
    try:
        args = build_parser().parse_args(argv)
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
