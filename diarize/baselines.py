"""Reference embedding models with the ``EmbeddingModel`` face.

:class:`MfccStatsEncoder` is the classic hand-made speaker representation: mean and standard
deviation over the window of 20 MFCCs (c1..c20, the DCT-II of 40 log-mel bands, 25 ms frames
every 10 ms; c0, the frame energy, is left out), each dimension standardised with the mean and
standard deviation of unlabelled windows (:meth:`MfccStatsEncoder.fit_segments`), L2-normed.
"""

from __future__ import annotations

import numpy as np

from diarize.encoder import EmbeddingModel
from diarize.features import Mfcc


def _l2(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class MfccStatsEncoder(EmbeddingModel):
    """Mean + std of MFCCs over each window, standardised, L2-normed; dim = 2 x ``num_ceps``."""

    name = "mfcc-stats"

    def __init__(self, num_ceps: int = 20, num_mel_bins: int = 40):
        mfcc = Mfcc(num_ceps, num_mel_bins)
        self.fbank = mfcc.fbank
        self.sample_rate = self.fbank.config.sample_rate
        self.dct = mfcc.dct
        self.dim = 2 * num_ceps
        self.mean = np.zeros(self.dim)
        self.scale = np.ones(self.dim)

    def raw_stats(self, waveforms: np.ndarray) -> np.ndarray:
        """(num_windows, num_samples) -> (num_windows, dim) un-normalised statistics."""
        x = np.ascontiguousarray(waveforms, dtype=np.float32)
        ceps = self.fbank.log_mel(x).astype(np.float64) @ self.dct.T  # (W, T, C)
        return np.concatenate([ceps.mean(axis=1), ceps.std(axis=1)], axis=1)

    def fit(self, stats: np.ndarray) -> MfccStatsEncoder:
        """Standardise with the mean and std of raw statistics (num_windows, dim), no labels."""
        self.mean = stats.mean(axis=0)
        self.scale = np.maximum(stats.std(axis=0), 1e-6)
        return self

    def fit_segments(self, waveforms: np.ndarray) -> MfccStatsEncoder:
        """Fit the standardisation on unlabelled windows (num_windows, num_samples)."""
        return self.fit(self.raw_stats(waveforms))

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.asarray(waveforms, dtype=np.float32)
        if waveforms.ndim != 2:
            raise ValueError(f"expected (num_windows, num_samples), got {waveforms.shape}")
        return _l2((self.raw_stats(waveforms) - self.mean) / self.scale)
