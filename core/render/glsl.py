"""The CPPN as a GLSL fragment shader: its source and its weights laid out in a float texture.

Pure Python (no ``bpy``): ``gpu_render`` compiles the source with Blender's ``gpu`` module
and uploads the arrays made here. One fragment is one pixel; it computes exactly what
``cppn.CPPN`` computes for that pixel, in float32:

- coordinates from ``gl_FragCoord`` (pixel centres, rows counted from the bottom: the
  image is read back upside down and flipped), then zoom, rotation and warp as in
  ``cppn.pixel_coordinates``, in double-float arithmetic (pairs of float32, Dekker's
  exact product: no ``fma``, which GPUs need not fuse; ``precise`` so no compiler
  reorders it) and the warp's sines by a double-float series, then rounded once: the
  same float32 coordinates as NumPy's (float64, rounded once), so even Fourier features
  at scale 1024 agree;
- Fourier features ``sin(pi s x)``: ``s x`` exact as a pair, taken modulo 2, then one
  float32 sine of an angle in [-pi, pi]; hidden sines are reduced to [-pi, pi] first;
- tanh is ``(1 - e^-2|v|) / (1 + e^-2|v|)`` with the sign (no overflow for large ``v``).

What the shader source fixes at compile time (``shader_key``): the hidden width, the
coordinate inputs and the number of Fourier scales (they size its arrays). Everything
else (depth, each layer's activation, the Fourier scales' values, all weights) is read
from the weights texture, so styles with the same width share one compiled shader.

Weights texture (RGBA32F, ``TEXTURE_WIDTH`` texels a row, read with ``texelFetch`` at a
flat texel index; ``pack_weights``), every matrix row padded with zeros to whole texels
and every layer to a multiple of 4 units (padded units have zero weights, so they change
nothing downstream):

- ``HEADER_TEXELS`` texels of header floats: [0] depth, [8 + l] layer l's activation
  code (``ACTIVATION_CODES``), [40 + 2 i], [41 + 2 i] Fourier scale i as float32 hi + lo;
- layer 0: ``width_pad`` rows of the coordinate-feature columns (its bias and latent
  columns are folded into the per-frame bias, ``frame_bias``);
- each hidden layer 1 .. depth-1: ``width_pad`` rows of ``width_pad`` columns, then its
  bias (``width_pad`` floats);
- output: 4 rows (the 4th zero) of ``width_pad`` columns, then its bias (4 floats).
"""

from __future__ import annotations

import math

import numpy as np

from . import cppn

TEXTURE_WIDTH = 4096
"""Texels in a row of the weights texture (within every GPU's 16384 limit)."""
HEADER_TEXELS = 32
ACTIVATION_CODES = {"tanh": 0, "sin": 1, "gaussian": 2}
_HEADER_ACTIVATIONS = 8
_HEADER_SCALES = _HEADER_ACTIVATIONS + cppn.MAX_DEPTH
PUSH_CONSTANTS = ("origin", "half_size", "units_per_px", "cos_r", "sin_r", "warp", "phase_x", "phase_y")
"""The per-draw vec2 uniforms of the shader (64 bytes: inside the portable 128), see ``draw_constants``."""
WEIGHTS_SAMPLER, FRAME_BIAS_SAMPLER = "weights", "frame_bias"
OUTPUT_NAME = "colour"


def _texels(floats: int) -> int:
    return -(-floats // 4)


def shader_key(architecture: dict) -> tuple:
    """What the compiled shader depends on: (hidden width, coordinate inputs, Fourier scale count)."""
    cppn.weight_shapes(architecture)  # (checks it)
    return (int(architecture["width"]), tuple(architecture["inputs"]), len(cppn.fourier_scales(architecture)))


def _split_float32(value: float) -> tuple[float, float]:
    """``value`` as float32 ``hi + lo`` (``lo`` the part ``hi`` lost)."""
    high = float(np.float32(value))
    return high, float(np.float32(value - high))


def pack_weights(architecture: dict, weights: dict) -> np.ndarray:
    """The weights texture's data: float32 (rows, TEXTURE_WIDTH, 4) (see the module docstring)."""
    shapes = cppn.weight_shapes(architecture)
    for name, shape in shapes.items():
        if tuple(np.shape(weights.get(name))) != shape:
            raise ValueError(f"weight '{name}' has shape {tuple(np.shape(weights.get(name)))}, "
                             f"the architecture needs {shape}")
    width, depth = int(architecture["width"]), int(architecture["depth"])
    width_pad, features = 4 * _texels(width), cppn.n_coordinate_features(architecture)
    header = np.zeros(HEADER_TEXELS * 4, dtype=np.float64)
    header[0] = depth
    for layer, activation in enumerate(cppn.layer_activations(architecture)):
        header[_HEADER_ACTIVATIONS + layer] = ACTIVATION_CODES[activation]
    for index, scale in enumerate(cppn.fourier_scales(architecture)):
        header[_HEADER_SCALES + 2 * index:_HEADER_SCALES + 2 * index + 2] = _split_float32(scale)

    def padded(matrix, rows: int, columns: int) -> np.ndarray:
        block = np.zeros((rows, columns), dtype=np.float32)
        matrix = np.asarray(matrix, dtype=np.float32)
        block[:matrix.shape[0], :matrix.shape[1]] = matrix
        return block.ravel()

    parts = [header.astype(np.float32),
             padded(np.asarray(weights["layer0.weight"])[:, :features], width_pad, 4 * _texels(features))]
    for layer in range(1, depth):
        parts += [padded(weights[f"layer{layer}.weight"], width_pad, width_pad),
                  padded(np.asarray(weights[f"layer{layer}.bias"])[None, :], 1, width_pad)]
    parts += [padded(weights["output.weight"], 4, width_pad),
              padded(np.asarray(weights["output.bias"])[None, :], 1, 4)]
    flat = np.concatenate(parts)
    rows = _texels(flat.size) // TEXTURE_WIDTH + 1
    texture = np.zeros(rows * TEXTURE_WIDTH * 4, dtype=np.float32)
    texture[:flat.size] = flat
    return texture.reshape(rows, TEXTURE_WIDTH, 4)


def frame_bias(architecture: dict, weights: dict, latent) -> np.ndarray:
    """The first layer's bias for one latent, ``layer0.bias + latent columns @ latent``
    (float64, rounded once), as float32 (1, width_pad / 4, 4): the frame-bias texture."""
    features, width = cppn.n_coordinate_features(architecture), int(architecture["width"])
    latent = np.asarray(latent, dtype=np.float32).astype(np.float64)
    first = np.asarray(weights["layer0.weight"], dtype=np.float64)
    bias = np.zeros(4 * _texels(width), dtype=np.float32)
    bias[:width] = np.asarray(weights["layer0.bias"], dtype=np.float64) + first[:, features:] @ latent
    return bias.reshape(1, -1, 4)


def draw_constants(width: int, height: int, zoom: float, rotation_rad: float, warp: float, warp_phase: float,
                   origin: tuple[int, int] = (0, 0)) -> dict[str, tuple[float, float]]:
    """``PUSH_CONSTANTS`` for drawing the tile of a ``width`` x ``height`` image whose
    bottom-left pixel is ``origin`` (columns from the left, rows from the bottom): pixel
    pairs, and float64 values as double-float (hi, lo) pairs; the warp phases reduced
    modulo 2 pi."""
    two_pi = 2.0 * math.pi
    return {"origin": (float(origin[0]), float(origin[1])), "half_size": (width / 2.0, height / 2.0),
            "units_per_px": _split_float32(2.0 / (min(width, height) * zoom)),
            "cos_r": _split_float32(math.cos(rotation_rad)), "sin_r": _split_float32(math.sin(rotation_rad)),
            "warp": _split_float32(float(warp)), "phase_x": _split_float32(math.remainder(warp_phase, two_pi)),
            "phase_y": _split_float32(math.remainder(1.7 * warp_phase, two_pi))}


_COMMON = """
#ifdef GPU_METAL
/* (Metal's shading language has no such qualifier; exactness there is not yet measured) */
#  define precise
#endif
const int TEXTURE_WIDTH = {texture_width};
const int HEADER_TEXELS = {header_texels};
const int WIDTH4 = {width4};
const int FEATURES4 = {features4};
const int N_SCALES = {n_scales};

vec4 weight_texel(int index) {{
  return texelFetch({weights}, ivec2(index % TEXTURE_WIDTH, index / TEXTURE_WIDTH), 0);
}}

float header_value(int index) {{
  vec4 texel = weight_texel(index / 4);
  return texel[index % 4];
}}

/* Double-float arithmetic: a value is vec2(hi, lo), hi = the float32 rounding of hi + lo. */
vec2 quick_two_sum(float a, float b) {{
  precise float s = a + b;
  precise float error = b - (s - a);
  return vec2(s, error);
}}

vec2 df_add(vec2 a, vec2 b) {{
  precise float s = a.x + b.x;
  precise float v = s - a.x;
  precise float error = (a.x - (s - v)) + (b.x - v);
  return quick_two_sum(s, error + (a.y + b.y));
}}

/* a as two halves of 12 bits (Veltkamp): their products with other halves are exact. */
vec2 split(float a) {{
  precise float scaled = 4097.0 * a;
  precise float high = scaled - (scaled - a);
  precise float low = a - high;
  return vec2(high, low);
}}

/* a * b exactly, as (the float32 product, its rounding error) (Dekker: GPUs may not fuse fma). */
vec2 two_prod(float a, float b) {{
  precise float p = a * b;
  vec2 a_parts = split(a);
  vec2 b_parts = split(b);
  precise float error = ((a_parts.x * b_parts.x - p) + a_parts.x * b_parts.y + a_parts.y * b_parts.x)
                        + a_parts.y * b_parts.y;
  return vec2(p, error);
}}

vec2 df_mul(vec2 a, vec2 b) {{
  vec2 p = two_prod(a.x, b.x);
  precise float error = p.y + (a.x * b.y + a.y * b.x);
  return quick_two_sum(p.x, error);
}}

/* sin of a double-float angle to about 1e-14: reduced by multiples of pi/2, then Taylor. */
vec2 df_sin(vec2 a) {{
  float quarter = floor(a.x * 0.6366197723675814 + 0.5);
  vec2 r = df_add(a, df_mul(vec2(-quarter, 0.0), vec2({half_pi})));
  vec2 r2 = df_mul(r, r);
  vec2 sine = vec2({sin_terms[0]});
  vec2 cosine = vec2({cos_terms[0]});
{taylor}
  sine = df_mul(sine, r);
  int turn = int(mod(quarter, 4.0));
  vec2 value = (turn == 0 || turn == 2) ? sine : cosine;
  return (turn >= 2) ? -value : value;
}}

/* sin after reducing v to [-pi, pi] with 2 pi split as 6.28125 + 1.9353071795864769e-3. */
float reduced_sin(float v) {{
  float turns = floor(v * 0.15915494309189535 + 0.5);
  precise float reduced = (v - turns * 6.28125) - turns * 1.9353071795864769e-3;
  return sin(reduced);
}}

/* (sin, cos) of pi * scale * a, scale = hi + lo: the product split exactly, reduced modulo 2. */
vec2 sincos_pi_scaled(float a, vec2 scale) {{
  vec2 exact = two_prod(scale.x, a);
  float product = exact.x;
  precise float error = exact.y + scale.y * a;
  float even = 2.0 * floor(product * 0.5 + 0.5);
  float angle = ((product - even) + error) * 3.14159265358979;
  return vec2(sin(angle), cos(angle));
}}

/* hypot(x, y) rounded to float32 (one Newton step on the exact sum of squares). */
float hypot_rounded(float x, float y) {{
  vec2 squares = df_add(two_prod(x, x), two_prod(y, y));
  float root = sqrt(squares.x);
  if (root <= 0.0) {{
    return 0.0;
  }}
  vec2 root_squared = two_prod(root, root);
  precise float residual = ((squares.x - root_squared.x) - root_squared.y) + squares.y;
  return root + residual / (2.0 * root);
}}

float activate(float v, int code) {{
  if (code == 0) {{
    float t = exp(-2.0 * abs(v));
    float magnitude = (1.0 - t) / (1.0 + t);
    return v < 0.0 ? -magnitude : magnitude;
  }}
  if (code == 1) {{
    return reduced_sin(v);
  }}
  return exp(-v * v);
}}

void main() {{
  /* The coordinates in double-float, as cppn.pixel_coordinates computes them in float64,
     then rounded once: the same float32 x and y as NumPy's but in rare ties. */
  vec2 screen_x = df_mul(vec2(gl_FragCoord.x + origin.x - half_size.x, 0.0), units_per_px);
  vec2 screen_y = df_mul(vec2(gl_FragCoord.y + origin.y - half_size.y, 0.0), units_per_px);
  vec2 x0 = df_add(df_mul(cos_r, screen_x), df_mul(sin_r, screen_y));
  vec2 y0 = df_add(df_mul(cos_r, screen_y), -df_mul(sin_r, screen_x));
  float x = df_add(x0, df_mul(warp, df_sin(df_add(2.0 * y0, phase_x)))).x;
  float y = df_add(y0, df_mul(warp, df_sin(df_add(2.0 * x0, phase_y)))).x;

  vec4 features[FEATURES4];
  for (int k = 0; k < FEATURES4; ++k) {{
    features[k] = vec4(0.0);
  }}
{inputs}
  for (int i = 0; i < N_SCALES; ++i) {{
    vec2 scale = vec2(header_value({header_scales} + 2 * i), header_value({header_scales} + 2 * i + 1));
    vec2 along_x = sincos_pi_scaled(x, scale);
    vec2 along_y = sincos_pi_scaled(y, scale);
    int at = {n_inputs} + 4 * i;
    features[at / 4][at % 4] = along_x.x;
    features[(at + 1) / 4][(at + 1) % 4] = along_x.y;
    features[(at + 2) / 4][(at + 2) % 4] = along_y.x;
    features[(at + 3) / 4][(at + 3) % 4] = along_y.y;
  }}

  /* Two halves: a layer reads the units of one (from ``current``) and writes the other. */
  vec4 units[2 * WIDTH4];
  int code = int(header_value({header_activations}));
  for (int j = 0; j < WIDTH4; ++j) {{
    vec4 sums = texelFetch({frame_bias}, ivec2(j, 0), 0);
    for (int c = 0; c < 4; ++c) {{
      int row = HEADER_TEXELS + (4 * j + c) * FEATURES4;
      float total = sums[c];
      for (int k = 0; k < FEATURES4; ++k) {{
        total += dot(weight_texel(row + k), features[k]);
      }}
      sums[c] = activate(total, code);
    }}
    units[j] = sums;
  }}

  int depth = int(header_value(0));
  int offset = HEADER_TEXELS + 4 * WIDTH4 * FEATURES4;
  int current = 0;
  for (int layer = 1; layer < depth; ++layer) {{
    code = int(header_value({header_activations} + layer));
    int next = WIDTH4 - current;
    for (int j = 0; j < WIDTH4; ++j) {{
      vec4 sums = weight_texel(offset + 4 * WIDTH4 * WIDTH4 + j);
      for (int c = 0; c < 4; ++c) {{
        int row = offset + (4 * j + c) * WIDTH4;
        float total = sums[c];
{hidden_sum}
        sums[c] = activate(total, code);
      }}
      units[next + j] = sums;
    }}
    current = next;
    offset += 4 * WIDTH4 * WIDTH4 + WIDTH4;
  }}

  vec4 sums = weight_texel(offset + 4 * WIDTH4);
  vec3 rgb;
  for (int c = 0; c < 3; ++c) {{
    float total = sums[c];
    int row = offset + c * WIDTH4;
{output_sum}
    rgb[c] = total;
  }}
  {output} = vec4(1.0 / (1.0 + exp(-rgb)), 1.0);
}}
"""

_INPUT_EXPRESSIONS = {"x": "x", "y": "y", "r": "hypot_rounded(x, y)"}
_TAYLOR_TERMS = 8
"""Terms of the sine (r^1 .. r^15) and cosine (r^0 .. r^14) series on [-pi/4, pi/4]."""


def _float_pair(value: float) -> str:
    return "{:.9g}, {:.9g}".format(*_split_float32(value))


def _taylor_source() -> tuple[list[str], list[str], str]:
    """The series' coefficients as double-float literals and the Horner steps (highest first)."""
    sin_terms = [_float_pair((-1) ** n / math.factorial(2 * n + 1)) for n in reversed(range(_TAYLOR_TERMS))]
    cos_terms = [_float_pair((-1) ** n / math.factorial(2 * n)) for n in reversed(range(_TAYLOR_TERMS))]
    steps = "\n".join(f"  sine = df_add(df_mul(sine, r2), vec2({sin_term}));\n"
                      f"  cosine = df_add(df_mul(cosine, r2), vec2({cos_term}));"
                      for sin_term, cos_term in zip(sin_terms[1:], cos_terms[1:]))
    return sin_terms, cos_terms, steps


def fragment_source(architecture: dict) -> str:
    """The fragment shader's GLSL body for this architecture's ``shader_key`` (its samplers,
    push constants and output are declared by the caller: ``WEIGHTS_SAMPLER``,
    ``FRAME_BIAS_SAMPLER``, ``PUSH_CONSTANTS`` (floats), ``OUTPUT_NAME`` (vec4))."""
    width, inputs, n_scales = shader_key(architecture)
    input_lines = "\n".join(f"  features[{index // 4}][{index % 4}] = {_INPUT_EXPRESSIONS[name]};"
                            for index, name in enumerate(inputs))
    sin_terms, cos_terms, taylor = _taylor_source()
    # The sums over the previous layer's units are written out, not looped: Mesa's
    # llvmpipe ends any loop after 65535 iterations per pixel in total.
    unrolled = [f"total += dot(weight_texel(row + {k}), units[current + {k}]);" for k in range(_texels(width))]
    return _COMMON.format(
        half_pi=_float_pair(math.pi / 2), sin_terms=sin_terms, cos_terms=cos_terms, taylor=taylor,
        texture_width=TEXTURE_WIDTH, header_texels=HEADER_TEXELS, width4=_texels(width),
        features4=_texels(len(inputs) + 4 * n_scales), n_scales=n_scales, weights=WEIGHTS_SAMPLER,
        frame_bias=FRAME_BIAS_SAMPLER, inputs=input_lines, header_scales=_HEADER_SCALES,
        header_activations=_HEADER_ACTIVATIONS, n_inputs=len(inputs), output=OUTPUT_NAME,
        hidden_sum="\n".join(" " * 8 + line for line in unrolled),
        output_sum="\n".join(" " * 4 + line for line in unrolled),
    )


VERTEX_SOURCE = """
void main() {
  gl_Position = vec4(position, 0.0, 1.0);
}
"""
"""A full-screen triangle's vertex shader (``position``: vec2 vertex input)."""
FULL_SCREEN_TRIANGLE = ((-1.0, -1.0), (3.0, -1.0), (-1.0, 3.0))
