"""Regenerate the bundled styles in styles/: procedural ones from seeds, palette-trained ones.

    python scripts/make_styles.py [--out styles] [--only NAME ...]        # procedural only (numpy)
    .venvs/blender-5.0/bin/python scripts/make_styles.py --trained [...]  # also palette-trained (torch)

Procedural styles are random CPPNs (``core.cppn.random_weights``) with a seeded colour
palette, labelled honestly as procedural: no training went into them. Same seeds, same weights.

Palette-trained styles start from a random CPPN and are trained on the CPU with the
palette objective alone (``core.train``, no CLIP: the build machines cannot download CLIP
weights) towards the palette of a recipe in ``styles/recipes.json``; their labels say so
and name the recipe to train with CLIP on a GPU for the full look. Deterministic on the CPU.
"""

from __future__ import annotations

import argparse
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if "neural_aesthetics" not in sys.modules:  # the repository root is the package
    _package = types.ModuleType("neural_aesthetics")
    _package.__path__ = [str(ROOT)]
    sys.modules["neural_aesthetics"] = _package

from neural_aesthetics.core.render import cppn, imageio, mapping, style  # noqa: E402

THUMBNAIL_SIZE = (160, 90)
"""Thumbnail width, height in pixels."""


@dataclass(frozen=True)
class ProceduralStyle:
    """Recipe of one bundled style.

    Attributes:
        name: file stem.
        title: first words of the label.
        seed: seed of ``random_weights``.
        activation: hidden activation, "tanh" or "sin".
        weight_scale: ``random_weights`` scale (tanh ~2.5-3, sin ~1.5).
        channel_gains: if set, the three colour channels mostly follow one shared
            output unit, scaled per channel (a palette); None keeps free RGB.
        channel_offsets: output biases (pre-sigmoid) setting the palette's base colour.
        character: a few words on the look, for the label.
    """

    name: str
    title: str
    seed: int
    activation: str
    weight_scale: float
    channel_gains: tuple[float, float, float] | None
    channel_offsets: tuple[float, float, float] | None
    character: str


PROCEDURAL_WIDTH = 32
"""Hidden width the bundled procedural styles were made with (new styles default to ``cppn.DEFAULT_WIDTH``)."""
PALETTE_SPREAD = 0.3
"""How much of each channel's own random output weights stays beside the shared palette unit."""

STYLES = (
    ProceduralStyle("ember", "Ember", 5, "tanh", 2.5, (1.0, 0.85, 0.6), (0.8, -0.4, -1.8), "warm fire palette"),
    ProceduralStyle("lagoon", "Lagoon", 8, "sin", 1.5, (0.5, 0.9, 1.0), (-1.6, 0.0, 0.9), "deep blue, sine waves"),
    ProceduralStyle("prism", "Prism", 3, "tanh", 3.0, None, None, "full-spectrum colour"),
)


def style_weights(recipe: ProceduralStyle) -> tuple[dict, dict[str, np.ndarray]]:
    """The architecture and weights of one recipe."""
    architecture = cppn.default_architecture()
    architecture["width"] = PROCEDURAL_WIDTH
    architecture["activation"] = recipe.activation
    weights = cppn.random_weights(architecture, recipe.seed, recipe.weight_scale)
    if recipe.channel_gains is not None:
        shared_unit = weights["output.weight"][0]
        palette = np.outer(recipe.channel_gains, shared_unit) + PALETTE_SPREAD * weights["output.weight"]
        weights["output.weight"] = palette.astype(np.float32)
        weights["output.bias"] = np.asarray(recipe.channel_offsets, dtype=np.float32)
    return architecture, weights


def make_style(recipe: ProceduralStyle, out_dir: Path) -> Path:
    """Write one recipe's style files into ``out_dir``; return the ``.safetensors`` path."""
    architecture, weights = style_weights(recipe)
    # The thumbnail shows the first frame a bake with the default seed (0) starts from.
    first_latent = mapping.first_latent(architecture["latent_dim"])
    rgb = cppn.CPPN(architecture, weights).render(first_latent, *THUMBNAIL_SIZE)
    metadata = {
        "label": f"{recipe.title}: procedural — random CPPN, seed {recipe.seed}, {recipe.character} (not CLIP-trained)",
        "origin": "procedural",
        "objective": {
            "kind": "procedural",
            "seed": recipe.seed,
            "weight_scale": recipe.weight_scale,
            "channel_gains": list(recipe.channel_gains) if recipe.channel_gains else None,
            "channel_offsets": list(recipe.channel_offsets) if recipe.channel_offsets else None,
        },
        "prompts": [],
        "clip_model": None,
        "score": None,
        "steps": 0,
        "seed": recipe.seed,
    }
    return style.save_style(out_dir, recipe.name, architecture, weights, metadata, imageio.to_rgb8(rgb))


@dataclass(frozen=True)
class PaletteStyle:
    """Recipe of one bundled palette-trained style.

    Attributes:
        name: file stem. title: first words of the label.
        recipe: the recipe in styles/recipes.json whose palette it is trained towards.
        seed: seed of the random start and of the training.
        activation: hidden activation, "tanh" or "sin".
    """

    name: str
    title: str
    recipe: str
    seed: int
    activation: str


PALETTE_STEPS = 300
PALETTE_STYLES = (
    PaletteStyle("neon", "Neon", "cyberpunk-neon", 11, "tanh"),
    PaletteStyle("nebula", "Nebula", "cosmic-nebula", 12, "tanh"),
    PaletteStyle("moss", "Moss", "organic-fractals", 13, "sin"),
    PaletteStyle("glitch", "Glitch", "glitch", 14, "tanh"),
    PaletteStyle("pastel", "Pastel", "pastel-watercolour", 15, "sin"),
    PaletteStyle("lava", "Lava", "molten-lava", 16, "tanh"),
)


def make_palette_style(recipe: PaletteStyle, out_dir: Path) -> Path:
    """Train one palette style on the CPU (needs torch) into ``out_dir``; return the ``.safetensors`` path."""
    from neural_aesthetics.core.train import training as train

    palette = train.load_recipes()[recipe.recipe].palette
    config = train.TrainConfig(
        palette=palette, steps=PALETTE_STEPS, learning_rate=1e-2, batch=8, render_size=64, seed=recipe.seed,
        activation=recipe.activation, device="cpu", preview_every=0,
        label=(f"{recipe.title}: palette-trained — the '{recipe.recipe}' recipe's {len(palette)} colours, "
               f"{PALETTE_STEPS} CPU steps from a random CPPN (not CLIP-trained; train the recipe on a GPU "
               f"for the full look)"),
    )
    return train.train_style(config, out_dir, recipe.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the bundled styles.")
    parser.add_argument("--out", default=str(ROOT / "styles"), help="output folder (default: styles/)")
    parser.add_argument("--trained", action="store_true", help="also train the palette styles (needs torch)")
    parser.add_argument("--only", nargs="*", help="names of the styles to write (default: all)")
    args = parser.parse_args(argv)
    wanted = set(args.only) if args.only else None
    written = []
    for recipe in STYLES:
        if wanted is None or recipe.name in wanted:
            written.append(make_style(recipe, Path(args.out)))
    if args.trained:
        import torch

        torch.set_num_threads(1)  # tiny networks: one thread is fastest, and fixes the summation order
        for recipe in PALETTE_STYLES:
            if wanted is None or recipe.name in wanted:
                written.append(make_palette_style(recipe, Path(args.out)))
    for path in written:
        print(f"make_styles: wrote {path.with_suffix('')}.{{safetensors,json,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
