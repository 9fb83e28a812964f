"""A song map: one picture of a song's analysis on the strip's own frame axis (pure NumPy).

``render(track)`` draws a :class:`~core.audio.features.FeatureTrack` as lanes under one
time axis, top to bottom: the time ruler (seconds of the song), loudness (a mirrored
envelope), the four bands and the 12 pitch classes (heat maps), beats (short ticks) and
bars (tall ticks on downbeats), sections, chords (one block per chord, coloured by its
root around the circle of fifths, darker when minor, named when there is room) and the
key of each section (named, with its confidence).

The horizontal axis is the track's video frames: column ``c`` shows the frames from
``starts[c]`` to ``starts[c + 1]`` (``SongMap.columns_of_frame`` gives a frame's columns),
so a beat drawn in the picture is on the frame where the visualizer pulses. Continuous
lanes average the frames of a column, event lanes (beats, changes) keep any event in it.

``write_png(path, track)`` renders and writes an 8-bit sRGB PNG atomically.
Text is drawn with a built-in 3x5 pixel font (scaled), so nothing beyond NumPy is needed.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import harmony as harmony_tools
from . import imageio

__all__ = ["SongMap", "render", "write_png", "DEFAULT_WIDTH"]

DEFAULT_WIDTH = 1600
"""Picture width in pixels when none is asked for."""
MIN_WIDTH, MAX_WIDTH = 64, 16384
_SCALE = 2  # font pixels per glyph pixel
_BACKGROUND = np.array([0.09, 0.09, 0.11])
_LABEL = np.array([0.62, 0.64, 0.68])
_TEXT = np.array([0.93, 0.93, 0.95])
_LANES = (("time", 22), ("loudness", 90), ("bands", 48), ("chroma", 60), ("beats", 26), ("sections", 22),
          ("chords", 30), ("key", 24))
"""Lane name and height in pixels, top to bottom."""
_LEFT = 78  # pixels left of the time axis for the lane names

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "K": "101110100110101", "M": "101111111101101",
    "N": "110101101101101", "P": "110101110100100", "S": "011100010001110", "T": "111010010010010",
    "a": "000011101101011", "b": "100110101101110", "c": "000011100100011", "d": "001011101101011",
    "e": "000111111100011", "h": "100110101101101", "i": "010000010010010", "j": "001000001101010",
    "k": "100101110101101", "l": "110010010010111", "p": "000110101110100", "g": "000011101011110",
    "f": "011010111010010", "v": "000101101101010", "w": "000101101111111", "m": "000111111101101", "n": "000110101101101", "o": "000010101101010",
    "r": "000011100100100", "s": "000011110011110", "t": "010111010010001", "u": "000101101101011",
    "y": "000101011001110", "#": "101111101111101", ":": "000010000010000", ".": "000000000000010",
    "%": "101001010100101", "-": "000000111000000", "/": "001001010100100", " ": "000000000000000",
}
_GLYPH_W, _GLYPH_H = 3, 5


@dataclass
class SongMap:
    """A rendered map: ``rgb`` (H, W, 3) float 0..1 and the frame axis of its columns.

    ``frame_first`` is the scene frame of the track's first row; column ``c`` (counted
    from ``left``, the first pixel of the time axis) shows rows ``starts[c]`` ..
    ``starts[c + 1] - 1`` (one row may span several columns, or one column several rows).
    """

    rgb: np.ndarray
    left: int
    frame_first: int
    starts: np.ndarray

    def columns_of_frame(self, frame: int) -> range:
        """Pixel columns (x in the picture) that show scene frame ``frame`` (one of the track's)."""
        row = frame - self.frame_first
        if not 0 <= row < self.starts[-1]:
            raise ValueError(f"frame {frame} is not on the map (frames {self.frame_first} to "
                             f"{self.frame_first + int(self.starts[-1]) - 1})")
        stop = int(np.searchsorted(self.starts[:-1], row, side="right"))
        first = min(int(np.searchsorted(self.starts[:-1], row, side="left")), stop - 1)
        return range(self.left + first, self.left + stop)


def _text(image: np.ndarray, x: int, y: int, text: str, colour, max_x: int | None = None) -> int:
    """Draw ``text`` with its top-left corner at ``(x, y)``; returns the x after it. Clipped at ``max_x``."""
    height, width, _ = image.shape
    max_x = width if max_x is None else min(max_x, width)
    step = (_GLYPH_W + 1) * _SCALE
    for char in text:
        bits = _GLYPHS.get(char, _GLYPHS.get(char.upper(), _GLYPHS[" "]))
        if x + _GLYPH_W * _SCALE > max_x:
            break
        glyph = np.array([int(b) for b in bits], dtype=bool).reshape(_GLYPH_H, _GLYPH_W)
        glyph = np.repeat(np.repeat(glyph, _SCALE, axis=0), _SCALE, axis=1)
        rows = slice(max(y, 0), min(y + glyph.shape[0], height))
        patch = image[rows, x:x + glyph.shape[1]]
        mask = glyph[rows.start - y:rows.stop - y, :patch.shape[1]]
        patch[mask] = colour
        x += step
    return x


def text_width(text: str) -> int:
    return len(text) * (_GLYPH_W + 1) * _SCALE


def _heat(values: np.ndarray) -> np.ndarray:
    """0..1 -> a dark-blue, magenta, orange, pale-yellow ramp (..., 3)."""
    stops = np.array([[0.07, 0.07, 0.16], [0.45, 0.12, 0.55], [0.93, 0.42, 0.22], [0.99, 0.93, 0.62]])
    position = np.clip(values, 0.0, 1.0) * (len(stops) - 1)
    low = np.minimum(position.astype(np.int64), len(stops) - 2)
    fraction = (position - low)[..., None]
    return stops[low] * (1.0 - fraction) + stops[low + 1] * fraction


def pitch_colour(pitch_class: int, minor: bool = False) -> np.ndarray:
    """A colour per pitch class, neighbours on the circle of fifths next to each other; minor darker."""
    hue = ((int(pitch_class) * 7) % 12) / 12.0
    return np.array(colorsys.hsv_to_rgb(hue, 0.55 if minor else 0.6, 0.55 if minor else 0.85))


def _column_reduce(values: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """Per column the mean (``how="mean"``) or maximum of ``values`` rows ``starts[c]:starts[c+1]``."""
    first = starts[:-1]
    if how == "max":
        return np.maximum.reduceat(values, first, axis=0)
    counts = np.maximum(np.diff(starts), 1)
    sums = np.add.reduceat(values, first, axis=0)
    sums[np.diff(starts) == 0] = values[first[np.diff(starts) == 0]]
    return sums / counts.reshape((-1,) + (1,) * (values.ndim - 1))


def _runs(values: np.ndarray) -> list[tuple[int, int, object]]:
    """``(first, stop, value)`` of each run of equal consecutive values."""
    out = []
    first = 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[first]:
            out.append((first, index, values[first]))
            first = index
    return out


def _second_step(seconds: float, width: int) -> float:
    """A ruler step (1, 2, 5, 10, 15, 30 s or minutes) leaving at least 60 pixels per label."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if seconds / step * 60 <= width:
            return float(step)
    return 1200.0


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}" if seconds >= 60 or seconds == int(seconds) else f"{seconds:.1f}"


def render(track, width: int = DEFAULT_WIDTH) -> SongMap:
    """The song map of ``track`` (a ``FeatureTrack``) with a time axis ``width`` pixels wide."""
    width = int(width)
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"the song map width must be {MIN_WIDTH} to {MAX_WIDTH} pixels, got {width}")
    timing = track.timing
    n = timing.n_frames
    if n < 1:
        raise ValueError("the track has no frames to draw")
    starts = np.floor(np.arange(width + 1) * (n / width)).astype(np.int64)
    starts[-1] = n
    height = sum(h for _name, h in _LANES)
    image = np.empty((height, _LEFT + width, 3))
    image[:] = _BACKGROUND
    channels = track.channels

    def channel(name):
        values = channels.get(name)
        return np.zeros(n) if values is None else np.asarray(values, dtype=np.float64)

    def span(first_col, stop_col):
        return slice(_LEFT + first_col, _LEFT + stop_col)

    top = 0
    for name, lane_height in _LANES:
        lane = image[top:top + lane_height]
        if name != "time":
            _text(image, 4, top + (lane_height - _GLYPH_H * _SCALE) // 2, name, _LABEL, _LEFT - 4)
        if name == "time":
            edges = timing.frame_edges_s()
            col_s = edges[starts[:-1]]
            step = _second_step(max(edges[-1] - edges[0], 1e-6), width)
            ticks = np.arange(np.ceil(edges[0] / step) * step, edges[-1], step)
            for t in ticks:
                column = int(np.searchsorted(col_s, t, side="right")) - 1
                if 0 <= column < width:
                    lane[lane_height - 6:, _LEFT + column] = _LABEL
                    _text(image, _LEFT + column + 3, top + 4, _clock(t), _LABEL)
            _text(image, 4, top + 4, "sec", _LABEL)
        elif name == "loudness":
            rms = _column_reduce(channel("rms"), starts, "mean")
            level = np.sqrt(rms / rms.max()) if rms.max() > 0 else rms  # amplitude, gently compressed
            half = (lane_height - 4) / 2.0
            middle = top + lane_height / 2.0
            rows = np.arange(top, top + lane_height)[:, None] + 0.5
            inside = np.abs(rows - middle) <= np.maximum(level, 0.0)[None, :] * half
            colour = np.array([0.55, 0.78, 0.95])
            image[top:top + lane_height, _LEFT:][inside] = colour
        elif name in ("bands", "chroma"):
            names = [band for band in ("bass", "low_mid", "high_mid", "treble") if band in channels] \
                if name == "bands" else [f"chroma_{k}" for k in range(12)]
            if names:
                table = _column_reduce(np.stack([channel(c) for c in names], axis=1), starts, "mean")
                row_of = (np.arange(lane_height) * len(names)) // lane_height
                heat = _heat(table[:, ::-1][:, row_of].T)  # low bands / C at the bottom
                lane[:, _LEFT:] = heat
        elif name == "beats":
            beat = _column_reduce(channel("beat"), starts, "max") > 0.5
            bar = _column_reduce(channel("downbeat"), starts, "max") > 0.5
            lane[lane_height // 2:, _LEFT:][:, beat] = np.array([0.85, 0.85, 0.85])
            lane[2:, _LEFT:][:, bar] = np.array([1.0, 0.78, 0.3])
        elif name == "sections":
            section = _column_reduce(channel("section"), starts, "mean").round().astype(np.int64)
            for first, stop, index in _runs(section):
                colour = np.array(colorsys.hsv_to_rgb((0.13 + 0.29 * index) % 1.0, 0.35, 0.5))
                lane[2:-2, span(first + (first > 0), stop)] = colour
                _text(image, _LEFT + first + 4, top + 6, chr(ord("A") + index % 26), _TEXT, _LEFT + stop)
        elif name == "chords":
            _chord_lane(image, top, lane_height, track, starts, n)
        elif name == "key":
            _key_lane(image, top, lane_height, track, starts, n)
        top += lane_height
    return SongMap(rgb=image, left=_LEFT, frame_first=timing.frame_first, starts=starts)


def _frame_rows(track, times_s) -> np.ndarray:
    """Row of each time (the frame whose interval contains it; clipped into the track)."""
    edges = track.timing.frame_edges_s()
    rows = np.searchsorted(edges, np.asarray(times_s, dtype=np.float64), side="right") - 1
    return np.clip(rows, 0, track.timing.n_frames)


def _column_of_row(starts: np.ndarray, row: int) -> int:
    return int(np.searchsorted(starts[:-1], row, side="left")) if row < starts[-1] else len(starts) - 1


def _chord_lane(image, top, lane_height, track, starts, n) -> None:
    song = getattr(track, "harmony", None)
    if song is None or len(song.chord_root) == 0:
        return
    segments = song.change_indices()
    rows = _frame_rows(track, song.edges_s[segments])
    for first_row, stop_row, segment in zip(rows, list(rows[1:]) + [n], segments):
        first, stop = _column_of_row(starts, first_row), _column_of_row(starts, stop_row)
        root, quality = int(song.chord_root[segment]), int(song.chord_quality[segment])
        if stop <= first or root < 0:
            continue
        label = harmony_tools.chord_name(root, quality)
        colour = pitch_colour(root, quality in harmony_tools.MINOR_QUALITIES)
        image[top + 2:top + lane_height - 2, _LEFT + first + 1:_LEFT + stop] = colour
        if stop - first > text_width(label) + 4:
            _text(image, _LEFT + first + 4, top + (lane_height - _GLYPH_H * _SCALE) // 2, label, _TEXT, _LEFT + stop)


def _key_lane(image, top, lane_height, track, starts, n) -> None:
    song = getattr(track, "harmony", None)
    if song is None or len(song.key_tonic) == 0:
        return
    rows = _frame_rows(track, song.section_starts_s)
    stops = list(rows[1:]) + [n]
    for index, (first_row, stop_row) in enumerate(zip(rows, stops)):
        first, stop = _column_of_row(starts, first_row), _column_of_row(starts, stop_row)
        confidence = float(song.key_confidence[index])
        if stop <= first or confidence <= 0:
            continue
        colour = pitch_colour(int(song.key_tonic[index]), bool(song.key_minor[index]))
        image[top + 2:top + lane_height - 2, _LEFT + first + 1:_LEFT + stop] = colour * (0.4 + 0.6 * confidence)
        label = f"{song.key_names()[index]} {round(100 * confidence)}%"
        _text(image, _LEFT + first + 4, top + (lane_height - _GLYPH_H * _SCALE) // 2, label, _TEXT, _LEFT + stop)


def write_png(path, track, width: int = DEFAULT_WIDTH) -> SongMap:
    """Render the map of ``track`` and write it to ``path`` as an 8-bit sRGB PNG (atomically)."""
    song_map = render(track, width)
    imageio.write_atomically(Path(path), imageio.to_rgb8(song_map.rgb), "png8")
    return song_map
