"""Music -> frames: the mapping moves the picture with the music (in seconds, whatever the
frame rate), and the bake writes whole, resumable, cancellable PNG sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neural_aesthetics.core.render import bake, cppn, mapping, style
from neural_aesthetics.core import progress as jobs
from neural_aesthetics.core.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_STYLES = {"ember", "lagoon", "prism"}
FPS = 24.0
ONSET_FRAMES = (16, 40)
QUIET_FRAMES = list(range(2, 14)) + list(range(56, 66))
"""Frames well before the first onset or long after the last (pulse decayed below 2 %)."""


def _synthetic_music(n_frames=68, onset_frames=ONSET_FRAMES):
    """Quiet background (loudness 0.1) with full-strength hits that ring out over 4 frames."""
    loudness = np.full(n_frames, 0.1)
    onset = np.zeros(n_frames)
    for frame in onset_frames:
        onset[frame] = 1.0
        loudness[frame:frame + 4] = [0.9, 0.7, 0.5, 0.3]
    return loudness, onset


@pytest.fixture
def procedural_style():
    architecture = cppn.default_architecture()
    return style.Style(name="test", architecture=architecture, weights=cppn.random_weights(architecture, seed=5),
                       metadata={}, path=None)


def _plan(loudness, onset, seed: int, latent_dim: int = 8, fps: float = FPS, **settings) -> mapping.FramePlan:
    """``mapping.plan`` of a track of only loudness and onsets (the pulse preset: flow and pulse)."""
    loudness, onset = np.asarray(loudness, dtype=np.float64), np.asarray(onset, dtype=np.float64)
    track = {"loudness": loudness, "rms": loudness / 2, "onset_strength": onset, "onset": onset}
    return mapping.plan(track, fps, latent_dim=latent_dim, seed=seed, preset="pulse", **settings)


def _step_sizes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change from the previous frame, per frame (index 0 = 0)."""
    flat = frames.reshape(len(frames), -1).astype(np.float64)
    return np.concatenate([[0.0], np.abs(np.diff(flat, axis=0)).mean(axis=1)])


def _hidden_files(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".")]


# --- mapping -----------------------------------------------------------------------------


def test_plan_is_deterministic_for_a_seed_and_differs_between_seeds():
    loudness, onset = _synthetic_music()
    first = _plan(loudness, onset, latent_dim=8, seed=1)
    again = _plan(loudness, onset, latent_dim=8, seed=1)
    other = _plan(loudness, onset, latent_dim=8, seed=2)
    assert first.latents.shape == (len(loudness), 8) and first.latents.dtype == np.float32
    assert first.zoom.shape == (len(loudness),) and first.zoom.dtype == np.float32
    np.testing.assert_array_equal(first.latents, again.latents)
    np.testing.assert_array_equal(first.zoom, again.zoom)
    assert np.abs(first.latents - other.latents).mean() > 0.1


def test_latent_moves_more_on_onsets_and_when_loud():
    loudness, onset = _synthetic_music()
    plan = _plan(loudness, onset, latent_dim=8, seed=3)
    step = _step_sizes(plan.latents)
    assert step[list(ONSET_FRAMES)].min() > 3 * step[QUIET_FRAMES].max()
    assert plan.zoom[list(ONSET_FRAMES)].min() > 1.05 and plan.zoom[QUIET_FRAMES].max() < 1.01

    silent = _plan(np.zeros(48), np.zeros(48), latent_dim=8, seed=3)
    loud = _plan(np.ones(48), np.zeros(48), latent_dim=8, seed=3)
    assert _step_sizes(loud.latents)[1:].mean() > 3 * _step_sizes(silent.latents)[1:].mean()


def test_same_music_at_25_and_50_fps_gives_the_same_latent_at_the_same_time():
    # The music as seen at 50 fps; each 25 fps frame covers two of those frames.
    time_s = np.arange(200) / 50.0
    loudness_50 = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * time_s) ** 3
    onset_50 = np.zeros(200)
    onset_50[[20, 64, 130]] = [1.0, 0.6, 0.9]  # at instants both frame grids share
    loudness_25 = loudness_50.reshape(100, 2).mean(axis=1)
    onset_25 = onset_50.reshape(100, 2).max(axis=1)

    plan_50 = _plan(loudness_50, onset_50, fps=50.0, latent_dim=8, seed=4)
    plan_25 = _plan(loudness_25, onset_25, fps=25.0, latent_dim=8, seed=4)
    np.testing.assert_allclose(plan_25.latents, plan_50.latents[::2], atol=1e-4)
    np.testing.assert_allclose(plan_25.zoom, plan_50.zoom[::2], atol=1e-5)


def test_strength_zero_ignores_the_music():
    loudness, onset = _synthetic_music()
    calm = _plan(np.zeros_like(loudness), np.zeros_like(onset), latent_dim=8, seed=5, strength=0)
    ignored = _plan(loudness, onset, latent_dim=8, seed=5, strength=0)
    np.testing.assert_allclose(ignored.latents, calm.latents, atol=1e-6)
    np.testing.assert_array_equal(ignored.zoom, np.ones(len(loudness), np.float32))


# --- bake --------------------------------------------------------------------------------


def test_frame_filename():
    assert bake.frame_filename(42) == "000042.png"
    assert bake.frame_filename(-3, "exr") == "-00003.exr" and bake.frame_filename(7, "jpeg") == "000007.jpg"


def _pulse_track(n_frames=68, onset_frames=ONSET_FRAMES):
    loudness, onset = _synthetic_music(n_frames, onset_frames)
    return {"loudness": loudness, "rms": loudness / 2, "onset_strength": onset, "onset": onset}


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.torch)])
def test_onset_frames_change_the_image_more_than_quiet_frames_under_the_pulse_preset(procedural_style, tmp_path,
                                                                                      backend):
    plan = mapping.plan(_pulse_track(), FPS, latent_dim=8, seed=6, preset="pulse")
    result = bake.bake_sequence(procedural_style, plan, range(len(plan)), tmp_path, 64, 36, backend=backend)
    assert result.backend.startswith(backend)
    step = _step_sizes(np.stack([np.asarray(Image.open(path)) for path in result.paths]))
    assert step[list(ONSET_FRAMES)].min() > 3 * step[QUIET_FRAMES].max()


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.torch)])
def test_chunks_are_byte_identical_to_a_whole_bake(procedural_style, tmp_path, backend):
    plan = mapping.plan(_pulse_track(24, (5, 17)), FPS, latent_dim=8, seed=3, preset="balanced")
    indices = list(range(24))
    whole = bake.bake_sequence(procedural_style, plan, indices, tmp_path / "whole", 80, 45, backend=backend)
    # Chunks of different lengths, baked in another order, each by a fresh renderer.
    for first, end in ((13, 24), (0, 1), (1, 13)):
        bake.bake_sequence(procedural_style, plan.rows(slice(first, end)), indices[first:end], tmp_path / "chunks",
                           80, 45, backend=backend, prefetch=1 + first % 3)
    for path in whole.paths:
        assert (tmp_path / "chunks" / path.name).read_bytes() == path.read_bytes(), path.name


def test_the_numpy_backend_never_imports_torch(tmp_path):
    import subprocess
    import sys

    script = f"""
import sys, types
sys.path[:0] = {sys.path!r}
package = types.ModuleType("neural_aesthetics"); package.__path__ = [{str(ROOT)!r}]
sys.modules["neural_aesthetics"] = package
import numpy as np
from neural_aesthetics.core.render import bake, cppn, mapping, preview, style, visualizer
architecture = cppn.default_architecture()
loaded = style.Style(name="t", architecture=architecture, weights=cppn.random_weights(architecture, 1), metadata={{}}, path=None)
plan = mapping.plan({{"loudness": np.zeros(3), "onset": np.zeros(3)}}, 24.0, 8, 0)
bake.bake_sequence(loaded, plan, range(3), {str(tmp_path)!r}, 16, 9, backend="numpy")
preview.Preview.from_style(loaded, plan, 24.0, backend="numpy").frame_at(0.05)
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _decode_png16(path: Path) -> np.ndarray:
    """A minimal 16-bit RGB PNG reader (Up filter only, as ours writes)."""
    import struct
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour = header[:4]
    assert (depth, colour) == (16, 2)
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width * 6 + 1)
    assert set(rows[:, 0]) == {2}
    raw = np.cumsum(rows[:, 1:], axis=0, dtype=np.uint64) % 256  # undo Up
    return raw.astype(np.uint8).view(">u2").reshape(height, width, 3).astype(np.uint16)


@pytest.mark.parametrize("image_format", ["png8", "png16", "jpeg", "exr"])
def test_every_image_format_is_written_whole_and_in_the_right_colours(procedural_style, tmp_path, image_format):
    from neural_aesthetics.core.render import imageio

    plan = mapping.plan(_pulse_track(8, (1,)), FPS, latent_dim=8, seed=1).rows(slice(0, 3))
    result = bake.bake_sequence(procedural_style, plan, [5, 6, 7], tmp_path, 40, 22, image_format=image_format,
                                backend="numpy")
    assert [path.name for path in result.paths] == [bake.frame_filename(i, image_format) for i in (5, 6, 7)]
    assert _hidden_files(tmp_path) == []
    expected = cppn.CPPN.from_style(procedural_style).render(plan.latents[1], 40, 22, **plan.view(1))
    if image_format == "png8":
        np.testing.assert_array_equal(np.asarray(Image.open(result.paths[1])), imageio.to_rgb8(expected))
    elif image_format == "jpeg":
        with Image.open(result.paths[1]) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (40, 22))
            assert np.abs(np.asarray(image) / 255.0 - expected).mean() < 0.03
    elif image_format == "png16":
        np.testing.assert_array_equal(_decode_png16(result.paths[1]), imageio.to_rgb16(expected))
    else:
        data = result.paths[1].read_bytes()
        assert data[:4] == b"\x76\x2f\x31\x01" and b"compression" in data


def test_exr_holds_linear_half_floats():
    from neural_aesthetics.core.render import imageio

    assert imageio.srgb_to_linear(np.array([0.0, 0.04045, 0.5, 1.0]))[2] == pytest.approx(0.21404, abs=1e-4)
    rgb = np.random.default_rng(0).random((37, 19, 3)).astype(np.float32)
    prepared = imageio.prepare(rgb, "exr")
    assert prepared.dtype == np.float16
    np.testing.assert_allclose(prepared.astype(np.float32), imageio.srgb_to_linear(rgb), atol=1e-3)
    data = imageio.encode_exr(prepared)
    # 3 blocks of 16, 16 and 5 scanlines after the header's offset table.
    header_end = data.index(b"screenWindowWidth\x00float\x00") + 24 + 4 + 4 + 1  # name, type, size, value, end
    offsets = np.frombuffer(data[header_end:header_end + 24], "<u8")
    assert len(offsets) == 3 and offsets[0] == header_end + 24 and np.all(np.diff(offsets) > 0)


def test_baked_frames_change_much_more_on_onsets_than_when_quiet(procedural_style, tmp_path):
    loudness, onset = _synthetic_music()
    plan = _plan(loudness, onset, latent_dim=8, seed=6)
    messages = []
    result = bake.bake_sequence(procedural_style, plan, range(len(loudness)), tmp_path / "frames", 64, 36,
                                progress=lambda done, total, message: messages.append((done, total, message)))

    n = len(loudness)
    assert (result.written, result.skipped) == (n, 0)
    assert [path.name for path in result.paths] == [bake.frame_filename(i) for i in range(n)]
    assert messages == [(k, n, f"Frame {k}/{n}") for k in range(1, n + 1)]
    images = [Image.open(path) for path in result.paths]
    assert {(image.mode, image.size) for image in images} == {("RGB", (64, 36))}
    step = _step_sizes(np.stack([np.asarray(image) for image in images]))
    assert step[list(ONSET_FRAMES)].mean() > 2 * step[QUIET_FRAMES].mean()


def test_resumed_bake_skips_existing_frames_and_matches_a_fresh_bake(procedural_style, tmp_path):
    loudness, onset = _synthetic_music(n_frames=10, onset_frames=(3,))
    plan = _plan(loudness, onset, latent_dim=8, seed=7)
    indices = list(range(100, 110))
    fresh = bake.bake_sequence(procedural_style, plan, indices, tmp_path / "fresh", 48, 27)

    resumed_dir = tmp_path / "resumed"
    first_part = mapping.FramePlan(latents=plan.latents[:4], zoom=plan.zoom[:4])
    bake.bake_sequence(procedural_style, first_part, indices[:4], resumed_dir, 48, 27)
    before = {path.name: path.stat().st_mtime_ns for path in resumed_dir.iterdir()}
    resumed = bake.bake_sequence(procedural_style, plan, indices, resumed_dir, 48, 27)

    assert (resumed.written, resumed.skipped) == (6, 4)
    assert all((resumed_dir / name).stat().st_mtime_ns == mtime for name, mtime in before.items())
    for fresh_path, resumed_path in zip(fresh.paths, resumed.paths):
        assert fresh_path.name == resumed_path.name
        assert fresh_path.read_bytes() == resumed_path.read_bytes()


@pytest.mark.parametrize("frames_before_cancel", [0, 3])
def test_cancel_leaves_exactly_the_finished_frames(procedural_style, tmp_path, frames_before_cancel):
    loudness, onset = _synthetic_music(n_frames=8, onset_frames=(2,))
    plan = _plan(loudness, onset, latent_dim=8, seed=8)
    token = jobs.CancelToken()
    if frames_before_cancel == 0:
        token.cancel()

    def progress(done, _total, _message):
        if done == frames_before_cancel:
            token.cancel()

    with pytest.raises(jobs.Cancelled):
        bake.bake_sequence(procedural_style, plan, range(8), tmp_path, 32, 18, progress=progress, cancel=token)
    assert sorted(path.name for path in tmp_path.iterdir()) == [bake.frame_filename(i) for i in range(frames_before_cancel)]
    for index in range(frames_before_cancel):
        Image.open(tmp_path / bake.frame_filename(index)).load()  # complete, decodable


def test_failed_write_leaves_no_temporary_or_partial_file(procedural_style, tmp_path, monkeypatch):
    plan = _plan(np.zeros(2), np.zeros(2), latent_dim=8, seed=9)

    def failing_write(target, data):
        Path(target).write_bytes(data[:len(data) // 2])
        raise OSError(28, "No space left on device")

    from neural_aesthetics.core.render import imageio

    monkeypatch.setattr(imageio, "_write_bytes", failing_write)
    with pytest.raises(UserError, match="Out of disk space writing frames to") as caught:  # one line, not OSError
        bake.bake_sequence(procedural_style, plan, [0, 1], tmp_path, 16, 9)
    assert str(tmp_path) in str(caught.value) and "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_plan_and_indices_must_match(procedural_style, tmp_path):
    plan = _plan(np.zeros(3), np.zeros(3), latent_dim=8, seed=0)
    with pytest.raises(ValueError, match="3 latents"):
        bake.bake_sequence(procedural_style, plan, [0, 1], tmp_path, 16, 9)


# --- bundled styles ----------------------------------------------------------------------


def test_bundled_styles_load_and_render():
    infos = style.list_styles([ROOT / "styles"])
    assert BUNDLED_STYLES <= {info.name for info in infos}  # the procedural three (trained ones may join them)
    infos = [info for info in infos if info.name in BUNDLED_STYLES]
    renders = []
    for info in infos:
        for path in (info.path, info.path.with_suffix(".json")):
            assert path.stat().st_size < 64_000, f"{path.name} is unexpectedly large"
        assert info.origin == "procedural" and "not CLIP-trained" in info.label
        with Image.open(info.thumbnail_path) as thumbnail:
            assert (thumbnail.mode, thumbnail.size) == ("RGB", (160, 90))
        loaded = style.load_style(info.path)
        plan = _plan(np.full(3, 0.5), np.array([0.0, 1.0, 0.0]),
                                   latent_dim=loaded.architecture["latent_dim"], seed=0)
        image = cppn.CPPN.from_style(loaded).render(plan.latents[1], 64, 36, zoom=float(plan.zoom[1]))
        assert image.std(axis=(0, 1)).max() > 0.05, f"{info.name} renders a flat image"
        renders.append(image)
    for first in range(len(renders)):
        for second in range(first + 1, len(renders)):
            assert np.abs(renders[first] - renders[second]).mean() > 0.1, "two bundled styles look alike"


def _block_means(image: np.ndarray, blocks: int) -> np.ndarray:
    side = image.shape[0] // blocks
    return image.reshape(blocks, side, blocks, side, 3).mean(axis=(1, 3))


@pytest.mark.slow
def test_one_style_bakes_landscape_portrait_and_4k_square_frames_of_the_same_picture(tmp_path):
    # 1920x1080, 1080x1920 and 4096x4096 from one style: the shorter side always spans the
    # same square of the picture, so each frame holds it (sharper on the larger one).
    loaded = style.load_style(ROOT / "styles" / "ember.safetensors")
    plan = _plan(np.full(1, 0.5), np.zeros(1), latent_dim=loaded.architecture["latent_dim"],
                               seed=0)
    frames = {}
    for width, height in ((1920, 1080), (1080, 1920), (4096, 4096)):
        result = bake.bake_sequence(loaded, plan, [0], tmp_path / f"{width}x{height}", width, height)
        with Image.open(result.paths[0]) as image:
            assert (image.mode, image.size) == ("RGB", (width, height))
            frames[width, height] = np.asarray(image, dtype=np.int16)  # 8-bit levels
    landscape_square = frames[1920, 1080][:, 420:1500]
    portrait_square = frames[1080, 1920][420:1500, :]
    assert np.abs(landscape_square - portrait_square).max() <= 1  # the same pixels, to one level of rounding
    assert landscape_square.std(axis=(0, 1)).max() > 12  # not flat: 12 of 255 levels
    # 8x8 areas of the square (135x135 pixels at 1080, 512x512 at 4096): means within 2.5 levels
    assert np.abs(_block_means(landscape_square, 8) - _block_means(frames[4096, 4096], 8)).max() < 2.5
