"""Palette-only training in NumPy: no torch, no CLIP, so it works on any Blender.

The CPPN's forward and backward passes are written out by hand (it is a plain MLP), the
palette objective is the sliced Wasserstein-2 distance of ``objectives`` (the same
formula; the tests check both agree) and the optimiser is Adam. A palette loss only
looks at the colour distribution of an image, so each step evaluates the network at
``PALETTE_SAMPLES`` random points of each random view instead of rendering whole
images: the same objective for a fraction of the work. The smoothness term asks that a
small latent move changes the colours little (``smoothness_rate``).

Deterministic for a seed (NumPy's generator, float32 arithmetic).
"""

from __future__ import annotations

import numpy as np

from ..render import cppn, mapping
from . import sampling

PALETTE_SAMPLES = 2048
"""Points per view the palette loss compares with the palette each step."""
PALETTE_DIRECTIONS = 16
"""Random projections of the palette loss per step."""
SMOOTH_POINTS = 256
"""Points per latent at which the smoothness term compares a latent with a nearby one."""
SMOOTH_STEP = 0.25
"""Standard deviation of the latent move of the smoothness term (latent units)."""
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
PREVIEW_SIZE = (160, 90)


def palette_distance_and_gradient(pixels: np.ndarray, palette: np.ndarray, shares: np.ndarray,
                                  directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared sliced W2 distance of each image's colours to the palette, (B,), and its gradient (B, N, 3).

    Args as ``objectives.palette_distance`` (NumPy arrays): pixels (B, N, 3) in [0, 1],
    palette (K, 3), shares (K,) summing to 1, directions (D, 3) unit vectors.
    """
    n_pixels = pixels.shape[1]
    projected = np.ascontiguousarray(np.matmul(directions, pixels.transpose(0, 2, 1)))  # (B, D, N)
    order = np.argsort(projected, axis=2)
    sorted_values = np.take_along_axis(projected, order, axis=2)
    gap = sorted_values - palette_quantiles(palette, shares, directions, n_pixels).T[None]
    distance = np.square(gap).mean(axis=(1, 2))
    gap *= 2.0 / (n_pixels * directions.shape[0])  # now the gradient of each sorted value
    gradient_projected = np.empty_like(gap)
    np.put_along_axis(gradient_projected, order, gap, axis=2)
    return distance, np.matmul(gradient_projected.transpose(0, 2, 1), directions)


def palette_quantiles(palette: np.ndarray, shares: np.ndarray, directions: np.ndarray, n_pixels: int) -> np.ndarray:
    """(N, D): along each direction, the palette's projected value at each pixel quantile."""
    projected = palette @ directions.T  # (K, D)
    order = np.argsort(projected, axis=0, kind="stable")
    sorted_values = np.take_along_axis(projected, order, axis=0)
    cumulative = np.cumsum(shares[order], axis=0)  # (K, D)
    quantiles = (np.arange(n_pixels) + 0.5) / n_pixels
    index = np.stack([np.searchsorted(cumulative[:, column], quantiles) for column in range(cumulative.shape[1])], axis=1)
    index = np.minimum(index, palette.shape[0] - 1)
    return np.take_along_axis(sorted_values, index, axis=0).astype(np.float32)


def _activation_and_slope(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The activation of pre-activations ``values`` and its derivative there."""
    if name == "tanh":
        out = np.tanh(values)
        return out, 1.0 - out * out
    if name == "sin":
        return np.sin(values), np.cos(values)
    out = np.exp(-values * values)  # gaussian
    return out, -2.0 * values * out


class MLP:
    """The CPPN as matrices for a hand-written forward and backward pass (style weight names)."""

    def __init__(self, architecture: dict, weights: dict[str, np.ndarray]):
        self.architecture = dict(architecture)
        self.activations = cppn.layer_activations(architecture)
        self.names = [f"layer{index}" for index in range(int(architecture["depth"]))] + ["output"]
        self.params = {name: np.array(value, dtype=np.float32) for name, value in weights.items()}

    def forward_backward(self, inputs: np.ndarray, colour_gradient) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Colours (N, 3) of ``inputs`` (N, n_features + latent_dim); then the weights' gradients
        for ``colour_gradient(colours) -> (loss, dL/dcolours)``. Returns (loss, gradients)."""
        hidden, slopes = [inputs], []
        for index, name in enumerate(self.names[:-1]):
            pre = hidden[-1] @ self.params[f"{name}.weight"].T + self.params[f"{name}.bias"]
            out, slope = _activation_and_slope(pre, self.activations[index])
            hidden.append(out)
            slopes.append(slope)
        logits = hidden[-1] @ self.params["output.weight"].T + self.params["output.bias"]
        colours = 0.5 * np.tanh(0.5 * logits) + 0.5
        loss, gradient = colour_gradient(colours)
        gradient = (gradient * colours * (1.0 - colours)).astype(np.float32)
        gradients = {}
        for index in range(len(self.names) - 1, -1, -1):
            name = self.names[index]
            gradients[f"{name}.weight"] = gradient.T @ hidden[index]
            gradients[f"{name}.bias"] = gradient.sum(axis=0)
            if index:
                gradient = (gradient @ self.params[f"{name}.weight"]) * slopes[index - 1]
        return loss, gradients


class PaletteTrainer:
    """A palette-only training run in NumPy, with the interface of ``torch_trainer.Trainer``.

    Args:
        architecture, weights: the CPPN (weights None: ``cppn.random_weights(seed)``).
        palette: (K, 3) colours in [0, 1]; shares: (K,) summing to 1.
        batch: random latents (one view each) per step. learning_rate: Adam's step size.
        smoothness: weight of the nearby-latent colour change (0 = off).
        seed: seeds the start weights and every random draw.
        total_steps: the learning rate follows ``sampling.learning_rate_at``.
    """

    device = "cpu (NumPy)"
    uses_clip = False
    render_size = 0

    def __init__(self, architecture: dict, weights: dict | None, palette, shares, batch: int, learning_rate: float,
                 smoothness: float, seed: int, total_steps: int | None = None):
        start = weights if weights is not None else cppn.random_weights(architecture, seed)
        self.mlp = MLP(architecture, start)
        self.inputs = list(architecture["inputs"])
        self.fourier = cppn.fourier_scales(architecture)
        self.latent_dim = int(architecture["latent_dim"])
        self.palette = np.asarray(palette, dtype=np.float32)
        self.shares = np.asarray(shares, dtype=np.float64)
        self.batch, self.smoothness = int(batch), float(smoothness)
        self.base_learning_rate, self.total_steps = float(learning_rate), total_steps
        self.rng = np.random.default_rng(seed)
        self.steps_done = 0
        self.moments = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in self.mlp.params.items()}
        self.held_out_latents = sampling.held_out_latents(self.latent_dim)
        self.preview_latent = mapping.first_latent(self.latent_dim)

    def _inputs(self, features: np.ndarray, latents: np.ndarray) -> np.ndarray:
        """(B * P, n_features + latent_dim): each view's point features beside its latent."""
        count, points, _ = features.shape
        repeated = np.broadcast_to(latents[:, None, :], (count, points, latents.shape[1]))
        return np.concatenate([features, repeated], axis=2).reshape(count * points, -1)

    def step(self):
        """One Adam step on fresh random latents, views and sample points (a ``sampling.StepResult``)."""
        batch, rng = self.batch, self.rng
        latents = sampling.sample_latents(rng, batch, self.latent_dim)
        windows = sampling.sample_windows(rng, batch)
        u, v = rng.random((2, batch, PALETTE_SAMPLES)) * 2 - 1
        features = sampling.window_features(windows, u, v, self.inputs, self.fourier)
        directions = sampling.unit_directions(rng, PALETTE_DIRECTIONS)
        parts = [self._inputs(features, latents)]
        if self.smoothness > 0:
            moved = latents + (rng.standard_normal(latents.shape) * SMOOTH_STEP).astype(np.float32)
            near = features[:, :SMOOTH_POINTS]
            parts += [self._inputs(near, latents), self._inputs(near, moved)]
        inputs = np.concatenate(parts)
        n_palette = batch * PALETTE_SAMPLES
        n_smooth = batch * min(SMOOTH_POINTS, PALETTE_SAMPLES)

        def colour_gradient(colours):
            gradient = np.zeros_like(colours)
            pixels = colours[:n_palette].reshape(batch, PALETTE_SAMPLES, 3)
            distance, pixel_gradient = palette_distance_and_gradient(pixels, self.palette, self.shares, directions)
            loss = float(distance.mean())
            gradient[:n_palette] = pixel_gradient.reshape(-1, 3) / batch
            if self.smoothness > 0:
                here, there = colours[n_palette:n_palette + n_smooth], colours[n_palette + n_smooth:]
                change = there - here
                loss += self.smoothness * float((change ** 2).mean()) / SMOOTH_STEP ** 2
                push = change * (2.0 * self.smoothness / (change.size * SMOOTH_STEP ** 2))
                gradient[n_palette + n_smooth:] = push
                gradient[n_palette:n_palette + n_smooth] = -push
            return loss, gradient

        loss, gradients = self.mlp.forward_backward(inputs, colour_gradient)
        self._adam(gradients)
        return sampling.StepResult(loss, None)

    def _adam(self, gradients: dict[str, np.ndarray]) -> None:
        learning_rate = sampling.learning_rate_at(self.steps_done, self.total_steps, self.base_learning_rate)
        self.steps_done += 1
        beta1, beta2 = ADAM_BETAS
        correction1, correction2 = 1 - beta1 ** self.steps_done, 1 - beta2 ** self.steps_done
        for name, gradient in gradients.items():
            first, second = self.moments[name]
            first *= beta1
            first += (1 - beta1) * gradient
            second *= beta2
            second += (1 - beta2) * gradient * gradient
            step = (first / correction1) / (np.sqrt(second / correction2) + ADAM_EPSILON)
            self.mlp.params[name] -= (learning_rate * step).astype(np.float32)

    # --- evaluation (the same interface as torch_trainer.Trainer) --------------------------

    def export_weights(self) -> dict[str, np.ndarray]:
        return {name: value.copy() for name, value in self.mlp.params.items()}

    def renderer(self) -> cppn.CPPN:
        """The NumPy renderer of the current weights."""
        return cppn.CPPN(self.mlp.architecture, self.export_weights())

    def held_out_score(self) -> None:
        return None

    def held_out_palette_distance(self, size: int = 64) -> float:
        """Mean sliced W2 distance of the held-out frames' colours to the palette (central squares)."""
        renderer = self.renderer()
        pixels = np.stack([renderer.render(latent, size, size).reshape(-1, 3) for latent in self.held_out_latents])
        squared, _ = palette_distance_and_gradient(pixels, self.palette, self.shares, sampling.evaluation_directions())
        return float(np.sqrt(squared).mean())

    def preview(self, width: int = PREVIEW_SIZE[0], height: int = PREVIEW_SIZE[1]) -> np.ndarray:
        """(height, width, 3) uint8: the first frame a bake with seed 0 starts from."""
        rgb = self.renderer().render(self.preview_latent, width, height)
        return (np.clip(rgb, 0.0, 1.0) * 255.0).round().astype(np.uint8)
