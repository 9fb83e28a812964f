"""Headless command: ``blender -b file.blend --command neural_aesthetics bake ...``.

Prints one progress line per frame on stdout, one line per error on stderr, and returns
0 on success, 1 when the scene or files are not right, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys

import bpy

from ..core.errors import UserError
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"blender -b file.blend --command {COMMAND}",
        description="Neural Aesthetics: bake audio-reactive visuals from a sound strip, headless.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    bake = commands.add_parser(
        "bake",
        help="bake frames for a sound strip and add them as an image strip above it",
        description="Bake frames for a sound strip of the open .blend and add an image strip "
        "above it (same start and duration). Render afterwards with `blender -b file.blend -a`.",
    )
    bake.add_argument("--scene", help="scene name (default: the active scene)")
    bake.add_argument("--strip", help="sound strip name (default: the active strip, or the only sound strip)")
    bake.add_argument("--style", help="style name or .safetensors path (default: the scene's style setting)")
    bake.add_argument("--output", help="frame folder; '//' is next to the .blend (default: the scene's setting)")
    bake.add_argument("--size", type=_size, help="frame size WIDTHxHEIGHT (default: the scene's output size)")
    bake.add_argument("--seed", type=int, help="seed of the visuals' path (default: the scene's setting)")
    save = bake.add_mutually_exclusive_group()
    save.add_argument("--save", action="store_true", help="save the .blend in place after adding the strip")
    save.add_argument("--save-as", metavar="PATH", help="save the .blend to PATH after adding the strip")
    return parser


def _bake(args) -> int:
    scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
    if scene is None:
        raise UserError(f"No scene named '{args.scene}' in this .blend")
    settings = scene.neural_aesthetics
    if args.size:
        settings.use_scene_resolution = False
        settings.resolution_x, settings.resolution_y = args.size
    if args.seed is not None:
        settings.seed = args.seed
    if args.save and not bpy.data.filepath:
        raise UserError("--save needs a saved .blend: open one (blender -b file.blend ...) or use --save-as")
    sound_strip = strips.find_sound_strip(scene, args.strip)
    request = strips.bake_request(scene, sound_strip, settings, style=args.style, output_dir=args.output)

    def progress(done: int, total: int, _message: str) -> None:
        print(f"{COMMAND}: frame {done}/{total}", flush=True)

    result = bake_visualizer(request, progress)
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
        print(f"{COMMAND}: error: give a command, e.g. 'bake' (see --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _bake(args)
    except UserError as error:
        print(f"{COMMAND}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
