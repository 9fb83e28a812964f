"""Benchmark of the audio analysis engine on a generated 6-minute 44.1 kHz stereo track.

    .venvs/blender-5.0/bin/python benchmarks/bench_audio.py [--seconds 360] [--fps 30]

Prints one table:
- full analysis (decode + every channel, no cache) as a multiple of real time;
- the first analysis through the disk cache (analyse + store) and a repeat (cache hit);
- where ``bpy`` with audio is importable (the Blender 5.0 venv): Blender's built-in
  Bake Sound to F-Curves (``graph.sound_to_samples``, 20-250 Hz) on the same file, its
  time as a ratio to ours, and the Pearson correlation of our ``bass`` channel with
  Blender's curve (at the best lag within +-2 frames, lag reported; Blender's attack
  0.005 s / release 0.2 s envelope, ours the same via ``ChannelShape``).

Every time is measured in this run on this machine (timings are noisy: compare ratios).
The light dependencies (soundfile, scipy) come from the extension's wheels: set
PYTHONPATH to a folder holding them, or run after `make build` with NA_LIBS unset to let
this script unpack the wheels of ``wheels/`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _setup



def _import_core():
    _setup.import_core()
    from neural_aesthetics.core import audio  # noqa: E402
    from neural_aesthetics.core.audio.timing import Timing  # noqa: E402
    import beat_scoring  # noqa: E402
    import synth_music  # noqa: E402

    return audio, beat_scoring, Timing, synth_music


def _song(synth_music, seconds: float):
    """Parts of 8 bars cycling through tempo, key and instrumentation, ``seconds`` long."""
    Part = synth_music.Part
    cycle = [Part(120, 8, 45, 0), Part(120, 8, 52, 1, kick=False, bass=False, pad_gain=0.1, lead=True),
             Part(128, 8, 48, 2), Part(128, 8, 50, 0, snare=False, lead=True)]
    parts, total = [], 0.0
    while total < seconds - 1.0:
        part = cycle[len(parts) % len(cycle)]
        bar_s = 4 * 60.0 / part.bpm
        bars = max(1, min(part.bars, int((seconds - 1.0 - total) // bar_s)))
        parts.append(Part(part.bpm, bars, part.key, part.progression, part.kick, part.snare, part.hats, part.bass,
                          part.pad_gain, part.lead))
        total += bars * bar_s
        if bars < part.bars:
            break
    return synth_music.render_beat_track(tuple(parts), 44100, seed=1, lead_in_s=0.25,
                                         tail_s=max(0.0, seconds - total - 0.25))


def _blender_bake(path: Path, fps: int, n_frames: int):
    """Blender's Bake Sound to F-Curves of the 20-250 Hz band: (seconds, values per frame) or None."""
    try:
        import bpy
        from bpy_extras import anim_utils
    except ImportError:
        return None
    bpy.ops.wm.read_homefile(use_empty=False)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start, scene.frame_end = 1, n_frames
    scene.frame_set(1)
    target = bpy.data.objects.new("BassTarget", None)
    scene.collection.objects.link(target)
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == target)
    bpy.context.view_layer.objects.active = target
    target.keyframe_insert("location", index=2, frame=1)
    window = bpy.context.window_manager.windows[0]
    area = window.screen.areas[0]
    area.type = "GRAPH_EDITOR"
    region = next(r for r in area.regions if r.type == "WINDOW")
    with bpy.context.temp_override(window=window, area=area, region=region, space_data=area.spaces.active):
        started = time.perf_counter()
        result = bpy.ops.graph.sound_to_samples(filepath=str(path), low=20.0, high=250.0, attack=0.005,
                                                release=0.2)
        elapsed = time.perf_counter() - started
    if result != {"FINISHED"}:
        return None
    action = target.animation_data.action
    if hasattr(action, "fcurves") and len(action.fcurves):
        curve = action.fcurves[0]
    else:
        curve = anim_utils.action_get_channelbag_for_slot(action, target.animation_data.action_slot).fcurves[0]
    import numpy as np

    values = np.array([curve.evaluate(frame) for frame in range(1, n_frames + 1)])
    return elapsed, values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=360.0, help="track length (default 360)")
    parser.add_argument("--fps", type=int, default=30, help="frame rate of the comparison (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    args = parser.parse_args(argv)

    _setup.ensure_libs(("scipy", "soundfile"))
    audio, beat_scoring, Timing, synth_music = _import_core()
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="na-bench-"))
    try:
        song = _song(synth_music, args.seconds)
        path = work / "song.wav"
        synth_music.write_wav(path, song.samples, song.sample_rate)
        seconds = len(song.samples) / song.sample_rate
        timing = Timing(args.fps, 1.0, 1, 1 + int(np.ceil(seconds * args.fps)))
        bass_shape = audio.AnalysisParams().with_shapes(
            bass=audio.ChannelShape(attack_s=0.005, release_s=0.2))

        # warm-up: imports (scipy) and first-call costs stay out of the timings
        audio.analyze_samples(song.samples[: 44100 * 5].mean(axis=1), 44100, Timing(args.fps, 0, 0, 150))

        def best(call):
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                result = call()
                times.append(time.perf_counter() - started)
            return min(times), result

        full_s, track = best(lambda: audio.analyze(path, timing, bass_shape))
        cache_dir = work / "cache"
        started = time.perf_counter()
        audio.analyze(path, timing, bass_shape, cache_dir=cache_dir)
        first_cached_s = time.perf_counter() - started
        cached_s, cached = best(lambda: audio.analyze(path, timing, bass_shape, cache_dir=cache_dir))
        moved = [Timing(args.fps, 1.0 + k, 1 + k, timing.frame_end + k) for k in range(1, args.repeats + 1)]
        moved_s, _ = best(lambda: audio.analyze(path, moved.pop(), bass_shape, cache_dir=cache_dir))
        for name in track.channels:
            np.testing.assert_array_equal(cached[name], track[name])
        f, _p, _r = beat_scoring.f_measure(song.beats_s, track.beats_s)

        rows = [
            ("track", f"{seconds:.1f} s, 44.1 kHz stereo WAV, {len(song.beats_s)} beats, {args.fps} fps"),
            ("full analysis (no cache)", f"{full_s:.2f} s = {seconds / full_s:.0f}x real time"),
            ("first analysis via cache", f"{first_cached_s:.2f} s (analyse + store)"),
            ("cached re-analysis", f"{cached_s * 1000:.1f} ms = {seconds / cached_s:.0f}x real time, "
                                   f"{full_s / cached_s:.0f}x faster than full"),
            ("cached, strip moved (new timing)", f"{moved_s * 1000:.1f} ms = {full_s / moved_s:.0f}x faster than full "
                                                 "(sound analysis from cache, frames recomputed)"),
            ("beat F-measure (+-70 ms)", f"{f:.3f}"),
        ]
        baked = _blender_bake(path, args.fps, timing.n_frames)
        if baked is None:
            rows.append(("Blender sound_to_samples", "skipped: bpy with audio not importable here"))
        else:
            blender_s, blender_values = baked
            ours = track["bass"].astype(np.float64)
            best_lag, best_r = 0, -2.0
            for lag in range(-2, 3):
                a = ours[max(0, -lag):len(ours) - max(0, lag)]
                b = blender_values[max(0, lag):len(blender_values) - max(0, -lag)]
                r = float(np.corrcoef(a, b)[0, 1])
                if r > best_r:
                    best_lag, best_r = lag, r
            r0 = float(np.corrcoef(ours, blender_values)[0, 1])
            rows += [
                ("Blender sound_to_samples 20-250 Hz", f"{blender_s:.2f} s = {seconds / blender_s:.0f}x real time"),
                ("time ratio ours(full) / Blender", f"{full_s / blender_s:.2f} (ours computes all "
                                                    f"{len(track.channels)} channels)"),
                ("bass correlation with Blender", f"r = {r0:.3f} at lag 0, r = {best_r:.3f} at lag {best_lag:+d} "
                                                  f"frame(s) (Blender's value at frame f = ours at f{-best_lag:+d})"),
            ]
        width = max(len(name) for name, _value in rows)
        print(f"| {'measure'.ljust(width)} | value |")
        print(f"|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name.ljust(width)} | {value} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
