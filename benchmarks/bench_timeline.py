"""Benchmark of a style timeline's transitions; prints one table, all from this run.

    .venvs/blender-5.0/bin/python benchmarks/bench_timeline.py [--quick]

For each backend (numpy, and torch when installed), the bake time of a 1280x720 8-bit PNG
frame (``bake.bake_sequence``: drawn through ``transitions.TimelineRenderer``, encoded and
written, as a style-map bake does it) with the shipped styles ``nebula`` -> ``lava`` (same
network architecture, so they morph):

- single: frames of one style (the denominator);
- crossfade: frames inside a crossfade (both styles drawn, mixed in linear light);
- morph: frames inside a morph (the interpolated network built, then drawn).

Frames follow a real mapping plan (a new latent every frame). Interleaved rounds, the best
round of each kind counts. Two clocks: this process's CPU time (all its threads: what the
frame costs, hardly moved by other programs on a shared machine; the ratio is read from it)
and wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _setup

WIDTH, HEIGHT = 1280, 720
FPS = 30.0


def frame_seconds(backend: str, rounds: int, frames_per_round: int) -> tuple[str, dict[str, float]]:
    """(backend name, (kind, clock) -> best seconds per frame) of single, crossfade and morph
    frames; clock ``cpu`` (this process's CPU time) or ``wall``."""
    from neural_aesthetics.core.render import bake, mapping, style, timeline, transitions

    styles = [style.load_style(_setup.ROOT / "styles" / f"{name}.safetensors") for name in ("nebula", "lava")]
    assert transitions.morphable(styles[0].architecture, styles[1].architecture)
    n = frames_per_round
    onset = np.zeros(n)
    onset[::3] = 1.0
    plan = mapping.plan({"loudness": np.full(n, 0.5), "onset": onset}, FPS, 8, seed=1, preset="balanced")
    weights = [(row + 1) / (n + 1) for row in range(n)]  # (a new weight every frame, as in a transition)
    kinds = {
        "single": [timeline.FrameLook(0)] * n,
        "crossfade": [timeline.FrameLook(0, 1, weight, "crossfade") for weight in weights],
        "morph": [timeline.FrameLook(0, 1, weight, "morph") for weight in weights],
    }
    renderers = {kind: transitions.TimelineRenderer(styles, looks, backend) for kind, looks in kinds.items()}
    out = np.empty((HEIGHT, WIDTH, 3), np.float32)
    for renderer in renderers.values():
        bake.render_row(renderer, plan, 0, WIDTH, HEIGHT, out=out)  # warm-up
    best = {(kind, clock): float("inf") for kind in kinds for clock in ("cpu", "wall")}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(rounds):
            for kind, renderer in renderers.items():
                cpu, wall = time.process_time(), time.perf_counter()
                bake.bake_sequence(None, plan, range(n), Path(folder) / f"{kind}{round_index}", WIDTH, HEIGHT,
                                   renderer=renderer)
                best[kind, "cpu"] = min(best[kind, "cpu"], (time.process_time() - cpu) / n)
                best[kind, "wall"] = min(best[kind, "wall"], (time.perf_counter() - wall) / n)
    return renderers["single"].backend_name, best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    _setup.ensure_libs()
    _setup.import_core()
    from neural_aesthetics.core.render import backend as backends

    rounds, frames = (2, 3) if args.quick else (4, 4)
    lines = [("metric (1280x720 png8, nebula -> lava)", "CPU / wall per frame (best of interleaved rounds)",
              "CPU ratio to single", "target")]
    for backend in ["numpy"] + (["torch"] if backends.torch_available() else []):
        name, best = frame_seconds(backend, rounds, frames)
        for kind, target in (("single", ""), ("crossfade", "<= 2.0"), ("morph", "<= 1.1")):
            lines.append((f"{kind} frame baked ({name})",
                          f"{best[kind, 'cpu'] * 1000:.0f} ms / {best[kind, 'wall'] * 1000:.0f} ms",
                          f"{best[kind, 'cpu'] / best['single', 'cpu']:.2f}", target))
    _setup.print_table(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
