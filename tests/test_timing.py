"""core.timing: where the video frames of a sound strip fall in its file, without drift."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from neural_aesthetics.core.audio.timing import Timing

NTSC = 30000 / 1001


def test_for_strip_puts_the_files_start_sound_offset_seconds_before_the_content_start():
    timing = Timing.for_strip(fps=24, content_frame_start=101, sound_offset_s=2.0, frame_first=101, frame_end=200)

    assert timing.origin_frame == 101 - 2.0 * 24
    assert timing.file_time_s(101) == pytest.approx(2.0)  # the strip starts 2 s into the file
    assert timing.frame_edges_s()[0] == pytest.approx(2.0)
    assert timing.n_frames == 99
    np.testing.assert_array_equal(timing.frames(), np.arange(101, 200))


def test_for_strip_with_a_fractional_offset_at_ntsc_rate():
    timing = Timing.for_strip(fps=NTSC, content_frame_start=10, sound_offset_s=1.5, frame_first=12, frame_end=40)

    assert timing.origin_frame == pytest.approx(10 - 1.5 * NTSC)
    assert timing.file_time_s(10) == pytest.approx(1.5, abs=1e-12)
    # frame 12 starts two NTSC frames after the content start
    assert timing.frame_edges_s()[0] == pytest.approx(1.5 + 2 * 1001 / 30000, abs=1e-12)


def test_frame_edges_at_2997_do_not_drift_over_ten_minutes():
    n_frames = 17982  # 10 min of 29.97 fps video
    timing = Timing(NTSC, origin_frame=3.5, frame_first=0, frame_end=n_frames)

    edges = timing.frame_edges_s()

    exact = [float((Fraction(f) - Fraction(7, 2)) * Fraction(1001, 30000)) for f in range(n_frames + 1)]
    assert len(edges) == n_frames + 1
    np.testing.assert_allclose(edges, exact, rtol=0, atol=1e-9)
    assert edges[-1] == pytest.approx((n_frames - 3.5) * 1001 / 30000, abs=1e-9)  # 599.883 s
    # the edges really are evenly spaced by 1001/30000 s, to float precision
    np.testing.assert_allclose(np.diff(edges), 1001 / 30000, rtol=1e-9)


def test_content_index_does_not_change_when_the_strip_moves():
    before = Timing.for_strip(fps=25, content_frame_start=1, sound_offset_s=0.52, frame_first=1, frame_end=300)
    after = Timing.for_strip(fps=25, content_frame_start=141, sound_offset_s=0.52, frame_first=141, frame_end=440)

    indices_before = [before.content_index(f) for f in before.frames()]
    indices_after = [after.content_index(f) for f in after.frames()]

    assert indices_before == indices_after
    assert indices_before[:3] == [13, 14, 15]  # 0.52 s = 13 frames already played at the strip start
    assert after.content_zero_frame - before.content_zero_frame == 140
    assert before.content_index(before.content_zero_frame) == 0


def test_content_index_rounds_a_fractional_origin_to_the_nearest_frame():
    timing = Timing(24, origin_frame=10.3, frame_first=0, frame_end=30)

    assert timing.content_zero_frame == 10
    assert [timing.content_index(f) for f in (9, 10, 11)] == [-1, 0, 1]
    assert Timing(24, origin_frame=10.7, frame_first=0, frame_end=30).content_zero_frame == 11


def test_trimming_keeps_the_edges_of_the_remaining_frames():
    full = Timing(NTSC, origin_frame=0.25, frame_first=0, frame_end=500)
    trimmed = Timing(NTSC, origin_frame=0.25, frame_first=120, frame_end=480)

    np.testing.assert_array_equal(trimmed.frame_edges_s(), full.frame_edges_s()[120:481])


def test_a_reversed_frame_range_is_an_error():
    with pytest.raises(ValueError, match="reversed"):
        Timing(24, 0, 50, 10)
    assert Timing(24, 0, 10, 10).n_frames == 0  # empty is allowed: nothing to produce


@pytest.mark.parametrize("fps", [0, -24, float("nan"), float("inf")])
def test_a_frame_rate_that_is_not_a_positive_number_is_an_error(fps):
    with pytest.raises(ValueError, match="frame rate"):
        Timing(fps, 0, 0, 10)
