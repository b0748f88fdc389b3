"""Butterworth filters without scipy.signal, whose import alone (about a second) would cost
more than diarizing a short recording.

:func:`butter_sos` designs the filter as scipy's ``butter(..., output="sos")`` does (analog
prototype, pre-warped cut-off, bilinear transform); :class:`StreamingFilter` runs it causally
over a signal that arrives in pieces, as ``sosfilt`` with its state carried would. It
convolves with the filter's impulse response, cut where it has decayed below 1e-13 of its
peak (about 160 taps for a 6th-order filter at 6 kHz of 16 kHz), by FFT in blocks: the
output equals the recursive filter's to about 1e-12.
"""

from __future__ import annotations

import functools

import numpy as np

#: impulse responses are cut where what follows stays below this share of their peak
TAIL = 1e-13
#: ... and are never longer than this many taps (a cut-off very near 0 Hz would need more)
MAX_TAPS = 1 << 16


def butter_sos(order: int, cutoff_hz: float, btype: str, sample_rate: float) -> np.ndarray:
    """(num_sections, 6) second-order sections ``[b0, b1, b2, 1, a1, a2]`` of a digital
    Butterworth ``btype`` ("lowpass" or "highpass") filter of ``order`` with its -3 dB point
    at ``cutoff_hz``, unit gain in the pass band (at 0 Hz, or at half the sample rate)."""
    if btype not in ("lowpass", "highpass"):
        raise ValueError(f"btype must be 'lowpass' or 'highpass', got {btype!r}")
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    if not 0 < cutoff_hz < sample_rate / 2:
        raise ValueError(f"cut-off {cutoff_hz} Hz must lie between 0 and {sample_rate / 2} Hz")
    lowpass = btype == "lowpass"
    fs2 = 2.0 * sample_rate
    warped = fs2 * np.tan(np.pi * cutoff_hz / sample_rate)
    k = np.arange(order)
    prototype = np.exp(1j * np.pi * (2 * k + order + 1) / (2 * order))  # left half-plane
    analog = warped * prototype if lowpass else warped / prototype
    poles = (fs2 + analog) / (fs2 - analog)
    zero = -1.0 if lowpass else 1.0  # every zero of the digital filter lies there
    sections = [
        [1.0, -2.0 * zero, 1.0, 1.0, -2.0 * p.real, abs(p) ** 2]
        for p in sorted(poles[poles.imag > 1e-12], key=abs)
    ]
    if order % 2:
        real = poles[np.argmin(np.abs(poles.imag))].real
        sections.insert(0, [1.0, -zero, 0.0, 1.0, -real, 0.0])
    sos = np.array(sections)
    at = 1.0 if lowpass else -1.0  # where the gain must be one
    gain = np.prod(np.polyval(sos[:, 2::-1].T, at) / np.polyval(sos[:, :2:-1].T, at))
    sos[0, :3] /= gain
    return sos


def sos_impulse(sos: np.ndarray, num_taps: int) -> np.ndarray:
    """The first ``num_taps`` samples of the impulse response of the cascade ``sos``."""
    h = np.zeros(num_taps)
    h[0] = 1.0
    for b0, b1, b2, _, a1, a2 in np.asarray(sos, dtype=np.float64):
        out = np.empty(num_taps)
        z1 = z2 = 0.0
        for i, x in enumerate(h.tolist()):
            y = b0 * x + z1
            z1 = b1 * x - a1 * y + z2
            z2 = b2 * x - a2 * y
            out[i] = y
        h = out
    return h


@functools.lru_cache(maxsize=16)
def _design(
    order: int, cutoff_hz: float, btype: str, sample_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """The filter's sections (:func:`butter_sos`) and its impulse response cut at
    :data:`TAIL`, both read-only (cached: every listen of the detector builds one)."""
    sos = butter_sos(order, cutoff_hz, btype, sample_rate)
    n = 512
    while True:
        h = sos_impulse(sos, n)
        peak = np.abs(h).max()
        above = np.flatnonzero(np.abs(h) > TAIL * peak)
        last = int(above[-1]) + 1 if len(above) else 1
        if last <= n // 2 or n >= MAX_TAPS:
            taps = h[:last].copy()
            for array in (sos, taps):
                array.flags.writeable = False
            return sos, taps
        n *= 2


def causal_fir(x: np.ndarray, taps: np.ndarray, history: np.ndarray) -> np.ndarray:
    """``y[i] = sum_k taps[k] u[i - k]`` for the samples of ``x`` (float64), where ``u`` is
    ``x`` preceded by ``history`` (the ``len(taps) - 1`` input samples before it); by FFT,
    in overlapping blocks."""
    m, n = len(taps), len(x)
    if n == 0:
        return np.zeros(0)
    nfft = 1 << max(12, int(4 * m - 1).bit_length())
    step = nfft - m + 1
    blocks = -(-n // step)
    buf = np.zeros(blocks * step + m - 1)
    buf[: m - 1] = history
    buf[m - 1 : m - 1 + n] = x
    frames = np.lib.stride_tricks.sliding_window_view(buf, nfft)[::step][:blocks]
    spectrum = np.fft.rfft(frames, nfft, axis=1) * np.fft.rfft(taps, nfft)
    return np.fft.irfft(spectrum, nfft, axis=1)[:, m - 1 :].reshape(-1)[:n]


class StreamingFilter:
    """A Butterworth filter run causally over a signal given piece by piece:
    :meth:`__call__` filters the next piece, carrying what the filter remembers (the input
    of the last ``len(taps) - 1`` samples) from one piece to the next, so the pieces'
    outputs joined equal one pass over the whole signal."""

    def __init__(self, order: int, cutoff_hz: float, btype: str, sample_rate: float):
        sos, self.taps = _design(order, float(cutoff_hz), btype, float(sample_rate))
        self.sos = sos.copy()  # the caller's own, as butter_sos gives it
        self.history = np.zeros(len(self.taps) - 1)

    def __call__(self, piece: np.ndarray) -> np.ndarray:
        x = np.asarray(piece, dtype=np.float64)
        y = causal_fir(x, self.taps, self.history)
        keep = len(self.history)
        if keep:
            self.history = np.concatenate([self.history, x])[-keep:]
        return y
