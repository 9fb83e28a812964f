"""Regenerate the bundled procedural styles in styles/ from their seeds.

    python scripts/make_styles.py [--out styles]

Each style is a random CPPN (``core.cppn.random_weights``) with a seeded colour palette,
labelled honestly as procedural: no CLIP training went into it. Same seeds, same weights.
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

from neural_aesthetics.core import bake, cppn, mapping, style  # noqa: E402

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
    first_latent = mapping.plan_frames(np.zeros(1), np.zeros(1), 24.0, architecture["latent_dim"], seed=0).latents[0]
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
    return style.save_style(out_dir, recipe.name, architecture, weights, metadata, bake.to_rgb8(rgb))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the bundled procedural styles.")
    parser.add_argument("--out", default=str(ROOT / "styles"), help="output folder (default: styles/)")
    args = parser.parse_args(argv)
    for recipe in STYLES:
        path = make_style(recipe, Path(args.out))
        print(f"make_styles: wrote {path.with_suffix('')}.{{safetensors,json,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
