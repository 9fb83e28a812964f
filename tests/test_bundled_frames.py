"""Every bundled style still draws the frames it drew before the renderers were made faster.

``fixtures/bundled_style_frames.npz`` holds, per bundled style, one 128x72 frame (zoomed,
rotated and warped) as 8-bit levels, drawn by the numpy renderer of commit a1b6b2d with
``np.tanh`` (before tanh layers were folded into logistic ones everywhere and the work
re-tiled), and the latent it was drawn from. A user's earlier bakes stay valid: today's
renderers, on any CPU, match those levels on at least 99.9% of the pixels and within one
level on all (float rounding may move a value across a level's edge, nothing more).
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import FIXTURES, ROOT
from neural_aesthetics.core.render import backend, cppn, imageio, style

VIEW = {"zoom": 1.6, "rotation_rad": 0.7, "warp": 0.15, "warp_phase": 1.3}
STYLES = sorted(path.stem for path in (ROOT / "styles").glob("*.json") if path.stem != "recipes")


@pytest.fixture(scope="module")
def previous_frames():
    with np.load(FIXTURES / "bundled_style_frames.npz") as frames:
        return {name: frames[name] for name in frames.files}


def _renderer(name: str, loaded):
    if name == "torch":
        return backend.renderer_for_style(loaded, "torch", "cpu")
    # numpy evaluates tanh as np.tanh or as a logistic, by the CPU: both must draw the same
    return cppn.CPPN(loaded.architecture, loaded.weights, fold_tanh=name == "numpy-logistic")


def test_every_bundled_style_has_a_reference_frame(previous_frames):
    assert STYLES and all(f"{name}_0" in previous_frames for name in STYLES)


@pytest.mark.parametrize("renderer_name", ["numpy-tanh", "numpy-logistic", pytest.param("torch", marks=pytest.mark.torch)])
@pytest.mark.parametrize("style_name", STYLES)
def test_bundled_styles_draw_the_frames_they_drew_before(previous_frames, renderer_name, style_name):
    loaded = style.load_style(ROOT / "styles" / f"{style_name}.json")
    renderer = _renderer(renderer_name, loaded)
    before = previous_frames[f"{style_name}_0"].astype(np.int16)
    now = imageio.to_rgb8(renderer.render(previous_frames[f"{style_name}_0_latent"], 128, 72, **VIEW))
    difference = np.abs(now.astype(np.int16) - before).max(axis=2)
    assert difference.max() <= 1
    assert (difference == 0).mean() >= 0.999
