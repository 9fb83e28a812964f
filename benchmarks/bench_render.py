"""Benchmark of the CPPN renderer and the bake engine; prints one table, all from this run.

    .venvs/blender-5.0/bin/python benchmarks/bench_render.py [--quick]

Rows (every number measured in this process, or its children, in this run):

1. CPPN evaluation at 1280x720, default architecture (width 128, depth 4, tanh): achieved
   GFLOP/s (matrix-product FLOPs per pixel from ``cppn.flops_per_pixel``, activations not
   counted) divided by the best fp32 GEMM GFLOP/s on 2048x2048 matrices of this process
   (the better of torch.mm and numpy.dot). The GEMM is timed over ``GEMM_REPEATS`` products
   back to back, about as long as a frame takes: this machine's speed drifts by a third
   from one moment to the next, and a single 25 ms product catches quiet moments a
   half-second frame cannot. Shown for the torch tiled renderer (the bake's ``auto``
   choice when torch is installed), the numpy renderer, and a plain layer-by-layer
   whole-frame torch forward for comparison.
2. End-to-end bake (render + encode + atomic write of 8-bit PNGs, ``bake.bake_sequence``)
   frames/s divided by compute-only frames/s (the same renderer, no writing), 1280x720.
3. Live preview (``preview.Preview.frame_at``) at 192x108: frames/s, numpy and torch.
4. Peak memory (peak RSS, ``VmHWM``) of the full pipeline in a fresh child process per
   song length -- decode + audio analysis of the whole song, mapping plan of the whole song,
   then a 1920x1080 bake of the last ``--tail-frames`` frames of the song (``frames=`` chunk)
   -- for 1, 5, 10 and 30-minute songs (a 30 s generated clip repeated, 44.1 kHz stereo
   WAV). Each row also shows the peak of the analysis + plan alone (what grows with the
   song) and how much the RSS grows over the bake's frames (``_growth_mb``: what would
   grow with the number of frames). Plus the per-frame working set: peak RSS of a child
   that only renders and writes 1080p frames, minus that child's RSS before the first
   frame. A full 10-minute 1080p bake at width 128 is hours on this CPU.

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
"""fp32 2048x2048 products per GEMM timing (about half a second here, like a frame)."""


def gemm_timers() -> dict:
    """name -> function running ``GEMM_REPEATS`` fp32 2048x2048 GEMMs (numpy, and torch when installed)."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)

    def repeated(product):
        def run():
            for _ in range(GEMM_REPEATS):
                product()
        return run

    timers = {"numpy": repeated(lambda: np.dot(a, b, out=out))}
    try:
        import torch
    except ImportError:
        return timers
    ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
    timers["torch"] = repeated(lambda: torch.mm(ta, tb, out=tout))
    return timers


def _style(architecture=None):
    from neural_aesthetics.core.render import cppn, style

    architecture = architecture or cppn.default_architecture()
    return style.Style(name="bench", architecture=architecture, weights=cppn.random_weights(architecture, 5),
                       metadata={}, path=None)


def cppn_rows(rounds: int) -> tuple[dict, list[tuple[str, float, float]]]:
    """GEMM GFLOP/s per library and (name, seconds per frame, GFLOP/s) of the renderers at 1280x720.

    The machine is shared: every measurement is repeated in ``rounds`` interleaved rounds
    (GEMM, then each renderer) and the best of each is kept, so a busy moment hurts all alike.
    """
    from neural_aesthetics.core.render import backend, cppn

    loaded = _style()
    flops = cppn.flops_per_pixel(loaded.architecture) * 1280 * 720
    latent = np.full(8, 0.3, np.float32)
    gemm = gemm_timers()
    renderers = {}
    for name in ["numpy"] + (["torch"] if backend.torch_available() else []):
        renderer = backend.renderer_for_style(loaded, name)
        renderers[f"{renderer.backend_name} tiled renderer"] = (
            lambda r=renderer: r.render(latent, 1280, 720, zoom=1.1, rotation_rad=0.2))
        if name == "torch":
            renderers["torch layer-by-layer whole-frame forward"] = (
                lambda r=renderer: r.forward_render(latent, 1280, 720, tile_pixels=1280 * 720))
    best = {name: float("inf") for name in [*gemm, *renderers]}
    for function in [*gemm.values(), *renderers.values()]:
        function()  # warm-up
    for _ in range(rounds):
        for name, function in [*gemm.items(), *renderers.items()]:
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    gemm_gflops = {name: GEMM_REPEATS * 2 * 2048**3 / best[name] / 1e9 for name in gemm}
    return gemm_gflops, [(name, best[name], flops / best[name] / 1e9) for name in renderers]


def bake_ratio(rounds: int, frames_per_round: int) -> tuple[float, float, str]:
    """(end-to-end frames/s, compute-only frames/s, backend) at 1280x720, 8-bit PNG.

    Interleaved rounds of ``frames_per_round`` frames each way; the best round of each counts.
    """
    from neural_aesthetics.core.render import backend, bake, mapping

    loaded = _style()
    n = frames_per_round
    onset = np.zeros(n)
    onset[::3] = 1.0
    plan = mapping.plan({"loudness": np.full(n, 0.5), "onset": onset}, FPS, 8, seed=1, preset="balanced")
    renderer = backend.renderer_for_style(loaded, "auto")
    renderer.render(plan.latents[0], 1280, 720)  # warm-up
    best_compute = best_bake = float("inf")
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(rounds):
            start = time.perf_counter()
            for row in range(n):
                bake.render_row(renderer, plan, row, 1280, 720)
            best_compute = min(best_compute, time.perf_counter() - start)
            start = time.perf_counter()
            bake.bake_sequence(loaded, plan, range(n), Path(folder) / str(round_index), 1280, 720, renderer=renderer)
            best_bake = min(best_bake, time.perf_counter() - start)
    return n / best_bake, n / best_compute, renderer.backend_name


def preview_fps(rounds: int, n_frames: int) -> list[tuple[str, float]]:
    from neural_aesthetics.core.render import backend, mapping, preview

    loaded = _style()
    n = 600
    plan = mapping.plan({"loudness": np.linspace(0, 1, n), "onset": (np.arange(n) % 15 == 0) * 1.0},
                        FPS, 8, seed=2, preset="balanced")
    lives = [preview.Preview.from_style(loaded, plan, FPS, backend=name)
             for name in ["numpy"] + (["torch"] if backend.torch_available() else [])]
    best = [float("inf")] * len(lives)
    for live in lives:
        live.frame_at(0.0)
    for _ in range(rounds):
        for index, live in enumerate(lives):
            start = time.perf_counter()
            for k in range(n_frames):
                live.frame_at(k / 24.0)
            best[index] = min(best[index], time.perf_counter() - start)
    return [(live.renderer.backend_name, n_frames / seconds) for live, seconds in zip(lives, best)]


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
    """Only render + write 1080p frames of a width-128 style: the per-frame working set."""
    from neural_aesthetics.core.render import bake, mapping

    loaded = _style()
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

    from neural_aesthetics.core.render import style

    clip, _ = synth_music.render_demo_clip(seconds=30.0, seed=4)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        loaded = _style()  # width 128, the default architecture
        style_path = style.save_style(folder, "bench128", loaded.architecture, loaded.weights,
                                      {"label": "benchmark", "origin": "procedural", "seed": 5},
                                      np.zeros((9, 16, 3), np.uint8))
        for length in minutes:
            wav = Path(folder) / f"song_{length:g}min.wav"
            _write_song(wav, length * 60.0, np.asarray(clip, np.float32))
            result = _run_child("pipeline", wav, Path(folder) / f"frames_{length:g}", tail_frames, style_path)
            rows.append(dict(result, minutes=length))
            wav.unlink()
        frames = _run_child("frames", Path(folder) / "frames_only", 4)
    return rows, frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1 and 2-minute songs only")
    parser.add_argument("--tail-frames", type=int, default=8, help="frames baked at the end of each song")
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
    gemm, rows = cppn_rows(rounds)
    peak = max(gemm.values())
    lines = [("metric", "measured (best of interleaved rounds)", "ratio / value", "target")]
    lines.append(("fp32 GEMM 2048x2048 (denominator)", ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in gemm.items()),
                  f"{peak:.0f} GFLOP/s", ""))
    for name, seconds, gflops in rows:
        lines.append((f"1. CPPN 1280x720 w128: {name}", f"{seconds * 1000:.0f} ms/frame, {gflops:.0f} GFLOP/s",
                      f"{gflops / peak:.2f} of GEMM", ">= 0.6" if "tiled" in name and "torch" in name else ""))
    bake_fps, compute_fps, chosen = bake_ratio(rounds, 4 if args.quick else 6)
    lines.append((f"2. bake/compute 1280x720 png8 ({chosen})", f"{bake_fps:.2f} vs {compute_fps:.2f} frames/s",
                  f"{bake_fps / compute_fps:.2f}", ">= 0.9"))
    for name, fps in preview_fps(rounds, 48):
        lines.append((f"3. preview 192x108 ({name})", f"{1000 / fps:.1f} ms/frame", f"{fps:.0f} frames/s", ">= 24"))
    minutes = [1.0, 2.0] if args.quick else [1.0, 5.0, 10.0, 30.0]
    rows, frames = memory_rows(minutes, args.tail_frames)
    for row in rows:
        lines.append((f"4. peak RSS, {row['minutes']:g}-min song ({row['n_frames']} frames), 1080p",
                      f"analysis+plan {row['analysis_peak_mb']:.0f} MB; + {row['written']} last frames "
                      f"({row['backend']}, RSS {row['frame_growth_mb']:+.0f} MB over them) in {row['seconds']:.0f} s",
                      f"{row['peak_mb']:.0f} MB", "<= 1536 MB, flat"))
    lines.append(("4. per-frame working set, 1080p w128",
                  f"peak {frames['peak_mb']:.0f} MB - {frames['before_mb']:.0f} MB before frames ({frames['backend']})",
                  f"{frames['peak_mb'] - frames['before_mb']:.0f} MB", "flat"))
    widths = [max(len(line[k]) for line in lines) for k in range(4)]
    for index, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
