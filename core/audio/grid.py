"""Series of file time and their integration over video frames.

Every analysis series is a :class:`Grid`: a piecewise-constant function of file time
(cells of a fixed length in seconds). A frame's value is the difference of the series'
cumulative integral at the frame's two edges divided by its length, so a 29.97 fps track
does not drift over any length and a partly covered cell counts in proportion.
:class:`SoundAnalysis` holds a song's grids and event times (what the cache stores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass
class Grid:
    """A piecewise-constant function of file time: ``values[i]`` holds on
    ``[first_s + i * cell_s, first_s + (i + 1) * cell_s)`` seconds (rows; extra axes are columns)."""

    values: np.ndarray
    first_s: float
    cell_s: float


@dataclass
class SoundAnalysis:
    """Everything about a sound file that does not depend on the video frames (cacheable)."""

    sample_rate: int
    n_samples: int
    grids: dict[str, Grid]
    beats_s: np.ndarray
    downbeats_s: np.ndarray
    sections_s: np.ndarray
    beats_per_bar: int = 0  # the meter used for the downbeats (heard or set); 0 without beats

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.sample_rate)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array form (for ``np.savez``)."""
        out = {
            "meta": np.array([self.sample_rate, self.n_samples, self.beats_per_bar], dtype=np.int64),
            "beats_s": self.beats_s, "downbeats_s": self.downbeats_s, "sections_s": self.sections_s,
        }
        for name, grid in self.grids.items():
            out[f"grid.{name}"] = grid.values
            out[f"grid.{name}.time"] = np.array([grid.first_s, grid.cell_s], dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "SoundAnalysis":
        grids = {}
        for key in arrays:
            if key.startswith("grid.") and not key.endswith(".time"):
                first_s, cell_s = (float(v) for v in arrays[f"{key}.time"])
                grids[key[len("grid."):]] = Grid(np.asarray(arrays[key]), first_s, cell_s)
        meta = arrays["meta"]
        return cls(int(meta[0]), int(meta[1]), grids, np.asarray(arrays["beats_s"]),
                   np.asarray(arrays["downbeats_s"]), np.asarray(arrays["sections_s"]), int(meta[2]))


def cumulative(values: np.ndarray) -> np.ndarray:
    """``c[0] = 0, c[i] = sum(values[:i])`` in float64 (along the first axis)."""
    values = np.asarray(values)
    out = np.empty((len(values) + 1,) + values.shape[1:], dtype=np.float64)
    out[0] = 0.0
    np.cumsum(values, axis=0, dtype=np.float64, out=out[1:])
    return out


def _integral_at(cum: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Integral from 0 to ``pos`` of a function constant on unit cells ``[i, i + 1)``.

    ``cum`` is the cumulative sum of the cell values (length ``n_cells + 1``, extra axes
    are columns); positions are in cell units and clipped to ``[0, n_cells]`` (the
    function is 0 outside).
    """
    n_cells = len(cum) - 1
    if n_cells <= 0:
        return np.zeros((len(pos),) + cum.shape[1:], dtype=np.float64)
    pos = np.clip(pos, 0.0, float(n_cells))
    index = np.minimum(np.floor(pos).astype(np.int64), n_cells - 1)
    frac = pos - index
    if cum.ndim > 1:
        frac = frac.reshape((-1,) + (1,) * (cum.ndim - 1))
    return cum[index] + frac * (cum[index + 1] - cum[index])


def interval_means(cum: np.ndarray, start: np.ndarray, stop: np.ndarray, cell_s: float, first_cell_s: float,
                    end_s: float) -> np.ndarray:
    """Mean over each ``[start, stop)`` (seconds) of a piecewise-constant function.

    Cell ``i`` of the function covers ``[first_cell_s + i * cell_s, ... + cell_s)`` seconds;
    the function is 0 before 0 s, after ``end_s`` and outside its cells.
    """
    def position(t):
        return (np.clip(t, 0.0, end_s) - first_cell_s) / cell_s

    area = _integral_at(cum, position(stop)) - _integral_at(cum, position(start))
    duration_cells = (stop - start) / cell_s
    if area.ndim > 1:
        duration_cells = duration_cells.reshape((-1,) + (1,) * (area.ndim - 1))
    return np.maximum(area, 0.0) / duration_cells


def grid_means(grid: Grid, edges: np.ndarray, end_s: float, cum: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``grid`` over each interval between consecutive ``edges`` (seconds)."""
    if cum is None:
        cum = cumulative(grid.values)
    return interval_means(cum, edges[:-1], edges[1:], grid.cell_s, grid.first_s, end_s)
