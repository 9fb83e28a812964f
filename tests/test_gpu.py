"""The GPU path: a style drawn by a fragment shader through Blender's ``gpu`` module draws what
NumPy draws, Auto picks it, bakes (in this process and in the UI's worker) use it, and a
machine without a GPU context falls back with one line.

Here and in CI the GPU is Mesa's llvmpipe (software, on the CPU): the same shader, exact.
Where no GPU context can be had at all, the GPU tests say so and skip, unless
``NA_REQUIRE_GPU`` is set (``make test`` sets it once it installed Mesa): then they fail.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import INSTALLED_MODULE, ROOT

from neural_aesthetics.core.render import cppn, glsl, style

BUNDLED_STYLES = sorted(path.stem for path in (ROOT / "styles").glob("*.safetensors"))
VIEWS = [
    {},
    {"zoom": 1.35, "rotation_rad": 2.2, "warp": 0.35, "warp_phase": 5.1},
    {"zoom": 1.08, "rotation_rad": -0.6, "warp": 0.12, "warp_phase": 0.4},
]
"""Plain, and moves as the mapping makes them (zoom >= 1, any turn, warp below 0.5)."""
RANDOM_ARCHITECTURES = [
    {"inputs": ["r", "x"], "latent_dim": 3, "width": 7, "depth": 3, "activation": ["sin", "gaussian", "tanh"],
     "output": "sigmoid", "fourier_scales": [0.5, 37.25, 1024]},
    {"inputs": ["x", "y", "r"], "latent_dim": 5, "width": 32, "depth": 1, "activation": "gaussian",
     "output": "sigmoid"},
]
WIDE_ARCHITECTURE = {"inputs": ["y"], "latent_dim": 16, "width": 256, "depth": 6, "activation": "sin",
                     "output": "sigmoid", "fourier_scales": [3.0]}
"""Wide and deep: its sums run past llvmpipe's 65535 loop iterations unless written out."""


def _weights(architecture: dict, seed: int) -> dict:
    """Random weights; the wide sine network's at scale 1.5 (``random_weights``: its best
    look), where float32 itself stays within 1e-5 of exact arithmetic."""
    scale = 1.5 if architecture is WIDE_ARCHITECTURE else 2.5
    return cppn.random_weights(architecture, seed=seed, weight_scale=scale)


def _latent(dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def _to_8bit(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(rgb * 255.0 + 0.5), 0, 255).astype(np.int16)


def assert_same_picture(drawn: np.ndarray, reference: np.ndarray) -> None:
    """Floats within 1e-5; 8-bit levels equal on >= 99.9 % of values and within one on all."""
    assert drawn.shape == reference.shape and drawn.dtype == np.float32
    assert float(np.abs(drawn - reference).max()) <= 1e-5
    levels = np.abs(_to_8bit(drawn) - _to_8bit(reference))
    assert levels.max() <= 1 and (levels == 0).mean() >= 0.999


# --- the shader's data, without a GPU -----------------------------------------------------


def _evaluate_packed(architecture: dict, weights: dict, latent: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The network read back from ``pack_weights``/``frame_bias`` at the offsets the shader uses."""
    texels = glsl.pack_weights(architecture, weights).reshape(-1, 4)
    width4, features4 = -(-architecture["width"] // 4), -(-features.shape[1] // 4)
    padded = np.zeros((len(features), 4 * features4))
    padded[:, :features.shape[1]] = features
    header = texels[:glsl.HEADER_TEXELS].reshape(-1)
    functions = {0: np.tanh, 1: np.sin, 2: lambda v: np.exp(-v * v)}
    offset = glsl.HEADER_TEXELS + 4 * width4 * features4
    first = texels[glsl.HEADER_TEXELS:offset].reshape(4 * width4, 4 * features4)
    units = functions[int(header[8])](padded @ first.T + glsl.frame_bias(architecture, weights, latent).reshape(-1))
    for layer in range(1, int(header[0])):
        matrix = texels[offset:offset + 4 * width4 * width4].reshape(4 * width4, 4 * width4)
        bias = texels[offset + 4 * width4 * width4:offset + 4 * width4 * width4 + width4].reshape(-1)
        units = functions[int(header[8 + layer])](units @ matrix.T + bias)
        offset += 4 * width4 * width4 + width4
    output = texels[offset:offset + 4 * width4].reshape(4, 4 * width4)
    return (1.0 / (1.0 + np.exp(-(units @ output.T + texels[offset + 4 * width4]))))[:, :3]


@pytest.mark.parametrize("architecture", RANDOM_ARCHITECTURES + [WIDE_ARCHITECTURE])
def test_the_weights_texture_holds_the_network_numpy_draws(architecture):
    weights = _weights(architecture, 11)
    latent = _latent(architecture["latent_dim"], 2)
    features = cppn.pixel_coordinates(architecture["inputs"], 24, 16, 1.2, 0.4,
                                      fourier=cppn.fourier_scales(architecture))
    reference = cppn.CPPN(architecture, weights).render(latent, 24, 16, 1.2, 0.4).reshape(-1, 3)
    assert np.abs(_evaluate_packed(architecture, weights, latent, features) - reference).max() <= 1e-5


def test_every_bundled_style_shares_one_compiled_shader():
    """Compiling is the slow part on a software GPU: all bundled styles (tanh and sin) need one."""
    sources = {glsl.fragment_source(style.load_style(ROOT / "styles" / f"{name}.safetensors").architecture)
               for name in BUNDLED_STYLES}
    assert len(sources) == 1


def test_draw_constants_keep_float64_precision_and_small_angles():
    constants = glsl.draw_constants(1920, 1080, 1.37, 2.9, 0.3, 1e4)
    units = constants["units_per_px"]
    assert abs(units[0] + units[1] - 2.0 / (1080 * 1.37)) < 1e-15
    assert abs(constants["phase_x"][0]) <= np.pi and abs(constants["phase_y"][0]) <= np.pi
    assert np.isclose(np.sin(sum(constants["phase_y"])), np.sin(1.7e4), atol=1e-9)


# --- on the GPU ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu_render():
    """The installed extension's ``gpu_render``, once a GPU context is known to be possible."""
    bpy = pytest.importorskip("bpy", reason="needs the bpy wheel: run `make test`")
    assert bpy is not None
    module = importlib.import_module(f"{INSTALLED_MODULE}.operators.gpu_render")
    probe = module.provider.probe()
    if not probe.available:
        message = (f"no GPU context on this machine ({probe.reason}): install Mesa's EGL "
                   f"(apt-get install libegl-mesa0 libgl1-mesa-dri) to run the GPU tests")
        if os.environ.get("NA_REQUIRE_GPU"):
            pytest.fail(message)
        pytest.skip(message)
    return module


def installed(name: str):
    return importlib.import_module(f"{INSTALLED_MODULE}.{name}")


@pytest.mark.bpy
@pytest.mark.slow
def test_every_bundled_style_draws_on_the_gpu_what_numpy_draws(gpu_render):
    for name in BUNDLED_STYLES:
        loaded = style.load_style(ROOT / "styles" / f"{name}.safetensors")
        on_gpu = gpu_render.provider.make_renderer(loaded.architecture, loaded.weights)
        on_cpu = cppn.CPPN(loaded.architecture, loaded.weights)
        for number, view in enumerate(VIEWS):
            latent = _latent(loaded.architecture["latent_dim"], number)
            assert_same_picture(on_gpu.render(latent, 64, 36, **view), on_cpu.render(latent, 64, 36, **view))


@pytest.mark.bpy
@pytest.mark.slow
@pytest.mark.parametrize("architecture", RANDOM_ARCHITECTURES)
def test_random_architectures_draw_on_the_gpu_what_numpy_draws(gpu_render, architecture):
    weights = _weights(architecture, 4)
    on_gpu = gpu_render.provider.make_renderer(architecture, weights)
    on_cpu = cppn.CPPN(architecture, weights)
    for number, view in enumerate(VIEWS):
        latent = _latent(architecture["latent_dim"], 10 + number)
        assert_same_picture(on_gpu.render(latent, 40, 30, **view), on_cpu.render(latent, 40, 30, **view))


@pytest.mark.bpy
@pytest.mark.slow
def test_a_wide_deep_network_draws_on_the_gpu_what_numpy_draws(gpu_render):
    weights = _weights(WIDE_ARCHITECTURE, 8)
    latent = _latent(WIDE_ARCHITECTURE["latent_dim"], 3)
    drawn = gpu_render.provider.make_renderer(WIDE_ARCHITECTURE, weights).render(latent, 12, 8, **VIEWS[1])
    assert_same_picture(drawn, cppn.CPPN(WIDE_ARCHITECTURE, weights).render(latent, 12, 8, **VIEWS[1]))


@pytest.mark.bpy
def test_a_frame_drawn_in_many_tiles_is_seamless_and_cancel_stops_between_tiles(gpu_render):
    loaded = style.load_style(ROOT / "styles" / "lagoon.safetensors")
    renderer = gpu_render.provider.make_renderer(loaded.architecture, loaded.weights)
    renderer._tile_side = 16  # (a 1080p frame is a few tiles; this small one is 12)
    latent = _latent(8, 5)
    assert_same_picture(renderer.render(latent, 50, 37, **VIEWS[1]),
                        cppn.CPPN(loaded.architecture, loaded.weights).render(latent, 50, 37, **VIEWS[1]))

    class AlreadySet:
        def is_set(self):
            return True

    with pytest.raises(installed("core.progress").Cancelled):
        renderer.render(latent, 50, 37, stop_event=AlreadySet())


@pytest.mark.bpy
def test_auto_takes_a_hardware_gpu_and_leaves_a_software_one(gpu_render, monkeypatch):
    """llvmpipe draws 6-8x slower than NumPy on the same CPU: Auto bakes and previews on the
    CPU there, and in a plain worker; a hardware GPU it takes."""
    context, backend = installed("operators.gpu_render.context"), installed("core.render.backend")
    for software, expected in ((True, ("torch", "numpy")), (False, ("gpu",))):
        monkeypatch.setattr(context, "_probe", context.Probe(True, renderer="Some GPU", software=software))
        assert backend.choose_backend("auto") in expected
        assert backend.choose_backend("gpu") == "gpu"
        launcher, _environment = gpu_render.worker_launch("auto")
        assert (launcher is None) == software
        assert gpu_render.worker_launch("gpu")[0] is not None


@pytest.mark.bpy
def test_the_gpu_draws_farm_chunks_byte_identical_to_a_whole_bake(gpu_render, tmp_path):
    backend, bake, mapping = installed("core.render.backend"), installed("core.render.bake"), installed(
        "core.render.mapping")
    assert backend.device_line("gpu").startswith("GPU: ")
    loaded = style.load_style(ROOT / "styles" / "ember.safetensors")
    rng = np.random.default_rng(3)  # (a plan: a latent path, zoom, turn and warp per frame)
    plan = mapping.FramePlan(latents=rng.standard_normal((8, 8)).astype(np.float32),
                             zoom=np.linspace(1.0, 1.3, 8, dtype=np.float32),
                             rotation=np.linspace(0.0, 1.0, 8, dtype=np.float32),
                             warp=np.full(8, 0.2, dtype=np.float32), warp_phase=np.linspace(0, 6, 8, dtype=np.float32))
    whole = bake.bake_sequence(loaded, plan, range(8), tmp_path / "whole", 48, 27, backend="gpu")
    assert whole.backend == "gpu" and whole.written == 8
    for first, last in ((0, 3), (3, 8)):
        bake.bake_sequence(loaded, plan.rows(slice(first, last)), range(first, last), tmp_path / "chunks", 48, 27,
                           backend="gpu")
    for path in whole.paths:
        assert (tmp_path / "chunks" / path.name).read_bytes() == path.read_bytes()
    on_cpu = bake.bake_sequence(loaded, plan, range(8), tmp_path / "numpy", 48, 27, backend="numpy")
    from PIL import Image

    for drawn, reference in zip(whole.paths, on_cpu.paths):
        levels = np.abs(np.asarray(Image.open(drawn), dtype=np.int16) - np.asarray(Image.open(reference), dtype=np.int16))
        assert levels.max() <= 1 and (levels == 0).mean() >= 0.999


@pytest.mark.bpy
def test_without_a_gpu_context_auto_falls_back_and_gpu_says_why(gpu_render, monkeypatch):
    context, backend = installed("operators.gpu_render.context"), installed("core.render.backend")
    errors = installed("core.errors")
    monkeypatch.setattr(context, "probe_command", lambda: [sys.executable, "-c", "import os; os.abort()"])
    monkeypatch.setattr(context, "_probe", None)
    found = context.probe()
    assert not found.available and "exit code" in found.reason
    assert backend.choose_backend("auto") in ("torch", "numpy")
    with pytest.raises(errors.UserError, match="cannot draw here"):
        backend.choose_backend("gpu")
    assert gpu_render.device_label("gpu").startswith("GPU: none (")


@pytest.mark.bpy
def test_the_live_preview_draws_on_the_gpu(gpu_render, sound_scene):
    preview = installed("operators.live_preview")
    scene, sound = sound_scene
    scene.neural_aesthetics.backend = "gpu"  # (Auto leaves a software GPU, as here, to the CPU)
    scene.neural_aesthetics.live_preview = True
    try:
        scene.frame_set(sound.frame_final_start + 5)
        assert preview.state.preview.renderer.backend_name == "gpu", preview.state.problem
        software = gpu_render.provider.probed().software
        assert tuple(preview.preview_image().size) == ((192, 108) if software else (320, 180))
    finally:
        scene.neural_aesthetics.live_preview = False


@pytest.mark.bpy
@pytest.mark.slow
def test_a_ui_bake_runs_on_the_gpu_in_its_worker(gpu_render, sound_scene, tmp_path):
    """The UI's bake worker, started as the operator starts it for Compute: GPU, draws on the GPU."""
    scene, strip = sound_scene
    scene.neural_aesthetics.backend = "gpu"
    request = installed("operators.blender.strips").bake_request(scene, strip, scene.neural_aesthetics)
    request = dataclasses.replace(request, width=48, height=27, frames=(strip.frame_final_start,
                                                                        strip.frame_final_start + 5))
    jobs = installed("core.jobs.background")
    launcher, environment = gpu_render.worker_launch(request.backend)
    job = jobs.BackgroundJob("bake", request.to_json(), log_dir=tmp_path / "logs",
                             launcher=launcher, environment=environment)
    state = job.wait(timeout_s=600)
    assert state.status == "done", state.message
    assert state.result["record"]["backend"] == "gpu", job.log_path.read_text()
    assert len(list(Path(request.out_dir).glob("*.png"))) == 6
