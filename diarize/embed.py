"""Sliding-window geometry and batched embedding extraction."""

from __future__ import annotations

import logging

import numpy as np

from diarize.audio import to_samples
from diarize.config import EmbedConfig
from diarize.encoder import EmbeddingModel
from diarize.types import Embeddings, Regions, Waveform

logger = logging.getLogger(__name__)


def window_bounds(
    regions: Regions, window_samples: int, step_samples: int, min_window_samples: int
) -> np.ndarray:
    """Windows that tile each speech region.

    A region at least ``window_samples`` long gets windows every ``step_samples``, plus one
    ending exactly at the region's end so that its tail is covered. A region between
    ``min_window_samples`` and ``window_samples`` long is one window of its own length.
    Shorter regions get no window (the resegmenter labels them from their neighbours).

    Parameters
    ----------
    regions : (num_regions, 2) int64 array of [start, end) samples

    Returns
    -------
    bounds : (num_windows, 2) int64 array of [start, end) samples, sorted by start
    """
    if window_samples <= 0 or step_samples <= 0:
        raise ValueError("window and step must be positive")
    out: list[np.ndarray] = []
    for start, end in np.asarray(regions, dtype=np.int64).reshape(-1, 2):
        length = end - start
        if length < max(min_window_samples, 1):
            continue
        if length <= window_samples:
            out.append(np.array([[start, end]], dtype=np.int64))
            continue
        starts = np.arange(start, end - window_samples + 1, step_samples, dtype=np.int64)
        if starts[-1] + window_samples < end:
            starts = np.append(starts, end - window_samples)
        out.append(np.stack([starts, starts + window_samples], axis=1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(out)


def extract(
    waveform: Waveform,
    regions: Regions,
    encoder: EmbeddingModel,
    config: EmbedConfig,
    sample_rate: int = 16000,
) -> tuple[np.ndarray, Embeddings]:
    """Embed sliding windows over the speech regions of ``waveform``.

    Returns
    -------
    bounds : (num_windows, 2) int64 [start, end) in samples
    embeddings : (num_windows, dim) float32, L2-normed
    """
    bounds = window_bounds(
        regions,
        to_samples(config.window, sample_rate),
        to_samples(config.step, sample_rate),
        to_samples(config.min_window, sample_rate),
    )
    logger.info("embedding %d windows", len(bounds))
    if len(bounds) == 0:
        return bounds, np.zeros((0, encoder.dim), dtype=np.float32)
    embeddings = encoder.embed_windows(
        waveform, bounds, batch_size=config.batch_size, chunk=config.chunk
    )
    return bounds, embeddings
