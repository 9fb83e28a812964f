"""The compositional pattern-producing network (CPPN) that draws a style, in numpy.

A CPPN maps each pixel's coordinates plus a latent vector to a colour:
``rgb = output(act(... act(W0 @ [coords, latent] + b0) ...))``. It is a plain MLP, so a
style renders at any resolution and aspect ratio, and moving the latent moves the image.

Coordinates: pixel centres; the shorter image side spans [-1, 1] and the longer one
proportionally more (square pixels, no stretching); ``x`` grows to the right and ``y``
upwards; ``r = sqrt(x^2 + y^2)``. Colours are display (sRGB-encoded) values in [0, 1].

Architecture (a style's ``architecture`` metadata; keys marked *optional* may be absent,
so older style files load and render exactly as before):

- ``inputs``: coordinate inputs, distinct names from ``x``, ``y``, ``r``;
- ``fourier_scales`` (*optional*, default ``[]``): for each scale ``s`` four extra inputs
  ``sin(pi s x), cos(pi s x), sin(pi s y), cos(pi s y)`` (after ``inputs``, in scale
  order): fine, periodic detail the network can use at any resolution;
- ``latent_dim``: size of the latent vector;
- ``width`` (``DEFAULT_WIDTH`` for new styles) and ``depth``: hidden units and hidden layers;
- ``activation``: ``tanh``, ``sin`` or ``gaussian`` (``exp(-x^2)``), or a list of
  ``depth`` of them, one per hidden layer;
- ``output``: ``sigmoid`` (RGB in [0, 1]).

The "coordinate features" of a pixel are its ``inputs`` then its Fourier features; the
first layer sees the coordinate features and then the latent.

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
ACTIVATIONS = ("tanh", "sin", "gaussian")
MAX_FOURIER_SCALES = 32
MAX_FOURIER_SCALE = 1024.0
OUTPUTS = ("sigmoid",)
MAX_WIDTH = 1024
MAX_DEPTH = 32
MAX_LATENT_DIM = 1024
WARP_FREQUENCY = 2.0
"""Radians per coordinate unit of the coordinate warp (see ``pixel_coordinates``)."""


DEFAULT_WIDTH = 32
"""Hidden units of new styles (the trainer's default; the bundled styles use it too)."""


def default_architecture() -> dict:
    """The architecture of new styles: 8 latent dimensions, 4 tanh layers of
    ``DEFAULT_WIDTH`` units (that of the bundled styles; the sin ones differ only in
    their activation). No Fourier features, one activation: the plain CPPN.
    """
    return {
        "inputs": ["x", "y", "r"],
        "latent_dim": 8,
        "width": DEFAULT_WIDTH,
        "depth": 4,
        "activation": "tanh",
        "output": "sigmoid",
    }


def _positive_int(architecture: dict, key: str, maximum: int) -> int:
    value = architecture.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"architecture '{key}' must be a whole number from 1 to {maximum}, got {value!r}")
    return value


def fourier_scales(architecture: dict) -> list[float]:
    """The architecture's Fourier feature scales (``[]`` when it has none)."""
    scales = architecture.get("fourier_scales", [])
    if (not isinstance(scales, list) or len(scales) > MAX_FOURIER_SCALES
            or any(isinstance(value, bool) or not isinstance(value, (int, float))
                   or not (0 < value <= MAX_FOURIER_SCALE) for value in scales)):
        raise ValueError(f"architecture 'fourier_scales' must be a list of at most {MAX_FOURIER_SCALES} "
                         f"numbers in (0, {MAX_FOURIER_SCALE:g}], got {scales!r}")
    return [float(value) for value in scales]


def layer_activations(architecture: dict) -> list[str]:
    """The activation of each hidden layer (``depth`` names)."""
    depth = _positive_int(architecture, "depth", MAX_DEPTH)
    activation = architecture.get("activation")
    names = activation if isinstance(activation, list) else [activation] * depth
    if len(names) != depth or any(name not in ACTIVATIONS for name in names):
        raise ValueError(f"architecture 'activation' must be one of {list(ACTIVATIONS)} or a list of "
                         f"{depth} of them (one per layer), got {activation!r}")
    return list(names)


def n_coordinate_features(architecture: dict) -> int:
    """Columns of the coordinate features: ``inputs`` plus 4 per Fourier scale."""
    return len(architecture["inputs"]) + 4 * len(fourier_scales(architecture))


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
    layer_activations(architecture)
    scales = fourier_scales(architecture)
    if architecture.get("output") not in OUTPUTS:
        raise ValueError(f"architecture 'output' must be one of {list(OUTPUTS)}, got {architecture.get('output')!r}")
    n_features = len(inputs) + 4 * len(scales)
    shapes = {"layer0.weight": (width, n_features + latent_dim), "layer0.bias": (width,)}
    for index in range(1, depth):
        shapes[f"layer{index}.weight"] = (width, width)
        shapes[f"layer{index}.bias"] = (width,)
    shapes["output.weight"] = (3, width)
    shapes["output.bias"] = (3,)
    return shapes


def random_weights(architecture: dict, seed: int, weight_scale: float = 2.5) -> dict[str, np.ndarray]:
    """Seeded random float32 weights: a procedural style with no training.

    Standard deviations, with s = ``weight_scale``:

    - ``layer0`` coordinate columns s (each coordinate alone spans the frame), Fourier
      columns s / sqrt(number of Fourier features), latent columns s / sqrt(latent_dim)
      (the whole latent moves the image about as much as one coordinate), bias
      s / sqrt(2) (edges spread over the frame, not all through its centre);
    - hidden layers s / sqrt(width), biases 0.5;
    - ``output`` 1.6 s / sqrt(width) (saturated colours), bias 0.5.

    For tanh, s = 2.5 gives rich images with soft and sharp edges (1.5: flat gradients,
    4: busy); sin is busier at the same s and looks best near 1.5. An architecture
    without the optional keys draws exactly the numbers it always drew for a seed.
    """
    shapes = weight_shapes(architecture)
    n_coordinates = len(architecture["inputs"])
    n_fourier = 4 * len(fourier_scales(architecture))
    latent_dim, width = architecture["latent_dim"], architecture["width"]
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in shapes.items():
        values = rng.standard_normal(shape)
        if name == "layer0.weight":
            values[:, :n_coordinates] *= weight_scale
            if n_fourier:
                values[:, n_coordinates:n_coordinates + n_fourier] *= weight_scale / math.sqrt(n_fourier)
            values[:, n_coordinates + n_fourier:] *= weight_scale / math.sqrt(latent_dim)
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


def fold_tanh_layers(layers: list, activations: list[str], as_sigmoid: bool = False) -> list:
    """The same network with every tanh unit evaluated as a logistic function.

    ``tanh(z) = 2 * logistic(2 z) - 1 = 2 / (1 + exp(-2 z)) - 1``: a tanh layer's weight
    and bias are multiplied by -2 (``as_sigmoid``: by 2), its units then hold ``s =
    logistic(2 z)``, computed as ``1 / (1 + exp(u))`` of the new pre-activation ``u``
    (``as_sigmoid``: as ``sigmoid(u)``, torch's ``sigmoid_``), and the layer after it takes
    ``2 s - 1`` into its own weight (times 2) and bias (minus the weight's column sums).
    Nothing is approximated. Three numpy passes (exp, add, divide) beat one ``np.tanh``
    where numpy's tanh is not vectorised (``numpy_tanh_is_fast``); torch's ``sigmoid_``
    is 4x faster than its ``tanh_`` with AVX2 kernels.

    Args:
        layers: ``[(weight (in, out), bias (out,)), ...]``: every hidden layer, then the
            output layer.
        activations: the hidden layers' activations (``layer_activations``).
        as_sigmoid: the sign of the fold (see above).

    Returns the folded ``[(weight, bias), ...]`` as float32 (folded in float64).
    """
    scale = 2.0 if as_sigmoid else -2.0
    folded, previous_tanh = [], False
    for index, (weight, bias) in enumerate(layers):
        weight, bias = np.asarray(weight, dtype=np.float64), np.asarray(bias, dtype=np.float64)
        if previous_tanh:
            weight, bias = 2.0 * weight, bias - weight.sum(axis=0)
        previous_tanh = index < len(activations) and activations[index] == "tanh"
        if previous_tanh:
            weight, bias = scale * weight, scale * bias
        folded.append((weight.astype(np.float32), bias.astype(np.float32)))
    return folded


FOLDED_TANH = "folded-tanh"
"""Activation name of a tanh layer after ``fold_tanh_layers``."""


def numpy_tanh_is_fast() -> bool:
    """Whether numpy's float32 ``tanh`` is vectorised on this CPU (numpy uses Intel's SVML
    routines where the CPU has AVX-512 Skylake-X features). There it is 2.2x faster than
    the three passes of a folded logistic; elsewhere it is scalar and the fold wins."""
    try:
        from numpy.core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 2 moved it
        from numpy._core._multiarray_umath import __cpu_features__
    return bool(__cpu_features__.get("AVX512_SKX"))


def pixel_coordinates(
    inputs: list[str],
    width: int,
    height: int,
    zoom: float = 1.0,
    rotation_rad: float = 0.0,
    pixel_start: int = 0,
    pixel_stop: int | None = None,
    *,
    warp: float = 0.0,
    warp_phase: float = 0.0,
    fourier: list[float] | tuple = (),
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The network's coordinate features for pixels ``[pixel_start, pixel_stop)`` in row order.

    float32 of shape (n_pixels, len(inputs) + 4 * len(fourier)), columns in ``inputs``
    order then the Fourier features; see the module docstring for the coordinate system.
    Every backend renders from these. ``out``: a float32 array of that shape to write
    into (it may be a strided view, e.g. the first columns of a tile buffer), or None.

    ``warp`` bends space: after zoom and rotation, ``x += warp * sin(WARP_FREQUENCY * y +
    warp_phase)`` and ``y += warp * sin(WARP_FREQUENCY * x + 1.7 * warp_phase)`` (in
    coordinate units; 0 = no warp).

    Computed in float64 from one row of x offsets and one column of y offsets spanning
    the pixels' rows (the same arithmetic per pixel as a pixel-by-pixel formula), then
    rounded to float32.
    """
    pixel_stop = width * height if pixel_stop is None else pixel_stop
    n_pixels = pixel_stop - pixel_start
    first_row, end_row = pixel_start // width, -(-pixel_stop // width)
    skip = pixel_start - first_row * width
    units_per_px = 2.0 / (min(width, height) * zoom)
    screen_x = (np.arange(width) + 0.5 - width / 2)[None, :] * units_per_px
    screen_y = (height / 2 - (np.arange(first_row, end_row) + 0.5))[:, None] * units_per_px
    cos_r, sin_r = math.cos(rotation_rad), math.sin(rotation_rad)
    # Rotating the image by +angle samples the pattern at coordinates rotated by -angle.
    x = (cos_r * screen_x + sin_r * screen_y).reshape(-1)[skip:skip + n_pixels]
    y = (cos_r * screen_y - sin_r * screen_x).reshape(-1)[skip:skip + n_pixels]
    if warp:
        x, y = (x + warp * np.sin(WARP_FREQUENCY * y + warp_phase),
                y + warp * np.sin(WARP_FREQUENCY * x + 1.7 * warp_phase))
    n_features = len(inputs) + 4 * len(fourier)
    if out is None:
        out = np.empty((n_pixels, n_features), dtype=np.float32)
    elif out.shape != (n_pixels, n_features) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {(n_pixels, n_features)}, got {out.dtype} {out.shape}")
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    for column, name in enumerate(inputs):
        if name == "r":
            np.hypot(x32, y32, out=out[:, column])
        else:
            out[:, column] = x32 if name == "x" else y32
    column = len(inputs)
    for scale in fourier:
        for axis in (x32, y32):
            angle = (math.pi * scale) * axis.astype(np.float64)
            out[:, column] = np.sin(angle)
            out[:, column + 1] = np.cos(angle)
            column += 2
    return out


class CPPN:
    """A CPPN ready to render on the CPU with numpy: weights checked against the
    architecture, laid out for ``cpu_tiles`` (tiles of pixels, one per core at a time).

    Args:
        architecture, weights: the style's (see the module docstring).
        fold_tanh: evaluate tanh layers as a logistic function (``fold_tanh_layers``);
            None: where numpy's ``tanh`` is slow (``numpy_tanh_is_fast``). The image is
            the same either way (to float rounding); the choice is fixed for a machine,
            so its frames are the same in every run.
    """

    backend_name = "numpy"

    def __init__(self, architecture: dict, weights: dict[str, np.ndarray], fold_tanh: bool | None = None):
        from . import cpu_tiles  # (it draws with this module's coordinates)

        shapes = weight_shapes(architecture)
        for name, shape in shapes.items():
            if name not in weights:
                raise ValueError(f"weight '{name}' is missing")
            if tuple(np.shape(weights[name])) != shape:
                raise ValueError(f"weight '{name}' has shape {tuple(np.shape(weights[name]))}, the architecture needs {shape}")
        self.latent_dim = int(architecture["latent_dim"])
        self.fold_tanh = (not numpy_tanh_is_fast()) if fold_tanh is None else bool(fold_tanh)
        activations = layer_activations(architecture)
        names = [f"layer{index}" for index in range(int(architecture["depth"]))] + ["output"]
        layers = [(np.asarray(weights[f"{name}.weight"], dtype=np.float32).T,
                   np.asarray(weights[f"{name}.bias"], dtype=np.float32)) for name in names]
        if self.fold_tanh:
            layers = fold_tanh_layers(layers, activations)
            activations = [FOLDED_TANH if name == "tanh" else name for name in activations]
        self._network = cpu_tiles.TileNetwork.from_layers(list(architecture["inputs"]), fourier_scales(architecture),
                                                          layers, activations)
        self._kernels = cpu_tiles.NumpyKernels(sigmoid_through_exp=self.fold_tanh)

    def cpu_engine(self) -> tuple:
        """``(cpu_tiles.TileNetwork, kernels)``: what this renderer hands the CPU engine."""
        return self._network, self._kernels

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
        warp: float = 0.0,
        warp_phase: float = 0.0,
        tile_pixels: int | None = None,
        stop_event=None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """One image, float32 of shape (height, width, 3) with values in [0, 1].

        Args:
            latent: (latent_dim,) vector choosing the image within the style.
            width, height: image size in pixels.
            zoom: magnification; 2.0 shows the central half of what 1.0 shows.
            rotation_rad: counter-clockwise rotation of the image in radians.
            warp, warp_phase: bend of space (see ``pixel_coordinates``); 0 = none.
            tile_pixels: pixels evaluated together (rounded down to whole rows), None for
                ``cpu_tiles``' choice; only speed depends on it.
            stop_event: anything with ``is_set()``, checked between tiles: when set,
                raises ``jobs.Cancelled`` (a bake's cancel takes effect within a tile).
            out: a float32 (height, width, 3) array to draw into and return (a bake
                reuses one), or None for a new one.

        The result for one frame depends only on these arguments (never on what was
        rendered before): a frame renders bit-identically in any run on the same machine.
        """
        from . import cpu_tiles  # (it draws with this module's coordinates)

        latent = check_render_args(latent, self.latent_dim, width, height, zoom)
        return cpu_tiles.render(self._network, self._kernels, latent, width, height, zoom, rotation_rad, warp=warp,
                            warp_phase=warp_phase, tile_pixels=tile_pixels, stop_event=stop_event, out=out)


def check_out(out: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """``out`` if it is a C-contiguous float32 (height, width, 3) array (ValueError if not), or a new one."""
    if out is None:
        return np.empty((height, width, 3), dtype=np.float32)
    if out.shape != (height, width, 3) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {(height, width, 3)}, "
                         f"got {out.dtype} {out.shape}")
    return out


def check_render_args(latent, latent_dim: int, width: int, height: int, zoom: float) -> np.ndarray:
    """The latent as float32 after checking one render's arguments (ValueError if wrong)."""
    latent = np.asarray(latent, dtype=np.float32)
    if latent.shape != (latent_dim,):
        raise ValueError(f"latent must have shape ({latent_dim},), got {latent.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"image size must be at least 1x1 px, got {width}x{height}")
    if not (zoom > 0 and math.isfinite(zoom)):
        raise ValueError(f"zoom must be a positive number, got {zoom!r}")
    return latent


def flops_per_pixel(architecture: dict) -> int:
    """Floating-point operations (2 per multiply-add) of one pixel's matrix products.

    Counts the coordinate-feature columns of the first layer, the hidden layers and the
    output; not the latent columns (computed once per frame), biases or activations.
    """
    shapes = weight_shapes(architecture)
    width = int(architecture["width"])
    total = width * n_coordinate_features(architecture)
    total += sum(math.prod(shape) for name, shape in shapes.items()
                 if name.endswith(".weight") and name != "layer0.weight")
    return 2 * total
