"""One bake of an audio-reactive visualizer: sound file + style -> numbered image frames.

This is the whole data flow of docs/ARCHITECTURE.md in one call, used alike by the Blender
operator, the headless command and the tests. Frames are named by their index in the
sound's content (``Timing.content_index``) and computed from an analysis of the whole
file, so a frame's pixels do not depend on where the strip sits or how it is trimmed:
moving a strip never invalidates its frames.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import audio
from . import bake, frame_folder, imageio, limits, mapping, style as style_io, timeline_bake, transitions
from . import backend as backends
from .folder_lock import RECORD_NAME, FolderLock
from .frame_folder import file_digest
from ..errors import UserError
from ..progress import CancelToken, ProgressCallback
from ..audio.timing import Timing

MAPPING_VERSION = 3
"""Bumped when the same settings would draw different frames (old frames are replaced)."""
MAX_SIDE_PX = 16384


@dataclass(frozen=True)
class StemSource:
    """Another sound strip (a stem: drums, bass, ...) that some effects listen to.

    Attributes:
        audio_path: absolute path of the stem's sound file.
        origin_frame: scene frame (may be fractional) at which the stem's t = 0 s plays,
            as ``Timing.origin_frame``: the stem is heard where it sits in the timeline.
    """

    audio_path: Path
    origin_frame: float

    def __post_init__(self):
        object.__setattr__(self, "audio_path", Path(self.audio_path))
        object.__setattr__(self, "origin_frame", float(self.origin_frame))


@dataclass(frozen=True)
class BakeRequest:
    """Everything one bake needs, as plain values (JSON-friendly: the worker sends it as JSON).

    Attributes:
        audio_path: absolute path of the sound file.
        timing: the scene frames of the strip and how they line up with the file.
        style_path: the style's ``.safetensors`` (or ``.json``) file.
        out_dir: absolute folder for the frames (created if missing).
        width, height: frame size in pixels (any aspect, 1..16384 each).
        seed: seed of the latent path (same seed, same frames).
        strength: overall multiplier of every effect's strength, 1.0 = default, 0 = a
            slow drift only.
        frames: ``(A, B)`` inclusive scene frames to bake, a chunk of ``timing``'s frames
            (clipped to them), or None for all. Chunks are byte-identical to the same
            frames of a whole bake, so render-farm machines can each take one.
        preset: a mapping preset name, one of ``mapping.PRESETS`` (``balanced``,
            ``pulse``, ``flow``, ``chroma``, ``bass``, ``sections``).
        preset_strengths: per-effect strength overriding the preset's, keys from
            ``mapping.EFFECTS`` (``flow``, ``pulse``, ``chroma``, ``bass``, ``sections``),
            values 0..10 (multiplied by ``strength``).
        preset_smoothing: per-effect smoothing in seconds overriding
            ``mapping.DEFAULT_SMOOTHING_S`` (same keys, 0..60).
        image_format: ``png8`` (default), ``png16``, ``jpeg`` (sRGB) or ``exr`` (half
            float, linear); see ``core.imageio``.
        backend: ``auto`` (torch when importable, else numpy), ``numpy`` or ``torch``.
            Not part of the bake's identity: pin it on a render farm for bit-identical
            chunks across machines.
        sources: effect name (of ``mapping.EFFECTS``) -> ``StemSource`` the effect listens
            to instead of ``audio_path``, e.g. ``{"pulse": drums}``. Effects not listed,
            and channels a stem lacks, follow ``audio_path``.
        owner: the project and strip the frame folder belongs to, ``{"blend": path of
            the .blend, "strip": the strip's id}`` (empty outside Blender). Not part of
            the bake's identity: a folder holding another existing project's frames is
            refused rather than replaced (``frame_folder``).
        style_map: a style timeline (``timeline.StyleMap.to_json()`` with style file
            paths as styles) or None for ``style_path`` alone. Then each frame has its
            own look, and a bake again after an entry changed rebakes only the frames
            whose look changed (``core.render.timeline_bake``).
        markers: timeline marker name -> scene frame, the moments a style map may name.
        analysis_cache: folder of the sound-analysis cache (``core.audio.cache``), so a
            song is analysed once per content and settings by every bake, chunk and
            preview; None analyses it each time. Not part of the bake's identity.
        beats_per_bar: beats in a bar of the song (places the downbeats); 0 = the
            meter heard in the song.
        tempo_bpm: about how many beats a minute the song has, for a song whose beats
            are heard at double or half its speed; 0 = the tempo heard in the song (see
            ``audio.AnalysisParams.with_song_hints``).
    """

    audio_path: Path
    timing: Timing
    style_path: Path
    out_dir: Path
    width: int
    height: int
    seed: int = 0
    strength: float = 1.0
    frames: tuple[int, int] | None = None
    preset: str = mapping.DEFAULT_PRESET
    preset_strengths: dict = field(default_factory=dict)
    preset_smoothing: dict = field(default_factory=dict)
    image_format: str = "png8"
    backend: str = "auto"
    sources: dict = field(default_factory=dict)
    owner: dict = field(default_factory=dict)
    style_map: dict | None = None
    markers: dict = field(default_factory=dict)
    analysis_cache: str | None = None
    beats_per_bar: int = 0
    tempo_bpm: float = 0.0

    def __post_init__(self):
        if self.frames is not None:  # a JSON round trip turns the tuple into a list
            object.__setattr__(self, "frames", (int(self.frames[0]), int(self.frames[1])))
        # (a JSON round trip turns each StemSource into a dict)
        object.__setattr__(self, "sources", {
            effect: source if isinstance(source, StemSource) else StemSource(**source)
            for effect, source in (self.sources or {}).items()})
        object.__setattr__(self, "preset_strengths", dict(self.preset_strengths or {}))
        object.__setattr__(self, "preset_smoothing", dict(self.preset_smoothing or {}))
        object.__setattr__(self, "owner", dict(self.owner or {}))
        object.__setattr__(self, "markers", {str(k): float(v) for k, v in (self.markers or {}).items()})

    def to_json(self) -> dict:
        """This request as JSON-ready plain values (what the worker process is sent)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_json(cls, fields: dict) -> "BakeRequest":
        """The request ``to_json`` described."""
        values = dict(fields)
        values["timing"] = Timing(**values["timing"])
        for name in ("audio_path", "style_path", "out_dir"):
            values[name] = Path(values[name])
        return cls(**values)


@dataclass
class VisualizerBake:
    """What a bake produced.

    Attributes:
        paths: one image per requested scene frame (of ``frames`` when given), in frame order.
        frame_first: scene frame shown by ``paths[0]``.
        written, skipped: frames computed now / already present from an earlier run.
        record: the bake as the folder's record names it: ``key`` (its identity),
            ``style`` (the style's name) and ``backend`` (the renderer that drew the
            new frames: ``numpy``, ``torch-cpu``, ...); ``replaced``: why the frames of
            an earlier bake in the folder were replaced (None if none were).
        heard: the pulse the analysis heard in the song (``heard_pulse``), which the
            bake's report names so that a song heard at double or half its speed is seen.
    """

    paths: list[Path]
    frame_first: int
    written: int
    skipped: int
    record: dict = field(default_factory=dict)
    heard: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """This result as JSON-ready plain values (what the worker process answers)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_json(cls, fields: dict) -> "VisualizerBake":
        """The result ``to_json`` described."""
        return cls(paths=[Path(path) for path in fields["paths"]], frame_first=int(fields["frame_first"]),
                   written=int(fields["written"]), skipped=int(fields["skipped"]), record=dict(fields["record"]),
                   heard=dict(fields.get("heard") or {}))


def heard_pulse(track: audio.FeatureTrack) -> dict:
    """The song's pulse as the analysis heard it: ``tempo_bpm`` (the median beat interval's
    tempo, 0 without beats) and ``beats_per_bar`` (0 without beats)."""
    beats = np.asarray(track.beats_s, dtype=np.float64)
    if len(beats) < 2:
        return {"tempo_bpm": 0.0, "beats_per_bar": 0}
    per_bar = track.channels.get("beats_per_bar")
    return {"tempo_bpm": round(60.0 / float(np.median(np.diff(beats))), 1),
            "beats_per_bar": int(per_bar.max()) if per_bar is not None and len(per_bar) else 0}


def pulse_words(heard: dict) -> str:
    """``heard_pulse`` in words for a bake's report, e.g. "beats heard at 128 a minute, 4 to a bar"."""
    if not heard:
        return ""
    if not heard.get("tempo_bpm"):
        return "no steady beat heard"
    bars = f", {heard['beats_per_bar']} to a bar" if heard.get("beats_per_bar") else ""
    return f"beats heard at {heard['tempo_bpm']:g} a minute{bars}"


def _check_request(request: BakeRequest) -> None:
    for side, value in (("width", request.width), ("height", request.height)):
        if not 1 <= value <= MAX_SIDE_PX:
            raise UserError(f"Frame {side} {value} px is out of range: use 1 to {MAX_SIDE_PX} px")
    limits.check_seed(request.seed)
    limits.check_frame_memory(request.width, request.height, request.image_format)
    if request.timing.n_frames == 0:
        raise UserError("The sound strip shows no frames: make it at least one frame long")
    if request.image_format not in imageio.FORMATS:
        raise UserError(f"Unknown image format '{request.image_format}': use one of {', '.join(imageio.FORMATS)}")
    try:
        mapping._checked_settings(request.preset, request.preset_strengths, request.preset_smoothing,
                                  request.strength)
    except ValueError as error:
        raise UserError(f"Bad visualizer setting: {error}") from None
    for effect, source in request.sources.items():
        if effect not in mapping.EFFECTS:
            raise UserError(f"Unknown effect '{effect}' given a sound to listen to: use one of "
                            f"{', '.join(mapping.EFFECTS)}")
        if not Path(source.audio_path).is_file():
            raise UserError(f"The sound file that {effect} listens to is missing: {source.audio_path}")
    if not 0 <= request.beats_per_bar <= audio.MAX_BEATS_PER_BAR:
        raise UserError(f"Beats per bar {request.beats_per_bar} is out of range: use 0 (heard) or 2 to 7")
    audio.check_tempo_hint(request.tempo_bpm)
    backends.choose_backend(request.backend)
    audio.check_exists(request.audio_path)  # (a one-line AudioError before its digest is taken)
    audio.check_duration(request.timing.n_frames / request.timing.fps,
                         f"The sound strip ({request.timing.n_frames} frames at {request.timing.fps:g} fps)")


def requested_timing(request: BakeRequest) -> Timing:
    """The timing of the frames to bake: ``request.timing`` cut to ``request.frames``."""
    timing = request.timing
    if request.frames is None:
        return timing
    first, last = request.frames
    start, end = max(first, timing.frame_first), min(last + 1, timing.frame_end)
    if start >= end:
        raise UserError(f"Frames {first}-{last} are outside the strip ({timing.frame_first}-{timing.frame_end - 1})")
    return Timing(timing.fps, timing.origin_frame, start, end)


def song_plan(request: BakeRequest, loaded_style=None, latent_dim: int | None = None,
              progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
              ) -> tuple[mapping.FramePlan, Timing]:
    """The plan of every frame of the song (and the timing of its rows) for a request.

    Analysed and planned over the whole sound content (its decoded length), so each
    frame's look is a function of its content index alone, whatever the trim or chunk.
    ``latent_dim`` (default: the style's) is the size of the plan's latents.
    The analysis is read from ``request.analysis_cache`` when an earlier bake, chunk or
    preview of the same content stored it there; else it reports ``progress`` per
    decoded block ("Analysing song…") and stops when ``cancel`` is cancelled.
    """
    plan, whole, _track, _duration_s = _song_plan_and_track(request, loaded_style, latent_dim, progress, cancel)
    return plan, whole


def _song_plan_and_track(request: BakeRequest, loaded_style=None, latent_dim: int | None = None,
                         progress: ProgressCallback | None = None, cancel: CancelToken | None = None):
    """``song_plan``, the song's own ``FeatureTrack`` (its sections and beats) and its
    decoded length in seconds."""
    timing = request.timing
    if latent_dim is None:
        loaded_style = loaded_style or style_io.load_style(request.style_path)
        latent_dim = int(loaded_style.architecture["latent_dim"])
    cache = request.analysis_cache
    params = audio.AnalysisParams().with_song_hints(request.beats_per_bar, request.tempo_bpm)
    sound = audio.sound_analysis(request.audio_path, params, cache, progress, cancel)
    zero = timing.content_zero_frame
    content_frames = max(1, math.ceil(sound.duration_s * timing.fps))
    first = min(zero, timing.frame_first)
    end = max(zero + content_frames, timing.frame_end)
    whole = Timing(timing.fps, timing.origin_frame, first, end)
    features, sources = audio.frame_features(sound, whole, params), None
    track = features
    if request.sources:
        # Each stem is heard over the same scene frames as the song, where it sits in
        # the timeline (silence where it does not play); the song's stem comes first, so
        # effects that listen to no stem of their own follow the song.
        features, sources = {"song": features}, {}
        for effect, source in sorted(request.sources.items()):
            name = f"{source.audio_path}@{source.origin_frame!r}"
            if name not in features:
                features[name] = audio.analyze(source.audio_path, Timing(timing.fps, source.origin_frame, first, end),
                                               params, cache, progress, cancel)
            sources[effect] = name
    plan = mapping.plan(
        features, timing.fps, latent_dim=latent_dim, seed=request.seed,
        preset=request.preset, strengths=request.preset_strengths, smoothing_s=request.preset_smoothing,
        strength=request.strength, sources=sources,
    )
    return plan, whole, track, sound.duration_s


def timeline_song_plan(request: BakeRequest, styles: timeline_bake.TimelineStyles,
                       progress: ProgressCallback | None = None, cancel: CancelToken | None = None):
    """``song_plan`` for a request with a style map, and the look of every row of the plan:
    ``(plan, whole, looks)`` with ``looks`` frame file name -> (``FrameLook``, identity), in
    plan row order."""
    plan, whole, looks, _track = _timeline_plan_and_track(request, styles, progress, cancel)
    return plan, whole, looks


def _timeline_plan_and_track(request: BakeRequest, styles: timeline_bake.TimelineStyles,
                             progress: ProgressCallback | None, cancel: CancelToken | None):
    """``timeline_song_plan`` and the song's own ``FeatureTrack``."""
    plan, whole, track, duration_s = _song_plan_and_track(request, latent_dim=styles.latent_dim,
                                                          progress=progress, cancel=cancel)
    moments = timeline_bake.song_moments(track, whole, duration_s, request.markers)
    resolved = timeline_bake.resolved_entries(styles, moments)
    song_indices = [whole.content_index(frame) for frame in whole.frames()]
    looks = timeline_bake.frame_looks_by_name(styles, resolved, whole.fps, song_indices, request.image_format)
    return plan, whole, looks, track


def sources_key(sources: dict, origin_frame: float, fingerprint=file_digest) -> dict:
    """The part of a bake's identity that stems add: each effect's stem by content, and
    where it sits relative to the song in frames (``origin_frame``: the song's t = 0).

    Moving the song and its stems together keeps this; moving one of them changes it.
    """
    return {effect: {"audio_sha256": fingerprint(Path(source.audio_path)),
                     "offset_frames": round(source.origin_frame - origin_frame, 6)}
            for effect, source in sorted(sources.items())}


def bake_key(request: BakeRequest, loaded_style=None, fingerprint=file_digest, timeline_styles=None) -> dict:
    """What makes two bakes' frames the same: frames of a bake with another key are replaced.

    With a style map (``timeline_styles``) the styles are not in the key but in each
    frame's look (see ``core.render.timeline_bake``).

    ``frame_folder.reuse_problem`` compares two keys. ``fingerprint`` names a file's
    content (its SHA-256; the live preview, which asks at every frame change, passes a
    cheaper path-size-date stamp); the style file is ``loaded_style``'s, else the request's.
    """
    key = music_key(request.timing, request.audio_path, request.sources, fingerprint)
    key.update({
        **({"timeline": timeline_bake.key_part(timeline_styles)} if timeline_styles is not None else
           {"style_sha256": fingerprint(Path(loaded_style.path if loaded_style is not None else request.style_path))}),
        "size": [request.width, request.height],
        "seed": request.seed,
        "strength": request.strength,
        "mapping": {"version": MAPPING_VERSION, "preset": request.preset,
                    "strengths": {k: float(v) for k, v in sorted(request.preset_strengths.items())},
                    "smoothing_s": {k: float(v) for k, v in sorted(request.preset_smoothing.items())}},
        "image_format": request.image_format,
        "beats_per_bar": request.beats_per_bar,
        **({"tempo_bpm": float(request.tempo_bpm)} if request.tempo_bpm else {}),  # (keys of bakes before it stay)
    })
    return key


def music_key(timing: Timing, audio_path, sources: dict, fingerprint=file_digest) -> dict:
    """The part of a bake's identity the music sets: the sound file's content, the frame rate,
    the sub-frame offset of the sound, and the stems (where they sit against the song).

    Frames are named by their place in the song, so moving or trimming the strip by whole
    frames keeps this; Re-sync compares it with a strip's recorded key.
    """
    key = {
        "audio_sha256": fingerprint(Path(audio_path)),
        "fps": timing.fps,
        "origin_fraction": round(timing.origin_frame - timing.content_zero_frame, 6),
    }
    if sources:  # (absent otherwise: bakes made before stems keep their frames)
        key["sources"] = sources_key(sources, timing.origin_frame, fingerprint)
    return key


def _check_unchanged(request: BakeRequest, style_files: list, key: dict) -> None:
    """Refuse a bake whose sound, stem or style file changed (or went) since ``key`` was taken.

    ``style_files``: (path, digest taken before the bake read it) of each style."""
    files = [(request.audio_path, key["audio_sha256"])] + list(style_files)
    files += [(request.sources[effect].audio_path, key["sources"][effect]["audio_sha256"])
              for effect in sorted(request.sources)]
    for path, digest in files:
        try:
            unchanged = file_digest(Path(path)) == digest
        except OSError:
            unchanged = False
        if not unchanged:
            raise UserError(f"The file {path} changed while the bake was reading it (is it still being "
                            f"exported?): bake again once it is written")


def bake_visualizer(
    request: BakeRequest,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VisualizerBake:
    """Analyse the sound, plan the latent path and bake the requested frames.

    Frames already in ``out_dir`` from an identical earlier bake are kept (resume) when the
    folder's record proves them; the frames of a different earlier bake into the same
    folder are replaced, and a file the record does not prove is never touched: the
    folder is refused (see ``frame_folder``). Another bake
    running into the same folder is refused (``UserError``) unless it is a chunk of the
    same bake with other frames. Raises ``UserError`` (one line) for anything the user
    can fix and ``jobs.Cancelled`` when cancelled; completed frames are always whole files.

    A sound or style file that changes while it is read (a song re-exported during the
    bake) is refused before any frame is written: the bake's identity holds the content
    digests taken before the files were read, and they are taken again after. A full
    disk is a ``UserError`` that keeps the finished frames (``bake.disk_full_error``).
    """
    _check_request(request)
    timing = requested_timing(request)
    styles = timeline_bake.load(request.style_map, file_digest) if request.style_map else None
    loaded_style = styles.styles[0] if styles else style_io.load_style(request.style_path)
    key = bake_key(request, loaded_style, timeline_styles=styles)  # (the digests before the files are read)
    if styles is None:
        plan, whole, track, _duration_s = _song_plan_and_track(request, loaded_style, progress=progress,
                                                               cancel=cancel)
        looks = None
    else:
        plan, whole, looks, track = _timeline_plan_and_track(request, styles, progress, cancel)
    style_files = (list(zip((item.path for item in styles.styles), styles.digests)) if styles
                   else [(loaded_style.path, key["style_sha256"])])
    _check_unchanged(request, style_files, key)
    rows = slice(timing.frame_first - whole.frame_first, timing.frame_end - whole.frame_first)
    requested = plan.rows(rows)
    indices = [timing.content_index(frame) for frame in timing.frames()]

    out_dir = Path(request.out_dir)
    names = [bake.frame_filename(index, request.image_format) for index in indices]
    with bake.full_disk_as_user_error(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        with FolderLock(out_dir, frame_folder.key_digest(key), (min(indices), max(indices))) as lock:
            if looks is None:
                renderer = backends.renderer_for_style(loaded_style, request.backend)
            else:
                renderer = transitions.TimelineRenderer(styles.styles, [looks[name][0] for name in names],
                                                        request.backend)
            folder = frame_folder.FrameFolder(
                out_dir, key, lock, owner=request.owner, style_name=loaded_style.name, backend=renderer.backend_name,
                looks=None if looks is None else {name: identity for name, (_look, identity) in looks.items()})
            folder.claim(names)
            try:
                result = bake.bake_sequence(
                    loaded_style, requested, indices, out_dir, request.width, request.height,
                    progress=progress, cancel=cancel, image_format=request.image_format, renderer=renderer,
                    folder=folder,
                )
            except BaseException:
                folder.close(quietly=True)  # (the error that stopped the bake is the one to see)
                raise
            folder.close()
    record = {"key": key, "style": loaded_style.name, "backend": renderer.backend_name,
              "replaced": folder.replaced_because}
    return VisualizerBake(paths=result.paths, frame_first=timing.frame_first,
                          written=result.written, skipped=result.skipped, record=record, heard=heard_pulse(track))
