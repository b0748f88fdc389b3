"""Train the frame-level speaker counter on mixtures built on the fly (no human labels).

Each 8 s example sums 0-3 talkers (different source files), each talking in 1-3 stretches
at random places, so some stretches overlap. The frame-level count comes from the clean
sources (a frame is active when its energy is within 40 dB of that source's loudest frame).
The mixture is then reverberated (real room responses or a synthetic decaying tail) and
noise is added at 0-30 dB SNR (real recordings or synthetic coloured noise).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.signal import fftconvolve

from diarize import audio as audio_io
from diarize.calibrate import list_audio
from diarize.config import FeatureConfig
from diarize.errors import DiarizeError
from diarize.features import Fbank
from diarize.segmentation import (
    NUM_CLASSES,
    SegmentationConfig,
    SegmentationNet,
    save_segmentation,
)

logger = logging.getLogger(__name__)
SR = 16000


@dataclass(frozen=True)
class SegmentationTrainConfig:
    seconds: float = 8.0  # length of each training example
    batch_size: int = 32
    steps: int = 3000
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 2
    speakers_p: tuple[float, ...] = (0.05, 0.35, 0.4, 0.2)  # P(0, 1, 2, 3 talkers)
    reverb_p: float = 0.6
    noise_p: float = 0.85
    snr_db: tuple[float, float] = (0.0, 30.0)


def _frame_activity(track: np.ndarray, fbank: Fbank, floor_db: float = 40.0) -> np.ndarray:
    """(num_frames,) bool: frames of a clean source within ``floor_db`` of its loudest."""
    hop, win = fbank.hop_samples, fbank.win_samples
    n = fbank.num_frames(len(track))
    idx = np.arange(n)[:, None] * hop + np.arange(win)[None, :]
    energy = 10 * np.log10(np.mean(track[idx] ** 2, axis=1) + 1e-12)
    if energy.max() < -70:
        return np.zeros(n, dtype=bool)
    return energy > max(energy.max() - floor_db, -70)


class MixtureSampler:
    """Builds (waveform, frame count) training examples from pools of sources."""

    def __init__(self, speech, noises, rirs, config: SegmentationTrainConfig, fbank: Fbank):
        self.speech = speech
        self.noises = noises
        self.rirs = rirs
        self.config = config
        self.fbank = fbank
        self.num_samples = int(config.seconds * SR)

    def _source_track(self, rng: np.random.Generator, source: np.ndarray) -> np.ndarray:
        track = np.zeros(self.num_samples, dtype=np.float32)
        for _ in range(int(rng.integers(1, 4))):
            dur = int(min(len(source), rng.uniform(0.4, 5.0) * SR, self.num_samples))
            start = int(rng.integers(0, len(source) - dur + 1))
            pos = int(rng.integers(0, self.num_samples - dur + 1))
            track[pos : pos + dur] += source[start : start + dur]
        return track

    def _noise(self, rng: np.random.Generator) -> np.ndarray:
        n = self.num_samples
        if self.noises and rng.random() < 0.6:
            src = self.noises[int(rng.integers(len(self.noises)))]
            reps = int(math.ceil(n / len(src))) + 1
            src = np.tile(src, reps)
            start = int(rng.integers(0, len(src) - n))
            return src[start : start + n]
        white = rng.standard_normal(n)
        spectrum = np.fft.rfft(white)
        slope = rng.uniform(0.0, 2.0)  # 0 white, 1 pink, 2 brown
        spectrum /= np.maximum(np.arange(len(spectrum)), 1) ** (slope / 2)
        return np.fft.irfft(spectrum, n).astype(np.float32)

    def _rir(self, rng: np.random.Generator) -> np.ndarray:
        if self.rirs and rng.random() < 0.5:
            return self.rirs[int(rng.integers(len(self.rirs)))]
        rt60 = rng.uniform(0.15, 0.8)
        length = int(min(rt60, 0.6) * SR)
        t = np.arange(length) / SR
        rir = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
        rir[0] = 1.0 / rng.uniform(0.3, 1.0)
        return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)

    def example(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        num_spk = int(rng.choice(len(cfg.speakers_p), p=cfg.speakers_p))
        picks = rng.choice(len(self.speech), size=num_spk, replace=False)
        mix = np.zeros(self.num_samples, dtype=np.float32)
        count = np.zeros(self.fbank.num_frames(self.num_samples), dtype=np.int64)
        for i in picks:
            track = self._source_track(rng, self.speech[int(i)])
            count += _frame_activity(track, self.fbank)
            rms = np.sqrt(np.mean(track[track != 0] ** 2)) if np.any(track) else 1.0
            mix += track / max(rms, 1e-5) * 10 ** (rng.uniform(-8, 0) / 20)
        if rng.random() < cfg.reverb_p:
            mix = fftconvolve(mix, self._rir(rng))[: self.num_samples].astype(np.float32)
        speech_rms = np.sqrt(np.mean(mix**2)) if num_spk else 10 ** (rng.uniform(-4, -1))
        if rng.random() < cfg.noise_p or num_spk == 0:
            noise = self._noise(rng)
            snr = rng.uniform(*cfg.snr_db)
            noise = noise / max(np.sqrt(np.mean(noise**2)), 1e-8) * speech_rms * 10 ** (-snr / 20)
            if num_spk == 0:
                noise *= 10 ** (rng.uniform(-30, 0) / 20)
            mix = mix + noise
        peak = np.abs(mix).max()
        if peak > 0:
            mix = mix / peak * 10 ** (rng.uniform(-30, -1) / 20)
        return mix.astype(np.float32), np.minimum(count, NUM_CLASSES - 1)


def _load_pool(paths: list[Path], min_seconds: float) -> list[np.ndarray]:
    pool = []
    for p in paths:
        try:
            x = audio_io.load(p, SR)
        except DiarizeError as exc:
            logger.warning("skipping %s", exc)
            continue
        if len(x) >= min_seconds * SR:
            pool.append(x)
    return pool


def train_segmentation(
    speech_sources: list[str | Path],
    out: str | Path,
    noise_sources: list[str | Path] = (),
    rir_sources: list[str | Path] = (),
    config: SegmentationTrainConfig = SegmentationTrainConfig(),
    model_config: SegmentationConfig = SegmentationConfig(),
    progress: bool = True,
    log_every: int = 100,
) -> Path:
    """Train a ``SegmentationNet`` and save it to ``out``."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    speech = _load_pool(list_audio(speech_sources), 0.5)
    if len(speech) < 4:
        raise DiarizeError("need at least 4 speech recordings to build mixtures")
    noises = _load_pool(list_audio(noise_sources), 0.5) if noise_sources else []
    rirs = (
        [
            r[: int(0.8 * SR)] / np.sqrt(np.sum(r[: int(0.8 * SR)] ** 2))
            for r in _load_pool(list_audio(rir_sources), 0.05)
        ]
        if rir_sources
        else []
    )
    feature_config = FeatureConfig()
    fbank = Fbank(feature_config)
    sampler = MixtureSampler(speech, noises, rirs, config, fbank)
    model = SegmentationNet(model_config, feature_config.num_mel_bins)
    opt = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, config.learning_rate, total_steps=config.steps, pct_start=0.05
    )
    tic = time.time()
    running = 0.0
    for step in range(1, config.steps + 1):
        batch = [sampler.example(rng) for _ in range(config.batch_size)]
        wav = torch.from_numpy(np.stack([b[0] for b in batch]))
        target = torch.from_numpy(np.stack([b[1] for b in batch]))
        with torch.no_grad():
            feats = fbank.log_mel(wav)
        logits = model(feats)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, NUM_CLASSES), target.reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        running += float(loss.detach())
        if step % log_every == 0 or step == config.steps:
            logger.info("step %d loss %.4f (%.1f s)", step, running / log_every, time.time() - tic)
            if progress:
                print(
                    f"step {step} loss {running / log_every:.4f} {time.time() - tic:.0f}s",
                    flush=True,
                )
            running = 0.0
            save_segmentation(
                out,
                model,
                feature_config,
                {
                    "steps": step,
                    "train_config": {
                        k: list(v) if isinstance(v, tuple) else v
                        for k, v in dataclasses.asdict(config).items()
                    },
                    "wall_seconds": time.time() - tic,
                },
            )
    return Path(out)
