"""The CPPN renderer: resolution- and aspect-independent, in range, latent-driven, and
its fast tiled evaluation equals the plain textbook formula."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import ROOT
from neural_aesthetics.core.render import cppn, style


@pytest.fixture
def network():
    architecture = cppn.default_architecture()
    return cppn.CPPN(architecture, cppn.random_weights(architecture, seed=7))


def _latent(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(8).astype(np.float32)


ACTIVATION_FUNCTIONS = {"tanh": np.tanh, "sin": np.sin, "gaussian": lambda v: np.exp(-v * v)}


def _reference_render(architecture, weights, latent, width, height):
    """The CPPN written the obvious way: whole frame, latent concatenated to every pixel."""
    short_side = min(width, height)
    xs = (np.arange(width) + 0.5 - width / 2) * 2 / short_side
    ys = (height / 2 - (np.arange(height) + 0.5)) * 2 / short_side
    x, y = np.meshgrid(xs, ys)
    columns = {"x": x, "y": y, "r": np.sqrt(x**2 + y**2)}
    features = [columns[name].ravel() for name in architecture["inputs"]]
    for scale in architecture.get("fourier_scales", []):
        for axis in (x, y):
            features += [np.sin(np.pi * scale * axis).ravel(), np.cos(np.pi * scale * axis).ravel()]
    features += [np.full(width * height, value) for value in latent]
    hidden = np.stack(features, axis=1)
    activations = architecture["activation"]
    if isinstance(activations, str):
        activations = [activations] * architecture["depth"]
    for index in range(architecture["depth"]):
        activation = ACTIVATION_FUNCTIONS[activations[index]]
        hidden = activation(hidden @ weights[f"layer{index}.weight"].T.astype(np.float64) + weights[f"layer{index}.bias"])
    logits = hidden @ weights["output.weight"].T.astype(np.float64) + weights["output.bias"]
    return (1 / (1 + np.exp(-logits))).reshape(height, width, 3)


def test_render_shape_dtype_and_range(network):
    image = network.render(_latent(0), 64, 36)
    assert image.shape == (36, 64, 3)
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


@pytest.mark.parametrize("change", [
    {"activation": "tanh"},
    {"activation": "sin"},
    {"activation": "gaussian"},
    {"activation": ["sin", "tanh", "gaussian", "tanh"], "fourier_scales": [1.0, 3.5]},
    {"width": 32, "depth": 2, "fourier_scales": [8.0], "inputs": ["r", "x"]},
])
@pytest.mark.parametrize("fold_tanh", [False, True], ids=["tanh", "tanh-as-logistic"])
def test_tiled_evaluation_equals_textbook_formula(change, fold_tanh):
    # (A machine evaluates tanh one way or the other, by its CPU: both must draw the same.)
    architecture = dict(cppn.default_architecture(), **change)
    weights = cppn.random_weights(architecture, seed=3)
    network = cppn.CPPN(architecture, weights, fold_tanh=fold_tanh)
    latent = _latent(1)
    reference = _reference_render(architecture, weights, latent, 50, 30)
    whole_frame = network.render(latent, 50, 30, tile_pixels=50 * 30)
    np.testing.assert_allclose(whole_frame, reference, atol=1e-5)
    for tile_pixels in (4 * 50, 7):  # four rows (the last tile two), pieces of a row
        np.testing.assert_allclose(network.render(latent, 50, 30, tile_pixels=tile_pixels), whole_frame, atol=1e-5)


def test_shorter_side_spans_the_same_picture_at_any_aspect(network):
    latent = _latent(2)
    wide = network.render(latent, 65, 37)
    tall = network.render(latent, 37, 65)
    # (1e-5: float32 rounding of coordinates computed for another size; 16-bit PNG steps are 1.5e-5)
    np.testing.assert_allclose(wide[18, 32], tall[32, 18], atol=1e-5)  # the centre pixel
    # The central square of both shows the same [-1, 1]^2 region, unstretched.
    np.testing.assert_allclose(wide[:, 14:51], tall[14:51, :], atol=1e-5)


def test_double_resolution_matches_downsampled_low_resolution(network):
    latent = _latent(3)
    low = network.render(latent, 64, 36)
    high = network.render(latent, 128, 72)
    downsampled = high.reshape(36, 2, 64, 2, 3).mean(axis=(1, 3))
    assert np.abs(downsampled - low).mean() < 0.01
    # ... and a genuinely different picture is far from it.
    assert np.abs(network.render(_latent(4), 64, 36) - low).mean() > 0.05


def test_zoom_magnifies_the_centre(network):
    latent = _latent(5)
    zoomed = network.render(latent, 64, 64, zoom=2.0)
    large = network.render(latent, 128, 128)
    np.testing.assert_allclose(zoomed, large[32:96, 32:96], atol=1e-5)


def test_rotation_turns_the_image_counter_clockwise(network):
    latent = _latent(6)
    upright = network.render(latent, 33, 33)
    turned = network.render(latent, 33, 33, rotation_rad=np.pi / 2)
    np.testing.assert_allclose(turned, np.rot90(upright), atol=1e-5)


def test_different_latents_give_different_images(network):
    first, second = network.render(_latent(10), 64, 36), network.render(_latent(11), 64, 36)
    assert np.abs(first - second).mean() > 0.05


def test_random_weights_are_seeded_float32_and_give_rich_images():
    architecture = cppn.default_architecture()
    first, again = cppn.random_weights(architecture, seed=1), cppn.random_weights(architecture, seed=1)
    other = cppn.random_weights(architecture, seed=2)
    assert set(first) == set(cppn.weight_shapes(architecture))
    for name, array in first.items():
        assert array.dtype == np.float32
        np.testing.assert_array_equal(array, again[name])
    assert not np.array_equal(first["layer0.weight"], other["layer0.weight"])

    for seed in range(6):
        image = cppn.CPPN(architecture, cppn.random_weights(architecture, seed)).render(_latent(seed), 96, 54)
        assert image.std(axis=(0, 1)).max() > 0.1, f"seed {seed} renders a nearly flat image"
        assert np.abs(np.diff(image, axis=1)).mean() > 0.003, f"seed {seed} has no structure"


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"width": 1_000_000}, "'width'"),
        ({"depth": 0}, "'depth'"),
        ({"latent_dim": True}, "'latent_dim'"),
        ({"inputs": ["x", "x"]}, "'inputs'"),
        ({"inputs": ["z"]}, "'inputs'"),
        ({"activation": "relu"}, "'activation'"),
        ({"activation": ["tanh", "sin"]}, "'activation'"),
        ({"fourier_scales": [0.0]}, "'fourier_scales'"),
        ({"fourier_scales": "1 2"}, "'fourier_scales'"),
        ({"output": "linear"}, "'output'"),
    ],
)
def test_malformed_architectures_are_refused(change, fragment):
    with pytest.raises(ValueError, match=fragment):
        cppn.weight_shapes(dict(cppn.default_architecture(), **change))


def test_wrong_weights_and_latents_are_refused(network):
    architecture = cppn.default_architecture()
    weights = cppn.random_weights(architecture, seed=1)
    weights["output.weight"] = weights["output.weight"][:2]
    with pytest.raises(ValueError, match="output.weight"):
        cppn.CPPN(architecture, weights)
    with pytest.raises(ValueError, match="latent"):
        network.render(np.zeros(5), 8, 8)


def test_new_styles_default_to_the_bundled_width_and_old_architectures_keep_their_weights():
    from neural_aesthetics.core.train.training import TrainConfig

    architecture = cppn.default_architecture()
    bundled = style.load_style(ROOT / "styles" / "lava.json").architecture
    # the renderer's default, the trainer's and the bundled styles' width agree
    assert architecture["width"] == TrainConfig().width == bundled["width"] == 32
    assert architecture == dict(bundled, activation="tanh") and "fourier_scales" not in architecture
    # An architecture without the optional keys draws the same random numbers as before
    # they existed: the Fourier columns only appear when asked for.
    old = architecture
    with_empty = dict(old, fourier_scales=[])
    for name, value in cppn.random_weights(old, 3).items():
        np.testing.assert_array_equal(value, cppn.random_weights(with_empty, 3)[name])
    assert cppn.weight_shapes(dict(old, fourier_scales=[1.0, 2.0]))["layer0.weight"] == (32, 3 + 8 + 8)


def test_no_warp_is_the_identity_and_warp_bends_the_picture(network):
    latent = _latent(12)
    plain = network.render(latent, 48, 27)
    np.testing.assert_array_equal(network.render(latent, 48, 27, warp=0.0, warp_phase=2.0), plain)
    assert np.abs(network.render(latent, 48, 27, warp=0.2, warp_phase=1.0) - plain).mean() > 0.01


def test_fourier_features_render_rich_images_at_any_size():
    architecture = dict(cppn.default_architecture(), fourier_scales=[1.0, 2.0, 4.0], activation="gaussian")
    network = cppn.CPPN(architecture, cppn.random_weights(architecture, seed=2))
    for size in ((64, 36), (36, 64), (40, 40)):
        image = network.render(_latent(2), *size)
        assert image.shape == (size[1], size[0], 3) and 0 <= image.min() and image.max() <= 1
        assert image.std(axis=(0, 1)).max() > 0.05


def test_stop_event_cancels_between_tiles(network):
    from neural_aesthetics.core import progress as jobs

    class Stopped:
        def is_set(self):
            return True

    with pytest.raises(jobs.Cancelled):
        network.render(_latent(0), 64, 64, tile_pixels=256, stop_event=Stopped())


def test_a_frame_drawn_into_a_reused_buffer_is_the_frame_drawn_fresh(network):
    # A bake draws every frame into one buffer (memory stays flat over thousands of frames).
    buffer = np.full((30, 50, 3), np.nan, dtype=np.float32)
    for seed in (1, 2):
        drawn = network.render(_latent(seed), 50, 30, out=buffer)
        assert drawn is buffer
        np.testing.assert_array_equal(buffer, network.render(_latent(seed), 50, 30))
    with pytest.raises(ValueError, match="out must be"):
        network.render(_latent(1), 50, 31, out=buffer)


def test_tiles_on_every_core_draw_what_one_thread_draws_and_leave_numpys_blas_as_it_was(network, monkeypatch):
    # Each core computes whole tiles, with numpy's BLAS held to one thread meanwhile: which
    # thread drew a tile changes no bit of it, and BLAS gets its own thread count back,
    # after a cancelled frame too.
    import threading

    from neural_aesthetics.core import progress as jobs
    from neural_aesthetics.core.render import blas, cpu_tiles

    assert blas.controllable()  # (numpy's wheels bring OpenBLAS: this test is about it)
    threads_before = blas.threads()
    seen_during = []
    original = cpu_tiles._render_tile
    monkeypatch.setattr(cpu_tiles, "_render_tile", lambda *args: (seen_during.append(blas.threads()), original(*args)))
    monkeypatch.setattr(cpu_tiles, "workers", lambda: 4)
    latents = [_latent(seed) for seed in range(4)]
    many = [network.render(latent, 96, 54, tile_pixels=96 * 5) for latent in latents]
    assert set(seen_during) == {1} and blas.threads() == threads_before
    monkeypatch.setattr(cpu_tiles, "workers", lambda: 1)
    for latent, drawn in zip(latents, many):
        np.testing.assert_array_equal(network.render(latent, 96, 54, tile_pixels=96 * 5), drawn)

    # Two frames drawn at once by two threads (a preview beside a bake) are each the frame drawn alone.
    monkeypatch.setattr(cpu_tiles, "workers", lambda: 2)
    results = {}
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, network.render(latents[k], 96, 54,
                                                                                         tile_pixels=96 * 3)))
               for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k in range(4):
        np.testing.assert_array_equal(results[k], many[k])
    assert blas.threads() == threads_before

    class StopAfterTwoTiles:
        asked = 0

        def is_set(self):
            self.asked += 1
            return self.asked > 2

    with pytest.raises(jobs.Cancelled):
        network.render(latents[0], 96, 54, tile_pixels=96 * 5, stop_event=StopAfterTwoTiles())
    assert blas.threads() == threads_before


def test_where_numpys_blas_is_not_openblas_the_renderer_draws_the_same_frame(network, monkeypatch):
    # Blender builds its own numpy, which may have no OpenBLAS (or another BLAS): nothing
    # is pinned then, and the frame is the same.
    from neural_aesthetics.core.render import blas

    latent = _latent(3)
    expected = network.render(latent, 64, 36)
    monkeypatch.setattr(blas, "_candidate_libraries", lambda: [])
    blas._function.cache_clear()
    blas._controls.cache_clear()
    try:
        assert not blas.controllable() and blas.threads() == 0 and "not OpenBLAS" in blas.describe()
        np.testing.assert_array_equal(network.render(latent, 64, 36), expected)
    finally:
        monkeypatch.undo()
        blas._function.cache_clear()
        blas._controls.cache_clear()
    assert blas.controllable()
