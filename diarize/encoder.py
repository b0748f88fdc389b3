"""The segment encoder: log-mel -> residual TDNN trunk -> mean+std pooling -> embedding.

Public face (what the pipeline, benchmarks and evaluations use)::

    enc = load_encoder(path=None)          # None = the shipped model in models/
    emb = enc.embed(waveforms)             # (num_windows, num_samples) -> (num_windows, dim)
    emb = enc.embed_windows(waveform, bounds)  # windows of one long signal, trunk shared

Checkpoints hold only primitives and tensors so ``torch.load(weights_only=True)`` works.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diarize.config import EncoderConfig, FeatureConfig
from diarize.errors import ModelError
from diarize.features import Fbank

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "encoder-v1.pt"


class ResBlock(nn.Module):
    """Dilated 3-tap convolution + 1x1 convolution with a residual connection."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class SegmentEncoder(nn.Module):
    """Frame-level trunk with a small receptive field, statistics pooling, linear embedding.

    The trunk's receptive field is ``kernel_size + 2 * sum(dilations)`` frames (23 by default),
    so on a long recording it is computed once and pooled per window (see ``Encoder``).
    """

    def __init__(self, config: EncoderConfig, in_dim: int):
        super().__init__()
        self.config = config
        c = config.channels
        self.stem = nn.Sequential(
            nn.Conv1d(in_dim, c, config.kernel_size, padding=config.kernel_size // 2),
            nn.BatchNorm1d(c),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*[ResBlock(c, d) for d in config.dilations])
        self.expand = nn.Sequential(
            nn.Conv1d(c, config.pool_channels, 1), nn.BatchNorm1d(config.pool_channels), nn.ReLU()
        )
        self.head = nn.Linear(2 * config.pool_channels, config.embed_dim)
        self.head_bn = nn.BatchNorm1d(config.embed_dim)

    @property
    def receptive_field(self) -> int:
        return self.config.kernel_size + 2 * sum(self.config.dilations)

    def trunk(self, feats: torch.Tensor) -> torch.Tensor:
        """(batch, num_frames, num_mel_bins) -> (batch, pool_channels, num_frames)."""
        return self.expand(self.blocks(self.stem(feats.transpose(1, 2))))

    def embed_stats(self, stats: torch.Tensor) -> torch.Tensor:
        """(batch, 2 * pool_channels) pooled statistics -> (batch, embed_dim), not normalised."""
        return self.head_bn(self.head(stats))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(batch, num_frames, num_mel_bins) -> (batch, embed_dim), not normalised."""
        h = self.trunk(feats)
        mean = h.mean(dim=2)
        std = (h.square().mean(dim=2) - mean.square()).clamp(min=1e-5).sqrt()
        return self.embed_stats(torch.cat([mean, std], dim=1))


def _l2(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class EmbeddingModel:
    """Interface every encoder offers (the shipped one, MFCC statistics, references).

    Subclasses implement ``embed``; ``embed_windows`` defaults to slicing and batching.
    """

    sample_rate: int = 16000
    dim: int = 0
    name: str = "encoder"

    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        """(num_windows, num_samples) float32 mono -> (num_windows, dim) float32, L2-normed."""
        raise NotImplementedError

    def embed_windows(
        self, waveform: np.ndarray, bounds: np.ndarray, batch_size: int = 64, chunk: float = 120.0
    ) -> np.ndarray:
        """Embed windows ``bounds`` (num_windows, 2) [start, end) in samples of one waveform.

        Returns (num_windows, dim) float32, L2-normed. Windows of equal length are batched.
        """
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        out = np.zeros((len(bounds), self.dim), dtype=np.float32)
        lengths = bounds[:, 1] - bounds[:, 0]
        for length in np.unique(lengths):
            idx = np.flatnonzero(lengths == length)
            for b in range(0, len(idx), batch_size):
                sel = idx[b : b + batch_size]
                batch = np.stack([waveform[s : s + length] for s in bounds[sel, 0]])
                out[sel] = self.embed(batch)
        return out


class Encoder(EmbeddingModel):
    """A trained ``SegmentEncoder`` with its front end, ready for inference on numpy audio."""

    def __init__(
        self,
        model: SegmentEncoder,
        feature_config: FeatureConfig,
        meta: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        self.model = model.eval()
        self.fbank = Fbank(feature_config)
        self.feature_config = feature_config
        self.sample_rate = feature_config.sample_rate
        self.dim = model.config.embed_dim
        self.meta = dict(meta or {})
        self.extra = dict(extra or {})
        self.name = str(self.meta.get("name", "encoder"))

    @torch.inference_mode()
    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.asarray(waveforms, dtype=np.float32)
        if waveforms.ndim != 2:
            raise ValueError(f"expected (num_windows, num_samples), got {waveforms.shape}")
        if waveforms.shape[1] < self.fbank.win_samples * 2:
            raise ValueError(f"windows of {waveforms.shape[1]} samples are too short")
        feats = self.fbank(torch.from_numpy(waveforms))
        return _l2(self.model(feats).numpy())

    @torch.inference_mode()
    def embed_windows(
        self, waveform: np.ndarray, bounds: np.ndarray, batch_size: int = 64, chunk: float = 120.0
    ) -> np.ndarray:
        """Shared-trunk extraction: the front end and trunk run once per chunk of audio and
        each window pools the trunk's frames it covers (cumulative sums, float64)."""
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        out = np.zeros((len(bounds), self.dim), dtype=np.float32)
        if len(bounds) == 0:
            return out
        hop, win = self.fbank.hop_samples, self.fbank.win_samples
        # Frames fully inside each window.
        f0 = -(-bounds[:, 0] // hop)
        f1 = np.maximum((bounds[:, 1] - win) // hop + 1, f0 + 1)
        chunk_frames = max(int(chunk * self.sample_rate) // hop, 1000)
        # Context on both sides: CMN half-window plus the trunk's receptive field.
        margin = self.fbank.cmn_frames // 2 + self.model.receptive_field
        total_frames = self.fbank.num_frames(len(waveform))
        delta = np.zeros(total_frames + 1, dtype=np.int64)
        np.add.at(delta, np.clip(f0, 0, total_frames), 1)
        np.add.at(delta, np.clip(f1, 0, total_frames), -1)
        covered = np.cumsum(delta[:-1]) > 0
        order = np.argsort(f0, kind="stable")
        pos = 0
        for c0 in range(0, max(total_frames, 1), chunk_frames):
            c1 = min(c0 + chunk_frames, total_frames)
            # Windows whose first frame lies in this chunk; they may extend past c1.
            sel = []
            while pos < len(order) and (f0[order[pos]] < c1 or c1 == total_frames):
                sel.append(order[pos])
                pos += 1
            if not sel:
                continue
            sel = np.asarray(sel)
            lo = max(0, c0 - margin)
            hi = min(total_frames, max(c1, int(f1[sel].max())) + margin)
            seg = torch.from_numpy(
                np.ascontiguousarray(waveform[lo * hop : (hi - 1) * hop + win], dtype=np.float32)
            )
            # Normalise with speech (window-covered) frames only, as training windows are.
            mask = torch.from_numpy(covered[lo:hi])[None]
            h = self.model.trunk(self.fbank(seg[None], mask))[0].to(torch.float64)  # (P, T)
            zeros = torch.zeros(h.shape[0], 1, dtype=torch.float64)
            s1 = torch.cat([zeros, h.cumsum(dim=1)], dim=1)
            s2 = torch.cat([zeros, h.square().cumsum(dim=1)], dim=1)
            a = torch.from_numpy(np.clip(f0[sel] - lo, 0, h.shape[1] - 1))
            b = torch.from_numpy(np.clip(f1[sel] - lo, 1, h.shape[1]))
            b = torch.maximum(b, a + 1)
            n = (b - a).to(torch.float64)
            mean = (s1[:, b] - s1[:, a]) / n
            var = (s2[:, b] - s2[:, a]) / n - mean.square()
            std = var.clamp(min=1e-5).sqrt()
            stats = torch.cat([mean, std], dim=0).T.to(torch.float32)
            for i in range(0, len(sel), 4096):
                out[sel[i : i + 4096]] = _l2(self.model.embed_stats(stats[i : i + 4096]).numpy())
        return out


def checkpoint_dict(
    model: SegmentEncoder,
    feature_config: FeatureConfig,
    meta: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a checkpoint holds: primitives and tensors only."""
    return {
        "format_version": FORMAT_VERSION,
        "feature_config": dataclasses.asdict(feature_config),
        "encoder_config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
        "extra": dict(extra or {}),
    }


def save_encoder(
    path: str | Path,
    model: SegmentEncoder,
    feature_config: FeatureConfig,
    meta: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint_dict(model, feature_config, meta, extra), tmp)
    os.replace(tmp, path)
    return path


def default_model_path() -> Path:
    env = os.environ.get("DIARIZE_MODEL")
    return Path(env) if env else MODELS_DIR / DEFAULT_MODEL


def sha256sum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_from_checkpoint(ckpt: dict[str, Any]) -> tuple[SegmentEncoder, FeatureConfig]:
    try:
        if int(ckpt["format_version"]) != FORMAT_VERSION:
            raise ModelError(f"unsupported checkpoint format {ckpt['format_version']}")
        feature_config = FeatureConfig(**ckpt["feature_config"])
        enc = dict(ckpt["encoder_config"])
        enc["dilations"] = tuple(enc["dilations"])
        model = SegmentEncoder(EncoderConfig(**enc), feature_config.num_mel_bins)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ModelError(f"checkpoint is not a diarize encoder: {exc}") from None
    return model, feature_config


def load_encoder(path: str | Path | None = None) -> Encoder:
    """Load an encoder checkpoint (``None`` = the shipped model)."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"{path}: model checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: cannot read checkpoint ({exc})") from None
    if not isinstance(ckpt, dict):
        raise ModelError(f"{path}: checkpoint is not a dictionary")
    model, feature_config = build_from_checkpoint(ckpt)
    meta = dict(ckpt.get("meta", {}))
    meta.setdefault("path", str(path))
    return Encoder(model, feature_config, meta, ckpt.get("extra", {}))


def random_encoder(
    seed: int = 0,
    config: EncoderConfig | None = None,
    feature_config: FeatureConfig | None = None,
) -> Encoder:
    """An untrained encoder with seeded weights (tests, the 'random weights' baseline)."""
    feature_config = feature_config or FeatureConfig()
    gen = torch.Generator().manual_seed(seed)
    model = SegmentEncoder(config or EncoderConfig(), feature_config.num_mel_bins)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p[0].numel()) ** 0.5)
    return Encoder(model, feature_config, {"name": f"random-{seed}"})
