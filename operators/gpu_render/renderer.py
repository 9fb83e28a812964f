"""The ``gpu`` renderer: a style's CPPN drawn by a fragment shader through Blender's ``gpu`` module.

Same interface and the same pixels as ``core.render.cppn.CPPN`` (to float32 rounding: the
shader is ``core.render.glsl``'s). A frame is drawn in tiles of at most ``tile_side``
pixels a side into an RGBA32F off-screen buffer and read back into a preallocated 1-D
``gpu.types.Buffer`` (``read_color`` without ``data=`` gives a buffer whose exported
strides are wrong). Tiles bound the work of one draw (a GPU driver resets a draw that runs
for seconds) and let a bake's cancel land between them.

GPU calls belong to the thread that owns the context (Blender's main thread, or the one
thread of a background process): ``thread_bound`` tells ``core.render.bake`` to draw on
its calling thread.
"""

from __future__ import annotations

import math

import numpy as np

from ...core.progress import Cancelled
from ...core.render import cppn, glsl
from . import context

TILE_FLOPS = 2e10
"""Multiply-adds x 2 in one draw: a few milliseconds on a current GPU."""
MIN_TILE_SIDE, MAX_TILE_SIDE = 64, 2048

_shaders: dict[tuple, object] = {}
"""Compiled shaders by ``glsl.shader_key``, kept for the process (compiling is the slow part)."""


def _shader(architecture: dict):
    import gpu

    key = glsl.shader_key(architecture)
    shader = _shaders.get(key)
    if shader is None:
        info = gpu.types.GPUShaderCreateInfo()
        for name in glsl.PUSH_CONSTANTS:
            info.push_constant("VEC2", name)
        info.sampler(0, "FLOAT_2D", glsl.WEIGHTS_SAMPLER)
        info.sampler(1, "FLOAT_2D", glsl.FRAME_BIAS_SAMPLER)
        info.vertex_in(0, "VEC2", "position")
        info.fragment_out(0, "VEC4", glsl.OUTPUT_NAME)
        info.vertex_source(glsl.VERTEX_SOURCE)
        info.fragment_source(glsl.fragment_source(architecture))
        shader = _shaders[key] = gpu.shader.create_from_info(info)
    return shader


def _has_uniform(shader, name: str) -> bool:
    try:
        return shader.uniform_from_name(name) != -1
    except ValueError:  # ("uniform ... not found")
        return False


def _float_texture(values: np.ndarray):
    """An RGBA32F texture of a float32 (rows, columns, 4) array."""
    import gpu

    values = np.ascontiguousarray(values, dtype=np.float32)
    data = gpu.types.Buffer("FLOAT", values.size, values.ravel())
    return gpu.types.GPUTexture((values.shape[1], values.shape[0]), format="RGBA32F", data=data)


def tile_side(architecture: dict) -> int:
    """Tile side in pixels (a multiple of 64) so one draw is about ``TILE_FLOPS``."""
    side = math.sqrt(TILE_FLOPS / cppn.flops_per_pixel(architecture))
    return int(min(MAX_TILE_SIDE, max(MIN_TILE_SIDE, side // 64 * 64)))


class GPUCPPN:
    """A style's CPPN on the GPU; builds the context if this process has none.

    Args:
        architecture, weights: the style's (see ``core.render.cppn``).
    """

    backend_name = "gpu"
    thread_bound = True

    def __init__(self, architecture: dict, weights: dict):
        import gpu
        from gpu_extras.batch import batch_for_shader

        self.architecture = dict(architecture)
        self.latent_dim = int(architecture["latent_dim"])
        self._weights = {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
        packed = glsl.pack_weights(architecture, self._weights)  # (checks the shapes)
        context.ensure_context()
        self.device_name = context.renderer_name()
        self.software = context.is_software()
        self._gpu = gpu
        self._shader = _shader(architecture)
        # (a compiler drops a uniform the shader does not need, e.g. the rotation of a
        # style with no coordinate input: setting it would be an error)
        self._uniforms = {name for name in glsl.PUSH_CONSTANTS if _has_uniform(self._shader, name)}
        self._weights_texture = _float_texture(packed)
        self._batch = batch_for_shader(self._shader, "TRIS", {"position": glsl.FULL_SCREEN_TRIANGLE})
        self._tile_side = tile_side(architecture)
        self._targets: dict[tuple[int, int], tuple] = {}

    def _target(self, width: int, height: int) -> tuple:
        """An off-screen buffer and a 1-D readback buffer for a tile of this size (kept)."""
        target = self._targets.get((width, height))
        if target is None:
            gpu = self._gpu
            target = (gpu.types.GPUOffScreen(width, height, format="RGBA32F"),
                      gpu.types.Buffer("FLOAT", width * height * 4))
            self._targets[(width, height)] = target
        return target

    def render(self, latent, width: int, height: int, zoom: float = 1.0, rotation_rad: float = 0.0, *,
               warp: float = 0.0, warp_phase: float = 0.0, stop_event=None, out: np.ndarray | None = None
               ) -> np.ndarray:
        """One image, float32 (height, width, 3) in [0, 1]; arguments as ``cppn.CPPN.render``."""
        latent = cppn.check_render_args(latent, self.latent_dim, width, height, zoom)
        image = cppn.check_out(out, width, height)
        bias = _float_texture(glsl.frame_bias(self.architecture, self._weights, latent))
        side = self._tile_side
        shader, gpu = self._shader, self._gpu
        for bottom in range(0, height, side):
            for left in range(0, width, side):
                if stop_event is not None and stop_event.is_set():
                    raise Cancelled("cancelled")
                tile_width, tile_height = min(side, width - left), min(side, height - bottom)
                offscreen, readback = self._target(tile_width, tile_height)
                constants = glsl.draw_constants(width, height, zoom, rotation_rad, warp, warp_phase, (left, bottom))
                with offscreen.bind():
                    gpu.state.blend_set("NONE")
                    shader.bind()
                    for name, value in constants.items():
                        if name in self._uniforms:
                            shader.uniform_float(name, value)
                    shader.uniform_sampler(glsl.WEIGHTS_SAMPLER, self._weights_texture)
                    shader.uniform_sampler(glsl.FRAME_BIAS_SAMPLER, bias)
                    self._batch.draw(shader)
                    framebuffer = gpu.state.active_framebuffer_get()
                    framebuffer.read_color(0, 0, tile_width, tile_height, 4, 0, "FLOAT", data=readback)
                pixels = np.asarray(readback).reshape(tile_height, tile_width, 4)
                image[height - bottom - tile_height:height - bottom, left:left + tile_width] = pixels[::-1, :, :3]
        return image

    def free(self) -> None:
        """Release the GPU buffers now (they are freed with the renderer otherwise)."""
        for offscreen, _ in self._targets.values():
            offscreen.free()
        self._targets.clear()
