"""The bundled style library and the training recipes (pure Python: no torch needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import ROOT
from PIL import Image
from neural_aesthetics.core.render import cppn, mapping, style
from neural_aesthetics.core.train import training as train

STYLES_DIR = ROOT / "styles"
MOOD_RECIPES = {"cyberpunk-neon", "cosmic-nebula", "organic-fractals", "glitch", "pastel-watercolour"}


def test_at_least_eight_bundled_styles_each_honestly_labelled():
    infos = style.list_styles([STYLES_DIR])
    assert len(infos) >= 8 and {"ember", "lagoon", "prism"} <= {info.name for info in infos}
    recipes = train.load_recipes()
    for info in infos:
        loaded = style.load_style(info.path)
        meta = loaded.metadata
        assert info.thumbnail_path is not None and info.path.stat().st_size < 64_000
        with Image.open(info.thumbnail_path) as thumbnail:
            assert (thumbnail.mode, thumbnail.size) == ("RGB", (160, 90)), info.name
        assert info.origin in ("procedural", "palette"), f"{info.name}: bundled styles cannot be CLIP-trained here"
        assert "not CLIP-trained" in info.label and meta["clip_model"] is None and meta["score"] is None
        if info.origin == "palette":
            assert "palette-trained" in info.label
            recipe = next(name for name in recipes if f"'{name}'" in info.label)
            assert meta["objective"]["palette"] == [train.colour_hex(train.parse_colour(c)) for c in recipes[recipe].palette]
            assert meta["steps"] > 0 and meta["palette_distance"] <= 0.7 * meta["palette_distance_initial"], info.name


def test_bundled_styles_look_clearly_different_from_each_other():
    renders = {}
    for info in style.list_styles([STYLES_DIR]):
        loaded = style.load_style(info.path)
        track = {"loudness": np.full(3, 0.5), "onset": np.array([0.0, 1.0, 0.0])}
        plan = mapping.plan(track, 24.0, latent_dim=loaded.architecture["latent_dim"], seed=0, preset="pulse")
        image = cppn.CPPN.from_style(loaded).render(plan.latents[1], 64, 36, zoom=float(plan.zoom[1]))
        assert image.std(axis=(0, 1)).max() > 0.05, f"{info.name} renders a flat image"
        renders[info.name] = image
    names = sorted(renders)
    for index, first in enumerate(names):
        for second in names[index + 1:]:
            difference = np.abs(renders[first] - renders[second]).mean()
            assert difference > 0.1, f"{first} and {second} look alike ({difference:.3f})"


def test_the_recipes_hold_the_mood_board_prompts():
    recipes = train.load_recipes()
    assert MOOD_RECIPES <= set(recipes) and len(recipes) >= 8
    for name, config in recipes.items():
        assert isinstance(config, train.TrainConfig) and config.uses_clip and config.prompts, name
        assert config.palette and config.steps >= 500 and config.label, name
        train.check_config(config)


@pytest.mark.parametrize("content, message", [
    ("{", "not a readable recipes file"),
    (json.dumps({"format": "other", "version": 1, "recipes": {}}), "not a recipes file"),
    (json.dumps({"format": train.RECIPES_FORMAT, "version": 9, "recipes": {}}), "version 9"),
    (json.dumps({"format": train.RECIPES_FORMAT, "version": 1, "recipes": {"a": {"prompt": ["x"]}}}), "unknown setting"),
    (json.dumps({"format": train.RECIPES_FORMAT, "version": 1, "recipes": {"../a": {"prompts": ["x"]}}}), "not allowed"),
    (json.dumps({"format": train.RECIPES_FORMAT, "version": 1, "recipes": {"a": {"prompts": ["x"], "steps": -1}}}),
     "'steps'"),
])
def test_a_malformed_recipes_file_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "recipes.json"
    path.write_text(content)
    with pytest.raises(train.TrainError, match=message) as caught:
        train.load_recipes(path)
    assert "\n" not in str(caught.value)


def test_a_config_round_trips_through_plain_values():
    config = train.TrainConfig(prompts=["a"], palette=["#102030", [0.5, 0.5, 0.5]], steps=7)
    assert train.TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert train.parse_colour("#ff8000") == (1.0, 128 / 255, 0.0) and train.colour_hex((1.0, 0.5, 0.0)) == "#ff8000"
