"""The CPPN in torch: differentiable for training, and a GPU backend for baking.

Import this module only where torch is wanted (training, a worker with the training
pack): it imports torch at once. It draws exactly what ``core.cppn.CPPN`` draws for the
same architecture and weights; its ``state_dict`` uses the style file's weight names, so
``export_weights()`` can be saved as a style unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

from . import cppn


def pick_device(preference: str = "auto") -> torch.device:
    """The device to compute on: ``"auto"`` takes CUDA, then Apple MPS, then the CPU."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class TorchCPPN(torch.nn.Module):
    """A CPPN as a torch module, same layout as the style format.

    Args:
        architecture: the style's architecture dict (see ``core.cppn``).
        weights: the style's weights; None starts from ``cppn.random_weights(seed)``.
        seed: seed of the random start when ``weights`` is None.
    """

    def __init__(self, architecture: dict, weights: dict[str, np.ndarray] | None = None, seed: int = 0):
        super().__init__()
        shapes = cppn.weight_shapes(architecture)
        self.architecture = dict(architecture)
        self.inputs = list(architecture["inputs"])
        self.latent_dim = int(architecture["latent_dim"])
        self.activation = architecture["activation"]
        self.depth = int(architecture["depth"])
        width = int(architecture["width"])
        self.layers = torch.nn.ModuleList()
        for index in range(self.depth):
            n_in = len(self.inputs) + self.latent_dim if index == 0 else width
            self.layers.append(torch.nn.Linear(n_in, width))
        self.output = torch.nn.Linear(width, 3)
        initial = weights if weights is not None else cppn.random_weights(architecture, seed)
        self.load_style_weights(initial, shapes)

    def load_style_weights(self, weights: dict[str, np.ndarray], shapes: dict | None = None) -> None:
        """Copy style-format weights (``layer0.weight`` ...) into the module."""
        shapes = shapes or cppn.weight_shapes(self.architecture)
        parameters = self._style_parameters()
        with torch.no_grad():
            for name, shape in shapes.items():
                value = np.asarray(weights[name], dtype=np.float32)
                if value.shape != shape:
                    raise ValueError(f"weight '{name}' has shape {value.shape}, the architecture needs {shape}")
                parameters[name].copy_(torch.from_numpy(value))

    def _style_parameters(self) -> dict[str, torch.nn.Parameter]:
        names = {}
        for index, layer in enumerate(self.layers):
            names[f"layer{index}.weight"], names[f"layer{index}.bias"] = layer.weight, layer.bias
        names["output.weight"], names["output.bias"] = self.output.weight, self.output.bias
        return names

    def export_weights(self) -> dict[str, np.ndarray]:
        """The weights in style format: float32 numpy arrays on the CPU."""
        return {name: value.detach().float().cpu().numpy().copy() for name, value in self._style_parameters().items()}

    def coordinates(self, width: int, height: int, zoom: float = 1.0, rotation_rad: float = 0.0) -> torch.Tensor:
        """Coordinate inputs of every pixel, (height * width, n_inputs), on the module's device."""
        grid = cppn.pixel_coordinates(self.inputs, width, height, zoom, rotation_rad)
        return torch.from_numpy(grid).to(self.output.weight.device)

    def _activate(self, values: torch.Tensor) -> torch.Tensor:
        return torch.tanh(values) if self.activation == "tanh" else torch.sin(values)

    def forward(self, coordinates: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Colours in [0, 1] of shape (n_latents, n_pixels, 3).

        Args:
            coordinates: (n_pixels, n_inputs) from ``coordinates`` (or a crop of it).
            latents: (n_latents, latent_dim), one image per row.
        """
        first = self.layers[0]
        n_coordinates = len(self.inputs)
        # Split the first layer as the numpy renderer does: the latent part is per image.
        hidden = coordinates @ first.weight[:, :n_coordinates].T  # (P, W)
        per_image = latents @ first.weight[:, n_coordinates:].T + first.bias  # (B, W)
        hidden = self._activate(hidden.unsqueeze(0) + per_image.unsqueeze(1))  # (B, P, W)
        for layer in self.layers[1:]:
            hidden = self._activate(layer(hidden))
        return torch.sigmoid(self.output(hidden))

    @torch.no_grad()
    def render(self, latent: np.ndarray, width: int, height: int, zoom: float = 1.0,
               rotation_rad: float = 0.0, tile_pixels: int = 1 << 18) -> np.ndarray:
        """One image as float32 numpy (height, width, 3) in [0, 1], like ``CPPN.render``."""
        device = self.output.weight.device
        latents = torch.as_tensor(np.asarray(latent, dtype=np.float32), device=device).reshape(1, -1)
        grid = self.coordinates(width, height, zoom, rotation_rad)
        tiles = [self(grid[start:start + tile_pixels], latents)[0] for start in range(0, grid.shape[0], tile_pixels)]
        return torch.cat(tiles).reshape(height, width, 3).float().cpu().numpy()

