"""Speech activity detection -> regions (placeholder energy detector)."""

from __future__ import annotations

import numpy as np

from diarize.config import VADConfig
from diarize.types import Regions


def detect_speech(waveform: np.ndarray, config: VADConfig, sample_rate: int = 16000) -> Regions:
    frame = int(0.02 * sample_rate)
    n = len(waveform) // frame
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    energy = 10 * np.log10(np.mean(waveform[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-10)
    floor = np.percentile(energy, 10)
    speech = (energy > floor + 10) & (energy > -60)
    regions = []
    start = None
    for i, s in enumerate(speech):
        if s and start is None:
            start = i
        elif not s and start is not None:
            regions.append((start * frame, i * frame))
            start = None
    if start is not None:
        regions.append((start * frame, n * frame))
    return np.asarray(regions, dtype=np.int64).reshape(-1, 2)
