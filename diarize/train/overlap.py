"""Training of the overlapped-speech detector, without labels.

Two or three single-talker recordings mixed with random offsets give, for free, a frame-level
answer to "how many people talk here": each recording's own speech frames (its energy within
30 dB of its loud frames, :func:`diarize.train.data.speech_frames`) say when it is active, and
the mixture is overlapped speech wherever two are. No speaker identity is used; two recordings
of one voice mixed together are still two talkers. Each talker gets its own room (simulated or
real responses), the mixture gets noise (coloured, real, or babble of many other mixtures,
which counts as background and not as talkers) and a random gain, and the features get the
encoder's EQ, band limits and masks.

    python -m diarize.train.overlap --data DIR_OR_LIST ... --out models/overlap-v2.onnx \
        --steps 4000 --short-p 0.5      # the shipped detector's settings (models/README.md)

``--short-p`` makes that share of the second and third talkers speak in short bursts
(``--short-seconds``, 0.2-1.2 s), as backchannels and turn-end overlaps do in meetings.

The network is small and convolutional (:class:`OverlapNet`, about 0.1 M weights, 1.3 s of
context), exported to ONNX for :mod:`diarize.overlap`, which runs it without torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from diarize.errors import ConfigError
from diarize.nn import Fbank, sliding_cmn
from diarize.overlap import OVERLAP_FEATURES
from diarize.train import data as data_mod
from diarize.train.augment import AugmentConfig, Augmenter, augment_features
from diarize.train.loop import learning_rate_at, load_banks

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class OverlapTrainConfig:
    data: tuple[str, ...] = ()
    noise: tuple[str, ...] = ()
    rir: tuple[str, ...] = ()
    out: str = "models/overlap.onnx"
    chunk_seconds: float = 4.0
    batch_size: int = 32
    num_steps: int = 1500
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    # talkers per chunk: probabilities of 1, 2 and 3
    talkers: tuple[float, float, float] = (0.25, 0.55, 0.2)
    relative_db: float = 8.0  # each talker's level drawn within +-relative_db / 2
    # Share of the second and third talkers' pieces that are short bursts (a length drawn
    # from short_seconds), like the backchannels and turn-end overlaps of meetings; the
    # others are 25 % to all of the chunk.
    short_p: float = 0.0
    short_seconds: tuple[float, float] = (0.2, 1.2)
    # A frame is a target where at least this many talkers are active: 2 = overlapped speech
    # (the overlap detector), 1 = a talker over whatever background (babble included).
    min_talkers: int = 2
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16)
    seed: int = 0
    threads: int = 2
    # Babble (3-6 other mixtures of the batch, 5-20 dB down) is background, not a talker:
    # without it the detector calls every babble-noise recording overlapped.
    augment: AugmentConfig = field(
        default_factory=lambda: AugmentConfig(
            p_reverb=0.6,
            p_noise=0.7,
            snr_db=(5.0, 20.0),
            p_babble=0.4,
            p_bandlimit=0.3,
            time_masks=0,
        )
    )


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.norm(self.conv(x)))


class OverlapNet(nn.Module):
    """(batch, frames, mel) normalised log-mel -> (batch, frames) overlap logits."""

    def __init__(self, num_mel_bins: int = 64, channels: int = 64, dilations=(1, 2, 4, 8, 16)):
        super().__init__()
        self.inp = nn.Sequential(
            nn.Conv1d(num_mel_bins, channels, 5, padding=2), nn.BatchNorm1d(channels), nn.ReLU()
        )
        self.blocks = nn.Sequential(*[_Block(channels, d) for d in dilations])
        self.out = nn.Conv1d(channels, 1, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.inp(feats.transpose(1, 2)))
        return self.out(h)[:, 0]


class MixtureSampler:
    """Chunks of 1-3 recordings placed at random offsets, with their frame activities."""

    def __init__(self, recordings: list[data_mod.Recording], config: OverlapTrainConfig):
        self.recordings = [r for r in recordings if r.speech.sum() >= 50]
        if len(self.recordings) < 3:
            raise data_mod.DataError("at least three recordings with 0.5 s of speech are needed")
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.weights = np.array([r.speech.sum() for r in self.recordings], dtype=np.float64)
        self.weights /= self.weights.sum()

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns sources (batch, 3, samples) float32 (silent rows for absent talkers),
        activity (batch, 3, frames) bool, and talkers (batch,) int."""
        cfg = self.config
        hop, win = data_mod.HOP_SAMPLES, data_mod.FRAME_SAMPLES
        n = int(round(cfg.chunk_seconds * SAMPLE_RATE))
        frames = 1 + (n - win) // hop
        b = cfg.batch_size
        sources = np.zeros((b, 3, n), dtype=np.float32)
        active = np.zeros((b, 3, frames), dtype=bool)
        talkers = self.rng.choice(3, size=b, p=np.asarray(cfg.talkers)) + 1
        for row in range(b):
            picks = self.rng.choice(
                len(self.recordings), size=talkers[row], replace=False, p=self.weights
            )
            for k, idx in enumerate(picks):
                rec = self.recordings[idx]
                # A piece of 25 % (the first talker: 60 %) up to all of the chunk, at a
                # random place in it, on the frame grid.
                lo = 0.6 if k == 0 else 0.25
                if k > 0 and cfg.short_p > 0 and self.rng.random() < cfg.short_p:
                    length = int(self.rng.uniform(*cfg.short_seconds) * SAMPLE_RATE)
                else:
                    length = int(self.rng.uniform(lo, 1.0) * n)
                length = min(length, rec.num_samples)
                length -= length % hop
                if length < win:
                    continue
                src = int(self.rng.integers(0, rec.num_samples - length + 1)) // hop * hop
                dst = int(self.rng.integers(0, n - length + 1)) // hop * hop
                piece = rec.waveform[src : src + length]
                rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) + 1e-6
                level = 10 ** (self.rng.uniform(-0.5, 0.5) * cfg.relative_db / 20)
                sources[row, k, dst : dst + length] = piece / rms * 0.1 * level
                sp = rec.speech[src // hop : src // hop + (length - win) // hop + 1]
                f0 = dst // hop
                active[row, k, f0 : f0 + len(sp)] = sp[: max(frames - f0, 0)]
        return sources, active, talkers


def make_batch(
    sampler: MixtureSampler,
    augmenter: Augmenter,
    fbank: Fbank,
    config: OverlapTrainConfig,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented features (batch, frames, mel) and overlap targets (batch, frames) float."""
    sources, active, _ = sampler.sample()
    b, k, n = sources.shape
    flat = torch.from_numpy(sources.reshape(b * k, n))
    present = flat.abs().amax(dim=1) > 0
    wet = flat.clone()
    if present.any():
        wet[present] = augmenter.reverb(flat[present], gen)
    mix = wet.reshape(b, k, n).sum(dim=1)
    mix = augmenter.noise_mix(mix, gen)
    mix = augmenter.gain(mix, gen).clamp(-4.0, 4.0)
    feats = fbank.log_mel(mix)
    feats = augment_features(feats, config.augment, gen)
    feats = sliding_cmn(feats, fbank.cmn_frames)
    count = active.sum(axis=1)
    target = torch.from_numpy((count >= config.min_talkers).astype(np.float32))
    t = min(feats.shape[1], target.shape[1])
    return feats[:, :t], target[:, :t]


def train(config: OverlapTrainConfig) -> Path:
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    recordings = data_mod.load_recordings(list(config.data))
    logger.info(
        "overlap training audio: %d recordings, %.1f min",
        len(recordings),
        sum(r.num_samples for r in recordings) / SAMPLE_RATE / 60,
    )
    sampler = MixtureSampler(recordings, config)
    augmenter = Augmenter(
        config.augment, load_banks(config.noise), load_banks(config.rir), config.seed
    )
    fbank = Fbank(OVERLAP_FEATURES)
    model = OverlapNet(OVERLAP_FEATURES.num_mel_bins, config.channels, config.dilations)
    opt = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    gen = torch.Generator().manual_seed(config.seed + 1)
    out = Path(config.out)
    tic = time.perf_counter()
    running = []
    for step in range(config.num_steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate_at(config, step)
        with torch.no_grad():
            feats, target = make_batch(sampler, augmenter, fbank, config, gen)
        model.train()
        logits = model(feats)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            pred = logits > 0
            tp = float((pred & (target > 0)).sum())
            running.append((float(loss), tp, float(pred.sum()), float(target.sum())))
        if (step + 1) % 50 == 0 or step + 1 == config.num_steps:
            arr = np.array(running[-50:])
            prec = arr[:, 1].sum() / max(arr[:, 2].sum(), 1)
            rec = arr[:, 1].sum() / max(arr[:, 3].sum(), 1)
            logger.info(
                "step %d/%d loss %.4f precision %.3f recall %.3f (%.1f min)",
                step + 1,
                config.num_steps,
                arr[:, 0].mean(),
                prec,
                rec,
                (time.perf_counter() - tic) / 60,
            )
        if (step + 1) % 250 == 0 or step + 1 == config.num_steps:
            torch.save(
                {"model": model.state_dict(), "config": asdict(config), "step": step + 1},
                out.with_suffix(".pt"),
            )
    export(model, config, out)
    logger.info("wrote %s after %.1f min", out, (time.perf_counter() - tic) / 60)
    return out


def export(model: OverlapNet, config: OverlapTrainConfig, out: Path) -> None:
    """ONNX graph (input ``features`` (batch, frames, mel), output ``logits`` (batch, frames))
    plus a JSON sidecar with the front end and the receptive field."""
    model = model.eval()
    dummy = torch.zeros(1, 300, OVERLAP_FEATURES.num_mel_bins)
    axes = {0: "batch", 1: "frames"}
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter's deprecation notice: it still exports these layers exactly
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (dummy,),
            str(out),
            input_names=["features"],
            output_names=["logits"],
            dynamic_axes={"features": axes, "logits": axes},
            opset_version=17,
            dynamo=False,
        )
    context = 2 + sum(config.dilations)
    meta = {
        "features": asdict(OVERLAP_FEATURES),
        "context_frames": context,
        "train": {k: v for k, v in asdict(config).items() if k != "augment"},
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--noise", nargs="*", default=[])
    parser.add_argument("--rir", nargs="*", default=[])
    parser.add_argument("--out", default="models/overlap.onnx")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--p-reverb", type=float, default=0.6, help="share of reverberated talkers")
    parser.add_argument(
        "--drr",
        type=float,
        nargs=2,
        default=(0.0, 15.0),
        metavar=("LO", "HI"),
        help="direct-to-reverberant ratio range (dB) of the simulated rooms",
    )
    parser.add_argument(
        "--short-p",
        type=float,
        default=OverlapTrainConfig.short_p,
        help="share of the second and third talkers that speak in short bursts",
    )
    parser.add_argument(
        "--short-seconds",
        type=float,
        nargs=2,
        default=OverlapTrainConfig.short_seconds,
        metavar=("LO", "HI"),
        help="length range (s) of those bursts",
    )
    parser.add_argument(
        "--relative-db",
        type=float,
        default=OverlapTrainConfig.relative_db,
        help="each talker's level is drawn within +- half of this many dB",
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=OverlapTrainConfig.channels,
        help="width of the network's convolutions (64: about 0.15 M weights)",
    )
    parser.add_argument(
        "--min-talkers",
        type=int,
        default=OverlapTrainConfig.min_talkers,
        choices=(1, 2),
        help="target frames: 2 = overlapped speech (default), 1 = a talker over the background",
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.short_p <= 1.0:
        parser.error("--short-p must be between 0 and 1")
    if not 0.0 < args.short_seconds[0] <= args.short_seconds[1]:
        parser.error("--short-seconds must be 0 < LO <= HI")
    if args.relative_db < 0:
        parser.error("--relative-db must not be negative")
    if args.channels < 1:
        parser.error("--channels must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = OverlapTrainConfig(
        data=tuple(args.data),
        noise=tuple(args.noise),
        rir=tuple(args.rir),
        out=args.out,
        num_steps=args.steps,
        threads=args.threads,
        seed=args.seed,
        short_p=args.short_p,
        short_seconds=tuple(args.short_seconds),
        min_talkers=args.min_talkers,
        relative_db=args.relative_db,
        channels=args.channels,
    )
    augment = dataclasses.replace(config.augment, p_reverb=args.p_reverb, drr_db=tuple(args.drr))
    try:
        augment.check()
    except ConfigError as err:
        parser.error(str(err))
    train(dataclasses.replace(config, augment=augment))


if __name__ == "__main__":
    main()
