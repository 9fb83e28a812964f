"""A CPPN evaluated on the CPU: tiles of pixels, each tile start to end on one core.

Both CPU renderers draw through this engine (``cppn.CPPN`` with numpy's activations,
``cppn_torch.TorchCPPN`` on the CPU with torch's logistic kernel): the matrix products
are numpy's (its BLAS), only the activation kernels differ.

Layout, one row per pixel: a tile is whole image rows (about ``TILE_VALUES`` unit values,
at most ``TILE_PIXELS`` pixels), its coordinate features (n, F + 1) and unit activations
(n, width + 1) each with a last column of ones. A layer is one product ``[units | 1] @
[W; b]`` into the first ``width`` columns of the other unit buffer (the bias row meets the
ones column: no bias pass), then the activation over the whole contiguous buffer in one
pass and the ones column set back to 1. The output layer writes the tile's colours
straight into its rows of the image, where the output sigmoid runs.

Threads: ``workers()`` threads each take the next tile and compute it on one core, with
numpy's BLAS held to one thread (``blas.one_thread``). On a 2-core AMD EPYC at 1280x720,
the shipped width-32 styles draw 1.9x (tanh) and 2x (sin) as many frames/s this way as
with every product and activation split over both cores (``benchmarks/bench_render.py``).
Which thread computes a tile changes nothing in it: a frame is bit-identical in every run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from dataclasses import dataclass

import numpy as np

from . import blas, cppn
from ..progress import Cancelled

TILE_PIXELS = 16384
"""Most pixels per tile (rounded down to whole rows). On a 2-core AMD EPYC at 1280x720,
width 32: 8192-16384 px draw 1.1-1.2x faster than 4096 or 65536 px."""
TILE_VALUES = 16384 * 33
"""Unit values per tile buffer (2.2 MB): wider networks take fewer pixels per tile."""
MAX_WORKERS = 16
"""At most this many threads compute tiles at once (their Python between operations shares one lock)."""


def workers() -> int:
    """Threads that compute tiles: the cores this process may run on, at most ``MAX_WORKERS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


class NumpyKernels:
    """Activations in numpy, each in place on a contiguous float32 array.

    ``tanh`` (``np.tanh``), ``sin``, ``gaussian`` (``exp(-x^2)``) and
    ``cppn.FOLDED_TANH`` (``1 / (1 + exp(u))``, see ``cppn.fold_tanh_layers``); the
    output's logistic sigmoid as ``1 / (1 + exp(-x))`` (``through_exp``) or through tanh.
    """

    def __init__(self, sigmoid_through_exp: bool):
        self.sigmoid_through_exp = sigmoid_through_exp

    def activate(self, values: np.ndarray, activation: str) -> None:
        if activation == cppn.FOLDED_TANH:
            with np.errstate(over="ignore"):  # exp overflows to inf for large u: the unit is then 0
                np.exp(values, out=values)
            values += 1.0
            np.divide(1.0, values, out=values)
        elif activation == "tanh":
            np.tanh(values, out=values)
        elif activation == "sin":
            np.sin(values, out=values)
        else:  # gaussian
            np.square(values, out=values)
            np.negative(values, out=values)
            np.exp(values, out=values)

    def sigmoid(self, values: np.ndarray) -> None:
        """The output layer's logistic sigmoid, in place."""
        if self.sigmoid_through_exp:
            np.negative(values, out=values)
            self.activate(values, cppn.FOLDED_TANH)
            return
        values *= 0.5
        np.tanh(values, out=values)
        values *= 0.5
        values += 0.5

    def worker_scope(self):
        """Set up the calling thread to compute on one core (numpy needs nothing)."""
        return contextlib.nullcontext()


@dataclass
class TileNetwork:
    """A CPPN's layers laid out for pixel-major tiles (see the module docstring).

    ``first_coordinates`` (F, width), ``first_latent`` (latent_dim, width) and
    ``first_bias`` (width,): the first layer split by what its rows multiply; ``hidden``:
    ``[W; b]`` (width + 1, width) of each further layer; ``output``: ``[W; b]`` (width + 1,
    3); ``activations``: of each hidden layer, names the kernels know.
    """

    inputs: list[str]
    fourier: list[float]
    first_coordinates: np.ndarray
    first_latent: np.ndarray
    first_bias: np.ndarray
    hidden: list[np.ndarray]
    output: np.ndarray
    activations: list[str]

    @classmethod
    def from_layers(cls, inputs: list[str], fourier: list[float], layers: list,
                    activations: list[str]) -> "TileNetwork":
        """From ``[(weight (in, out), bias (out,)), ...]``: every hidden layer, then the
        output layer; the first layer's rows are the coordinate features, then the latent."""
        (first, first_bias), *hidden, output = [(np.asarray(weight, np.float32), np.asarray(bias, np.float32))
                                                for weight, bias in layers]
        n_features = len(inputs) + 4 * len(fourier)
        stacked = [np.ascontiguousarray(np.vstack([weight, bias[None, :]])) for weight, bias in (*hidden, output)]
        return cls(list(inputs), list(fourier), np.ascontiguousarray(first[:n_features]),
                   np.ascontiguousarray(first[n_features:]), first_bias, stacked[:-1], stacked[-1], list(activations))

    @property
    def width(self) -> int:
        return self.first_bias.shape[0]


_tile_pool: concurrent.futures.ThreadPoolExecutor | None = None
_tile_pool_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """The thread pool that computes tiles, kept for the next frames. One for the process,
    never shut down, so frames drawn at once from several threads (a preview beside a
    bake) share it; it starts threads only as tiles are handed to it."""
    global _tile_pool
    with _tile_pool_lock:
        if _tile_pool is None:
            _tile_pool = concurrent.futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="cppn-tiles")
        return _tile_pool


def tile_size(network: TileNetwork, width: int, tile_pixels: int | None = None) -> int:
    """Pixels per tile for images ``width`` pixels wide: whole rows when a row fits."""
    limit = tile_pixels if tile_pixels is not None else min(TILE_PIXELS, max(256, TILE_VALUES // (network.width + 1)))
    limit = max(1, int(limit))
    return limit // width * width if limit >= width else limit


def render(network: TileNetwork, kernels, latent: np.ndarray, width: int, height: int, zoom: float,
           rotation_rad: float, *, warp: float, warp_phase: float, tile_pixels: int | None, stop_event,
           out: np.ndarray | None) -> np.ndarray:
    """One image, float32 (height, width, 3) in [0, 1] (into ``out`` when given).

    ``latent`` is float32 (latent_dim,), already checked (``cppn.check_render_args``);
    ``kernels`` is a ``NumpyKernels`` or one with the same methods; ``stop_event``
    (anything with ``is_set()``) is checked between tiles: when set, raises
    ``Cancelled``; ``tile_pixels`` None: ``tile_size``'s choice (only speed depends on it).
    """
    # The latent's share of the first layer is the same for every pixel: it joins the bias row.
    first = np.vstack([network.first_coordinates, (network.first_bias + latent @ network.first_latent)[None, :]])
    image = cppn.check_out(out, width, height)
    n_pixels = width * height
    rgb = image.reshape(n_pixels, 3)  # (a view: the tiles land in ``image``)
    tile = tile_size(network, width, tile_pixels)
    starts = range(0, n_pixels, tile)
    count = min(workers(), len(starts))
    failed = threading.Event()
    # Shared: a free worker takes the next tile (a range iterator hands each out once,
    # under the interpreter lock), so a core slowed by another program does less.
    tiles = iter(starts)

    def run() -> None:
        try:
            with kernels.worker_scope():
                for start in tiles:
                    if failed.is_set() or (stop_event is not None and stop_event.is_set()):
                        raise Cancelled("cancelled")
                    stop = min(start + tile, n_pixels)
                    _render_tile(network, kernels, first, rgb, _tile_buffers(network, stop - start), start, stop,
                                 width, height, zoom, rotation_rad, warp, warp_phase)
        except BaseException:
            failed.set()
            raise

    with blas.one_thread():
        if count == 1:
            run()
        else:
            futures = [_pool().submit(run) for _ in range(count)]
            concurrent.futures.wait(futures)  # (all: none may still write into the image)
            errors = [error for error in (future.exception() for future in futures) if error is not None]
            if errors:  # the error that stopped the others, not the Cancelled it made them raise
                raise next((error for error in errors if not isinstance(error, Cancelled)), errors[0])
    return image


_thread_buffers = threading.local()
_KEPT_BUFFER_SHAPES = 4
"""Tile buffer shapes a thread keeps for the next frames (a frame has at most two tile sizes)."""


def _tile_buffers(network: TileNetwork, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features, units_a, units_b)`` for a tile of ``count`` pixels, each with a last
    column of ones (which a tile keeps at one), kept by the calling thread for the next
    frames: a live preview's frames take milliseconds, filling new buffers would be a
    fair part of them."""
    kept = getattr(_thread_buffers, "by_shape", None)
    if kept is None:
        kept = _thread_buffers.by_shape = {}
    n_features = network.first_coordinates.shape[0]
    key = (n_features, network.width, count)
    if key not in kept:
        if len(kept) >= _KEPT_BUFFER_SHAPES:
            kept.clear()
        kept[key] = (np.ones((count, n_features + 1), np.float32), np.ones((count, network.width + 1), np.float32),
                     np.ones((count, network.width + 1), np.float32))
    return kept[key]


def _render_tile(network: TileNetwork, kernels, first: np.ndarray, rgb: np.ndarray, buffers: tuple,
                 start: int, stop: int, width: int, height: int, zoom: float, rotation_rad: float,
                 warp: float, warp_phase: float) -> None:
    """Pixels ``[start, stop)`` through every layer into their rows of ``rgb``."""
    features, units_in, units_out = buffers
    cppn.pixel_coordinates(network.inputs, width, height, zoom, rotation_rad, start, stop, warp=warp,
                           warp_phase=warp_phase, fourier=network.fourier, out=features[:, :-1])
    np.matmul(features, first, out=units_in[:, :-1])
    kernels.activate(units_in, network.activations[0])
    units_in[:, -1] = 1.0
    for layer, activation in zip(network.hidden, network.activations[1:]):
        np.matmul(units_in, layer, out=units_out[:, :-1])
        kernels.activate(units_out, activation)
        units_out[:, -1] = 1.0
        units_in, units_out = units_out, units_in
    colours = rgb[start:stop]
    np.matmul(units_in, network.output, out=colours)
    kernels.sigmoid(colours)
