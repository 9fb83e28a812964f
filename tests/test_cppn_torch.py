"""The torch CPPN draws what the numpy CPPN draws (training and GPU baking rely on it), and
the backend choice is explicit."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch", reason="torch is in the Blender 5.0 test venv only (the training pack)")

from neural_aesthetics.core.render import backend, cppn  # noqa: E402
from neural_aesthetics.core.render.cppn_torch import TorchCPPN, pick_device  # noqa: E402


@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("size, zoom, rotation", [((64, 36), 1.0, 0.0), ((36, 64), 1.7, 0.6)])
def test_torch_and_numpy_render_the_same_image(activation, size, zoom, rotation):
    architecture = dict(cppn.default_architecture(), activation=activation)
    weights = cppn.random_weights(architecture, seed=11)
    latent = np.random.default_rng(2).standard_normal(architecture["latent_dim"]).astype(np.float32)
    expected = cppn.CPPN(architecture, weights).render(latent, *size, zoom=zoom, rotation_rad=rotation)
    got = TorchCPPN(architecture, weights).render(latent, *size, zoom=zoom, rotation_rad=rotation)
    assert np.abs(got - expected).max() <= 1e-4


def _random_architecture(rng: np.random.Generator) -> dict:
    depth = int(rng.integers(1, 6))
    activations = [str(rng.choice(cppn.ACTIVATIONS)) for _ in range(depth)]
    return {
        "inputs": [str(name) for name in rng.permutation(["x", "y", "r"])[: int(rng.integers(1, 4))]],
        "fourier_scales": [float(value) for value in rng.uniform(0.5, 12.0, size=int(rng.integers(0, 4)))],
        "latent_dim": int(rng.integers(1, 17)),
        "width": int(rng.choice([8, 32, 64, 128, 130])),
        "depth": depth,
        "activation": activations if rng.random() < 0.5 else activations[0],
        "output": "sigmoid",
    }


@pytest.mark.parametrize("case", range(12))
def test_backends_agree_within_1e_4_on_random_styles_and_inputs(case, monkeypatch):
    # Half the cases as on a CPU whose numpy tanh is vectorised, half as on one where tanh
    # layers are folded into logistic ones: each machine takes one way, both must agree.
    monkeypatch.setattr(cppn, "numpy_tanh_is_fast", lambda: case % 4 < 2)
    rng = np.random.default_rng(100 + case)
    architecture = _random_architecture(rng)
    weights = cppn.random_weights(architecture, seed=case, weight_scale=float(rng.uniform(1.0, 4.0)))
    width, height = int(rng.integers(1, 90)), int(rng.integers(1, 90))
    view = {"zoom": float(rng.uniform(0.3, 3.0)), "rotation_rad": float(rng.uniform(-4, 4)),
            "warp": float(rng.uniform(0, 0.3)) if case % 2 else 0.0, "warp_phase": float(rng.uniform(0, 6.3))}
    latent = rng.standard_normal(architecture["latent_dim"]).astype(np.float32) * 2
    numpy_renderer = backend.make_renderer(architecture, weights, "numpy")
    torch_renderer = backend.make_renderer(architecture, weights, "torch")
    expected = numpy_renderer.render(latent, width, height, **view)
    tile = int(rng.integers(7, 5000))
    got = torch_renderer.render(latent, width, height, tile_pixels=tile, **view)
    assert got.shape == expected.shape == (height, width, 3)
    assert np.abs(got - expected).max() <= 1e-4, architecture
    # The path CUDA and MPS take (transposed tiles on the device), run here on the CPU.
    on_device = torch_renderer.render_in_device_tiles(latent, width, height, tile_pixels=tile, **view)
    assert np.abs(on_device - expected).max() <= 1e-4, architecture


def test_fast_render_equals_the_autograd_forward_and_is_repeatable():
    architecture = dict(cppn.default_architecture(), fourier_scales=[2.0], activation=["tanh", "gaussian", "sin", "tanh"])
    module = TorchCPPN(architecture, seed=3)
    latent = np.linspace(-1, 1, 8).astype(np.float32)
    fast = module.render(latent, 50, 30, zoom=1.3, rotation_rad=0.4)
    np.testing.assert_allclose(fast, module.forward_render(latent, 50, 30, zoom=1.3, rotation_rad=0.4), atol=1e-5)
    module.render(np.zeros(8, np.float32), 70, 20)  # another frame in between changes nothing
    np.testing.assert_array_equal(module.render(latent, 50, 30, zoom=1.3, rotation_rad=0.4), fast)


def test_fast_render_follows_weight_updates():
    architecture = cppn.default_architecture()
    module = TorchCPPN(architecture, seed=1)
    latent = np.zeros(8, np.float32)
    before = module.render(latent, 16, 9)
    with torch.no_grad():
        module.output.bias.add_(1.0)
    assert np.abs(module.render(latent, 16, 9) - before).max() > 0.01


def test_exported_weights_round_trip_and_gradients_reach_every_weight():
    architecture = cppn.default_architecture()
    module = TorchCPPN(architecture, seed=4)
    for name, value in cppn.random_weights(architecture, 4).items():
        np.testing.assert_array_equal(module.export_weights()[name], value)
    image = module(module.coordinates(16, 9), torch.zeros(2, architecture["latent_dim"]))
    assert image.shape == (2, 16 * 9, 3)
    image.mean().backward()
    assert all(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in module.parameters())


def test_the_automatically_chosen_device_renders_the_same_image():
    """CUDA or MPS where present, else the CPU: the picture must not depend on it."""
    architecture = cppn.default_architecture()
    weights = cppn.random_weights(architecture, seed=5)
    latent = np.full(architecture["latent_dim"], 0.3, dtype=np.float32)
    module = TorchCPPN(architecture, weights).to(pick_device())
    expected = cppn.CPPN(architecture, weights).render(latent, 40, 30)
    assert np.abs(module.render(latent, 40, 30) - expected).max() <= 1e-4


def test_auto_backend_takes_torch_when_importable_and_can_be_overridden():
    architecture = cppn.default_architecture()
    weights = cppn.random_weights(architecture, seed=6)
    assert backend.choose_backend("auto") == "torch"
    assert backend.make_renderer(architecture, weights).backend_name.startswith("torch-")
    assert backend.make_renderer(architecture, weights, "numpy").backend_name == "numpy"


def test_a_render_cancelled_between_tiles_leaves_torch_as_it_was_and_the_next_render_whole():
    # On the CPU tiles are computed by one thread per core, each with torch on one core:
    # a cancel stops them all, and torch's own thread count is given back.
    from neural_aesthetics.core import progress as jobs

    architecture = cppn.default_architecture()
    renderer = backend.make_renderer(architecture, cppn.random_weights(architecture, seed=4), "torch")
    latent = np.full(architecture["latent_dim"], 0.2, np.float32)
    expected = renderer.render(latent, 96, 64, tile_pixels=500)
    threads = torch.get_num_threads()

    class StopAfterFirstTiles:
        def __init__(self):
            self.asked = 0

        def is_set(self):
            self.asked += 1
            return self.asked > 3

    with pytest.raises(jobs.Cancelled):
        renderer.render(latent, 96, 64, tile_pixels=500, stop_event=StopAfterFirstTiles())
    assert torch.get_num_threads() == threads
    assert np.array_equal(renderer.render(latent, 96, 64, tile_pixels=500), expected)


def test_the_torch_renderer_draws_into_a_reused_buffer_too():
    architecture = cppn.default_architecture()
    renderer = backend.make_renderer(architecture, cppn.random_weights(architecture, seed=5), "torch")
    buffer = np.full((30, 50, 3), np.nan, dtype=np.float32)
    for value in (0.1, -0.4):
        latent = np.full(architecture["latent_dim"], value, np.float32)
        assert renderer.render(latent, 50, 30, out=buffer) is buffer
        np.testing.assert_array_equal(buffer, renderer.render(latent, 50, 30))
    with pytest.raises(ValueError, match="out must be"):
        renderer.render(latent, 30, 50, out=buffer)
