"""Benchmark of the audio analysis engine on a generated 6-minute 44.1 kHz stereo track.

    .venvs/blender-5.0/bin/python benchmarks/bench_audio.py [--seconds 360] [--fps 30]

Prints one table:
- full analysis (decode + every channel, no cache) as a multiple of real time;
- the first analysis through the disk cache (analyse + store) and a repeat (cache hit);
- the second bake of a song: the time to its first frame (the analysis read from the
  cache, the plan, the style load and one frame) as a ratio to a cold analysis;
- beat tracking on generated grooves with exact beats (``scripts/synth_grooves.py``:
  swing, waltz, 6/8, half-time, tempo change, rubato, plucked, sung-like): our
  F-measure beside librosa's ``beat_track`` (and madmom's RNN+DBN if it installs), and
  seconds per minute of audio; then a tempo sweep (``SWEEP_GROOVES`` at ``SWEEP_BPM``):
  how many tempi each finds the beats of, ours also with a tempo hint (the Audio
  panel's Tempo), and the tempo each hears where it misses. The peers run in a
  subprocess of their own venv, ``.venvs/peers`` (git-ignored), created on first use
  with pip (``--no-peers`` skips them); they are never part of the extension or its tests;
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
    parser.add_argument("--no-peers", action="store_true", help="skip librosa/madmom (no venv is created)")
    args = parser.parse_args(argv)

    _setup.ensure_libs()
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
        rows += _second_bake_rows(path, work, full_s)
        width = max(len(name) for name, _value in rows)
        print(f"| {'measure'.ljust(width)} | value |")
        print(f"|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name.ljust(width)} | {value} |")
        print()
        _print_groove_table(audio, beat_scoring, work, peers=not args.no_peers)
        _print_tempo_sweep(audio, beat_scoring, work, peers=not args.no_peers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _second_bake_rows(path: Path, work: Path, cold_s: float) -> list[tuple[str, str]]:
    """A chunk of a bake whose song is in the analysis cache: time to its first frame."""
    from neural_aesthetics.core.audio.timing import Timing
    from neural_aesthetics.core.render import style as style_io
    from neural_aesthetics.core.render import visualizer

    import soundfile

    seconds = soundfile.info(str(path)).duration
    style = _setup.ROOT / "styles" / "ember.safetensors"
    request = visualizer.BakeRequest(audio_path=path, timing=Timing(30, 0, 0, int(seconds * 30)), style_path=style,
                                     out_dir=work / "frames-a", width=320, height=180, frames=(0, 0),
                                     analysis_cache=str(work / "bake-cache"))
    started = time.perf_counter()
    visualizer.bake_visualizer(request)
    first_bake_s = time.perf_counter() - started
    started = time.perf_counter()
    style_io.load_style(style)
    style_s = time.perf_counter() - started
    chunk = visualizer.BakeRequest(**{**request.__dict__, "out_dir": work / "frames-b", "frames": (900, 900)})
    started = time.perf_counter()
    visualizer.bake_visualizer(chunk)
    second_s = time.perf_counter() - started
    return [
        ("first bake, 1 frame (analyse + store)", f"{first_bake_s:.2f} s"),
        ("second bake / next chunk, 1 frame", f"{second_s:.2f} s (style load {style_s:.2f} s) = "
                                              f"{second_s / cold_s:.3f} x a cold analysis ({cold_s:.2f} s)"),
    ]


_PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, soundfile
out = {}
for path in sys.argv[1:]:
    samples, rate = soundfile.read(path, dtype="float32")
    row = {"seconds": len(samples) / rate}
    import librosa
    started = time.perf_counter()
    _tempo, beats = librosa.beat.beat_track(y=samples, sr=rate, units="time")
    row["librosa"] = [list(map(float, beats)), time.perf_counter() - started]
    try:
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    except Exception:
        pass
    else:
        started = time.perf_counter()
        activation = RNNBeatProcessor()(path)
        beats = DBNBeatTrackingProcessor(fps=100)(activation)
        row["madmom"] = [list(map(float, beats)), time.perf_counter() - started]
    out[path] = row
print(json.dumps(out))
"""


def _peer_python() -> tuple[Path | None, str]:
    """The peers' venv interpreter (created and filled on first use), or None and why not."""
    import subprocess

    venv = _setup.ROOT / ".venvs" / "peers"
    python = venv / "bin" / "python"
    if not python.exists():
        created = subprocess.run([sys.executable if not getattr(sys, "_base_executable", "") else sys._base_executable,
                                  "-m", "venv", str(venv)], capture_output=True, text=True)
        if created.returncode != 0:
            return None, f"could not create {venv}: {created.stderr.strip()[-200:]}"
    have = subprocess.run([str(python), "-c", "import librosa, soundfile"], capture_output=True)
    if have.returncode != 0:
        installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "librosa", "soundfile"],
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            return None, f"pip could not install librosa: {installed.stderr.strip()[-200:]}"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "madmom"], capture_output=True)  # optional
    return python, ""


def _peer_beats(paths: list[str], peers: bool) -> tuple[dict, str]:
    """path -> peer name -> [beat times (s), seconds taken], and why there are none."""
    import json
    import subprocess

    if not peers:
        return {}, "skipped (--no-peers)"
    python, why_not = _peer_python()
    if python is None:
        return {}, why_not
    ran = subprocess.run([str(python), "-c", _PEER_SCRIPT, *paths], capture_output=True, text=True)
    if ran.returncode != 0:
        return {}, f"failed: {ran.stderr.strip()[-200:]}"
    return json.loads(ran.stdout.strip().splitlines()[-1]), ""


SWEEP_GROOVES = ("four", "swing", "half_time", "waltz", "six_eight")
SWEEP_BPM = (60, 70, 85, 100, 128, 150, 170)
"""The tempo sweep's grooves and tempi (beats per minute; 6/8 counted in eighths)."""


def _print_tempo_sweep(audio, beat_scoring, work: Path, peers: bool) -> None:
    """Each of ``SWEEP_GROOVES`` at each of ``SWEEP_BPM`` (20 s, seed 1): the tempi whose
    beats are found (F >= 0.9) by ours, by ours told the tempo (a hint 10 % off it, as a
    user's guess would be) and by librosa, and the tempi each hears instead."""
    import numpy as np
    import soundfile
    import synth_grooves

    cases, paths = [], []
    for name in SWEEP_GROOVES:
        for bpm in SWEEP_BPM:
            groove = synth_grooves.render_groove(name, 20.0, seed=1, bpm=bpm)
            path = work / f"sweep_{name}_{bpm}.wav"
            soundfile.write(str(path), groove.samples, groove.sample_rate, subtype="PCM_16")
            cases.append((name, bpm, groove))
            paths.append(str(path))
    peer_results, why_not = _peer_beats(paths, peers)
    print(f"\ntempo sweep: beats found (F >= 0.9) of {len(SWEEP_BPM)} tempi, "
          f"{'/'.join(map(str, SWEEP_BPM))} beats a minute; what is heard instead")
    print("| groove | ours | ours + tempo hint | librosa |")
    print("|---|---|---|---|")
    for name in SWEEP_GROOVES:
        found, missed = {"ours": 0, "hint": 0, "librosa": 0}, {"ours": [], "hint": [], "librosa": []}
        for (groove_name, bpm, groove), path in zip(cases, paths):
            if groove_name != name:
                continue
            heard = {"ours": audio.analyze_file(path).beats_s,
                     "hint": audio.analyze_file(path, audio.AnalysisParams().with_song_hints(0, 1.1 * bpm)).beats_s}
            if path in peer_results:
                heard["librosa"] = peer_results[path]["librosa"][0]
            for who, beats in heard.items():
                if beat_scoring.f_measure(groove.beats_s, beats)[0] >= 0.9:
                    found[who] += 1
                else:
                    at = 60.0 / float(np.median(np.diff(beats))) if len(beats) > 2 else 0.0
                    missed[who].append(f"{bpm}→{at:.0f}")
        cells = [f"{found[who]}/{len(SWEEP_BPM)}" + (f" ({', '.join(missed[who])})" if missed[who] else "")
                 if who != "librosa" or peer_results else "–" for who in ("ours", "hint", "librosa")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if not peer_results:
        print(f"(librosa: {why_not})")


def _print_groove_table(audio, beat_scoring, work: Path, peers: bool) -> None:
    import soundfile
    import synth_grooves

    grooves, paths = {}, []
    for name in synth_grooves.GROOVES:
        groove = synth_grooves.render_groove(name, 30.0, seed=1)
        path = work / f"{name}.wav"
        soundfile.write(str(path), groove.samples, groove.sample_rate, subtype="PCM_16")
        grooves[name], paths = groove, paths + [str(path)]
    peer_results, why_not = _peer_beats(paths, peers)
    names = ["ours"] + [peer for peer in ("librosa", "madmom") if any(peer in row for row in peer_results.values())]
    print("| groove (30 s) | " + " | ".join(f"{name} F" for name in names) + " | "
          + " | ".join(f"{name} s/min" for name in names) + " |")
    print("|---|" + "---|" * (2 * len(names)))
    worst_margin = None
    for name, path in zip(grooves, paths):
        groove = grooves[name]
        started = time.perf_counter()
        sound = audio.analyze_file(path)
        ours_s = time.perf_counter() - started
        minutes = len(groove.samples) / groove.sample_rate / 60.0
        scores = {"ours": (beat_scoring.f_measure(groove.beats_s, sound.beats_s)[0], ours_s / minutes)}
        for peer in names[1:]:
            beats, elapsed = peer_results[path][peer]
            scores[peer] = (beat_scoring.f_measure(groove.beats_s, beats)[0], elapsed / minutes)
        margin = scores["ours"][0] - max((scores[p][0] for p in names[1:]), default=scores["ours"][0])
        worst_margin = margin if worst_margin is None else min(worst_margin, margin)
        print(f"| {name} | " + " | ".join(f"{scores[n][0]:.3f}" for n in names) + " | "
              + " | ".join(f"{scores[n][1]:.2f}" for n in names) + " |")
    if len(names) == 1:
        print(f"(peers: {why_not})")
    else:
        print(f"(ours minus the best peer, worst groove: {worst_margin:+.3f})")


if __name__ == "__main__":
    sys.exit(main())
