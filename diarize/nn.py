"""The torch side of the encoder: the network, its torch front end, ``.pt`` checkpoints.

Needed to train (``diarize train``), to fit a back end (``diarize fit-backend``), to adapt to a
recording (``--adapt``), to run a ``.pt`` checkpoint directly and to export one to ONNX
(``diarize export``): the ``train`` extra (``pip install -e ".[train]"``). Diarizing with an
exported model (:class:`diarize.encoder.OnnxEncoder`, the default) needs none of it.

Checkpoints hold only primitives and tensors so ``torch.load(weights_only=True)`` works.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from diarize.errors import require

require("torch", "PyTorch models (training, back-end fitting, --adapt, .pt checkpoints)")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from diarize.config import EncoderConfig, FeatureConfig  # noqa: E402
from diarize.encoder import EmbeddingModel, get_num_threads, l2_normalise  # noqa: E402
from diarize.errors import ModelError  # noqa: E402
from diarize.features import LogMel, frame_ranges  # noqa: E402

FORMAT_VERSION = 1

if get_num_threads() is not None:  # a batch worker's share of the cores
    torch.set_num_threads(get_num_threads())


class Fbank(nn.Module):
    """Log-mel filterbank: (batch, num_samples) float32 -> (batch, num_frames, num_mel_bins).

    The torch twin of :class:`diarize.features.LogMel` (same frames, window and mel matrix),
    for training on batches that live on the training device.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        ref = LogMel(config)
        self.config = config
        self.win_samples = ref.win_samples
        self.hop_samples = ref.hop_samples
        self.n_fft = ref.n_fft
        self.cmn_frames = ref.cmn_frames
        self.register_buffer("window", torch.hann_window(self.win_samples), persistent=False)
        self.register_buffer("mel", torch.from_numpy(ref.mel), persistent=False)

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
    """Torch twin of :func:`diarize.features.sliding_cmn` (see there).

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
        self._narrowband: Encoder | None = None

    def narrowband(self) -> Encoder | None:
        """A copy with the batch-norm statistics of ``extra["narrowband_bn"]`` (telephone-band
        speech), or None when the checkpoint carries none."""
        if self._narrowband is None:
            model = narrowband_model(self.model, self.extra)
            if model is None:
                return None
            meta = {**self.meta, "name": f"{self.name} (narrowband statistics)"}
            self._narrowband = Encoder(model, self.feature_config, meta, {})
        return self._narrowband

    @torch.inference_mode()
    def embed(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = np.asarray(waveforms, dtype=np.float32)
        if waveforms.ndim != 2:
            raise ValueError(f"expected (num_windows, num_samples), got {waveforms.shape}")
        if waveforms.shape[1] < self.fbank.win_samples * 2:
            raise ValueError(f"windows of {waveforms.shape[1]} samples are too short")
        feats = self.fbank(torch.from_numpy(waveforms))
        return l2_normalise(self.model(feats).numpy())

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
        f0, f1 = frame_ranges(bounds, hop, win)
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
                emb = self.model.embed_stats(stats[i : i + 4096]).numpy()
                out[sel[i : i + 4096]] = l2_normalise(emb)
        return out


def narrowband_model(model: SegmentEncoder, extra: dict[str, Any]) -> SegmentEncoder | None:
    """A copy of ``model`` whose batch-norm layers named in ``extra["narrowband_bn"]["stats"]``
    (module name -> {"running_mean", "running_var"}) take those statistics; None without."""
    stats = (extra or {}).get("narrowband_bn", {}).get("stats")
    if not stats:
        return None
    out = copy.deepcopy(model).eval()
    modules = dict(out.named_modules())
    for name, values in stats.items():
        bn = modules.get(name)
        if not isinstance(bn, nn.BatchNorm1d):
            raise ModelError(f"narrowband_bn names {name!r}, which is not a batch-norm layer")
        for key in ("running_mean", "running_var"):
            value = torch.as_tensor(np.asarray(values[key]), dtype=bn.running_mean.dtype)
            if value.shape != bn.running_mean.shape:
                raise ModelError(f"narrowband_bn {name}.{key}: shape {tuple(value.shape)}")
            getattr(bn, key).copy_(value)
    return out


def torch_encoder(encoder: EmbeddingModel) -> Encoder:
    """``encoder`` as a torch :class:`Encoder`: itself, or the ``.pt`` checkpoint an ONNX
    export was made from (what training, back-end fitting and ``--adapt`` work on)."""
    if isinstance(encoder, Encoder):
        return encoder
    to_torch = getattr(encoder, "torch_encoder", None)
    if to_torch is None:
        raise ModelError(f"{encoder.name!r} is not a trainable (torch) encoder")
    return to_torch()


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


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The dictionary a ``.pt`` checkpoint holds (``torch.load(weights_only=True)``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: cannot read checkpoint ({exc})") from None
    if not isinstance(ckpt, dict):
        raise ModelError(f"{path}: checkpoint is not a dictionary")
    return ckpt


def load_checkpoint(path: str | Path) -> Encoder:
    """A ``.pt`` checkpoint as a torch :class:`Encoder`."""
    ckpt = read_checkpoint(path)
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
