"""One bake of an audio-reactive visualizer: sound file + style -> numbered PNG frames.

This is the whole data flow of DESIGN.md in one call, used alike by the Blender
operator, the headless command and the tests. Frames are named by their index in the
sound's content (``Timing.content_index``) and computed from an analysis of the whole
file, so a frame's pixels do not depend on where the strip sits or how it is trimmed:
moving a strip never invalidates its frames.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import audio, bake, mapping, style as style_io
from .errors import UserError
from .jobs import CancelToken, ProgressCallback
from .timing import Timing

RECORD_NAME = "neural_aesthetics_bake.json"
MAX_SIDE_PX = 16384


@dataclass(frozen=True)
class BakeRequest:
    """Everything one bake needs, as plain values.

    Attributes:
        audio_path: absolute path of the sound file.
        timing: the scene frames to bake and how they line up with the file.
        style_path: the style's ``.safetensors`` (or ``.json``) file.
        out_dir: absolute folder for the frames (created if missing).
        width, height: frame size in pixels.
        seed: seed of the latent path (same seed, same frames).
        strength: how strongly the music moves the image, 1.0 = default.
    """

    audio_path: Path
    timing: Timing
    style_path: Path
    out_dir: Path
    width: int
    height: int
    seed: int = 0
    strength: float = 1.0


@dataclass
class VisualizerBake:
    """What a bake produced.

    Attributes:
        paths: one PNG per requested scene frame, in frame order.
        frame_first: scene frame shown by ``paths[0]``.
        written, skipped: frames computed now / already present from an earlier run.
        record: the bake's identity as written to the folder's record file.
    """

    paths: list[Path]
    frame_first: int
    written: int
    skipped: int
    record: dict = field(default_factory=dict)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_request(request: BakeRequest) -> None:
    for side, value in (("width", request.width), ("height", request.height)):
        if not 1 <= value <= MAX_SIDE_PX:
            raise UserError(f"Frame {side} {value} px is out of range: use 1 to {MAX_SIDE_PX} px")
    if request.timing.n_frames == 0:
        raise UserError("The sound strip shows no frames: make it at least one frame long")


def _claim_folder(out_dir: Path, key: dict) -> list[str]:
    """Frame names an earlier bake with the same ``key`` left in ``out_dir`` (to keep).

    The frames of an earlier bake with a different key are deleted. Only files an earlier
    record lists are touched: anything else in the folder is the user's and stays.
    """
    try:
        previous = json.loads((out_dir / RECORD_NAME).read_text(encoding="utf-8"))
        names = [str(name) for name in previous.get("frames", [])]
    except (OSError, ValueError, AttributeError):
        return []
    if previous.get("key") == key:
        return names
    for name in names:
        if os.path.basename(name) == name and name.endswith(".png"):
            (out_dir / name).unlink(missing_ok=True)
    return []


def bake_visualizer(
    request: BakeRequest,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VisualizerBake:
    """Analyse the sound, plan the latent path and bake the requested frames.

    Frames already in ``out_dir`` from an identical earlier bake are kept (resume); the
    frames of a different earlier bake into the same folder are replaced. Raises
    ``UserError`` (one line) for anything the user can fix and ``jobs.Cancelled`` when
    cancelled; completed frames are always whole files.
    """
    _check_request(request)
    timing = request.timing
    loaded_style = style_io.load_style(request.style_path)
    duration_s = audio.duration_s(request.audio_path)

    # Analyse and plan over the whole sound content so each frame's look is a function of
    # its content index alone, whatever the trim.
    zero = timing.content_zero_frame
    content_frames = max(1, math.ceil(duration_s * timing.fps))
    first = min(zero, timing.frame_first)
    end = max(zero + content_frames, timing.frame_end)
    whole = Timing(timing.fps, timing.origin_frame, first, end)
    track = audio.analyze(request.audio_path, whole)
    plan = mapping.plan_frames(
        track["loudness"], track["onset"], timing.fps,
        latent_dim=int(loaded_style.architecture["latent_dim"]),
        seed=request.seed, strength=request.strength,
    )
    rows = slice(timing.frame_first - first, timing.frame_end - first)
    requested = mapping.FramePlan(latents=plan.latents[rows], zoom=plan.zoom[rows])
    indices = [timing.content_index(frame) for frame in timing.frames()]

    key = {
        "audio_sha256": file_digest(Path(request.audio_path)),
        "style_sha256": file_digest(Path(loaded_style.path)),
        "fps": timing.fps,
        "origin_fraction": round(timing.origin_frame - zero, 6),
        "size": [request.width, request.height],
        "seed": request.seed,
        "strength": request.strength,
    }
    out_dir = Path(request.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [bake.frame_filename(index) for index in indices]
    kept = _claim_folder(out_dir, key)
    record = {"key": key, "style": loaded_style.name, "frames": sorted(set(kept) | set(names))}
    record_tmp = out_dir / f".{RECORD_NAME}.tmp"
    record_tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(record_tmp, out_dir / RECORD_NAME)

    result = bake.bake_sequence(
        loaded_style, requested, indices, out_dir, request.width, request.height,
        progress=progress, cancel=cancel,
    )
    return VisualizerBake(
        paths=result.paths, frame_first=timing.frame_first,
        written=result.written, skipped=result.skipped, record=record,
    )
