"""What makes a trained style worth its time: palette-only training without torch, smooth
latents, the training report, palettes typed as colour names (core.train)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from neural_aesthetics.core.render import cppn, style
from neural_aesthetics.core.train import colour_names, numpy_trainer, report, sampling, training as train

PALETTE = ["#e4572e", "#ffc914", "#76b041", "#2e282a"]


@pytest.fixture
def without_torch(monkeypatch):
    """As on a Blender without the training pack: importing torch fails."""
    monkeypatch.setitem(sys.modules, "torch", None)


def palette_config(**changes) -> train.TrainConfig:
    values = dict(palette=PALETTE, steps=120, learning_rate=1e-2, seed=3, device="cpu", preview_every=0)
    values.update(changes)
    return train.TrainConfig(**values)


def flicker_and_distance(path) -> tuple[float, float]:
    loaded = style.load_style(path)
    renderer = cppn.CPPN(loaded.architecture, loaded.weights)
    return report.flicker_p95(renderer, loaded.architecture["latent_dim"]), loaded.metadata["palette_distance"]


# --- palette-only training in NumPy ----------------------------------------------------------


@pytest.mark.slow
def test_a_palette_alone_trains_without_torch_and_writes_its_report(without_torch, tmp_path):
    path = train.train_style(palette_config(), tmp_path, "warm")
    meta = style.load_style(path).metadata
    assert meta["origin"] == "palette" and meta["settings"]["device"] == "cpu (NumPy)"
    assert meta["palette_distance"] <= 0.6 * meta["palette_distance_initial"], meta
    png, json_path = report.report_paths(path)
    numbers = json.loads(json_path.read_text())
    assert len(numbers["loss_per_step"]) == 120 and numbers["palette"]["asked"] == PALETTE
    assert sum(numbers["palette"]["shares_achieved"]) == pytest.approx(1.0, abs=1e-3)
    assert "clip" not in numbers  # no CLIP, no CLIP numbers
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png.read_bytes()[16:20], "big")
    assert width == report.SHEET_COLUMNS * (report.TILE_SIZE[0] + report.GAP) + report.GAP
    # the style menu does not take the report for a style
    assert [info.name for info in style.list_styles([tmp_path])] == ["warm"]


@pytest.mark.torch
def test_numpy_gradients_match_torch_autograd():
    """The hand-written backward passes (CPPN and palette distance) agree with torch's autograd."""
    import torch
    from neural_aesthetics.core.render.cppn_torch import TorchCPPN
    from neural_aesthetics.core.train import objectives

    rng = np.random.default_rng(0)
    pixels = rng.random((3, 400, 3)).astype(np.float32)
    palette, shares = rng.random((4, 3)).astype(np.float32), np.array([0.1, 0.2, 0.3, 0.4])
    directions = sampling.unit_directions(rng, 16)
    distance, gradient = numpy_trainer.palette_distance_and_gradient(pixels, palette, shares, directions)
    leaf = torch.tensor(pixels, requires_grad=True)
    expected = objectives.palette_distance(leaf, torch.tensor(palette), torch.tensor(shares, dtype=torch.float32),
                                           torch.tensor(directions), squared=True)
    expected.sum().backward()
    np.testing.assert_allclose(distance, expected.detach().numpy(), rtol=1e-4)
    np.testing.assert_allclose(gradient, leaf.grad.numpy(), rtol=1e-3, atol=1e-3 * np.abs(gradient).max())

    for activation in ("tanh", "sin", "gaussian"):
        architecture = {"inputs": ["x", "y", "r"], "latent_dim": 4, "width": 8, "depth": 3,
                        "activation": activation, "output": "sigmoid"}
        weights = cppn.random_weights(architecture, 1)
        inputs = rng.standard_normal((40, 7)).astype(np.float32)
        upstream = rng.standard_normal((40, 3)).astype(np.float32)
        _loss, grads = numpy_trainer.MLP(architecture, weights).forward_backward(
            inputs, lambda colours: (float((colours * upstream).sum()), upstream))
        network = TorchCPPN(architecture, weights)
        colours = torch.cat([network(torch.tensor(row[None, :3]), torch.tensor(row[None, 3:]))[0] for row in inputs])
        (colours * torch.tensor(upstream)).sum().backward()
        for name, parameter in network._style_parameters().items():
            scale = float(parameter.grad.abs().max())
            np.testing.assert_allclose(grads[name], parameter.grad.numpy(), atol=1e-3 * scale, err_msg=name)


# --- smooth latents ----------------------------------------------------------------------


@pytest.mark.slow
def test_smoothness_calms_the_flicker_of_a_palette_style_at_little_cost(without_torch, tmp_path):
    """95th percentile of the per-frame change on a fixed latent path: -30 % or more, with
    the held-out palette distance no more than 10 % worse."""
    rough = flicker_and_distance(train.train_style(palette_config(smoothness=0.0), tmp_path, "rough"))
    smooth = flicker_and_distance(train.train_style(palette_config(), tmp_path, "smooth"))
    assert train.TrainConfig().smoothness == train.DEFAULT_SMOOTHNESS > 0  # on by default
    assert smooth[0] <= 0.7 * rough[0], (rough, smooth)
    assert smooth[1] <= 1.1 * rough[1], (rough, smooth)


# --- palettes from words -----------------------------------------------------------------


def test_a_palette_mixes_colour_names_and_hex_codes():
    assert train.parse_palette_text("teal, coral, midnight blue") == ["#008080", "#ff7f50", "#191970"]
    assert train.parse_palette_text("Cloudy Blue; #FF2A6D 05d9e8, dark-pastel-green") == [
        "#acc2d9", "#ff2a6d", "#05d9e8", "#56ae57"]
    assert train.parse_palette_text("") == []
    assert colour_names.count() > 900  # CSS and XKCD names (some shared)


@pytest.mark.parametrize("text, named, suggested", [
    ("teal, corall", "corall", "coral"),
    ("midnite blue", "midnite", "midnight"),
    ("#12345", "#12345", None),
])
def test_an_unknown_colour_word_is_one_line_with_the_closest_names(text, named, suggested):
    with pytest.raises(train.TrainError) as caught:
        train.parse_palette_text(text)
    message = str(caught.value)
    assert "\n" not in message and f"'{named}' is not a colour name" in message
    if suggested:
        assert "closest names: " in message and suggested in message.split("closest names: ")[1]


def test_the_colour_list_is_well_formed():
    data = json.loads(colour_names.NAMES_PATH.read_text())
    assert len(data["css"]) == 148 and len(data["xkcd"]) == 949
    for value in [*data["css"].values(), *data["xkcd"].values()]:
        assert train.parse_colour(value)  # every value is a '#rrggbb' code


# --- the views ---------------------------------------------------------------------------


def test_views_stay_inside_the_frame_and_a_centred_view_is_the_renderers_grid():
    rng = np.random.default_rng(5)
    windows = sampling.sample_windows(rng, 200)
    features = sampling.window_features(windows, *sampling.grid_points(8), ["x", "y"])
    assert np.abs(features[..., 0]).max() <= sampling.FRAME_HALF_WIDTH * 1.6
    assert np.abs(features[..., 1]).max() <= 1.6
    assert len({tuple(np.round(row, 3)) for row in windows.tilt}) == 200  # perspective varies per view
    centred = sampling.window_features(sampling.Windows.centred(), *sampling.grid_points(12), ["x", "y", "r"])[0]
    np.testing.assert_allclose(centred, cppn.pixel_coordinates(["x", "y", "r"], 12, 12), atol=1e-5)


def test_automatic_views_and_batch_keep_the_images_per_step():
    config = train.TrainConfig(prompts=["red"])
    assert train.automatic_views_and_batch(config, on_gpu=False) == (4, 2)
    assert train.automatic_views_and_batch(config, on_gpu=True) == (16, 4)
    assert train.automatic_views_and_batch(train.TrainConfig(prompts=["red"], views=1, batch=8), on_gpu=True) == (1, 8)
