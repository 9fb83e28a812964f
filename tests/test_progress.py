"""What the progress bar says about the time left (core/progress.py)."""

from __future__ import annotations

import pytest

from neural_aesthetics.core.progress import remaining_text


@pytest.mark.parametrize("elapsed_s, fraction, expected", [
    (10.0, 0.5, "about 10 s left"),          # half done in 10 s: 10 s more
    (30.0, 0.25, "about 1 min 30 s left"),
    (600.0, 0.1, "about 1 h 30 min left"),
    (0.1, 0.99, "about 1 s left"),           # never "0 s" while still running
])
def test_time_left_assumes_the_average_pace_so_far(elapsed_s, fraction, expected):
    assert remaining_text(elapsed_s, fraction) == expected


@pytest.mark.parametrize("elapsed_s, fraction", [(5.0, 0.0), (5.0, 0.01), (5.0, 1.0), (0.0, 0.5)])
def test_no_guess_before_two_percent_or_once_finished(elapsed_s, fraction):
    assert remaining_text(elapsed_s, fraction) == ""
