"""The GPU path's check: speed and exactness of the ``gpu`` renderer; prints one table from this run.

    .venvs/blender-5.0/bin/python benchmarks/bench_gpu.py [--quick]     # bpy as a module
    blender -b --factory-startup --python benchmarks/bench_gpu.py -- [--quick]

Rows (every number measured in this process, in this run):

1. For each bundled style: frames/s of the gpu renderer at 1920x1080 and 3840x2160
   (draw + read back into a float32 array; best of ``--repeats``, after one warm-up frame
   that also compiles the shader), and its match to NumPy at 1920x1080: the largest float
   difference, and the share of 8-bit levels equal (target: >= 99.9 %, none off by more
   than one).
2. The bake (``bake.bake_sequence``: draw on this thread, encode and write 8-bit PNGs on
   writer threads) at 1920x1080 over ``--bake-frames`` frames of a plan: bake frames/s over
   compute-only frames/s (target >= 0.9: encoding keeps up), and the real-time ratio of a
   3-minute song at 30 frames/s (5,400 frames): 30 / bake frames/s, with the hours it
   takes.

The first line names the GPU as its driver does. On a machine without one, Mesa's llvmpipe
draws on the CPU: the table then says "software rendering" and its speeds are the CPU's,
not a GPU's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (Blender's --python does not add it)
import _setup  # noqa: E402
from bench_render import _best as _best_seconds  # noqa: E402  (warm-up, then the best of n)

SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}
SONG_FRAMES = 3 * 60 * 30
"""A 3-minute song at 30 frames/s."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two styles and a short bake")
    parser.add_argument("--repeats", type=int, default=None, help="timed frames per size (default 3, 1 on llvmpipe)")
    parser.add_argument("--bake-frames", type=int, default=None, help="frames baked (default 60, 4 on llvmpipe)")
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    return parser.parse_args(argv)


def _levels(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(rgb * 255.0 + 0.5), 0, 255).astype(np.int16)


def main() -> int:
    args = _arguments()
    _setup.ensure_libs()
    _setup.import_core()
    from neural_aesthetics.operators import gpu_render
    from neural_aesthetics.core.render import bake, cppn, mapping, style

    probe = gpu_render.provider.probe()
    if not probe.available:
        print(f"No GPU context here: {probe.reason}")
        return 1
    software = probe.software
    repeats = args.repeats or (1 if software else 3)
    bake_frames = args.bake_frames or (4 if software else 60)
    print(f"GPU: {probe.renderer}" + ("  -- SOFTWARE rendering (Mesa llvmpipe on the CPU): these are the CPU's "
                                       "speeds, not a GPU's" if software else ""))
    names = sorted(path.stem for path in (_setup.ROOT / "styles").glob("*.safetensors"))
    if args.quick:
        names = names[:2]

    rows = []
    rng = np.random.default_rng(7)
    for name in names:
        loaded = style.load_style(_setup.ROOT / "styles" / f"{name}.safetensors")
        renderer = gpu_render.provider.make_renderer(loaded.architecture, loaded.weights)
        latent = rng.standard_normal(loaded.architecture["latent_dim"]).astype(np.float32)
        view = {"zoom": 1.2, "rotation_rad": 0.4, "warp": 0.2, "warp_phase": 1.3}
        fps = {}
        for label, (width, height) in SIZES.items():
            out = np.empty((height, width, 3), dtype=np.float32)
            fps[label] = 1.0 / _best_seconds(lambda: renderer.render(latent, width, height, out=out, **view), repeats)
        drawn = renderer.render(latent, 1920, 1080, **view)
        reference = cppn.CPPN(loaded.architecture, loaded.weights).render(latent, 1920, 1080, **view)
        levels = np.abs(_levels(drawn) - _levels(reference))
        rows.append((name, loaded.architecture["activation"], fps["1080p"], fps["4K"],
                     float(np.abs(drawn - reference).max()), float((levels == 0).mean()), int(levels.max())))
        renderer.free()

    print(f"\n1. gpu renderer per bundled style (frames/s, best of {repeats}); match to NumPy at 1920x1080")
    print(f"{'style':<10}{'act':<6}{'1080p fps':>11}{'4K fps':>9}{'max |diff|':>12}{'8-bit equal':>13}{'max levels':>12}")
    for name, activation, fps_1080, fps_4k, difference, equal, worst in rows:
        print(f"{name:<10}{activation:<6}{fps_1080:>11.2f}{fps_4k:>9.2f}{difference:>12.1e}{equal:>12.4%}{worst:>12d}")

    loaded = style.load_style(_setup.ROOT / "styles" / f"{names[0]}.safetensors")
    renderer = gpu_render.provider.make_renderer(loaded.architecture, loaded.weights)
    steps = np.arange(bake_frames, dtype=np.float32)
    plan = mapping.FramePlan(latents=rng.standard_normal((bake_frames, loaded.architecture["latent_dim"])).astype(
        np.float32), zoom=1.0 + 0.1 * np.sin(steps / 5), rotation=steps / 50, warp=np.full(bake_frames, 0.2,
        dtype=np.float32), warp_phase=steps / 10)
    out = np.empty((1080, 1920, 3), dtype=np.float32)
    renderer.render(plan.latents[0], 1920, 1080, out=out, **plan.view(0))  # (warm)
    start = time.perf_counter()
    for row in range(bake_frames):
        renderer.render(plan.latents[row], 1920, 1080, out=out, **plan.view(row))
    compute_fps = bake_frames / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        bake.bake_sequence(loaded, plan, range(bake_frames), Path(folder), 1920, 1080, renderer=renderer)
        bake_fps = bake_frames / (time.perf_counter() - start)
    print(f"\n2. bake of '{names[0]}' at 1920x1080, png8, {bake_frames} frames ({bake.WRITER_THREADS} writer threads)")
    print(f"   bake {bake_fps:.3f} frames/s vs compute {compute_fps:.3f} frames/s: ratio {bake_fps / compute_fps:.2f} "
          f"(target >= 0.9)")
    print(f"   3-minute song at 1080p30 ({SONG_FRAMES} frames): {bake_fps / 30.0:.4f}x real time, "
          f"{SONG_FRAMES / bake_fps / 3600.0:.2f} h" + ("  [software rendering]" if software else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
