"""Front end in numpy: batched log-mel filterbanks, sliding-window mean normalisation, MFCCs.

Frame ``t`` covers samples ``[t * hop, t * hop + win)``; there is no centre padding, so a
waveform of ``num_samples`` gives ``1 + (num_samples - win) // hop`` frames.

This is what inference uses (no torch). Training computes the same features with the torch
module :class:`diarize.nn.Fbank` (on a GPU when there is one); ``diarize.features.Fbank`` still
names that module, imported on first use. The two agree to float32 rounding, and the mel
matrix equals torchaudio's ``melscale_fbanks`` (HTK scale, no normalisation), which the
tests check where torch and torchaudio are installed.
"""

from __future__ import annotations

import math

import numpy as np

from diarize.audio import as_float32
from diarize.config import FeatureConfig

#: Added to the mel energies before the logarithm.
LOG_FLOOR = 1e-6


def _hz_to_mel(freq: float) -> float:
    """HTK mel scale."""
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def mel_filterbank(
    n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int
) -> np.ndarray:
    """(n_freqs, n_mels) float32 triangular filters on the HTK mel scale, unnormalised: the
    matrix of torchaudio's ``melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate,
    norm=None, mel_scale="htk")``, computed in float64."""
    all_freqs = np.linspace(0.0, sample_rate // 2, n_freqs)
    m_pts = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


def hann_window(length: int) -> np.ndarray:
    """Periodic Hann window of ``length`` samples (torch.hann_window's default), float32."""
    n = np.arange(length, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)).astype(np.float32)


class LogMel:
    """Log-mel filterbank: (batch, num_samples) float32 -> (batch, num_frames, num_mel_bins).

    25 ms Hann-windowed frames every 10 ms (``FeatureConfig``), DC removed per frame, power
    spectrum of a 512-point FFT, mel bands from 20 Hz to Nyquist - 400 Hz, natural log.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        self.config = config
        self.win_samples = int(round(config.frame_length * config.sample_rate))
        self.hop_samples = int(round(config.frame_shift * config.sample_rate))
        self.n_fft = 1 << (self.win_samples - 1).bit_length()
        self.cmn_frames = int(round(config.cmn_window / config.frame_shift))
        self.window = hann_window(self.win_samples)
        #: (n_fft // 2 + 1, num_mel_bins) float32
        self.mel = mel_filterbank(
            self.n_fft // 2 + 1,
            20.0,
            config.sample_rate / 2 - 400.0,
            config.num_mel_bins,
            config.sample_rate,
        )

    def num_frames(self, num_samples: int) -> int:
        if num_samples < self.win_samples:
            return 0
        return 1 + (num_samples - self.win_samples) // self.hop_samples

    def log_mel(self, waveforms: np.ndarray) -> np.ndarray:
        """Un-normalised log-mel energies, (batch, num_frames, num_mel_bins) float32."""
        waveforms = np.asarray(waveforms, dtype=np.float32)
        if waveforms.ndim != 2:
            raise ValueError(f"expected (batch, num_samples), got shape {waveforms.shape}")
        num_frames = self.num_frames(waveforms.shape[1])
        out = np.empty((len(waveforms), num_frames, self.mel.shape[1]), dtype=np.float32)
        if num_frames == 0:
            return out
        view = np.lib.stride_tricks.sliding_window_view(waveforms, self.win_samples, axis=1)
        power = np.empty((len(waveforms), num_frames, self.n_fft // 2 + 1), dtype=np.float32)
        # About 256 frames at a time: the spectra stay in cache, whatever the input (the FFT
        # took 30-60 % longer on chunks of 1,000-4,000 frames).
        step = max(1, 256 // max(len(waveforms), 1))
        hop = self.hop_samples
        for t0 in range(0, num_frames, step):
            t1 = min(t0 + step, num_frames)
            frames = view[:, t0 * hop : t1 * hop : hop]  # (batch, t1 - t0, win)
            frames = frames - frames.mean(axis=-1, keepdims=True)  # remove DC per frame
            spec = np.fft.rfft(frames * self.window, n=self.n_fft, axis=-1)
            np.add(spec.real * spec.real, spec.imag * spec.imag, out=power[:, t0:t1])
        np.matmul(power, self.mel, out=out)
        out += np.float32(LOG_FLOOR)
        np.log(out, out=out)
        return out

    def __call__(self, waveforms: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Normalised log-mel, (batch, num_frames, num_mel_bins) float32.

        ``mask`` (batch, num_frames) bool restricts the normalising mean to speech frames.
        """
        feats = self.log_mel(waveforms)
        if self.config.cmn_window <= 0:
            return feats
        return sliding_cmn(feats, self.cmn_frames, mask)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` rows of a 2-D array, truncated at both ends
    (the rows near an end are averaged over the rows that exist)."""
    if width <= 1 or len(x) <= 1:
        return x
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    idx = np.arange(len(x))
    lo = np.clip(idx - width // 2, 0, len(x))
    hi = np.clip(idx - width // 2 + width, 0, len(x))
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None]


def sliding_cmn(
    feats: np.ndarray, window_frames: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """Subtract a centred moving average over ``window_frames`` frames (truncated at edges).

    With a window at least twice the input length this equals per-input mean normalisation,
    which is what training on short windows sees. With ``mask``, only frames where it is true
    enter the averages (a frame whose window holds none keeps the unmasked average).

    Parameters
    ----------
    feats : (batch, num_frames, dim) float32
    mask : (batch, num_frames) bool or None

    Returns
    -------
    (batch, num_frames, dim) float32, a new array
    """
    num_frames = feats.shape[1]
    if num_frames == 0:
        return feats.copy()
    half = window_frames // 2
    if mask is None and num_frames <= half + 1:
        return feats - feats.mean(axis=1, keepdims=True, dtype=np.float64).astype(feats.dtype)
    idx = np.arange(num_frames)
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, num_frames)

    def window_sum(x: np.ndarray) -> np.ndarray:
        csum = np.zeros((x.shape[0], num_frames + 1, x.shape[2]), dtype=np.float64)
        np.cumsum(x, axis=1, dtype=np.float64, out=csum[:, 1:])
        return csum[:, hi] - csum[:, lo]

    mean = window_sum(feats) / (hi - lo).astype(np.float64)[None, :, None]
    if mask is not None:
        m = np.asarray(mask, dtype=np.float64)[..., None]
        count = window_sum(m)
        masked = window_sum(feats * m) / np.maximum(count, 1.0)
        mean = np.where(count > 0, masked, mean)
    return feats - mean.astype(feats.dtype)


class Mfcc:
    """MFCCs c1..c``num_ceps`` (orthonormal DCT-II of ``num_mel_bins`` log-mel bands; c0, the
    frame energy, left out), 25 ms frames every 10 ms."""

    def __init__(self, num_ceps: int = 20, num_mel_bins: int = 40, sample_rate: int = 16000):
        self.fbank = LogMel(FeatureConfig(num_mel_bins=num_mel_bins, sample_rate=sample_rate))
        n = np.arange(num_mel_bins)
        k = np.arange(1, num_ceps + 1)[:, None]
        #: (num_ceps, num_mel_bins) float64 orthonormal DCT-II rows 1..num_ceps
        self.dct = np.sqrt(2.0 / num_mel_bins) * np.cos(np.pi * k * (n + 0.5) / num_mel_bins)
        self._dct = np.ascontiguousarray(self.dct.T, dtype=np.float32)
        self.num_ceps = num_ceps

    @property
    def hop_samples(self) -> int:
        return self.fbank.hop_samples

    def __call__(self, waveforms: np.ndarray) -> np.ndarray:
        """(batch, num_samples) float32 -> (batch, num_frames, num_ceps) float32."""
        return self.fbank.log_mel(waveforms) @ self._dct

    def frames(self, signal, chunk_seconds: float = 30.0, dtype=np.float32, regions=None):
        """MFCCs of a whole recording on a grid of hops: frame ``t`` is centred on the middle
        of samples ``[t * hop, (t + 1) * hop)``; ``ceil(num_samples / hop)`` frames.

        ``signal`` is a (num_samples,) int16 or float array; it is read ``chunk_seconds`` at a
        time, so memory holds one chunk's spectra besides the (num_frames, num_ceps) result
        of ``dtype``. With ``regions`` ((num_regions, 2) [start, end) samples), only the
        frames within two hops of a region are computed (each frame depends on its own
        samples alone, so they are the same) and the others stay zero.
        """
        hop, win = self.fbank.hop_samples, self.fbank.win_samples
        lead = (win - hop) // 2  # frame t then starts at t * hop - lead
        num_frames = -(-len(signal) // hop)
        out = np.zeros((num_frames, self.num_ceps), dtype=dtype)
        step = max(1, int(chunk_seconds * self.fbank.config.sample_rate) // hop)
        if regions is None:
            spans = [(0, num_frames)]
        else:
            spans = []
            for start, end in np.asarray(regions, dtype=np.int64).reshape(-1, 2):
                f0, f1 = max(0, int(start) // hop - 2), min(num_frames, -(-int(end) // hop) + 2)
                if spans and f0 <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], max(spans[-1][1], f1))
                elif f1 > f0:
                    spans.append((f0, f1))
        for s0, s1 in spans:
            for f0 in range(s0, s1, step):
                f1 = min(s1, f0 + step)
                a = f0 * hop - lead
                b = (f1 - 1) * hop - lead + win
                left, right = max(-a, 0), max(b - len(signal), 0)
                piece = as_float32(signal[max(a, 0) : min(b, len(signal))])
                piece = np.pad(piece, (left, right))
                out[f0:f1] = self(piece[None])[0, : f1 - f0]
        return out


def __getattr__(name: str):
    # The torch front end of training, where the code that uses it has always found it.
    if name == "Fbank":
        from diarize.nn import Fbank

        return Fbank
    raise AttributeError(f"module 'diarize.features' has no attribute {name!r}")


def frame_ranges(bounds: np.ndarray, hop: int, win: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last frame fully inside each window ``bounds`` (num_windows, 2)
    [start, end) samples, for frames of ``win`` samples every ``hop``; at least one frame each.
    """
    f0 = -(-bounds[:, 0] // hop)
    f1 = np.maximum((bounds[:, 1] - win) // hop + 1, f0 + 1)
    return f0, f1
