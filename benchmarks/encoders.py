"""Embedding models the DER benchmark compares with the shipped encoder.

Each offers the ``diarize.encoder.EmbeddingModel`` face (``embed``, ``embed_windows``, ``dim``,
``sample_rate``), so the pipeline runs them exactly as it runs the shipped encoder.

* :class:`ConstantEncoder` -- the same vector for every window: clustering finds one speaker,
  so the pipeline labels all detected speech as one speaker (same VAD, same everything else).
* :class:`MfccStats` -- mean and standard deviation of 20 MFCCs (c1..c20 of 40 log-mel bands,
  25 ms / 10 ms frames) over the window, standardised with statistics fitted on unlabelled
  windows (:meth:`MfccStats.fit`).
* :class:`ResemblyzerEncoder` -- (the ``bench`` extra, which brings torch) the supervised d-vector
  of Resemblyzer (3-layer LSTM over 40 mel
  bands, trained with speaker labels on LibriSpeech, VoxCeleb 1 and 2; its weights ship inside
  the ``resemblyzer`` wheel, nothing is downloaded). Each window is embedded on its own
  (Resemblyzer's silence trimming is not applied: it would shift every timestamp), with its
  volume normalisation (raise to -30 dBFS).
"""

from __future__ import annotations

import numpy as np

from diarize.config import FeatureConfig
from diarize.encoder import EmbeddingModel
from diarize.features import LogMel, frame_ranges


def _l2(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class ConstantEncoder(EmbeddingModel):
    """Every window gets the same unit vector (one speaker everywhere)."""

    name = "constant"
    dim = 1

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        return np.ones((len(waveforms), 1), dtype=np.float32)

    def embed_windows(self, waveform, bounds, batch_size=64, chunk=120.0) -> np.ndarray:
        return np.ones((len(np.asarray(bounds).reshape(-1, 2)), 1), dtype=np.float32)


class MfccStats(EmbeddingModel):
    """Mean + std of MFCCs over each window, standardised, L2-normed (dim 2 x num_ceps)."""

    name = "mfcc-stats"

    def __init__(self, num_ceps: int = 20, num_mel_bins: int = 40):
        self.fbank = LogMel(FeatureConfig(num_mel_bins=num_mel_bins))
        self.sample_rate = self.fbank.config.sample_rate
        n = np.arange(num_mel_bins)
        k = np.arange(1, num_ceps + 1)[:, None]
        # Orthonormal DCT-II rows 1..num_ceps (c0, the frame energy, is left out).
        self.dct = np.sqrt(2.0 / num_mel_bins) * np.cos(np.pi * k * (n + 0.5) / num_mel_bins)
        self.dim = 2 * num_ceps
        self.mean = np.zeros(self.dim)
        self.scale = np.ones(self.dim)
        self.fitted = False

    def _ceps(self, waveforms: np.ndarray) -> np.ndarray:
        """(batch, num_samples) -> (batch, num_frames, num_ceps) float64."""
        x = np.ascontiguousarray(waveforms, dtype=np.float32)
        return self.fbank.log_mel(x).astype(np.float64) @ self.dct.T

    def raw_stats(self, waveform: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """(num_windows, dim) un-normalised statistics of windows of one waveform."""
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        if len(bounds) == 0:
            return np.zeros((0, self.dim))
        c = self._ceps(waveform[None])[0]  # (T, num_ceps), computed once for all windows
        zero = np.zeros((1, c.shape[1]))
        s1 = np.concatenate([zero, np.cumsum(c, axis=0)])
        s2 = np.concatenate([zero, np.cumsum(c**2, axis=0)])
        f0, f1 = frame_ranges(bounds, self.fbank.hop_samples, self.fbank.win_samples)
        f0 = np.clip(f0, 0, len(c) - 1)
        f1 = np.clip(f1, f0 + 1, len(c))
        n = (f1 - f0)[:, None]
        mean = (s1[f1] - s1[f0]) / n
        std = np.sqrt(np.maximum((s2[f1] - s2[f0]) / n - mean**2, 1e-8))
        return np.concatenate([mean, std], axis=1)

    def fit(self, stats: np.ndarray) -> MfccStats:
        """Standardise with the mean and std of unlabelled raw statistics (num_windows, dim)."""
        self.mean = stats.mean(axis=0)
        self.scale = np.maximum(stats.std(axis=0), 1e-6)
        self.fitted = True
        return self

    def _finish(self, stats: np.ndarray) -> np.ndarray:
        return _l2((stats - self.mean) / self.scale)

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.asarray(waveforms, dtype=np.float32)
        out = [
            self.raw_stats(w, np.array([[0, len(w)]]))[0]
            for w in waveforms.reshape(len(waveforms), -1)
        ]
        return self._finish(np.asarray(out).reshape(-1, self.dim))

    def embed_windows(self, waveform, bounds, batch_size=64, chunk=120.0) -> np.ndarray:
        return self._finish(self.raw_stats(np.asarray(waveform, dtype=np.float32), bounds))


class ResemblyzerEncoder(EmbeddingModel):
    """Resemblyzer's ``VoiceEncoder`` behind the ``EmbeddingModel`` face (dim 256)."""

    name = "resemblyzer"
    dim = 256
    target_dbfs = -30.0

    def __init__(self):
        from resemblyzer import VoiceEncoder  # optional: pip install resemblyzer

        self.model = VoiceEncoder("cpu", verbose=False).eval()
        self.hop = 160
        self.n_fft = 400

    def _mel(self, waveform: np.ndarray) -> np.ndarray:
        """(num_samples,) -> (num_frames, 40) power mel; frame j is centred on sample 160 j."""
        from resemblyzer.audio import wav_to_mel_spectrogram

        return wav_to_mel_spectrogram(np.asarray(waveform, dtype=np.float32))

    def _gain(self, window: np.ndarray) -> float:
        """Power gain of Resemblyzer's normalize_volume(-30 dBFS, increase_only=True)."""
        rms = np.sqrt(np.mean(window.astype(np.float64) ** 2))
        change = self.target_dbfs - 20 * np.log10(max(rms, 1e-9))
        return float(10 ** (change / 10)) if change > 0 else 1.0

    def _forward(self, mels: list[np.ndarray]) -> np.ndarray:
        """Windows of any length in one padded batch: the LSTM state at each window's own
        last frame, as ``VoiceEncoder.forward`` takes it for equal lengths."""
        import torch
        from torch.nn.utils.rnn import pack_sequence

        with torch.inference_mode():
            packed = pack_sequence([torch.from_numpy(m) for m in mels], enforce_sorted=False)
            _, (hidden, _) = self.model.lstm(packed)
            raw = self.model.relu(self.model.linear(hidden[-1]))
        return raw.numpy()

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.asarray(waveforms, dtype=np.float32)
        return _l2(self._forward([self._mel(w) * self._gain(w) for w in waveforms]))

    def embed_windows(self, waveform, bounds, batch_size=64, chunk=120.0) -> np.ndarray:
        """The mel spectrogram is computed once; each window takes the frames centred in it."""
        waveform = np.asarray(waveform, dtype=np.float32)
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        out = np.zeros((len(bounds), self.dim), dtype=np.float32)
        if len(bounds) == 0:
            return out
        mel = self._mel(waveform)
        f0 = np.clip(-(-bounds[:, 0] // self.hop), 0, len(mel) - 1)
        f1 = np.clip(-(-bounds[:, 1] // self.hop), f0 + 1, len(mel))
        for b in range(0, len(bounds), batch_size):
            sel = range(b, min(b + batch_size, len(bounds)))
            batch = [
                mel[f0[i] : f1[i]] * self._gain(waveform[bounds[i, 0] : bounds[i, 1]]) for i in sel
            ]
            out[b : b + len(batch)] = _l2(self._forward(batch))
        return out
