"""Headless commands: ``blender -b file.blend --command neural_aesthetics <command> ...``.

- ``analyze``: the audio features of a sound strip, one row per frame, to a CSV file;
- ``bake``: bake a sound strip's frames (or a chunk of them, ``--frames 101-200``) without
  touching the .blend, so render-farm machines can each bake a part;
- ``add-strip``: bake whatever frames are missing and add the image strip above the sound
  strip; ``--save`` keeps it in the .blend.

Prints one progress line per frame on stdout and one line per error on stderr; returns 0
on success, 1 when the scene or files are not right, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys

import bpy

from ..core import audio
from ..core.errors import UserError
from ..core.timing import Timing
from ..core.visualizer import bake_visualizer
from . import strips

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


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1920x1080, got '{text}'") from None
    return width, height


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


def _strip_options(parser) -> None:
    parser.add_argument("--scene", help="scene name (default: the active scene)")
    parser.add_argument("--strip", help="sound strip name (default: the active strip, or the only sound strip)")


def _bake_options(parser) -> None:
    _strip_options(parser)
    parser.add_argument("--style", help="style name or .safetensors path (default: the scene's style setting)")
    parser.add_argument("--output", help="frame folder; '//' is next to the .blend (default: the scene's setting)")
    parser.add_argument("--size", type=_size, help="frame size WIDTHxHEIGHT (default: the scene's output size)")
    parser.add_argument("--seed", type=int, help="seed of the visuals' path (default: the scene's setting)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"blender -b file.blend --command {COMMAND}",
        description="Neural Aesthetics: audio-reactive visuals from a sound strip, headless.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    analyze = commands.add_parser(
        "analyze", help="write a sound strip's audio features (one row per frame) to a CSV file",
        description="Analyse a sound strip of the open .blend: one CSV row per scene frame it covers.",
    )
    _strip_options(analyze)
    analyze.add_argument("--out", required=True, metavar="CSV", help="the CSV file to write ('//' = next to the .blend)")

    bake = commands.add_parser(
        "bake", help="bake a sound strip's frames (or a chunk of them); the .blend is not changed",
        description="Bake the frames of a sound strip. Frames already baked are kept, so machines "
        "of a render farm can each bake a chunk into the same folder; then run add-strip once.",
    )
    _bake_options(bake)
    bake.add_argument("--frames", type=_frame_range, metavar="A-B",
                      help="only these scene frames (inclusive), e.g. 101-200 (default: the whole strip)")

    add_strip = commands.add_parser(
        "add-strip", help="bake what is missing and add the image strip above the sound strip",
        description="Bake any missing frames of a sound strip and add an image strip above it (same "
        "start and duration). Render afterwards with `blender -b file.blend -a`.",
    )
    _bake_options(add_strip)
    save = add_strip.add_mutually_exclusive_group()
    save.add_argument("--save", action="store_true", help="save the .blend in place after adding the strip")
    save.add_argument("--save-as", metavar="PATH", help="save the .blend to PATH after adding the strip")
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
    sound_strip = strips.find_sound_strip(scene, args.strip)
    return sound_strip, strips.bake_request(scene, sound_strip, settings, style=args.style, output_dir=args.output)


def _analyze(args) -> int:
    scene = _scene(args)
    sound_strip = strips.find_sound_strip(scene, args.strip)
    timing = strips.strip_timing(scene, sound_strip)
    track = audio.analyze(strips.sound_file(sound_strip), timing)
    out = bpy.path.abspath(args.out)
    names = sorted(track.channels)
    with open(out, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["frame", *names])
        for row, frame in enumerate(timing.frames()):
            writer.writerow([int(frame), *(f"{float(track[name][row]):.6g}" for name in names)])
    print(f"{COMMAND}: wrote {timing.n_frames} frames x {len(names)} features to {out}")
    return EXIT_OK


def _bake(args) -> int:
    _sound_strip, request = _request(args, _scene(args))
    if args.frames:
        timing = request.timing
        first, end = max(args.frames[0], timing.frame_first), min(args.frames[1] + 1, timing.frame_end)
        if first >= end:
            raise UserError(f"Frames {args.frames[0]}-{args.frames[1]} are outside the strip "
                            f"({timing.frame_first}-{timing.frame_end - 1})")
        # Frames are named and drawn by their place in the song: a chunk is the same
        # frames a whole bake makes.
        request = dataclasses.replace(request, timing=Timing(timing.fps, timing.origin_frame, first, end))
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


HANDLERS = {"analyze": _analyze, "bake": _bake, "add-strip": _add_strip}


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
    except UserError as error:
        print(f"{COMMAND}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:  # e.g. a full disk or a read-only folder
        print(f"{COMMAND}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR
