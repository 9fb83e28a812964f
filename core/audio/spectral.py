"""The streaming passes over a song's samples: the STFT (onset flux, band powers,
centroid, linear flux, chroma, bass, timbre), the harmonic/percussive split and the level.

Each is fed the file's mono samples in order, in blocks of any size, and keeps only a few
blocks in memory; the results do not depend on the block sizes.
"""

from __future__ import annotations

import math

import numpy as np

from .params import AnalysisParams

_FFT_BLOCK_FRAMES = 1024  # STFT frames transformed at once (bounds memory, not results)


_RISE_HOPS = 2  # length of the onset window's rising edge, in hops
_PLACEMENT_DELAY_HOPS = 0.25  # flux value k is placed on [k + 1/4, k + 5/4) hops
_LOWEST_BAND_HZ = 30.0
_BANDS_PER_OCTAVE = 6


def _onset_window(length: int, rise: int) -> np.ndarray:
    """Analysis window whose newest ``rise`` samples rise from 0 and older ones fall slowly.

    A symmetric window only reaches a new sound's full level half a window after the
    sound starts, so its flux would trail the onset by up to ``onset_window_s / 2``. This
    window's short rising edge (at the end: the newest samples) makes the log magnitude
    jump within ``rise`` samples of the start of a sound; the long half-Hann tail keeps
    the frequency resolution of the full length.
    """
    rise = min(max(1, rise), length - 1)
    fall = length - rise
    window = np.empty(length, dtype=np.float64)
    window[:fall] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fall) + 0.5) / fall)
    window[fall:] = 0.5 + 0.5 * np.cos(np.pi * (np.arange(rise) + 0.5) / rise)
    return window


def _band_starts(n_bins: int, bin_hz: float, per_octave: int = _BANDS_PER_OCTAVE) -> np.ndarray:
    """First FFT bin of each band: 1/``per_octave``-octave bands from 30 Hz, each at least one bin wide."""
    top_hz = (n_bins - 1) * bin_hz
    if top_hz <= _LOWEST_BAND_HZ:
        return np.zeros(1, dtype=np.int64)
    n_edges = int(math.ceil(math.log2(top_hz / _LOWEST_BAND_HZ) * per_octave))
    edges_hz = _LOWEST_BAND_HZ * 2.0 ** (np.arange(n_edges) / per_octave)
    starts = np.unique(np.concatenate([[0], np.ceil(edges_hz / bin_hz).astype(np.int64)]))
    return starts[starts < n_bins]


_FINE_PER_OCTAVE = 12  # bands per octave of the spectrum behind the harmonic/percussive split
_CHROMA_LOW_HZ, _CHROMA_HIGH_HZ = 100.0, 5000.0


def _peak_chroma(power: np.ndarray, first_bin: int, bin_hz: float) -> np.ndarray:
    """Pitch-class energy ``(rows, 12)`` from the spectral peaks of ``power[:, first_bin - 1:]``.

    Each local maximum's frequency is refined by parabolic interpolation of the log power
    (so a low note is placed to a fraction of a semitone although a bin is wider), and
    the power of its three bins goes to the nearest pitch class (C = 0).
    """
    rows_n = len(power)
    segment = power[:, first_bin - 1:]
    if segment.shape[1] < 3:
        return np.zeros((rows_n, 12))
    log = np.log(segment + 1e-20)
    left, mid, right = log[:, :-2], log[:, 1:-1], log[:, 2:]
    rows, cols = np.nonzero((mid > left) & (mid >= right) & (segment[:, 1:-1] > 1e-14))
    if len(rows) == 0:
        return np.zeros((rows_n, 12))
    a, b, c = left[rows, cols], mid[rows, cols], right[rows, cols]
    curvature = a - 2.0 * b + c
    delta = np.clip(np.where(curvature < 0, 0.5 * (a - c) / np.where(curvature < 0, curvature, -1.0), 0.0), -0.5, 0.5)
    freq = (first_bin + cols + delta) * bin_hz
    pitch_class = np.round(69.0 + 12.0 * np.log2(freq / 440.0)).astype(np.int64) % 12
    energy = segment[rows, cols] + segment[rows, cols + 1] + segment[rows, cols + 2]
    return np.bincount(rows * 12 + pitch_class, weights=energy, minlength=rows_n * 12).reshape(rows_n, 12)


def _rfft():
    """A real FFT over rows: scipy's (float32 in, complex64 out, both cores) if available."""
    try:
        import scipy.fft
    except ImportError:  # numpy's: float64, one core
        return lambda frames, n: np.fft.rfft(frames, n=n, axis=1)
    return lambda frames, n: scipy.fft.rfft(frames, n=n, axis=1, workers=-1)


def _concatenated(parts: list, columns: tuple = (), dtype=np.float64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0,) + columns, dtype=dtype)


DOWNBEAT_BASS_HZ = 150.0  # fine bands below this carry the bass onsets that mark bars


class SpectralStream:
    """The STFT pass of :func:`.song.analyze_sound`, fed in blocks.

    ``feed(samples)`` takes a file's mono float32 samples in order, in blocks of any size;
    ``finish()`` returns the series as a dict: the onset flux (below), per-window
    spectral series (band powers, centroid, linear flux, chroma) and what the analysis
    keeps of the 1/12-octave band powers (the harmonic/percussive split, the bass below
    ``DOWNBEAT_BASS_HZ``, half-octave timbre). Windows are transformed
    ``_FFT_BLOCK_FRAMES`` at a time once all their samples have arrived, so memory is a
    few blocks whatever the file's length, and the result does not depend on the block
    sizes.

    The onset flux is the positive log-magnitude spectral flux per hop. STFT window ``j``
    (``onset_window_s`` long, see :func:`_onset_window`) ends at sample ``j * hop``. Its
    power spectrum is summed into 1/6-octave bands (so that steady noise does not add up
    to a flux of its own and a kick counts as much as a hi-hat), each band scaled so that
    white noise of RMS ``s`` reads ``s**2``, floored softly at ``spectral_floor_db`` and
    log-compressed (natural log of magnitude). Value ``k`` is the sum over bands of the
    increases from window ``k`` to window ``k + 1``: what the samples
    ``[k * hop, (k + 1) * hop)`` brought in. The window's rising edge is two hops long, so
    that rise is spread over the two or three hops after a sound starts; value ``k`` is
    placed on ``[(k + 1/4) * hop, (k + 5/4) * hop)`` (``flux_first_s`` is the start of
    value 0, ``hop_s`` is ``onset_hop_s`` rounded to whole samples). Measured on clicks,
    noise bursts and kicks, this shows a sound in the video frame where it starts unless
    it starts in the last two hops or so of that frame (then it may peak in the next
    frame), and at most a small part of its flux precedes it. The file is preceded by
    silence (a sound that starts the file is an onset) and its end is padded by
    reflection (a file cut mid-sound has no onset at its end).
    """

    def __init__(self, sample_rate: int, params: AnalysisParams):
        self.sample_rate = int(sample_rate)
        self.hop = max(1, int(round(params.onset_hop_s * sample_rate)))
        self.hop_s = self.hop / float(sample_rate)
        self.window_len = max(2, int(round(params.onset_window_s * sample_rate)))
        self.n_fft = 1 << (self.window_len - 1).bit_length()
        window = _onset_window(self.window_len, _RISE_HOPS * self.hop)
        self.power_scale = 1.0 / float(np.sum(window ** 2))
        self.window = window.astype(np.float32)
        n_bins = self.n_fft // 2 + 1
        self.bin_hz = sample_rate / self.n_fft
        self.starts = _band_starts(n_bins, self.bin_hz)
        self.band_scale = self.power_scale / np.diff(np.append(self.starts, n_bins))
        self.floor_power = 10.0 ** (params.spectral_floor_db / 10.0)
        self.previous = 0.5 * np.log(np.full(len(self.starts), self.floor_power))  # window 0: silence
        self.rfft = _rfft()
        # padded samples: window_len zeros (the silence before the file), the file, then
        # its end reflected; window j is padded[j * hop:j * hop + window_len]
        self._buffer = np.zeros(self.window_len, dtype=np.float32)
        self._buffer_start = 0  # padded index of self._buffer[0]
        self._last = np.zeros(0, dtype=np.float32)  # the file's last hop + 1 samples (its end)
        self.n_samples = 0
        self._next_window = 1  # window 0 is all silence: nothing to transform
        # the spectral features use a symmetric Hann window (low leakage between bands)
        hann = (0.5 - 0.5 * np.cos(2.0 * np.pi * (np.arange(self.window_len) + 0.5) / self.window_len))
        self.ms_scale = 2.0 / (self.n_fft * float(np.sum(hann ** 2)))  # bin power -> share of the mean square
        self.hann = hann.astype(np.float32)
        self.user_bins = [(max(1, int(math.ceil(low / self.bin_hz))), min(n_bins, int(math.ceil(high / self.bin_hz))))
                          for _name, low, high in params.bands]
        self.freqs = np.arange(n_bins) * self.bin_hz
        self.chroma_first = max(1, int(math.ceil(_CHROMA_LOW_HZ / self.bin_hz)))
        self.chroma_last = min(n_bins - 1, int(_CHROMA_HIGH_HZ / self.bin_hz) + 1)
        self.fine_starts = _band_starts(n_bins, self.bin_hz, _FINE_PER_OCTAVE)
        self.fine_hz = self.fine_starts * self.bin_hz
        self.bass_bands = self.fine_hz < DOWNBEAT_BASS_HZ
        self.previous_mag = np.zeros(n_bins)
        self.hpss = HarmonicPercussiveStream(self.fine_hz, self.hop_s, params)
        self._out: dict[str, list] = {name: [] for name in (
            "flux", "band_ms", "centroid", "lin_flux", "chroma", "bass", "timbre")}

    def feed(self, samples: np.ndarray) -> None:
        """Take the next samples of the file (mono float32) and transform what is complete."""
        if len(samples) == 0:
            return
        self._buffer = np.concatenate([self._buffer, samples])
        self._last = np.concatenate([self._last[-self.hop:], samples[-(self.hop + 1):]])[-(self.hop + 1):]
        self.n_samples += len(samples)
        # a block of windows whose samples are all in the file (window j: j * hop <= n)
        while (self._next_window + _FFT_BLOCK_FRAMES - 1) * self.hop <= self.n_samples:
            self._transform(self._next_window, self._next_window + _FFT_BLOCK_FRAMES)

    def finish(self) -> dict:
        n, hop = self.n_samples, self.hop
        out = {"flux": np.zeros(0), "flux_first_s": _PLACEMENT_DELAY_HOPS * self.hop_s, "hop_s": self.hop_s,
               "hop": hop}
        if n == 0:
            return out
        n_cells = -(-n // hop)  # ceil: the cells cover the whole file
        n_windows = n_cells + 1  # window j covers samples [j * hop - window_len, j * hop)
        tail = n_cells * hop - n
        end = self._last[-(tail + 1):] if tail < n else self._last  # all that the reflection reads
        self._buffer = np.concatenate([self._buffer, np.pad(end, (0, tail), mode="reflect")[len(end):]])
        for first in range(self._next_window, n_windows, _FFT_BLOCK_FRAMES):
            self._transform(first, min(first + _FFT_BLOCK_FRAMES, n_windows))
        for name in list(self._out):  # (each list is dropped as soon as it is joined)
            out[name] = _concatenated(self._out.pop(name))
        # window j (ending at sample j * hop) is centred half a window earlier; cell
        # j - 1 of these series is centred there
        out.update(spectral_first_s=(hop - 0.5 * self.window_len - 0.5 * hop) / self.sample_rate,
                   hp=self.hpss.finish())
        return out

    def _transform(self, first: int, last: int) -> None:
        """Windows ``[first, last)``: one row each of every series."""
        hop = self.hop
        offset = first * hop - self._buffer_start
        frames = np.lib.stride_tricks.sliding_window_view(
            self._buffer[offset:offset + (last - 1 - first) * hop + self.window_len], self.window_len)[::hop]
        spectrum = self.rfft(frames * self.window, self.n_fft)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        bands = np.add.reduceat(power, self.starts, axis=1, dtype=np.float64)
        bands *= self.band_scale
        bands += self.floor_power
        log_mag = 0.5 * np.log(bands)
        steps = np.diff(log_mag, axis=0, prepend=self.previous[None, :])
        np.maximum(steps, 0.0, out=steps)
        self._out["flux"].append(steps.sum(axis=1))
        self.previous = log_mag[-1]
        self._spectral_rows(frames)
        self._next_window = last
        drop = last * hop - self._buffer_start  # samples no later window reads
        self._buffer = self._buffer[drop:]
        self._buffer_start += drop

    def _spectral_rows(self, frames: np.ndarray) -> None:
        spectrum = self.rfft(frames * self.hann, self.n_fft)
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        power *= self.ms_scale
        band_ms = np.zeros((len(power), len(self.user_bins)), dtype=np.float32)
        for column, (lo, hi) in enumerate(self.user_bins):
            if lo < hi:
                band_ms[:, column] = power[:, lo:hi].sum(axis=1)
        centroid = np.zeros((len(power), 2), dtype=np.float64)
        centroid[:, 0] = power @ self.freqs
        centroid[:, 1] = power[:, 1:].sum(axis=1)
        magnitude = np.sqrt(power)
        rise = np.diff(magnitude, axis=0, prepend=self.previous_mag[None, :])
        np.maximum(rise, 0.0, out=rise)
        self._out["lin_flux"].append(np.sqrt(np.einsum("ij,ij->i", rise, rise)).astype(np.float32))
        self.previous_mag = magnitude[-1]
        chroma = np.zeros((len(power), 12), dtype=np.float32)
        if self.chroma_last - self.chroma_first >= 1:
            chroma[:] = _peak_chroma(power[:, :self.chroma_last + 1], self.chroma_first, self.bin_hz)
        fine = np.add.reduceat(power, self.fine_starts, axis=1)
        self._out["band_ms"].append(band_ms)
        self._out["centroid"].append(centroid)
        self._out["chroma"].append(chroma)
        self._out["bass"].append(fine[:, self.bass_bands].sum(axis=1))
        self._out["timbre"].append(_timbre_sums(fine))
        self.hpss.feed(fine)


def _timbre_sums(fine: np.ndarray) -> np.ndarray:
    """Half-octave sums of 1/12-octave band powers (rows: windows), float32."""
    per_group = _FINE_PER_OCTAVE // 2
    n_groups = -(-fine.shape[1] // per_group)
    grouped = np.zeros((len(fine), n_groups * per_group), dtype=np.float64)
    grouped[:, : fine.shape[1]] = fine
    return grouped.reshape(len(fine), n_groups, per_group).sum(axis=2).astype(np.float32)


def _odd(value: float, minimum: int = 3) -> int:
    size = max(minimum, int(round(value)))
    return size if size % 2 else size + 1


class HarmonicPercussiveStream:
    """(harmonic, percussive) mean square per STFT window, from 1/12-octave band powers
    fed in order (rows: windows); memory is a few blocks of rows whatever the length.

    Band powers are averaged over groups of 4 windows. Each band's running median over
    ``hpss_time_s`` (of groups) is its *held* level (Fitzgerald's harmonic median filter);
    a median over one octave of bands is its *broadband* level (his percussive filter).
    Power that rises above the held level counts as percussive in the proportion
    ``broad**2 / (broad**2 + held**2)``; the rest is harmonic. Requiring both (a rise, and
    a broadband one) keeps a chord's tremolo and beating out of the percussive part. A
    group is split as soon as the groups its median reaches have arrived.
    """

    GROUP = 4

    def __init__(self, fine_hz: np.ndarray, hop_s: float, params: AnalysisParams):
        self.size = _odd(params.hpss_time_s / (self.GROUP * hop_s))
        self.radius = self.size // 2
        widths = np.diff(np.append(fine_hz, fine_hz[-1] * 2 ** (1 / _FINE_PER_OCTAVE)))
        self.widths = np.maximum(widths, 1e-9)[None, :]
        n_bands = len(fine_hz)
        self._fine = np.zeros((0, n_bands), dtype=np.float32)  # windows of groups not yet split
        self._coarse = np.zeros((0, n_bands), dtype=np.float32)  # group means from group self._coarse_first
        self._coarse_first = 0
        self._split = 0  # groups split so far
        self._split_rows: list[np.ndarray] = []  # (harmonic, percussive) per window, float32

    def feed(self, fine: np.ndarray) -> None:
        self._fine = np.concatenate([self._fine, fine])
        self._add_coarse(self._split + len(self._fine) // self.GROUP)
        self._split_until(self._coarse_first + len(self._coarse) - self.radius, at_end=False)

    def finish(self) -> np.ndarray:
        """(n_windows, 2) float32: harmonic, percussive mean square of each window."""
        n_groups = self._split + -(-len(self._fine) // self.GROUP)
        self._add_coarse(n_groups)
        self._split_until(n_groups, at_end=True)
        return _concatenated(self._split_rows, (2,), np.float32)

    def _add_coarse(self, n_groups: int) -> None:
        """Group means up to group ``n_groups`` (a last, partial group padded with zeros)."""
        have = self._coarse_first + len(self._coarse)
        if n_groups <= have:
            return
        rows = self._fine[(have - self._split) * self.GROUP:(n_groups - self._split) * self.GROUP]
        padded = np.zeros(((n_groups - have) * self.GROUP, rows.shape[1]), dtype=np.float32)
        padded[:len(rows)] = rows
        coarse = padded.reshape(n_groups - have, self.GROUP, rows.shape[1]).mean(axis=1)
        self._coarse = np.concatenate([self._coarse, coarse])

    def _split_until(self, end: int, at_end: bool) -> None:
        """Split groups ``[self._split, end)``: their medians' groups are all there (or the file ended)."""
        from scipy.ndimage import median_filter

        if end <= self._split:
            return
        # the median of group g reads groups g - radius .. g + radius: from the file's start
        # or end it reflects, as it does over the whole file
        lo = max(0, self._split - self.radius)
        hi = self._coarse_first + len(self._coarse) if at_end else end + self.radius
        window = self._coarse[lo - self._coarse_first:hi - self._coarse_first]
        held = median_filter(window, size=(self.size, 1), mode="reflect")[self._split - lo:end - lo]
        coarse = window[self._split - lo:end - lo]
        density = coarse / self.widths
        broad = median_filter(density, size=(1, _odd(_FINE_PER_OCTAVE)), mode="reflect")
        held_density = held / self.widths
        b2, h2 = broad.astype(np.float64) ** 2, held_density.astype(np.float64) ** 2
        broadband = np.where(b2 + h2 > 0, b2 / np.where(b2 + h2 > 0, b2 + h2, 1.0), 0.0)
        n_rows = min(len(self._fine), (end - self._split) * self.GROUP)
        fine = self._fine[:n_rows]
        held = np.repeat(held, self.GROUP, axis=0)[:n_rows]
        broadband = np.repeat(broadband, self.GROUP, axis=0)[:n_rows]
        percussive_ms = np.einsum("ij,ij->i", np.maximum(fine - held, 0.0), broadband)
        harmonic_ms = fine.sum(axis=1, dtype=np.float64) - percussive_ms
        self._split_rows.append(np.stack([np.maximum(harmonic_ms, 0.0), percussive_ms], axis=1).astype(np.float32))
        self._fine = self._fine[n_rows:]
        self._split = end
        keep_from = max(0, end - self.radius)  # the next medians read back this far
        self._coarse = self._coarse[keep_from - self._coarse_first:]
        self._coarse_first = keep_from


def sustained(values: np.ndarray, hop_s: float, length_s: float, group: int = 4) -> np.ndarray:
    """A running median over ``length_s`` along time of ``group``-window means (keeps
    held notes, drops drum hits): one row per ``group`` windows."""
    from scipy.ndimage import median_filter

    n = len(values)
    if n == 0:
        return values
    n_groups = -(-n // group)
    padded = np.zeros((n_groups * group,) + values.shape[1:], dtype=np.float32)
    padded[:n] = values
    coarse = padded.reshape((n_groups, group) + values.shape[1:]).mean(axis=1)
    return median_filter(coarse, size=(_odd(length_s / (group * hop_s)), 1), mode="reflect")


class LevelStream:
    """Mean square of the samples per cell of ``cell`` samples, fed in blocks (float32 out).

    The last cell holds only the file's samples (its mean is over those).
    """

    def __init__(self, cell: int):
        self.cell = cell
        self._rest = np.zeros(0, dtype=np.float32)
        self._means: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        data = np.concatenate([self._rest, samples])
        whole = len(data) // self.cell * self.cell
        if whole:
            sums = np.square(data[:whole], dtype=np.float64).reshape(-1, self.cell).sum(axis=1)
            self._means.append((sums / float(self.cell)).astype(np.float32))
        self._rest = data[whole:]

    def finish(self) -> np.ndarray:
        if len(self._rest):  # a last, partial cell: the mean of the samples it holds
            last = np.zeros(self.cell, dtype=np.float64)
            last[:len(self._rest)] = np.square(self._rest, dtype=np.float64)
            self._means.append((last.reshape(1, self.cell).sum(axis=1) / float(len(self._rest))).astype(np.float32))
        return _concatenated(self._means, dtype=np.float32)


# --------------------------------------------------------------------------- per-frame stage
