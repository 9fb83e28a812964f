"""Drawing the frames of a style timeline: one style, a crossfade of two, or a morph.

- **crossfade**: both styles draw the frame (same latent, same coordinate moves: the
  music drives both); their display values are decoded to linear light, mixed
  ``(1 - w) * a + w * b`` and encoded back, so a fade never dips dark in the middle the
  way a mix of sRGB values does. Costs two frames' work.
- **morph**: the two networks' weights are interpolated, ``(1 - w) * A + w * B``, and the
  one network that gives draws the frame: shapes flow from one style into the other
  rather than dissolving. Needs two networks of the same architecture (``morphable``);
  costs one frame's work plus building a network.

``TimelineRenderer`` is a renderer for ``bake.bake_sequence``: it draws plan row ``r``
with the ``FrameLook`` of row ``r``.
"""

from __future__ import annotations

import numpy as np

from . import backend as backends
from . import cppn
from .imageio import decode_srgb_into, encode_srgb_into

CHUNK_VALUES = 1 << 15
"""Values mixed at a time: a chunk's scratch arrays stay in the CPU's cache."""


def crossfade(display_a: np.ndarray, display_b: np.ndarray, weight: float, out: np.ndarray | None = None) -> np.ndarray:
    """Display values ``weight`` of the way from ``display_a`` to ``display_b``, mixed in
    linear light (float32; ``out`` may be ``display_a``)."""
    display_a = np.asarray(display_a, dtype=np.float32)
    display_b = np.asarray(display_b, dtype=np.float32)
    out = np.empty_like(display_a) if out is None else out
    flat_a, flat_b, flat_out = display_a.reshape(-1), display_b.reshape(-1), out.reshape(-1)
    keep, take = np.float32(1.0 - weight), np.float32(weight)
    buffers = np.empty((3, min(CHUNK_VALUES, flat_a.size)), np.float32)
    for start in range(0, flat_a.size, CHUNK_VALUES):
        part = slice(start, start + CHUNK_VALUES)
        count = len(flat_a[part])
        mixed, other, scratch = buffers[0, :count], buffers[1, :count], buffers[2, :count]
        decode_srgb_into(flat_a[part], mixed, scratch)
        decode_srgb_into(flat_b[part], other, scratch)
        mixed *= keep
        other *= take
        mixed += other  # (in [0, 1]: a mix of two decoded values that are)
        encode_srgb_into(mixed, flat_out[part], scratch)
    return out


def architecture_signature(architecture: dict) -> tuple:
    """What must match for two networks to morph: inputs, Fourier scales, latent size,
    every weight's shape, every layer's activation and the output."""
    shapes = cppn.weight_shapes(architecture)
    return (tuple(architecture["inputs"]), tuple(cppn.fourier_scales(architecture)),
            int(architecture["latent_dim"]), tuple(sorted(shapes.items())),
            tuple(cppn.layer_activations(architecture)), architecture.get("output", "sigmoid"))


def morphable(architecture_a: dict, architecture_b: dict) -> bool:
    """Whether two styles' networks can be interpolated weight by weight (same architecture).

    A style fine-tuned from another (``init_style``) keeps its architecture, so the two
    stay morphable.
    """
    try:
        return architecture_signature(architecture_a) == architecture_signature(architecture_b)
    except (KeyError, TypeError, ValueError):
        return False


def morph_partners(styles) -> dict[str, list[str]]:
    """For each style (anything with ``name`` and ``architecture``), the others it morphs with."""
    signatures = {}
    for item in styles:
        try:
            signatures[item.name] = architecture_signature(item.architecture)
        except (KeyError, TypeError, ValueError, AttributeError):
            signatures[item.name] = None
    return {name: sorted(other for other, theirs in signatures.items()
                         if other != name and mine is not None and theirs == mine)
            for name, mine in signatures.items()}


def morph_weights(weights_a: dict, weights_b: dict, weight: float) -> dict[str, np.ndarray]:
    """The network ``weight`` of the way from ``weights_a`` to ``weights_b`` (float32, same names)."""
    keep = np.float32(1.0 - weight)
    take = np.float32(weight)
    return {name: np.asarray(weights_a[name], dtype=np.float32) * keep + np.asarray(weights_b[name], dtype=np.float32) * take
            for name in weights_a}


class TimelineRenderer:
    """A renderer that draws each plan row with its own look (see the module docstring).

    Args:
        styles: the loaded ``style.Style`` of each style index of the looks.
        looks: one ``timeline.FrameLook`` per plan row the bake draws.
        backend: ``auto`` / ``numpy`` / ``torch``, as for one style.
    """

    def __init__(self, styles: list, looks: list, backend: str = "auto"):
        self.styles = styles
        self.looks = looks
        self.backend = backend
        self._renderers: dict[int, object] = {}
        self._second: np.ndarray | None = None
        self.backend_name = self._renderer(looks[0].first if looks else 0).backend_name

    def _renderer(self, index: int):
        renderer = self._renderers.get(index)
        if renderer is None:
            renderer = self._renderers[index] = backends.renderer_for_style(self.styles[index], self.backend)
        return renderer

    def _latent(self, index: int, latent: np.ndarray) -> np.ndarray:
        return latent[:int(self.styles[index].architecture["latent_dim"])]

    def render_row(self, plan, row: int, width: int, height: int, stop_event=None,
                   out: np.ndarray | None = None) -> np.ndarray:
        """Float display values (height, width, 3) of plan row ``row``, drawn into ``out``."""
        look, latent, view = self.looks[row], plan.latents[row], plan.view(row)
        first = self._renderer(look.first)
        if look.second is None:
            return first.render(self._latent(look.first, latent), width, height, stop_event=stop_event, out=out, **view)
        if look.kind == "morph":
            a, b = self.styles[look.first], self.styles[look.second]
            network = backends.make_renderer(a.architecture, morph_weights(a.weights, b.weights, look.weight),
                                             self.backend)
            return network.render(self._latent(look.first, latent), width, height, stop_event=stop_event, out=out,
                                  **view)
        image = first.render(self._latent(look.first, latent), width, height, stop_event=stop_event, out=out, **view)
        if self._second is None or self._second.shape != image.shape:
            self._second = np.empty_like(image)
        second = self._renderer(look.second).render(self._latent(look.second, latent), width, height,
                                                    stop_event=stop_event, out=self._second, **view)
        return crossfade(image, second, look.weight, out=image)
