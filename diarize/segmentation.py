"""Frame-level speaker counting: how many people speak in each 10 ms frame (0, 1, 2+).

One small network answers two questions the rest of the pipeline needs: where is speech
(count >= 1) and where do two voices overlap (count >= 2). It is trained without human
labels on mixtures the project builds itself (``diarize.train.segmentation``): real speech
from several files summed at random offsets, with reverberation and noise, the count of each
frame read off the clean sources.

Input: 64 log-mel bands (the encoder's front end), normalised by the mean of each analysed
chunk. Model: three dilated convolutions then a bidirectional GRU; output (num_frames, 3)
log-probabilities. Long signals are analysed in overlapping chunks and only the centre of
each chunk is kept, so memory does not grow with the recording.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from diarize.audio import as_float32
from diarize.config import FeatureConfig
from diarize.errors import ModelError
from diarize.features import Fbank

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "segmentation-v1.pt"
NUM_CLASSES = 3  # 0, 1, 2+ speakers


@dataclass(frozen=True)
class SegmentationConfig:
    channels: int = 128
    hidden: int = 96


class SegmentationNet(nn.Module):
    """(batch, num_frames, num_mel_bins) -> (batch, num_frames, 3) logits."""

    def __init__(self, config: SegmentationConfig, in_dim: int):
        super().__init__()
        self.config = config
        c = config.channels
        layers: list[nn.Module] = []
        for i, (k, d) in enumerate([(5, 1), (3, 2), (3, 4)]):
            layers += [
                nn.Conv1d(in_dim if i == 0 else c, c, k, dilation=d, padding=d * (k // 2)),
                nn.BatchNorm1d(c),
                nn.ReLU(),
            ]
        self.conv = nn.Sequential(*layers)
        self.gru = nn.GRU(c, config.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * config.hidden, NUM_CLASSES)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        feats = feats - feats.mean(dim=1, keepdim=True)
        h = self.conv(feats.transpose(1, 2)).transpose(1, 2)
        h, _ = self.gru(h)
        return self.out(h)


class SpeakerCounter:
    """A trained ``SegmentationNet`` with its front end, for numpy signals."""

    def __init__(self, model: SegmentationNet, feature_config: FeatureConfig, meta=None):
        self.model = model.eval()
        self.fbank = Fbank(feature_config)
        self.sample_rate = feature_config.sample_rate
        self.frame_shift = feature_config.frame_shift
        self.meta = dict(meta or {})

    @torch.inference_mode()
    def probabilities(
        self, signal: np.ndarray, chunk: float = 10.0, context: float = 2.0
    ) -> np.ndarray:
        """(num_frames, 3) probabilities of 0 / 1 / 2+ speakers per frame.

        Frame ``t`` covers samples ``[t * hop, t * hop + win)`` as in ``Fbank``. ``signal`` may
        be int16 PCM or float.
        """
        hop, win = self.fbank.hop_samples, self.fbank.win_samples
        total = self.fbank.num_frames(len(signal))
        out = np.zeros((total, NUM_CLASSES), dtype=np.float32)
        if total == 0:
            return out
        step = max(1, int(round(chunk / self.frame_shift)))
        ctx = int(round(context / self.frame_shift))
        batch: list[tuple[int, int, int, torch.Tensor]] = []

        def flush() -> None:
            if not batch:
                return
            longest = max(f.shape[0] for *_, f in batch)
            feats = torch.stack(
                [
                    nn.functional.pad(f, (0, 0, 0, longest - f.shape[0]), value=float(f.min()))
                    for *_, f in batch
                ]
            )
            probs = torch.softmax(self.model(feats), dim=-1).numpy()
            for i, (a, b, lo, _) in enumerate(batch):
                out[a:b] = probs[i, a - lo : b - lo]
            batch.clear()

        for a in range(0, total, step):
            b = min(a + step, total)
            lo, hi = max(0, a - ctx), min(total, b + ctx)
            seg = as_float32(signal[lo * hop : (hi - 1) * hop + win])
            batch.append((a, b, lo, self.fbank.log_mel(torch.from_numpy(seg)[None])[0]))
            if len(batch) == 16:
                flush()
        flush()
        return out


def save_segmentation(path, model: SegmentationNet, feature_config: FeatureConfig, meta=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "format_version": FORMAT_VERSION,
            "kind": "segmentation",
            "feature_config": dataclasses.asdict(feature_config),
            "model_config": dataclasses.asdict(model.config),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": dict(meta or {}),
        },
        tmp,
    )
    os.replace(tmp, path)
    return path


def default_segmentation_path() -> Path:
    env = os.environ.get("DIARIZE_SEGMENTATION_MODEL")
    return Path(env) if env else MODELS_DIR / DEFAULT_MODEL


def load_segmentation(path: str | Path | None = None) -> SpeakerCounter:
    path = Path(path) if path is not None else default_segmentation_path()
    if not path.is_file():
        raise ModelError(f"{path}: segmentation model not found")
    try:
        ckpt: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        feature_config = FeatureConfig(**ckpt["feature_config"])
        model = SegmentationNet(
            SegmentationConfig(**ckpt["model_config"]), feature_config.num_mel_bins
        )
        model.load_state_dict(ckpt["state_dict"])
    except Exception as exc:
        raise ModelError(f"{path}: not a segmentation checkpoint ({exc})") from None
    return SpeakerCounter(model, feature_config, ckpt.get("meta", {}))
