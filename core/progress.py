"""Cancellation and progress reporting for long work (training, analysis, baking).

Long ``core`` functions take an optional ``ProgressCallback`` and ``CancelToken`` so the
same code runs blocking under ``blender -b`` and in a background worker driven by the UI.
"""

from __future__ import annotations

import threading
from typing import Callable

ProgressCallback = Callable[[int, int, str], None]
"""Called as ``progress(done, total, message)``: ``done`` of ``total`` work units finished."""


class Cancelled(Exception):
    """The work stopped because its ``CancelToken`` was cancelled (not an error)."""


class CancelToken:
    """A flag one thread sets to ask work running in another thread to stop.

    The work polls it between units (``raise_if_cancelled``), so a unit in progress
    finishes first and nothing is left half-written.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check. Safe from any thread, idempotent."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` has been called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise ``Cancelled`` if ``cancel`` has been called, else return."""
        if self._event.is_set():
            raise Cancelled("cancelled")


def remaining_text(elapsed_s: float, fraction: float) -> str:
    """A rough time left for the UI, from the time spent and the fraction done (0..1).

    Assumes the rest goes at the average pace so far; empty until 2% is done (too early
    to say). E.g. ``"about 1 min 20 s left"``, ``"about 8 s left"``.
    """
    if not 0.02 <= fraction < 1.0 or elapsed_s <= 0:
        return ""
    left_s = round(elapsed_s * (1.0 - fraction) / fraction)
    if left_s >= 3600:
        return f"about {left_s // 3600} h {left_s % 3600 // 60} min left"
    if left_s >= 60:
        return f"about {left_s // 60} min {left_s % 60} s left"
    return f"about {max(left_s, 1)} s left"
