"""Front end: batched log-mel filterbanks, optionally with sliding-window mean normalisation.

Frame ``t`` covers samples ``[t * hop, t * hop + win)``; there is no centre padding, so a
waveform of ``num_samples`` gives ``1 + (num_samples - win) // hop`` frames.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from diarize.audio import as_float32
from diarize.config import FeatureConfig


class Fbank(torch.nn.Module):
    """Log-mel filterbank: (batch, num_samples) float32 -> (batch, num_frames, num_mel_bins)."""

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        self.config = config
        self.win_samples = int(round(config.frame_length * config.sample_rate))
        self.hop_samples = int(round(config.frame_shift * config.sample_rate))
        self.n_fft = 1 << (self.win_samples - 1).bit_length()
        self.cmn_frames = int(round(config.cmn_window / config.frame_shift))
        self.register_buffer("window", torch.hann_window(self.win_samples), persistent=False)
        mel = AF.melscale_fbanks(
            n_freqs=self.n_fft // 2 + 1,
            f_min=20.0,
            f_max=config.sample_rate / 2 - 400.0,
            n_mels=config.num_mel_bins,
            sample_rate=config.sample_rate,
            norm=None,
            mel_scale="htk",
        )
        self.register_buffer("mel", mel, persistent=False)

    def num_frames(self, num_samples: int) -> int:
        if num_samples < self.win_samples:
            return 0
        return 1 + (num_samples - self.win_samples) // self.hop_samples

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Un-normalised log-mel energies, (batch, num_frames, num_mel_bins)."""
        if waveforms.dim() != 2:
            raise ValueError(f"expected (batch, num_samples), got shape {tuple(waveforms.shape)}")
        frames = waveforms.unfold(-1, self.win_samples, self.hop_samples)  # (B, T, win)
        frames = frames - frames.mean(dim=-1, keepdim=True)  # remove DC per frame
        spec = torch.fft.rfft(frames * self.window, n=self.n_fft)
        power = spec.real.square() + spec.imag.square()
        return torch.log(power @ self.mel + 1e-6)

    def forward(self, waveforms: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised log-mel, (batch, num_frames, num_mel_bins).

        ``mask`` (batch, num_frames) bool restricts the normalising mean to speech frames.
        """
        feats = self.log_mel(waveforms)
        if self.config.cmn_window <= 0:
            return feats
        return sliding_cmn(feats, self.cmn_frames, mask)


def sliding_cmn(
    feats: torch.Tensor, window_frames: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Subtract a centred moving average over ``window_frames`` frames (truncated at edges).

    With a window at least twice the input length this equals per-input mean normalisation,
    which is what training on short windows sees. With ``mask``, only frames where it is true
    enter the averages (a frame whose window holds none keeps the unmasked average).

    Parameters
    ----------
    feats : (batch, num_frames, dim) tensor
    mask : (batch, num_frames) bool tensor or None
    """
    num_frames = feats.shape[1]
    if num_frames == 0:
        return feats
    half = window_frames // 2
    if mask is None and num_frames <= half + 1:
        return feats - feats.mean(dim=1, keepdim=True)
    idx = torch.arange(num_frames, device=feats.device)
    lo = (idx - half).clamp(min=0)
    hi = (idx + half + 1).clamp(max=num_frames)

    def window_sum(x: torch.Tensor) -> torch.Tensor:
        csum = F.pad(x.cumsum(dim=1, dtype=torch.float64), (0, 0, 1, 0))
        return csum[:, hi] - csum[:, lo]

    mean = window_sum(feats) / (hi - lo).to(torch.float64)[None, :, None]
    if mask is not None:
        m = mask.to(torch.float64)[..., None]
        count = window_sum(m)
        masked = window_sum(feats * m) / count.clamp(min=1.0)
        mean = torch.where(count > 0, masked, mean)
    return feats - mean.to(feats.dtype)


class Mfcc:
    """MFCCs c1..c``num_ceps`` (orthonormal DCT-II of ``num_mel_bins`` log-mel bands; c0, the
    frame energy, left out), 25 ms frames every 10 ms."""

    def __init__(self, num_ceps: int = 20, num_mel_bins: int = 40, sample_rate: int = 16000):
        self.fbank = Fbank(FeatureConfig(num_mel_bins=num_mel_bins, sample_rate=sample_rate))
        n = np.arange(num_mel_bins)
        k = np.arange(1, num_ceps + 1)[:, None]
        #: (num_ceps, num_mel_bins) float64 orthonormal DCT-II rows 1..num_ceps
        self.dct = np.sqrt(2.0 / num_mel_bins) * np.cos(np.pi * k * (n + 0.5) / num_mel_bins)
        self._dct = torch.from_numpy(self.dct.T.astype(np.float32))
        self.num_ceps = num_ceps

    @property
    def hop_samples(self) -> int:
        return self.fbank.hop_samples

    @torch.inference_mode()
    def __call__(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, num_samples) float32 -> (batch, num_frames, num_ceps)."""
        return self.fbank.log_mel(waveforms) @ self._dct

    @torch.inference_mode()
    def frames(self, signal, chunk_seconds: float = 30.0, dtype=np.float32):
        """MFCCs of a whole recording on a grid of hops: frame ``t`` is centred on the middle
        of samples ``[t * hop, (t + 1) * hop)``; ``ceil(num_samples / hop)`` frames.

        ``signal`` is a (num_samples,) int16 or float array; it is read ``chunk_seconds`` at a
        time, so memory holds one chunk's spectra (about 20 MB for 30 s) besides the
        (num_frames, num_ceps) result of ``dtype``.
        """
        hop, win = self.fbank.hop_samples, self.fbank.win_samples
        lead = (win - hop) // 2  # frame t then starts at t * hop - lead
        num_frames = -(-len(signal) // hop)
        out = np.zeros((num_frames, self.num_ceps), dtype=dtype)
        step = max(1, int(chunk_seconds * self.fbank.config.sample_rate) // hop)
        for f0 in range(0, num_frames, step):
            f1 = min(num_frames, f0 + step)
            a = f0 * hop - lead
            b = (f1 - 1) * hop - lead + win
            left, right = max(-a, 0), max(b - len(signal), 0)
            piece = as_float32(signal[max(a, 0) : min(b, len(signal))])
            piece = np.pad(piece, (left, right))
            x = torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32))[None]
            out[f0:f1] = self(x)[0, : f1 - f0].numpy()
        return out
