"""The CPPN in torch: differentiable for training, and a fast (GPU or CPU) backend for baking.

Import this module only where torch is wanted (training, a worker with the training
pack): it imports torch at once. It draws what ``core.cppn.CPPN`` draws for the same
architecture and weights (max absolute difference well under 1e-4); its ``state_dict``
uses the style file's weight names, so ``export_weights()`` can be saved as a style
unchanged.

Two ways to evaluate it:

- ``forward`` (autograd, for training): the whole batch of images at once;
- ``render`` (inference, for baking and previews): one image in cache-sized tiles of
  pixels that go through every layer before the next tile starts, each layer one
  ``addmm`` into a preallocated buffer followed by the activation in place (tanh
  layers as a logistic function: ``cppn.fold_tanh_layers``). Buffers are kept between
  calls.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import cppn
from .jobs import Cancelled

CPU_TILE_PIXELS = 4096
"""Pixels per tile on the CPU: a tile's activations (2 MiB a layer at width 128) stay in the
caches. At 1280x720, width 128, on a 2-core EPYC: 4096 px about 1.3x faster than 8192 or
1024 (benchmarks/bench_render.py row 1)."""
GPU_TILE_PIXELS = 1 << 20
"""Pixels per tile on a GPU: large launches, bounded memory (width 128: 512 MiB per buffer at most)."""


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


def _activate(values: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "tanh":
        return torch.tanh(values)
    if activation == "sin":
        return torch.sin(values)
    return torch.exp(-torch.square(values))


def _activate_(values: torch.Tensor, activation: str) -> None:
    if activation == cppn.FOLDED_TANH:  # units cppn.fold_tanh_layers(scale=2) made
        values.sigmoid_()
    elif activation == "tanh":
        values.tanh_()
    elif activation == "sin":
        values.sin_()
    else:
        values.square_().neg_().exp_()


class TorchCPPN(torch.nn.Module):
    """A CPPN as a torch module, same layout as the style format.

    Args:
        architecture: the style's architecture dict (see ``core.cppn``).
        weights: the style's weights; None starts from ``cppn.random_weights(seed)``.
        seed: seed of the random start when ``weights`` is None.
    """

    backend_name = "torch"

    def __init__(self, architecture: dict, weights: dict[str, np.ndarray] | None = None, seed: int = 0):
        super().__init__()
        shapes = cppn.weight_shapes(architecture)
        self.architecture = dict(architecture)
        self.inputs = list(architecture["inputs"])
        self.fourier = cppn.fourier_scales(architecture)
        self.n_features = cppn.n_coordinate_features(architecture)
        self.latent_dim = int(architecture["latent_dim"])
        self.activation = architecture["activation"]
        self.activations = cppn.layer_activations(architecture)
        self.depth = int(architecture["depth"])
        width = int(architecture["width"])
        self.layers = torch.nn.ModuleList()
        for index in range(self.depth):
            n_in = self.n_features + self.latent_dim if index == 0 else width
            self.layers.append(torch.nn.Linear(n_in, width))
        self.output = torch.nn.Linear(width, 3)
        initial = weights if weights is not None else cppn.random_weights(architecture, seed)
        self.load_style_weights(initial, shapes)
        self._buffers_for_render: dict = {}

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

    def coordinates(self, width: int, height: int, zoom: float = 1.0, rotation_rad: float = 0.0,
                    *, warp: float = 0.0, warp_phase: float = 0.0) -> torch.Tensor:
        """Coordinate features of every pixel, (height * width, n_features), on the module's device.

        ``n_features`` is ``len(inputs)`` plus 4 per Fourier scale (see ``core.cppn``).
        """
        grid = cppn.pixel_coordinates(self.inputs, width, height, zoom, rotation_rad,
                                      warp=warp, warp_phase=warp_phase, fourier=self.fourier)
        return torch.from_numpy(grid).to(self.output.weight.device)

    def forward(self, coordinates: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Colours in [0, 1] of shape (n_latents, n_pixels, 3).

        Args:
            coordinates: (n_pixels, n_features) from ``coordinates`` (or a crop of it).
            latents: (n_latents, latent_dim), one image per row.
        """
        first = self.layers[0]
        n_features = self.n_features
        # Split the first layer as the numpy renderer does: the latent part is per image.
        hidden = coordinates @ first.weight[:, :n_features].T  # (P, W)
        per_image = latents @ first.weight[:, n_features:].T + first.bias  # (B, W)
        hidden = _activate(hidden.unsqueeze(0) + per_image.unsqueeze(1), self.activations[0])  # (B, P, W)
        for layer, activation in zip(self.layers[1:], self.activations[1:]):
            hidden = _activate(layer(hidden), activation)
        return torch.sigmoid(self.output(hidden))

    def _render_weights(self, device: torch.device) -> dict:
        """Weights laid out for ``addmm`` (inputs @ W^T), cached until the weights change."""
        versions = tuple(parameter._version for parameter in self.parameters())
        cached = self._buffers_for_render.get("weights")
        if cached is not None and cached["versions"] == versions and cached["device"] == device:
            return cached
        with torch.no_grad():
            layers = cppn.fold_tanh_layers(
                [(layer.weight.T.float().cpu().numpy(), layer.bias.float().cpu().numpy())
                 for layer in (*self.layers, self.output)], self.activations, scale=2.0)
            (first, first_bias), *hidden, (output, output_bias) = [
                (torch.from_numpy(weight).to(device).contiguous(), torch.from_numpy(bias).to(device))
                for weight, bias in layers]
            cached = {
                "versions": versions, "device": device,
                "first_coordinates": first[:self.n_features].contiguous(),
                "first_latent": first[self.n_features:].contiguous(),
                "first_bias": first_bias, "hidden": hidden, "output_bias": output_bias,
                # (3, width): ``linear`` with 3 outputs is about 4x faster than ``addmm`` on the CPU.
                "output_rows": output.T.contiguous(),
                "activations": [cppn.FOLDED_TANH if name == "tanh" else name for name in self.activations],
            }
        self._buffers_for_render["weights"] = cached
        return cached

    def _tile_buffers(self, tile: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = ("tiles", tile, device)
        buffers = self._buffers_for_render.get(key)
        if buffers is None:
            self._buffers_for_render = {name: value for name, value in self._buffers_for_render.items()
                                        if not (isinstance(name, tuple) and name[0] == "tiles")}
            width = self.output.weight.shape[1]
            buffers = (torch.empty(tile, width, device=device), torch.empty(tile, width, device=device),
                       torch.empty(tile, self.n_features, device=device))
            self._buffers_for_render[key] = buffers
        return buffers

    def _tile_coordinates(self, out: torch.Tensor, start: int, stop: int, width: int, height: int,
                          zoom: float, rotation_rad: float, warp: float, warp_phase: float) -> torch.Tensor:
        """``cppn.pixel_coordinates`` of pixels ``[start, stop)`` computed on the device into ``out``."""
        device = out.device
        pixel = torch.arange(start, stop, device=device, dtype=torch.int64)
        row = torch.div(pixel, width, rounding_mode="floor")
        units_per_px = 2.0 / (min(width, height) * zoom)
        screen_x = ((pixel - row * width).to(torch.float32) + (0.5 - width / 2)) * units_per_px
        screen_y = ((height / 2 - 0.5) - row.to(torch.float32)) * units_per_px
        cos_r, sin_r = math.cos(rotation_rad), math.sin(rotation_rad)
        x = cos_r * screen_x + sin_r * screen_y
        y = cos_r * screen_y - sin_r * screen_x
        if warp:
            x, y = (x + warp * torch.sin(cppn.WARP_FREQUENCY * y + warp_phase),
                    y + warp * torch.sin(cppn.WARP_FREQUENCY * x + 1.7 * warp_phase))
        columns = {"x": x, "y": y}
        features = out[:stop - start]
        for index, name in enumerate(self.inputs):
            features[:, index] = torch.hypot(x, y) if name == "r" else columns[name]
        column = len(self.inputs)
        for scale in self.fourier:
            for axis in (x, y):
                angle = axis * (math.pi * scale)
                features[:, column] = torch.sin(angle)
                features[:, column + 1] = torch.cos(angle)
                column += 2
        return features

    @torch.inference_mode()
    def render(self, latent: np.ndarray, width: int, height: int, zoom: float = 1.0,
               rotation_rad: float = 0.0, tile_pixels: int | None = None, *,
               warp: float = 0.0, warp_phase: float = 0.0, stop_event=None) -> np.ndarray:
        """One image as float32 numpy (height, width, 3) in [0, 1], like ``CPPN.render``.

        Coordinates are computed per tile on the device, so memory beyond the image is a
        few tiles whatever the size. The result depends only on the arguments (and the
        device and thread settings), never on what was rendered before. ``stop_event``
        (anything with ``is_set()``) is checked between tiles: when set, raises
        ``jobs.Cancelled``.
        """
        latent = cppn.check_render_args(latent, self.latent_dim, width, height, zoom)
        device = self.output.weight.device
        weights = self._render_weights(device)
        if tile_pixels is None:
            tile_pixels = CPU_TILE_PIXELS if device.type == "cpu" else GPU_TILE_PIXELS
        n_pixels = width * height
        tile = max(1, min(int(tile_pixels), n_pixels))
        first_bias = torch.addmm(weights["first_bias"], torch.from_numpy(latent).to(device).reshape(1, -1),
                                 weights["first_latent"]).reshape(-1)
        current, following, features = self._tile_buffers(tile, device)
        rgb = torch.empty(n_pixels, 3, device=device)
        first_activation, *hidden_activations = weights["activations"]
        for start in range(0, n_pixels, tile):
            if stop_event is not None and stop_event.is_set():
                raise Cancelled("cancelled")
            stop = min(start + tile, n_pixels)
            count = stop - start
            coordinates = self._tile_coordinates(features, start, stop, width, height, zoom, rotation_rad,
                                                 warp, warp_phase)
            layer_in, layer_out = current[:count], following[:count]
            torch.addmm(first_bias, coordinates, weights["first_coordinates"], out=layer_in)
            _activate_(layer_in, first_activation)
            for (weight, bias), activation in zip(weights["hidden"], hidden_activations):
                torch.addmm(bias, layer_in, weight, out=layer_out)
                _activate_(layer_out, activation)
                layer_in, layer_out = layer_out, layer_in
            tile_rgb = rgb[start:stop]
            tile_rgb.copy_(torch.nn.functional.linear(layer_in, weights["output_rows"], weights["output_bias"]))
            tile_rgb.sigmoid_()
        return rgb.reshape(height, width, 3).cpu().numpy()

    def forward_render(self, latent: np.ndarray, width: int, height: int, zoom: float = 1.0,
                       rotation_rad: float = 0.0, tile_pixels: int = 1 << 18) -> np.ndarray:
        """``render`` through ``forward`` (layer by layer, large tiles): the slow reference."""
        with torch.inference_mode():
            device = self.output.weight.device
            latents = torch.as_tensor(np.asarray(latent, dtype=np.float32), device=device).reshape(1, -1)
            grid = self.coordinates(width, height, zoom, rotation_rad)
            tiles = [self(grid[start:start + tile_pixels], latents)[0] for start in range(0, grid.shape[0], tile_pixels)]
            return torch.cat(tiles).reshape(height, width, 3).float().cpu().numpy()
