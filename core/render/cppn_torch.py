"""The CPPN in torch: differentiable for training, and a fast (GPU or CPU) backend for baking.

Import this module only where torch is wanted (training, a worker with the training
pack): it imports torch at once. It draws what ``core.cppn.CPPN`` draws for the same
architecture and weights (max absolute difference well under 1e-4); its ``state_dict``
uses the style file's weight names, so ``export_weights()`` can be saved as a style
unchanged.

Two ways to evaluate it:

- ``forward`` (autograd, for training): the whole batch of images at once;
- ``render`` (inference, for baking and previews). On the CPU it draws through the CPU
  engine (``cpu_tiles``: tiles of pixels, one per core at a time, numpy's matrix
  products) with torch's ``sigmoid_`` for tanh layers, folded into logistic ones
  (``cppn.fold_tanh_layers``; exact up to float rounding), where numpy's tanh is not
  vectorised: with AVX2 kernels torch's logistic is 4x faster than its tanh and 1.7x
  faster than numpy's exp-based one (``TorchKernels``). On a
  GPU (CUDA, MPS) one image goes in large tiles of pixels through every layer, held
  transposed (one row per unit, one column per pixel, with a row of ones under it), so
  each layer is one matrix product ``[W | b] @ [units; 1]`` into the next tile buffer
  followed by the activation in place. Buffers are kept between calls.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from . import cppn, cpu_tiles
from ..progress import Cancelled

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


FOLDED_TANH = "sigmoid"
"""A tanh layer of ``render``: ``cppn.fold_tanh_layers(as_sigmoid=True)`` made its units ``sigmoid``."""


def _activate_(values: torch.Tensor, activation: str) -> None:
    if activation == FOLDED_TANH:
        values.sigmoid_()
    elif activation == "sin":
        values.sin_()
    else:
        values.square_().neg_().exp_()


class TorchKernels(cpu_tiles.NumpyKernels):
    """The CPU engine's kernels with torch's logistic for folded tanh layers
    (``FOLDED_TANH``: where numpy's tanh is not vectorised, see ``_render_weights``) and
    the output; tanh (where numpy's is vectorised: 1.03-1.07x faster than torch's
    logistic), sin and gaussian stay numpy's (numpy's float32 sin is as fast as torch's
    with AVX2 kernels and 2.8x faster with AVX-512)."""

    def __init__(self):
        super().__init__(sigmoid_through_exp=True)

    def activate(self, values: np.ndarray, activation: str) -> None:
        if activation == FOLDED_TANH:
            torch.from_numpy(values).sigmoid_()
        else:
            super().activate(values, activation)

    def sigmoid(self, values: np.ndarray) -> None:
        torch.from_numpy(values).sigmoid_()

    @contextlib.contextmanager
    def worker_scope(self):
        """torch on one core in the calling thread (the engine runs one thread per core)."""
        torch.set_num_threads(1)
        yield


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

    def _layers(self, fold_tanh: bool) -> tuple[list, list[str]]:
        """``[(weight (in, out), bias), ...]`` and the hidden layers' activations, with tanh
        layers folded into ``FOLDED_TANH`` ones when ``fold_tanh``."""
        with torch.no_grad():
            layers = [(layer.weight.detach().float().cpu().numpy().T, layer.bias.detach().float().cpu().numpy())
                      for layer in (*self.layers, self.output)]
        if not fold_tanh:
            return layers, list(self.activations)
        return (cppn.fold_tanh_layers(layers, self.activations, as_sigmoid=True),
                [FOLDED_TANH if name == "tanh" else name for name in self.activations])

    def cpu_engine(self) -> tuple:
        """``(cpu_tiles.TileNetwork, kernels)``: what this module hands the CPU engine when it draws on the CPU."""
        return self._render_weights(torch.device("cpu"), for_cpu_engine=True)["network"], TorchKernels()

    def _render_weights(self, device: torch.device, for_cpu_engine: bool) -> dict:
        """The weights laid out for rendering on ``device``, cached until they change: for
        the CPU engine a ``cpu_tiles.TileNetwork`` (``"network"``); else ``[W | b]`` (out,
        in + 1) for transposed tiles (the first layer's bias column depends on the latent)."""
        versions = tuple(parameter._version for parameter in self.parameters())
        cached = self._buffers_for_render.get("weights")
        if (cached is not None and cached["versions"] == versions and cached["device"] == device
                and ("network" in cached) == for_cpu_engine):
            return cached
        if for_cpu_engine:  # tanh by numpy where its tanh is vectorised (AVX-512), else by torch's logistic
            layers, activations = self._layers(fold_tanh=not cppn.numpy_tanh_is_fast())
            cached = {"versions": versions, "device": device,
                      "network": cpu_tiles.TileNetwork.from_layers(self.inputs, self.fourier, layers, activations)}
        else:
            layers, activations = self._layers(fold_tanh=True)
            (first, first_bias), *hidden, (output, output_bias) = [
                (torch.from_numpy(weight.T.copy()), torch.from_numpy(bias)) for weight, bias in layers]
            cached = {
                "versions": versions, "device": device,
                "first_coordinates": first[:, :self.n_features].contiguous().to(device),
                "first_latent": first[:, self.n_features:].contiguous().to(device),
                "first_bias": first_bias.to(device),
                "hidden": [torch.cat([weight, bias[:, None]], dim=1).contiguous().to(device) for weight, bias in hidden],
                "output": torch.cat([output, output_bias[:, None]], dim=1).contiguous().to(device),
                "activations": activations,
            }
        self._buffers_for_render["weights"] = cached
        return cached

    def _tile_buffers(self, count: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """``(features, units_a, units_b, rgb)`` for GPU tiles of ``count`` pixels, kept.

        Transposed, one column per pixel: coordinate features and unit activations each
        with a last row of ones; rgb (3, count).
        """
        key = ("tiles", count, device)
        buffers = self._buffers_for_render.get(key)
        if buffers is None:
            width = self.output.weight.shape[1]
            features = torch.empty(self.n_features + 1, count, device=device)
            units_a = torch.empty(width + 1, count, device=device)
            units_b = torch.empty(width + 1, count, device=device)
            for buffer in (features, units_a, units_b):
                buffer[-1] = 1.0
            buffers = (features, units_a, units_b, torch.empty(3, count, device=device))
            self._buffers_for_render[key] = buffers
        return buffers

    def _forget_tile_buffers(self, keep_counts: set) -> None:
        """Drop the tile buffers of other tile sizes (a new frame size)."""
        self._buffers_for_render = {key: value for key, value in self._buffers_for_render.items()
                                    if not (isinstance(key, tuple) and key[0] == "tiles" and key[1] not in keep_counts)}

    def _tile_coordinates(self, out: torch.Tensor, start: int, stop: int, width: int, height: int,
                          zoom: float, rotation_rad: float, warp: float, warp_phase: float) -> None:
        """``cppn.pixel_coordinates`` of pixels ``[start, stop)`` into the rows of ``out``
        (n_features, stop - start), computed on its device."""
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
        for index, name in enumerate(self.inputs):
            if name == "r":
                torch.hypot(x, y, out=out[index])
            else:
                out[index] = columns[name]
        feature = len(self.inputs)
        for scale in self.fourier:
            for axis in (x, y):
                angle = axis * (math.pi * scale)
                torch.sin(angle, out=out[feature])
                torch.cos(angle, out=out[feature + 1])
                feature += 2

    @torch.inference_mode()
    def render(self, latent: np.ndarray, width: int, height: int, zoom: float = 1.0,
               rotation_rad: float = 0.0, tile_pixels: int | None = None, *,
               warp: float = 0.0, warp_phase: float = 0.0, stop_event=None,
               out: np.ndarray | None = None) -> np.ndarray:
        """One image as float32 numpy (height, width, 3) in [0, 1], like ``CPPN.render``.

        Memory beyond the image is a few tiles whatever the size. The result depends only
        on the arguments (and the device), never on what was rendered before.
        ``stop_event`` (anything with ``is_set()``) is checked between tiles: when set,
        raises ``jobs.Cancelled``. ``tile_pixels``: pixels per tile, None for the
        device's choice. ``out``: a float32 (height, width, 3) array to draw into and
        return, or None for a new one.
        """
        latent = cppn.check_render_args(latent, self.latent_dim, width, height, zoom)
        device = self.output.weight.device
        if device.type == "cpu":
            network, kernels = self.cpu_engine()
            threads = torch.get_num_threads()
            try:
                return cpu_tiles.render(network, kernels, latent, width, height, zoom, rotation_rad,
                                        warp=warp, warp_phase=warp_phase, tile_pixels=tile_pixels,
                                        stop_event=stop_event, out=out)
            finally:
                torch.set_num_threads(threads)  # (the engine's threads set it to one each)
        return self.render_in_device_tiles(latent, width, height, zoom, rotation_rad, tile_pixels, warp=warp,
                                           warp_phase=warp_phase, stop_event=stop_event, out=out)

    @torch.inference_mode()
    def render_in_device_tiles(self, latent: np.ndarray, width: int, height: int, zoom: float = 1.0,
                               rotation_rad: float = 0.0, tile_pixels: int | None = None, *,
                               warp: float = 0.0, warp_phase: float = 0.0, stop_event=None,
                               out: np.ndarray | None = None) -> np.ndarray:
        """``render`` as it runs on a GPU: large transposed tiles on the module's device,
        one after another (see the module docstring). It runs on any device: the tests run
        it on the CPU, where ``render`` takes the CPU engine instead."""
        latent = cppn.check_render_args(latent, self.latent_dim, width, height, zoom)
        device = self.output.weight.device
        weights = self._render_weights(device, for_cpu_engine=False)
        n_pixels = width * height
        tile = max(1, min(int(tile_pixels or GPU_TILE_PIXELS), n_pixels))
        # The first layer: [W_coordinates | latent's share of the bias], the ones row of the
        # features picking up the bias.
        first_bias = torch.addmm(weights["first_bias"].reshape(-1, 1), weights["first_latent"],
                                 torch.from_numpy(latent).to(device).reshape(-1, 1))
        first = torch.cat([weights["first_coordinates"], first_bias], dim=1)
        image = cppn.check_out(out, width, height)
        rgb = torch.empty(n_pixels, 3, device=device)
        self._forget_tile_buffers({tile, n_pixels - (n_pixels - 1) // tile * tile})
        for start in range(0, n_pixels, tile):
            if stop_event is not None and stop_event.is_set():
                raise Cancelled("cancelled")
            self._render_tile(weights, first, rgb, start, min(start + tile, n_pixels), width, height, zoom,
                              rotation_rad, warp, warp_phase)
        torch.from_numpy(image).reshape(n_pixels, 3).copy_(rgb)
        return image

    def _render_tile(self, weights: dict, first: torch.Tensor, rgb: torch.Tensor, start: int, stop: int,
                     width: int, height: int, zoom: float, rotation_rad: float, warp: float,
                     warp_phase: float) -> None:
        """Pixels ``[start, stop)`` of ``rgb`` through every layer, on the GPU."""
        features, units_in, units_out, colours = self._tile_buffers(stop - start, first.device)
        self._tile_coordinates(features, start, stop, width, height, zoom, rotation_rad, warp, warp_phase)
        first_activation, *hidden_activations = weights["activations"]
        hidden = units_in[:-1]  # (the last row stays ones)
        torch.mm(first, features, out=hidden)
        _activate_(hidden, first_activation)
        for layer, activation in zip(weights["hidden"], hidden_activations):
            hidden = units_out[:-1]
            torch.mm(layer, units_in, out=hidden)
            _activate_(hidden, activation)
            units_in, units_out = units_out, units_in
        torch.mm(weights["output"], units_in, out=colours)
        colours.sigmoid_()
        rgb[start:stop].copy_(colours.T)

    def forward_render(self, latent: np.ndarray, width: int, height: int, zoom: float = 1.0,
                       rotation_rad: float = 0.0, tile_pixels: int = 1 << 18) -> np.ndarray:
        """``render`` through ``forward`` (layer by layer, large tiles): the slow reference."""
        with torch.inference_mode():
            device = self.output.weight.device
            latents = torch.as_tensor(np.asarray(latent, dtype=np.float32), device=device).reshape(1, -1)
            grid = self.coordinates(width, height, zoom, rotation_rad)
            tiles = [self(grid[start:start + tile_pixels], latents)[0] for start in range(0, grid.shape[0], tile_pixels)]
            return torch.cat(tiles).reshape(height, width, 3).float().cpu().numpy()
