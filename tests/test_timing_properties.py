"""core.timing, property-based: for any frame rate, strip position, trim, sound offset and
frame range, frames and file times convert back and forth exactly, frame intervals tile
the timeline, and nothing drifts, even ten hours into a song.

Frame rates are given as Blender stores them, ``render.fps`` (an integer) and
``render.fps_base`` (a float): the scene runs at ``fps / fps_base`` frames per second,
which is what ``operators.blender.strips.strip_timing`` hands to ``Timing``. Exact answers are
computed with ``fractions.Fraction`` from the very float values the code receives.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from neural_aesthetics.core.render.preview import Preview
from neural_aesthetics.core.audio.timing import Timing
from neural_aesthetics.core.render.visualizer import BakeRequest, requested_timing

# No example database (a failure prints its example); a few seconds for the whole file.
PROPERTIES = settings(max_examples=150, deadline=2000, database=None,
                      suppress_health_check=[HealthCheck.too_slow])

COMMON_RATES = [(24, 1.0), (25, 1.0), (30, 1.0), (50, 1.0), (60, 1.0), (120, 1.0),
                (24000, 1001.0), (30000, 1001.0), (60000, 1001.0),  # 23.976, 29.97, 59.94 as Blender's presets
                (24, 1.001), (30, 1.001), (60, 1.001)]  # the same rates typed as fps_base = 1.001
rates = st.one_of(
    st.sampled_from(COMMON_RATES),
    st.tuples(st.integers(1, 1000), st.sampled_from([1.0, 1.001, 1.0001, 0.999])),
    st.tuples(st.integers(1, 240), st.floats(0.25, 4.0, allow_nan=False)),  # odd ones
)
frame_numbers = st.integers(-200_000, 200_000)  # strips can start before frame 0
trims = st.integers(0, 20_000)  # frame_offset_start
sound_offsets = st.one_of(  # strip.sound_offset, seconds
    st.just(0.0), st.floats(-60.0, 3600.0, allow_nan=False),
    st.integers(-4_000, 200_000).map(lambda q: q / 64))  # exact in binary: whole and half frames hit exactly
lengths = st.integers(0, 5_000)
TEN_HOURS_S = 10 * 3600


def scene_fps(rate: tuple[int, float]) -> float:
    fps, fps_base = rate
    return fps / fps_base  # as operators.blender.strips.strip_timing computes it


def exact_fps(rate: tuple[int, float]) -> Fraction:
    fps, fps_base = rate
    return Fraction(fps) / Fraction(fps_base)


def strip_timing(rate, frame_start, trim, sound_offset_s, length) -> Timing:
    """A sound strip's Timing as the operator builds it: content at ``frame_start``,
    ``trim`` frames cut off its start, ``length`` frames shown."""
    return Timing.for_strip(fps=scene_fps(rate), content_frame_start=frame_start, sound_offset_s=sound_offset_s,
                            frame_first=frame_start + trim, frame_end=frame_start + trim + length)


def close(value: float, exact: Fraction, ulps: float, scale: float) -> bool:
    """``value`` within ``ulps`` units in the last place of ``scale`` of ``exact``."""
    return abs(Fraction(value) - exact) <= Fraction(ulps * math.ulp(max(abs(scale), 1.0)))


# --- frame <-> time ----------------------------------------------------------------------------


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, trim=trims, sound_offset_s=sound_offsets, length=lengths)
def test_the_strips_first_frame_plays_the_file_where_the_trim_and_sound_offset_say(
        rate, frame_start, trim, sound_offset_s, length):
    timing = strip_timing(rate, frame_start, trim, sound_offset_s, length)
    fps = scene_fps(rate)

    # The untrimmed content start plays sound_offset seconds into the file; every
    # trimmed frame moves the first shown frame 1/fps seconds further in.
    expected = Fraction(sound_offset_s) + Fraction(trim) / Fraction(fps)
    scale = max(abs(sound_offset_s), (abs(frame_start) + trim) / fps)
    assert close(timing.file_time_s(frame_start + trim), expected, 8, scale)
    assert close(timing.file_time_s(frame_start), Fraction(sound_offset_s), 8, scale)
    assert timing.n_frames == length and len(timing.frame_edges_s()) == length + 1
    if length:
        assert timing.frame_edges_s()[0] == timing.file_time_s(timing.frame_first)


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, trim=trims, sound_offset_s=sound_offsets, length=lengths,
       pick=st.floats(0.0, 1.0))
def test_frame_to_file_time_and_back_gives_the_same_frame(rate, frame_start, trim, sound_offset_s, length, pick):
    timing = strip_timing(rate, frame_start, trim, sound_offset_s, max(length, 1))
    frame = timing.frame_first + min(int(pick * timing.n_frames), timing.n_frames - 1)

    t = timing.file_time_s(frame)
    back = t * timing.fps + timing.origin_frame
    assert abs(back - frame) < 1e-6, (t, back, frame)  # a microframe, wherever the frame sits
    # The frame whose interval contains t (and the middle of the frame) is this frame.
    edges = timing.frame_edges_s()
    row = frame - timing.frame_first
    assert edges[row] <= t < edges[row + 1]
    middle = 0.5 * (edges[row] + edges[row + 1])
    assert math.floor(middle * timing.fps + timing.origin_frame) == frame


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, trim=trims, sound_offset_s=sound_offsets, length=lengths,
       pick=st.floats(0.0, 1.0))
@example(rate=(30000, 1001.0), frame_start=0, trim=0, sound_offset_s=0.0, length=1, pick=0.0)
def test_a_frames_content_index_survives_the_trip_through_seconds_the_preview_takes(
        rate, frame_start, trim, sound_offset_s, length, pick):
    """The live preview gets ``content_index / fps`` seconds and must draw exactly that frame."""
    timing = strip_timing(rate, frame_start, trim, sound_offset_s, max(length, 1))
    frame = timing.frame_first + min(int(pick * timing.n_frames), timing.n_frames - 1)
    index = timing.content_index(frame)
    first = index - 1_000_000  # a plan that starts well before this frame
    preview = Preview(renderer=None, plan=range(2_000_000), fps=timing.fps, first_content_index=first)

    assert preview.row_at(index / timing.fps) + first == index
    # and the content index counts frames from the one where the file's t = 0 plays
    assert timing.content_index(timing.content_zero_frame + (frame - timing.content_zero_frame)) == index
    assert index == frame - timing.content_zero_frame
    assert abs(timing.file_time_s(timing.content_zero_frame)) <= 0.5 / timing.fps + 1e-9


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, sound_offset_s=sound_offsets, length=st.integers(1, 2_000),
       move=st.integers(-100_000, 100_000), trim=trims)
def test_moving_a_strip_by_whole_frames_keeps_every_frames_content_index_and_file_time(
        rate, frame_start, sound_offset_s, length, move, trim):
    here = strip_timing(rate, frame_start, trim, sound_offset_s, length)
    moved = strip_timing(rate, frame_start + move, trim, sound_offset_s, length)

    assert [moved.content_index(f + move) for f in here.frames()] == [here.content_index(f) for f in here.frames()]
    np.testing.assert_allclose(moved.frame_edges_s(), here.frame_edges_s(), rtol=0,
                               atol=1e-9 * max(1.0, (abs(frame_start) + abs(move) + trim + length) / here.fps))


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, k=st.integers(-1_000_000, 1_000_000),
       sound_offset_s=st.one_of(sound_offsets, st.floats(-3600.0, 3600.0, allow_nan=False)))
@example(rate=(24, 1.0), frame_start=10, sound_offset_s=-0.3 / 24, k=-5)  # a frame before the file starts
@example(rate=(24, 1.0), frame_start=10, sound_offset_s=0.0625, k=0)  # the file starts mid-frame (8.5)
def test_content_indices_count_frames_from_the_files_start_before_and_after_it(rate, frame_start, sound_offset_s, k):
    timing = strip_timing(rate, frame_start, 0, sound_offset_s, 1)
    zero = timing.content_zero_frame

    assert timing.content_index(zero + k) == k
    assert timing.content_index(zero + k + 1) == k + 1  # consecutive frames, consecutive names
    # frame `zero` is the one whose start is nearest the file's t = 0 (half a frame either way)
    assert -0.5 <= (zero - timing.origin_frame) < 0.5 + 1e-9


# --- intervals tile the timeline -----------------------------------------------------------------


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, trim=trims, sound_offset_s=sound_offsets,
       length=st.integers(1, 5_000), cuts=st.lists(st.floats(0.0, 1.0), max_size=6))
def test_frame_intervals_and_farm_chunks_tile_the_timeline_without_gaps_or_overlaps(
        rate, frame_start, trim, sound_offset_s, length, cuts):
    timing = strip_timing(rate, frame_start, trim, sound_offset_s, length)
    edges = timing.frame_edges_s()

    assert np.all(np.diff(edges) > 0), "an interval of zero or negative length: frames overlap"
    np.testing.assert_allclose(np.diff(edges), 1.0 / timing.fps, rtol=1e-6)

    # Render-farm chunks (inclusive scene frame ranges, as --frames A-B): consecutive
    # chunks share their boundary exactly and together give the whole strip's edges.
    points = sorted({timing.frame_first + int(cut * length) for cut in cuts} - {timing.frame_first, timing.frame_end})
    bounds = [timing.frame_first, *points, timing.frame_end]
    request = BakeRequest(audio_path="song.wav", timing=timing, style_path="style.safetensors", out_dir="out",
                          width=16, height=9)
    pieces = []
    for start, end in zip(bounds, bounds[1:]):
        chunk = requested_timing(dataclasses.replace(request, frames=(start, end - 1)))
        assert (chunk.frame_first, chunk.frame_end) == (start, end)
        pieces.append(chunk.frame_edges_s())
    for before, after in zip(pieces, pieces[1:]):
        assert before[-1] == after[0], "a gap or an overlap between two chunks"
    joined = np.concatenate([pieces[0]] + [piece[1:] for piece in pieces[1:]])
    np.testing.assert_array_equal(joined, edges)
    assert [timing.content_index(f) for f in timing.frames()] == list(
        range(timing.content_index(timing.frame_first), timing.content_index(timing.frame_first) + length))


@PROPERTIES
@given(rate=rates, frame_start=frame_numbers, sound_offset_s=sound_offsets, length=st.integers(1, 3_000),
       trim=st.integers(0, 3_000), cut_end=st.integers(0, 3_000))
def test_trimming_either_end_keeps_the_edges_of_the_frames_left(rate, frame_start, sound_offset_s, length, trim,
                                                                cut_end):
    full = strip_timing(rate, frame_start, 0, sound_offset_s, trim + length + cut_end)
    trimmed = strip_timing(rate, frame_start, trim, sound_offset_s, length)

    np.testing.assert_array_equal(trimmed.frame_edges_s(), full.frame_edges_s()[trim:trim + length + 1])


# --- no drift --------------------------------------------------------------------------------------


@PROPERTIES
@given(rate=rates, hours=st.floats(0.0, 10.0), origin=st.one_of(st.just(0.0), st.floats(-1e5, 1e5)))
@example(rate=(30000, 1001.0), hours=10.0, origin=0.0)
@example(rate=(24, 1.001), hours=10.0, origin=0.0)
@example(rate=(24000, 1001.0), hours=9.999, origin=-0.5)
def test_frame_n_starts_at_n_fps_base_over_fps_seconds_even_ten_hours_in(rate, hours, origin):
    fps, fps_base = rate
    n = int(hours * 3600 * exact_fps(rate))  # a frame up to ten hours into the song
    timing = Timing(scene_fps(rate), origin, n, n + 3)

    if origin == 0.0:
        # the definition: frame N starts N * fps_base / fps seconds in, to float rounding
        exact = Fraction(n) * Fraction(fps_base) / Fraction(fps)
        assert close(timing.file_time_s(n), exact, 4, float(exact))
    # every edge is its own frame number minus the origin over the rate, computed
    # directly (never accumulated), so the error is float rounding of that one formula
    for k, edge in enumerate(timing.frame_edges_s()):
        exact = (Fraction(n + k) - Fraction(origin)) / exact_fps(rate)
        scale = abs(float(exact)) + abs(origin) / float(exact_fps(rate))
        assert close(edge, exact, 8, scale), (k, edge, float(exact))


@settings(PROPERTIES, max_examples=15, deadline=None)  # (each example builds up to 9 million edges)
@given(rate=rates, sound_offset_s=sound_offsets, frame_start=frame_numbers)
@example(rate=(30000, 1001.0), sound_offset_s=0.0, frame_start=1)
def test_ten_hours_of_frame_edges_drift_by_no_more_than_rounding(rate, sound_offset_s, frame_start):
    """All edges of a ten-hour strip at once (up to 8.6 million frames at 240 fps)."""
    fps = scene_fps(rate)
    n_frames = min(int(TEN_HOURS_S * fps), 9_000_000)
    timing = Timing.for_strip(fps, frame_start, sound_offset_s, frame_start, frame_start + n_frames)
    edges = timing.frame_edges_s()
    # exact values of the same formula in float64 only where Fractions are affordable: the
    # first, middle and last edges, and a spread of others
    origin = Fraction(timing.origin_frame)
    for row in sorted({0, 1, n_frames // 2, n_frames - 1, n_frames, *range(0, n_frames, max(1, n_frames // 50))}):
        exact = (Fraction(frame_start + row) - origin) / Fraction(fps)
        scale = float(abs(exact)) + abs(float(origin)) / fps + abs(frame_start + row) / fps
        assert close(edges[row], exact, 8, scale), (row, edges[row], float(exact))
    # the spacing stays one frame long everywhere: no drift builds up along the song
    spacing = np.diff(edges[:: max(1, n_frames // 1000)]) / max(1, n_frames // 1000)
    np.testing.assert_allclose(spacing, 1.0 / fps, rtol=1e-7)
