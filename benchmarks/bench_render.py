"""Benchmark of the CPPN renderer and the bake engine; prints one table, all from this run.

    .venvs/blender-5.0/bin/python benchmarks/bench_render.py [--quick]

Rows (every number measured in this process, or its children, in this run; the load
average of the machine is printed before and after):

1. CPPN evaluation, 1280x720 and 1920x1080, of the shipped architecture (a bundled style
   file each: ``lava``, width 32, depth 4, tanh; ``moss``, the same with sin) and of
   width 128 (random weights, tanh), numpy and torch renderers: achieved GFLOP/s
   (matrix-product FLOPs per pixel from ``cppn.flops_per_pixel``, activations not
   counted) as a share of two fp32 GEMM rates of this process, each the better of
   torch.mm and numpy.dot with every core: **peak**, 2048x2048 products (the share the
   targets are judged by), and **shaped**, the network's own products, (width x width+1)
   weights times (width+1 x 16384 pixels) tiles back to back (what the renderers are made
   of). GEMMs are timed over ``GEMM_REPEATS`` products, about as long as a frame takes:
   this machine's speed drifts from one moment to the next, and a single 25 ms product
   catches quiet moments a half-second frame cannot. For the shipped architecture at
   1920x1080 a "no activations" row draws the same frame with kernels that leave every
   value as its product made it (coordinates and products alone): what the activation
   kernels cost, and the share of peak that would be the ceiling were they free.
2. End-to-end bake (render + quantise + encode + atomic write, ``bake.bake_sequence``)
   frames/s divided by compute-only frames/s (the same renderer, no writing), 1280x720
   8-bit PNG, shipped style, numpy and torch. Then the encoders' own throughput: a bake
   whose renderer copies a finished frame (instant, standing in for a GPU), 1920x1080,
   8-bit PNG, JPEG and EXR (one frame encoded while the next is drawn).
3. Live preview (``preview.Preview.frame_at``) at 192x108, shipped styles: frames/s.
4. Peak memory (peak RSS, ``VmHWM``) of the full pipeline in a fresh child process per
   song length -- decode + audio analysis of the whole song, mapping plan of the whole song,
   then a 1920x1080 bake of the last ``--tail-frames`` frames of the song (``frames=`` chunk)
   of the shipped ``lava`` style -- for 1, 5, 10 and 30-minute songs (a 30 s generated clip
   repeated, 44.1 kHz stereo WAV). Each row also shows the peak of the analysis + plan
   alone (what grows with the song) and how much the RSS grows over the bake's frames
   (``_growth_mb``: what would grow with the number of frames). Plus the per-frame working
   set: peak RSS of a child that only renders and writes 1080p frames, minus that child's
   RSS before the first frame.

Timings are noisy on a shared machine: compare the ratios, which are taken within one run.
The light dependencies (soundfile, scipy, Pillow) come from the extension's wheels in
``wheels/`` when the venv lacks them (unpacked into a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _setup

FPS = 30.0


def _best(function, repeats: int) -> float:
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


GEMM_REPEATS = 16
"""fp32 2048x2048 products per peak GEMM timing (about half a second here, like a frame)."""
SHAPED_TILE = 16384
"""Pixels per tile of the shaped GEMM (the renderers' default tile)."""
SHIPPED = {"w32 tanh": "lava", "w32 sin": "moss"}
"""Bundled styles timed for the shipped architecture (width 32, depth 4)."""
SIZES = [(1280, 720), (1920, 1080)]


def _repeated(product, repeats: int):
    def run():
        for _ in range(repeats):
            product()
    return run


def gemm_timers(width: int) -> dict:
    """(kind, library) -> (function, FLOPs per call): ``GEMM_REPEATS`` fp32 2048x2048 products
    ("peak"), and (width x width+1) @ (width+1 x ``SHAPED_TILE``) products of about the same
    FLOPs ("shaped"), numpy and torch (when installed) with every core."""
    rng = np.random.default_rng(0)
    n = 2048
    square = [rng.standard_normal((n, n)).astype(np.float32) for _ in range(2)]
    shaped = [rng.standard_normal((width, width + 1)).astype(np.float32),
              rng.standard_normal((width + 1, SHAPED_TILE)).astype(np.float32)]
    shaped_flops = 2 * width * (width + 1) * SHAPED_TILE
    shaped_repeats = max(1, GEMM_REPEATS * 2 * n**3 // shaped_flops)
    timers = {}
    arrays = {"numpy": (square, shaped)}
    try:
        import torch

        arrays["torch"] = ([torch.from_numpy(a) for a in square], [torch.from_numpy(a) for a in shaped])
    except ImportError:
        pass
    for library, ((a, b), (weights, tile)) in arrays.items():
        product = np.dot if library == "numpy" else __import__("torch").mm
        out_square, out_shaped = product(a, b), product(weights, tile)
        timers[("peak", library)] = (_repeated(lambda a=a, b=b, o=out_square, f=product: f(a, b, out=o), GEMM_REPEATS),
                                     GEMM_REPEATS * 2 * n**3)
        timers[("shaped", library)] = (_repeated(lambda w=weights, t=tile, o=out_shaped, f=product: f(w, t, out=o),
                                                 shaped_repeats), shaped_repeats * shaped_flops)
    return timers


def _style(name: str | None = None):
    """A bundled style by name, or None: a width-128 style (random weights, tanh)."""
    from neural_aesthetics.core.render import cppn, style

    if name is not None:
        return style.load_style(_setup.ROOT / "styles" / f"{name}.json")
    architecture = dict(cppn.default_architecture(), width=128)
    return style.Style(name="bench", architecture=architecture, weights=cppn.random_weights(architecture, 5),
                       metadata={}, path=None)


def _time_interleaved(functions: dict, rounds: int) -> dict:
    """name -> best seconds of ``rounds`` interleaved rounds (a busy moment hurts all alike)."""
    best = {name: float("inf") for name in functions}
    for function in functions.values():
        function()  # warm-up
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def cppn_rows(rounds: int) -> tuple[dict, list[tuple[str, str, float, float]]]:
    """GEMM GFLOP/s by (kind, width) and (architecture, renderer, seconds per frame, GFLOP/s)
    for every architecture, size and renderer of row 1."""
    from neural_aesthetics.core.render import backend, cppn, cpu_tiles

    styles = {label: _style(name) for label, name in SHIPPED.items()}
    styles["w128 tanh"] = _style()
    latent = np.full(8, 0.3, np.float32)
    functions, flops = {}, {}
    for width in sorted({int(loaded.architecture["width"]) for loaded in styles.values()}):
        for (kind, library), (function, count) in gemm_timers(width).items():
            functions[("gemm", kind, width, library)] = function
            flops[("gemm", kind, width, library)] = count
    for label, loaded in styles.items():
        for name in ["torch"] * backend.torch_available() + ["numpy"]:
            renderer = backend.renderer_for_style(loaded, name)
            for width, height in SIZES:
                key = (label, f"{width}x{height}", renderer.backend_name)
                functions[key] = (lambda r=renderer, w=width, h=height:
                                  r.render(latent, w, h, zoom=1.1, rotation_rad=0.2))
                flops[key] = cppn.flops_per_pixel(loaded.architecture) * width * height
            if label in SHIPPED:  # the same frame with the activations left out: what they cost
                width, height = SIZES[-1]
                key = (label, f"{width}x{height}", renderer.backend_name, "without activations")
                functions[key] = (lambda r=renderer, w=width, h=height:
                                  cpu_tiles.render(r.cpu_engine()[0], NoActivations(), latent, w, h, 1.1, 0.2, warp=0.0,
                                                   warp_phase=0.0, tile_pixels=None, stop_event=None, out=None))
                flops[key] = cppn.flops_per_pixel(loaded.architecture) * width * height
    best = _time_interleaved(functions, rounds)
    gemm: dict = {}
    for key in [key for key in functions if key[0] == "gemm"]:
        _, kind, width, _library = key
        gemm[(kind, width)] = max(gemm.get((kind, width), 0.0), flops[key] / best[key] / 1e9)
    rows = [(key, int(styles[key[0]].architecture["width"]), best[key], flops[key] / best[key] / 1e9)
            for key in functions if key[0] != "gemm"]
    return gemm, rows


class NoActivations:
    """Kernels that leave every value as the product made it: a frame drawn with them costs
    the coordinates and the products alone (row 1's "without activations")."""

    def activate(self, values: np.ndarray, activation: str) -> None:
        pass

    def sigmoid(self, values: np.ndarray) -> None:
        pass

    def worker_scope(self):
        import contextlib

        return contextlib.nullcontext()


class InstantRenderer:
    """Stands in for a renderer that draws in no time (a GPU): copies one finished frame."""

    backend_name = "instant"

    def __init__(self, frame: np.ndarray):
        self.frame = frame

    def render(self, latent, width, height, *, out=None, **_view):
        out = np.empty_like(self.frame) if out is None else out
        np.copyto(out, self.frame)
        return out


def _bake_plan(n: int):
    from neural_aesthetics.core.render import mapping

    onset = np.zeros(n)
    onset[::3] = 1.0
    return mapping.plan({"loudness": np.full(n, 0.5), "onset": onset}, FPS, 8, seed=1, preset="balanced")


def bake_rows(rounds: int, frames_per_round: int) -> list[tuple[str, float, float]]:
    """(what, end-to-end frames/s, compute-only frames/s or nan) of row 2.

    Interleaved rounds of ``frames_per_round`` frames each way; the best round of each counts.
    """
    from neural_aesthetics.core.render import backend, bake

    loaded = _style(SHIPPED["w32 tanh"])
    n = frames_per_round
    plan = _bake_plan(n)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ["torch"] * backend.torch_available() + ["numpy"]:
            renderer = backend.renderer_for_style(loaded, name)
            folders = iter(range(10**6))

            def compute():
                for row in range(n):
                    bake.render_row(renderer, plan, row, 1280, 720)

            def whole():
                bake.bake_sequence(loaded, plan, range(n), Path(folder) / f"{name}{next(folders)}", 1280, 720,
                                   renderer=renderer)

            best = _time_interleaved({"compute": compute, "bake": whole}, rounds)
            rows.append((f"1280x720 png8, {renderer.backend_name}", n / best["bake"], n / best["compute"]))
        frame = bake.render_row(backend.renderer_for_style(loaded, "auto"), plan, 1, 1920, 1080)
        instant = InstantRenderer(frame)
        folders = iter(range(10**6))
        for image_format in ("png8", "jpeg", "exr"):
            def encode_only(image_format=image_format):
                bake.bake_sequence(loaded, plan, range(n), Path(folder) / f"i{next(folders)}", 1920, 1080,
                                   renderer=instant, image_format=image_format)

            best = _time_interleaved({"bake": encode_only}, max(1, rounds // 2))
            rows.append((f"1920x1080 {image_format}, instant renderer", n / best["bake"], float("nan")))
    return rows


def preview_fps(rounds: int, n_frames: int) -> list[tuple[str, float]]:
    from neural_aesthetics.core.render import backend, mapping, preview

    n = 600
    plan = mapping.plan({"loudness": np.linspace(0, 1, n), "onset": (np.arange(n) % 15 == 0) * 1.0},
                        FPS, 8, seed=2, preset="balanced")
    lives = {}
    for label, name in SHIPPED.items():
        for renderer in ["torch"] * backend.torch_available() + ["numpy"]:
            live = preview.Preview.from_style(_style(name), plan, FPS, backend=renderer)
            lives[f"{name} ({label}), {live.renderer.backend_name}"] = live

    def frames(live):
        return lambda: [live.frame_at(k / 24.0) for k in range(n_frames)]

    best = _time_interleaved({name: frames(live) for name, live in lives.items()}, rounds)
    return [(name, n_frames / seconds) for name, seconds in best.items()]


# --- memory (child processes) -----------------------------------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ``ru_maxrss`` it does not carry the forking
    parent's peak across ``exec``)."""
    return _status_mb("VmHWM")


def _reset_peak() -> None:
    """Start ``VmHWM`` again from the current RSS (Linux ``clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def child_pipeline(wav: str, out_dir: str, tail_frames: int, style_path: str) -> dict:
    """Analysis + plan of the whole song, then the same again with a 1080p bake of its last
    frames (``bake_visualizer``, as a user's bake runs); memory figures of both."""
    from neural_aesthetics.core import audio
    from neural_aesthetics.core.render import visualizer
    from neural_aesthetics.core.audio.timing import Timing

    duration = audio.duration_s(wav)
    n_frames = int(duration * FPS)
    timing = Timing(FPS, 1.0, 1, 1 + n_frames)
    request = visualizer.BakeRequest(
        audio_path=Path(wav), timing=timing, style_path=Path(style_path),
        out_dir=Path(out_dir), width=1920, height=1080, preset="balanced",
        frames=(timing.frame_end - tail_frames, timing.frame_end - 1))
    visualizer.song_plan(request)
    analysis_peak = _peak_mb()
    _reset_peak()
    per_frame_rss = []
    start = time.perf_counter()
    result = visualizer.bake_visualizer(request, progress=lambda *_: per_frame_rss.append(_rss_mb()))
    return {"seconds": time.perf_counter() - start, "written": result.written, "n_frames": n_frames,
            "peak_mb": max(analysis_peak, _peak_mb()), "analysis_peak_mb": analysis_peak,
            "frame_growth_mb": _growth_mb(per_frame_rss), "backend": result.backend}


def _growth_mb(per_frame_rss: list[float]) -> float:
    """How much the RSS grows over a bake's frames: the highest RSS after the later half of
    the frames minus the highest after the earlier half (the first frame, which allocates
    the buffers, left out; a frame's buffers come and go, so single readings jump)."""
    half = len(per_frame_rss) // 2
    return max(per_frame_rss[half:]) - max(per_frame_rss[1:half] or per_frame_rss[:1])


def child_frames(out_dir: str, n_frames: int) -> dict:
    """Only render + write 1080p frames of a shipped style: the per-frame working set."""
    from neural_aesthetics.core.render import bake, mapping

    loaded = _style(SHIPPED["w32 tanh"])
    plan = mapping.plan({"loudness": np.full(n_frames, 0.5), "onset": np.zeros(n_frames)}, FPS, 8, seed=1)
    from neural_aesthetics.core.render import backend

    renderer = backend.renderer_for_style(loaded, "auto")
    before = _rss_mb()
    bake.bake_sequence(loaded, plan, range(n_frames), out_dir, 1920, 1080, renderer=renderer)
    return {"before_mb": before, "peak_mb": _peak_mb(), "backend": renderer.backend_name}


def _run_child(*args) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True,
                          env=dict(os.environ, NA_BENCH_SYS_PATH=json.dumps(sys.path)))
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write_song(path: Path, seconds: float, clip) -> None:
    import soundfile

    if clip.ndim == 1:
        clip = np.stack([clip, clip * 0.9], axis=1)
    repeats = int(np.ceil(seconds * 44100 / len(clip)))
    samples = np.tile(clip, (repeats, 1))[: int(seconds * 44100)]
    soundfile.write(str(path), samples, 44100, subtype="PCM_16")


def memory_rows(minutes: list[float], tail_frames: int) -> tuple[list[dict], dict]:
    import synth_music

    clip, _ = synth_music.render_demo_clip(seconds=30.0, seed=4)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        style_path = _style(SHIPPED["w32 tanh"]).path
        for length in minutes:
            wav = Path(folder) / f"song_{length:g}min.wav"
            _write_song(wav, length * 60.0, np.asarray(clip, np.float32))
            result = _run_child("pipeline", wav, Path(folder) / f"frames_{length:g}", tail_frames, style_path)
            rows.append(dict(result, minutes=length))
            wav.unlink()
        frames = _run_child("frames", Path(folder) / "frames_only", 4)
    return rows, frames


def simd_line() -> str:
    """The vector instructions the kernels dispatch to in this run: numpy's best of AVX-512
    (Skylake-X set) or AVX2, torch's ATen capability and the kernels numpy's OpenBLAS took.
    (``ATEN_CPU_CAPABILITY=avx2``, ``NPY_DISABLE_CPU_FEATURES`` and ``OPENBLAS_CORETYPE=Haswell``
    make an AVX-512 machine run the AVX2 kernels, as the README shows.)"""
    from neural_aesthetics.core.render import backend, blas

    try:
        from numpy.core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 2
        from numpy._core._multiarray_umath import __cpu_features__
    numpy_simd = next((name for name in ("AVX512_SKX", "AVX2") if __cpu_features__.get(name)), "below AVX2")
    torch_simd = "not installed"
    if backend.torch_available():
        import torch

        torch_simd = torch.backends.cpu.get_cpu_capability()
    return f"numpy SIMD: {numpy_simd}; torch ATen: {torch_simd}; numpy's BLAS: {blas.describe()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1 and 2-minute songs only")
    parser.add_argument("--tail-frames", type=int, default=8, help="frames baked at the end of each song")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory rows (4)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _setup.ensure_libs()
    _setup.import_core()
    if args.child:
        sys.path[:0] = [entry for entry in json.loads(os.environ.get("NA_BENCH_SYS_PATH", "[]")) if entry not in sys.path]
        kind, *rest = args.child
        result = child_pipeline(rest[0], rest[1], int(rest[2]), rest[3]) if kind == "pipeline" else child_frames(rest[0], int(rest[1]))
        print(json.dumps(result))
        return 0

    rounds = 2 if args.quick else 8
    load_before = os.getloadavg()
    gemm, rows = cppn_rows(rounds)
    lines = [("metric", "measured (best of interleaved rounds)", "ratio / value", "target")]
    for (kind, width), gflops in sorted(gemm.items()):
        if kind == "peak" and gflops < max(value for (other, _), value in gemm.items() if other == "peak"):
            continue  # (timed once per width: the better one counts)
        shape = "2048x2048 products" if kind == "peak" else f"({width}x{width + 1}) @ ({width + 1}x{SHAPED_TILE}) products"
        lines.append((f"fp32 GEMM, {kind} (denominator)", f"{shape}, best of numpy/torch", f"{gflops:.0f} GFLOP/s", ""))
    peak = max(value for (kind, _), value in gemm.items() if kind == "peak")
    frame_seconds = {key: seconds for key, _width, seconds, _gflops in rows}
    for key, width, seconds, gflops in rows:
        label, size, renderer, *without = key
        if without:  # the ceiling the activation kernels leave: the share of peak were they free
            share = 1.0 - seconds / frame_seconds[key[:3]]
            lines.append((f"1. CPPN {size} {label}: {renderer}, no activations", f"{seconds * 1000:.0f} ms/frame: "
                          f"activations are {share:.0%} of the frame above", f"ceiling {gflops / peak:.2f} of peak", ""))
            continue
        target = ""
        if label in SHIPPED:
            target = ">= 0.35 of peak" if renderer.startswith("torch") else ">= 0.25 of peak"
        lines.append((f"1. CPPN {size} {label}: {renderer}", f"{seconds * 1000:.0f} ms/frame, {gflops:.0f} GFLOP/s",
                      f"{gflops / peak:.2f} of peak, {gflops / gemm[('shaped', width)]:.2f} of shaped", target))
    for what, bake_fps, compute_fps in bake_rows(rounds, 4 if args.quick else 6):
        if np.isnan(compute_fps):
            lines.append((f"2. encoders {what}", "render + quantise + encode + write", f"{bake_fps:.1f} frames/s", ""))
        else:
            lines.append((f"2. bake/compute {what}", f"{bake_fps:.2f} vs {compute_fps:.2f} frames/s",
                          f"{bake_fps / compute_fps:.2f}", ">= 0.9"))
    for name, fps in preview_fps(rounds, 48):
        lines.append((f"3. preview 192x108 {name}", f"{1000 / fps:.1f} ms/frame", f"{fps:.0f} frames/s", ">= 24"))
    if not args.no_memory:
        minutes = [1.0, 2.0] if args.quick else [1.0, 5.0, 10.0, 30.0]
        memory, frames = memory_rows(minutes, args.tail_frames)
        for row in memory:
            lines.append((f"4. peak RSS, {row['minutes']:g}-min song ({row['n_frames']} frames), 1080p",
                          f"analysis+plan {row['analysis_peak_mb']:.0f} MB; + {row['written']} last frames "
                          f"({row['backend']}, RSS {row['frame_growth_mb']:+.0f} MB over them) in {row['seconds']:.0f} s",
                          f"{row['peak_mb']:.0f} MB", "<= 1536 MB, flat"))
        lines.append(("4. per-frame working set, 1080p shipped style",
                      f"peak {frames['peak_mb']:.0f} MB - {frames['before_mb']:.0f} MB before frames ({frames['backend']})",
                      f"{frames['peak_mb'] - frames['before_mb']:.0f} MB", "flat"))
    load_after = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average (1/5/15 min) before {'/'.join(f'{v:.1f}' for v in load_before)}, "
          f"after {'/'.join(f'{v:.1f}' for v in load_after)}")
    print(simd_line())
    _setup.print_table(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
