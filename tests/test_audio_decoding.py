"""A song is heard to its last sample and once per content: MP3s whose header lies, files
outside the limits, the analysis cache shared by every bake, progress and cancel.

Hostile files are built here: MP3s made with PyAV (FFmpeg's LAME encoder), then their
Xing frame stripped or two of them concatenated byte by byte.
"""

from __future__ import annotations

import struct
import time

import av
import numpy as np
import pytest
import soundfile

import synth_music
from helpers import ROOT
from neural_aesthetics.core import audio
from neural_aesthetics.core.audio.timing import Timing
from neural_aesthetics.core.errors import UserError
from neural_aesthetics.core.progress import CancelToken, Cancelled
from neural_aesthetics.core.render import visualizer

RATE = 44100
_BITRATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def encode_mp3(samples: np.ndarray, path, vbr: bool = True):
    """``samples`` (mono float32, 44.1 kHz) as an MP3 written by LAME through PyAV."""
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="mono")
        if vbr:
            stream.codec_context.qscale = 2
            stream.codec_context.flags |= 0x0002  # AV_CODEC_FLAG_QSCALE: variable bit rate
        for start in range(0, len(samples), 1152):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1152].astype(np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def without_xing_frame(data: bytes) -> bytes:
    """An MP3's bytes without its first frame (LAME's Xing/Info frame: the length header)."""
    start = 0
    if data[:3] == b"ID3":
        start = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    header = data[start + 2]
    length = 144000 * _BITRATES_KBPS[header >> 4] // (44100, 48000, 32000)[(header >> 2) & 3] + ((header >> 1) & 1)
    assert b"Xing" in data[start:start + length] or b"Info" in data[start:start + length]
    return data[:start] + data[start + length:]


def loud_then_quiet(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise (many bits per frame) then a soft tone (few): a VBR file whose first frames'
    bit rate makes any estimate from them far too short."""
    t = np.arange(int(seconds * RATE)) / RATE
    noise = 0.5 * np.random.default_rng(seed).standard_normal(len(t))
    return np.clip(np.where(t < 1.5, noise, 0.3 * np.sin(2 * np.pi * 220 * t)), -1, 1).astype(np.float32)


def ffmpeg_length_s(path) -> float:
    with av.open(str(path)) as container:
        total = 0
        for packet in container.demux(container.streams.audio[0]):
            try:
                total += sum(frame.samples for frame in packet.decode())
            except av.error.InvalidDataError:
                pass
    return total / RATE


@pytest.fixture(scope="module")
def lying_mp3s(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mp3")
    whole = encode_mp3(loud_then_quiet(8.0), folder / "vbr.mp3")
    no_xing = folder / "no_xing.mp3"
    no_xing.write_bytes(without_xing_frame(whole.read_bytes()))
    second = encode_mp3(0.3 * np.sin(2 * np.pi * 330 * np.arange(5 * RATE) / RATE), folder / "second.mp3", vbr=False)
    joined = folder / "joined.mp3"
    joined.write_bytes(whole.read_bytes() + second.read_bytes())
    return {"no_xing": no_xing, "joined": joined}


@pytest.mark.parametrize("name", ["no_xing", "joined"])
def test_an_mp3_whose_header_lies_is_heard_to_its_last_frame(lying_mp3s, name):
    path = lying_mp3s[name]
    plays_s = ffmpeg_length_s(path)
    header_s = soundfile.info(str(path)).frames / RATE
    assert header_s < 0.75 * plays_s  # (the file really lies: libsndfile alone stops early)

    assert audio.duration_s(path) == pytest.approx(plays_s, abs=0.06)
    sound = audio.sound_analysis(path)
    assert sound.duration_s == pytest.approx(plays_s, abs=0.06)
    fps = 25
    track = audio.frame_features(sound, Timing(fps, 0, 0, int(plays_s * fps)))
    last_second = track["rms"][-fps:]
    assert np.all(last_second > 0.05), "the features stop before the song does"


def write_wav_header_only_rate(path, rate_hz: int, n_bytes: int):
    """A valid 16-bit mono WAV of ``n_bytes`` of quiet noise declaring ``rate_hz``."""
    data = (np.random.default_rng(0).standard_normal(n_bytes // 2) * 300).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate_hz, rate_hz * 2, 2, 16) + b"data" + struct.pack("<I", len(data))
    path.write_bytes(header + data)
    return path


def test_a_wav_declaring_a_1_hz_rate_is_refused_at_once_naming_the_file_and_the_limit(tmp_path):
    path = write_wav_header_only_rate(tmp_path / "one_hertz.wav", 1, 700_000)
    for call in (lambda: audio.analyze(path, Timing(24, 0, 0, 24)), lambda: audio.duration_s(path)):
        started = time.perf_counter()
        with pytest.raises(audio.AudioError) as caught:
            call()
        assert time.perf_counter() - started < 1.0
        message = str(caught.value)
        assert "\n" not in message and str(path) in message
        assert "1 Hz" in message and f"{audio.SAMPLE_RATE_RANGE_HZ[0]} to" in message


def test_a_strip_longer_than_the_limit_is_refused_before_any_work(tmp_path):
    song = synth_music.write_wav(tmp_path / "song.wav", np.zeros(RATE, np.float32), RATE) or tmp_path / "song.wav"
    frames = int(audio.MAX_DURATION_S * 24) + 24
    request = visualizer.BakeRequest(audio_path=song, timing=Timing(24, 0, 0, frames),
                                     style_path=ROOT / "styles" / "ember.safetensors", out_dir=tmp_path / "frames",
                                     width=16, height=16, backend="numpy")
    with pytest.raises(UserError) as caught:
        visualizer.bake_visualizer(request)
    message = str(caught.value)
    assert "\n" not in message and f"{frames} frames" in message and "the limit is 6 h" in message
    assert not (tmp_path / "frames").exists()


# --------------------------------------------------------------------------- one analysis per song


@pytest.fixture(scope="module")
def minute_song(tmp_path_factory):
    track = synth_music.render_beat_track((synth_music.Part(120.0, 30),), RATE, seed=3)  # 1 minute
    path = tmp_path_factory.mktemp("song") / "minute.wav"
    synth_music.write_wav(path, track.samples, RATE)
    return path


def test_analysis_reports_progress_per_block_and_a_cancel_stops_it_at_the_next_block(minute_song, monkeypatch):
    monkeypatch.setattr(audio.decoding, "DECODE_BLOCK_SAMPLES", 1 << 16)  # 1.5 s blocks: many reports
    reports = []
    audio.analyze_file(minute_song, progress=lambda done, total, message: reports.append((done, total, message)))
    assert len(reports) >= 40 and {message for *_n, message in reports} == {"Analysing song…"}
    assert [done for done, *_ in reports] == sorted(done for done, *_ in reports)
    seconds = soundfile.info(str(minute_song)).frames // RATE
    assert reports[-1][:2] == (seconds, seconds) and all(total == seconds for _done, total, _m in reports)

    cancel, after_cancel = CancelToken(), []

    def progress(done, total, message):
        if cancel.cancelled:
            after_cancel.append(done)
        if done >= 10:
            cancel.cancel()

    with pytest.raises(Cancelled):
        audio.analyze_file(minute_song, progress=progress, cancel=cancel)
    assert after_cancel == []  # not one more block was analysed


def test_a_second_bake_of_a_song_reads_its_analysis_from_the_cache(minute_song, tmp_path, monkeypatch):
    # (the time it saves, as a ratio to a cold analysis: benchmarks/bench_audio.py)
    cache = tmp_path / "cache"
    request = visualizer.BakeRequest(audio_path=minute_song, timing=Timing(30, 0, 0, 1800),
                                     style_path=ROOT / "styles" / "ember.safetensors", out_dir=tmp_path / "a",
                                     width=16, height=16, frames=(0, 1), backend="numpy", analysis_cache=str(cache))
    messages = []
    visualizer.bake_visualizer(request, progress=lambda done, total, message: messages.append(message))
    assert "Analysing song…" in messages
    first_plan, _whole = visualizer.song_plan(request)

    monkeypatch.setattr(audio.features, "analyze_file", lambda *_a, **_k: pytest.fail("analysed again"))
    chunk = visualizer.BakeRequest(**{**request.__dict__, "frames": (900, 901), "out_dir": tmp_path / "b"})
    visualizer.bake_visualizer(chunk)  # the next farm chunk of the same song
    again, _whole = visualizer.song_plan(request)
    np.testing.assert_array_equal(again.latents, first_plan.latents)
