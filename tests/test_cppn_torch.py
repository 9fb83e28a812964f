"""The torch CPPN draws what the numpy CPPN draws (training and GPU baking rely on it)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is in the Blender 5.0 test venv only (the training pack)")

from neural_aesthetics.core import cppn  # noqa: E402
from neural_aesthetics.core.cppn_torch import TorchCPPN, pick_device  # noqa: E402


@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("size, zoom, rotation", [((64, 36), 1.0, 0.0), ((36, 64), 1.7, 0.6)])
def test_torch_and_numpy_render_the_same_image(activation, size, zoom, rotation):
    architecture = dict(cppn.default_architecture(), activation=activation)
    weights = cppn.random_weights(architecture, seed=11)
    latent = np.random.default_rng(2).standard_normal(architecture["latent_dim"]).astype(np.float32)
    expected = cppn.CPPN(architecture, weights).render(latent, *size, zoom=zoom, rotation_rad=rotation)
    got = TorchCPPN(architecture, weights).render(latent, *size, zoom=zoom, rotation_rad=rotation)
    assert np.abs(got - expected).max() <= 1e-4


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
