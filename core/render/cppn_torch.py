"""The CPPN in torch: differentiable for training, and a fast (GPU or CPU) backend for baking.

Import this module only where torch is wanted (training, a worker with the training
pack): it imports torch at once. It draws what ``core.cppn.CPPN`` draws for the same
architecture and weights (max absolute difference well under 1e-4); its ``state_dict``
uses the style file's weight names, so ``export_weights()`` can be saved as a style
unchanged.

Two ways to evaluate it:

- ``forward`` (autograd, for training): the whole batch of images at once;
- ``render`` (inference, for baking and previews): one image in tiles of pixels that go
  through every layer before the next tile starts. A tile is held transposed, one row per
  unit and one column per pixel, with a row of ones under it, so each layer is one
  matrix product ``[W | b] @ [units; 1]`` straight into the next tile buffer (no bias
  pass, every output contiguous) followed by the activation in place. Tanh layers are
  folded into logistic ones (``cppn.fold_tanh_layers``; exact up to float rounding) on
  every device: torch's ``sigmoid_`` is 4x faster than its ``tanh_`` with AVX2 kernels
  (an AMD EPYC), where the activations, not the width-32 products, take most of the
  time. On the CPU
  the tiles are shared out among threads that each compute their tiles on one core
  (``cpu_workers``): on a 2-core CPU, 1.05x the speed of both cores working on every
  tile together, where each operation is split and joined. Buffers are kept between calls.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading

import numpy as np
import torch

from . import cppn
from ..progress import Cancelled

CPU_TILE_PIXELS = 16384
"""Pixels per tile on the CPU, where each thread computes its own tiles on one core. At
1280x720, width 128, on a 2-core Xeon: 16384 px 1.09x faster than 4096 (fewer calls per
frame; benchmarks/bench_render.py row 1)."""
GPU_TILE_PIXELS = 1 << 20
"""Pixels per tile on a GPU: large launches, bounded memory (width 128: 512 MiB per buffer at most)."""
MAX_CPU_WORKERS = 16
"""At most this many threads compute tiles at once (their Python between operations shares one lock)."""


def cpu_workers() -> int:
    """Threads that compute tiles on the CPU: torch's thread count (one per core unless
    set otherwise), at most ``MAX_CPU_WORKERS``. Each runs torch on one core while it does."""
    return max(1, min(torch.get_num_threads(), MAX_CPU_WORKERS))


_tile_pool: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None


def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """A thread pool of ``workers`` threads for CPU tiles, kept for the next frames."""
    global _tile_pool
    if _tile_pool is None or _tile_pool[0] != workers:
        if _tile_pool is not None:
            _tile_pool[1].shutdown(wait=True)
        _tile_pool = (workers, concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                                     thread_name_prefix="cppn-tiles"))
    return _tile_pool[1]


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


FOLDED_TANH = "folded-tanh"
"""A tanh layer of ``render``: ``cppn.fold_tanh_layers(as_sigmoid=True)`` made its units ``sigmoid``."""


def _activate_(values: torch.Tensor, activation: str) -> None:
    if activation == FOLDED_TANH:
        values.sigmoid_()
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
        """Weights laid out for transposed tiles, ``[W | b]`` (out, in + 1), cached until the
        weights change; the first layer's bias column depends on the latent (``render``)."""
        versions = tuple(parameter._version for parameter in self.parameters())
        cached = self._buffers_for_render.get("weights")
        if cached is not None and cached["versions"] == versions and cached["device"] == device:
            return cached
        with torch.no_grad():
            layers = [(layer.weight.detach().float().cpu().numpy().T, layer.bias.detach().float().cpu().numpy())
                      for layer in (*self.layers, self.output)]
            (first, first_bias), *hidden, (output, output_bias) = [
                (torch.from_numpy(weight.T.copy()), torch.from_numpy(bias))
                for weight, bias in cppn.fold_tanh_layers(layers, self.activations, as_sigmoid=True)]
            cached = {
                "versions": versions, "device": device,
                "first_coordinates": first[:, :self.n_features].contiguous().to(device),
                "first_latent": first[:, self.n_features:].contiguous().to(device),
                "first_bias": first_bias.to(device),
                "hidden": [torch.cat([weight, bias[:, None]], dim=1).contiguous().to(device) for weight, bias in hidden],
                "output": torch.cat([output, output_bias[:, None]], dim=1).contiguous().to(device),
                "activations": [FOLDED_TANH if name == "tanh" else name for name in self.activations],
            }
        self._buffers_for_render["weights"] = cached
        return cached

    def _tile_buffers(self, worker: int, count: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """``(features, units_a, units_b, rgb)`` of one worker for tiles of ``count`` pixels, kept.

        Transposed, one column per pixel: coordinate features and unit activations each
        with a last row of ones; rgb (3, count).
        """
        key = ("tiles", worker, count, device)
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
        """Drop the tile buffers of other tile sizes (a new frame size or device)."""
        self._buffers_for_render = {key: value for key, value in self._buffers_for_render.items()
                                    if not (isinstance(key, tuple) and key[0] == "tiles" and key[2] not in keep_counts)}

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

        Coordinates are computed per tile on the device, so memory beyond the image is a
        few tiles whatever the size. The result depends only on the arguments (and the
        device and thread settings), never on what was rendered before. ``stop_event``
        (anything with ``is_set()``) is checked between tiles: when set, raises
        ``jobs.Cancelled``. ``out``: a float32 (height, width, 3) array to draw into and
        return, or None for a new one.
        """
        latent = cppn.check_render_args(latent, self.latent_dim, width, height, zoom)
        device = self.output.weight.device
        weights = self._render_weights(device)
        if tile_pixels is None:
            tile_pixels = CPU_TILE_PIXELS if device.type == "cpu" else GPU_TILE_PIXELS
        n_pixels = width * height
        tile = max(1, min(int(tile_pixels), n_pixels))
        starts = range(0, n_pixels, tile)
        # The first layer: [W_coordinates | latent's share of the bias], the ones row of the
        # features picking up the bias.
        first_bias = torch.addmm(weights["first_bias"].reshape(-1, 1), weights["first_latent"],
                                 torch.from_numpy(latent).to(device).reshape(-1, 1))
        first = torch.cat([weights["first_coordinates"], first_bias], dim=1)
        image = cppn.check_out(out, width, height)
        on_host = torch.from_numpy(image).reshape(n_pixels, 3)
        rgb = on_host if device.type == "cpu" else torch.empty(n_pixels, 3, device=device)
        workers = min(cpu_workers(), len(starts)) if device.type == "cpu" else 1
        self._forget_tile_buffers({tile, n_pixels - starts[-1]})
        failed = threading.Event()
        # Shared: a free worker takes the next tile (a range iterator hands each out once,
        # under the interpreter lock), so a core slowed by another program does less.
        tiles = iter(starts)

        def run(worker: int) -> None:
            try:
                for start in tiles:
                    if failed.is_set() or (stop_event is not None and stop_event.is_set()):
                        raise Cancelled("cancelled")
                    self._render_tile(weights, first, rgb, worker, start, min(start + tile, n_pixels),
                                      width, height, zoom, rotation_rad, warp, warp_phase)
            except BaseException:
                failed.set()
                raise

        if workers == 1:
            run(0)
        else:
            threads = torch.get_num_threads()

            def on_one_core(worker: int) -> None:
                torch.set_num_threads(1)
                with torch.inference_mode():
                    run(worker)

            futures = [_pool(workers).submit(on_one_core, worker) for worker in range(workers)]
            concurrent.futures.wait(futures)  # (all: none may still write into rgb or the buffers)
            torch.set_num_threads(threads)
            errors = [error for error in (future.exception() for future in futures) if error is not None]
            if errors:  # the error that stopped the others, not the Cancelled it made them raise
                raise next((error for error in errors if not isinstance(error, Cancelled)), errors[0])
        if rgb is not on_host:
            on_host.copy_(rgb)
        return image

    def _render_tile(self, weights: dict, first: torch.Tensor, rgb: torch.Tensor, worker: int, start: int,
                     stop: int, width: int, height: int, zoom: float, rotation_rad: float, warp: float,
                     warp_phase: float) -> None:
        """Pixels ``[start, stop)`` of ``rgb`` through every layer, in ``worker``'s buffers."""
        features, units_in, units_out, colours = self._tile_buffers(worker, stop - start, first.device)
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
