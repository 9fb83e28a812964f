"""The compositional pattern-producing network (CPPN) that draws a style, in numpy.

A CPPN maps each pixel's coordinates plus a latent vector to a colour:
``rgb = output(act(... act(W0 @ [coords, latent] + b0) ...))``. It is a plain MLP, so a
style renders at any resolution and aspect ratio, and moving the latent moves the image.

Coordinates: pixel centres; the shorter image side spans [-1, 1] and the longer one
proportionally more (square pixels, no stretching); ``x`` grows to the right and ``y``
upwards; ``r = sqrt(x^2 + y^2)``. Colours are display (sRGB-encoded) values in [0, 1].

Weights follow the ``torch.nn.Linear`` convention, ``weight`` of shape (out, in), so a
trainer can save its state dict unchanged:

- ``layer0.weight`` (width, n_inputs + latent_dim): columns are the coordinate inputs in
  ``architecture["inputs"]`` order, then the latent; ``layer0.bias`` (width,)
- ``layer1`` ... ``layer{depth-1}``: (width, width) and (width,)
- ``output.weight`` (3, width), ``output.bias`` (3,)
"""

from __future__ import annotations

import math

import numpy as np

COORDINATE_INPUTS = ("x", "y", "r")
ACTIVATIONS = ("tanh", "sin")
OUTPUTS = ("sigmoid",)
MAX_WIDTH = 1024
MAX_DEPTH = 32
MAX_LATENT_DIM = 1024
TILE_PIXELS = 16384
"""Pixels evaluated together through all layers: keeps the activations in cache."""


def default_architecture() -> dict:
    """The architecture of new styles: 8 latent dimensions, 4 tanh layers of 32 units."""
    return {
        "inputs": ["x", "y", "r"],
        "latent_dim": 8,
        "width": 32,
        "depth": 4,
        "activation": "tanh",
        "output": "sigmoid",
    }


def _positive_int(architecture: dict, key: str, maximum: int) -> int:
    value = architecture.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"architecture '{key}' must be a whole number from 1 to {maximum}, got {value!r}")
    return value


def weight_shapes(architecture: dict) -> dict[str, tuple[int, ...]]:
    """The weight tensors an architecture needs, name -> shape.

    Raises ``ValueError`` (one line) if the architecture is malformed or absurdly large.
    """
    if not isinstance(architecture, dict):
        raise ValueError(f"architecture must be an object, got {type(architecture).__name__}")
    inputs = architecture.get("inputs")
    if (not isinstance(inputs, list) or not inputs or len(set(map(str, inputs))) != len(inputs)
            or any(name not in COORDINATE_INPUTS for name in inputs)):
        raise ValueError(f"architecture 'inputs' must be distinct names from {list(COORDINATE_INPUTS)}, got {inputs!r}")
    latent_dim = _positive_int(architecture, "latent_dim", MAX_LATENT_DIM)
    width = _positive_int(architecture, "width", MAX_WIDTH)
    depth = _positive_int(architecture, "depth", MAX_DEPTH)
    if architecture.get("activation") not in ACTIVATIONS:
        raise ValueError(f"architecture 'activation' must be one of {list(ACTIVATIONS)}, got {architecture.get('activation')!r}")
    if architecture.get("output") not in OUTPUTS:
        raise ValueError(f"architecture 'output' must be one of {list(OUTPUTS)}, got {architecture.get('output')!r}")
    shapes = {"layer0.weight": (width, len(inputs) + latent_dim), "layer0.bias": (width,)}
    for index in range(1, depth):
        shapes[f"layer{index}.weight"] = (width, width)
        shapes[f"layer{index}.bias"] = (width,)
    shapes["output.weight"] = (3, width)
    shapes["output.bias"] = (3,)
    return shapes


def random_weights(architecture: dict, seed: int, weight_scale: float = 2.5) -> dict[str, np.ndarray]:
    """Seeded random float32 weights: a procedural style with no training.

    Standard deviations, with s = ``weight_scale``:

    - ``layer0`` coordinate columns s (each coordinate alone spans the frame), latent
      columns s / sqrt(latent_dim) (the whole latent moves the image about as much as one
      coordinate), bias s / sqrt(2) (edges spread over the frame, not all through its centre);
    - hidden layers s / sqrt(width), biases 0.5;
    - ``output`` 1.6 s / sqrt(width) (saturated colours), bias 0.5.

    For tanh, s = 2.5 gives rich images with soft and sharp edges (1.5: flat gradients,
    4: busy); sin is busier at the same s and looks best near 1.5.
    """
    shapes = weight_shapes(architecture)
    n_coordinates = len(architecture["inputs"])
    latent_dim, width = architecture["latent_dim"], architecture["width"]
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in shapes.items():
        values = rng.standard_normal(shape)
        if name == "layer0.weight":
            values[:, :n_coordinates] *= weight_scale
            values[:, n_coordinates:] *= weight_scale / math.sqrt(latent_dim)
        elif name == "layer0.bias":
            values *= weight_scale / math.sqrt(2.0)
        elif name == "output.weight":
            values *= 1.6 * weight_scale / math.sqrt(width)
        elif name.endswith(".weight"):
            values *= weight_scale / math.sqrt(width)
        else:
            values *= 0.5
        weights[name] = values.astype(np.float32)
    return weights


def _activate_in_place(values: np.ndarray, activation: str) -> None:
    if activation == "tanh":
        np.tanh(values, out=values)
    else:
        np.sin(values, out=values)


def _sigmoid_in_place(values: np.ndarray) -> None:
    """Logistic sigmoid as 0.5 * tanh(0.5 x) + 0.5: no overflow for large |x|."""
    values *= 0.5
    np.tanh(values, out=values)
    values *= 0.5
    values += 0.5


def pixel_coordinates(
    inputs: list[str],
    width: int,
    height: int,
    zoom: float = 1.0,
    rotation_rad: float = 0.0,
    pixel_start: int = 0,
    pixel_stop: int | None = None,
) -> np.ndarray:
    """The network's coordinate inputs for pixels ``[pixel_start, pixel_stop)`` in row order.

    float32 of shape (n_pixels, len(inputs)), columns in ``inputs`` order; see the module
    docstring for the coordinate system. Every backend renders from these.
    """
    pixel_stop = width * height if pixel_stop is None else pixel_stop
    units_per_px = 2.0 / (min(width, height) * zoom)
    pixel = np.arange(pixel_start, pixel_stop)
    row = pixel // width
    screen_x = ((pixel - row * width) + 0.5 - width / 2) * units_per_px
    screen_y = (height / 2 - (row + 0.5)) * units_per_px
    cos_r, sin_r = math.cos(rotation_rad), math.sin(rotation_rad)
    # Rotating the image by +angle samples the pattern at coordinates rotated by -angle.
    x = (cos_r * screen_x + sin_r * screen_y).astype(np.float32)
    y = (cos_r * screen_y - sin_r * screen_x).astype(np.float32)
    columns = {"x": x, "y": y, "r": np.hypot(x, y)}
    return np.stack([columns[name] for name in inputs], axis=1)


class CPPN:
    """A CPPN ready to render: weights checked against the architecture, laid out for numpy."""

    def __init__(self, architecture: dict, weights: dict[str, np.ndarray]):
        shapes = weight_shapes(architecture)
        for name, shape in shapes.items():
            if name not in weights:
                raise ValueError(f"weight '{name}' is missing")
            if tuple(np.shape(weights[name])) != shape:
                raise ValueError(f"weight '{name}' has shape {tuple(np.shape(weights[name]))}, the architecture needs {shape}")
        self.inputs = list(architecture["inputs"])
        self.latent_dim = int(architecture["latent_dim"])
        self.activation = architecture["activation"]

        def transposed(name: str) -> np.ndarray:
            return np.ascontiguousarray(np.asarray(weights[name], dtype=np.float32).T)

        first = transposed("layer0.weight")  # (n_inputs + latent_dim, width)
        n_coordinates = len(self.inputs)
        self._first_coordinates = np.ascontiguousarray(first[:n_coordinates])
        self._first_latent = np.ascontiguousarray(first[n_coordinates:])
        self._first_bias = np.asarray(weights["layer0.bias"], dtype=np.float32)
        self._hidden = [
            (transposed(f"layer{index}.weight"), np.asarray(weights[f"layer{index}.bias"], dtype=np.float32))
            for index in range(1, int(architecture["depth"]))
        ]
        self._output = transposed("output.weight")
        self._output_bias = np.asarray(weights["output.bias"], dtype=np.float32)

    @classmethod
    def from_style(cls, style) -> "CPPN":
        """The CPPN of a loaded ``style.Style``."""
        return cls(style.architecture, style.weights)

    def render(
        self,
        latent: np.ndarray,
        width: int,
        height: int,
        zoom: float = 1.0,
        rotation_rad: float = 0.0,
        *,
        tile_pixels: int = TILE_PIXELS,
    ) -> np.ndarray:
        """One image, float32 of shape (height, width, 3) with values in [0, 1].

        Args:
            latent: (latent_dim,) vector choosing the image within the style.
            width, height: image size in pixels.
            zoom: magnification; 2.0 shows the central half of what 1.0 shows.
            rotation_rad: counter-clockwise rotation of the image in radians.
            tile_pixels: pixels evaluated together; only speed depends on it.
        """
        latent = np.asarray(latent, dtype=np.float32)
        if latent.shape != (self.latent_dim,):
            raise ValueError(f"latent must have shape ({self.latent_dim},), got {latent.shape}")
        if width < 1 or height < 1:
            raise ValueError(f"image size must be at least 1x1 px, got {width}x{height}")
        if not (zoom > 0 and math.isfinite(zoom)):
            raise ValueError(f"zoom must be a positive number, got {zoom!r}")

        # The latent's contribution to the first layer is the same for every pixel.
        first_bias = self._first_bias + latent @ self._first_latent
        n_pixels = width * height
        tile = max(1, min(tile_pixels, n_pixels))
        hidden_width = self._first_bias.shape[0]
        current = np.empty((tile, hidden_width), dtype=np.float32)
        following = np.empty((tile, hidden_width), dtype=np.float32)
        rgb = np.empty((n_pixels, 3), dtype=np.float32)
        for start in range(0, n_pixels, tile):
            stop = min(start + tile, n_pixels)
            count = stop - start
            coordinates = pixel_coordinates(self.inputs, width, height, zoom, rotation_rad, start, stop)
            layer_in, layer_out = current[:count], following[:count]
            np.dot(coordinates, self._first_coordinates, out=layer_in)
            layer_in += first_bias
            _activate_in_place(layer_in, self.activation)
            for weight, bias in self._hidden:
                np.dot(layer_in, weight, out=layer_out)
                layer_out += bias
                _activate_in_place(layer_out, self.activation)
                layer_in, layer_out = layer_out, layer_in
            tile_rgb = rgb[start:stop]
            np.dot(layer_in, self._output, out=tile_rgb)
            tile_rgb += self._output_bias
            _sigmoid_in_place(tile_rgb)
        return rgb.reshape(height, width, 3)
