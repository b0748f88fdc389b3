"""Sliding-window geometry and chunked speech detection / embedding extraction over long
signals (int16 or float32), so memory depends on the chunk size, not the recording."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from diarize.audio import as_float32, to_samples
from diarize.config import EmbedConfig, VADConfig
from diarize.encoder import EmbeddingModel
from diarize.errors import ConfigError
from diarize.progress import report
from diarize.types import Embeddings, Regions, Waveform
from diarize.vad import (
    FLOOR_MIN_PIECE,
    detect_speech,
    floor_levels,
    gate_regions,
    level_floor_mask,
    merge_regions,
    pad_regions,
    padding_floor_mask,
)

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


def windows(regions: Regions, config: EmbedConfig, sample_rate: int = 16000) -> np.ndarray:
    """``window_bounds`` with the window geometry of ``config`` (seconds -> samples)."""
    return window_bounds(
        regions,
        to_samples(config.window, sample_rate),
        to_samples(config.step, sample_rate),
        to_samples(config.min_window, sample_rate),
    )


def _chunk_starts(num_samples: int, chunk_samples: int) -> range:
    return range(0, max(num_samples, 1), max(chunk_samples, 1))


def speech_regions(
    signal: np.ndarray,
    config: VADConfig,
    sample_rate: int = 16000,
    chunk: float | None = None,
    context: float = 5.0,
) -> Regions:
    """Speech detection over a long int16 or float signal, ``chunk`` seconds at a time
    (None = ``config.chunk``), so that at most ``chunk + 2 * context`` seconds are held as
    float32 at once.

    Each chunk is analysed with ``context`` seconds of audio on both sides so detection at
    its edges sees nearly what a single pass would (the detector starts afresh in every
    chunk: its state and, for the energy and spectral methods, its noise floors come from
    that chunk and its context); regions are clipped to the chunk and joined where they
    touch across chunk boundaries.
    """
    chunk = to_samples(config.chunk if chunk is None else chunk, sample_rate)
    ctx = to_samples(context, sample_rate)
    num_samples = len(signal)
    if num_samples <= chunk + 2 * ctx:
        return detect_speech(as_float32(signal), config, sample_rate)
    pieces = []
    for c0 in _chunk_starts(num_samples, chunk):
        c1 = min(c0 + chunk, num_samples)
        lo, hi = max(0, c0 - ctx), min(num_samples, c1 + ctx)
        regions = detect_speech(as_float32(signal[lo:hi]), config, sample_rate) + lo
        regions = np.clip(regions, c0, c1)
        pieces.append(regions[regions[:, 1] > regions[:, 0]])
        report("speech detection", c1 / sample_rate, num_samples / sample_rate)
    regions = np.concatenate(pieces) if pieces else np.zeros((0, 2), dtype=np.int64)
    return merge_regions(regions.astype(np.int64))


def detect_regions(
    signal: np.ndarray, vad: VADConfig, embed: EmbedConfig, sample_rate: int = 16000
) -> tuple[Regions, Regions]:
    """One speech detection, padded twice: the regions the output covers (``vad.pad``) and
    the regions windows are cut from (``embed.pad``; None = ``vad.pad``).

    Padding protects the output from clipped word edges, but windows that reach into the
    padding take in silence, noise or the neighbouring talker's last syllable. With
    ``vad.floor_db`` > 0 the output regions then lose what sits at the recording's level
    floor (:func:`diarize.vad.level_floor_mask`), and with ``vad.pad_floor_db`` > 0 the
    padding keeps only frames that rise that far above it (:func:`diarize.vad.padding_floor_mask`);
    the windows' regions are not gated.
    """
    window_pad = vad.pad if embed.pad is None else embed.pad
    for where, value, unit in (
        ("[vad] pad", vad.pad, "seconds"),
        ("[embed] pad", window_pad, "seconds"),
        ("[vad] floor_db", vad.floor_db, "dB"),
        ("[vad] pad_floor_db", vad.pad_floor_db, "dB"),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where} must be a number >= 0 ({unit}), got {value!r}")
    raw = speech_regions(signal, dataclasses.replace(vad, pad=0.0), sample_rate)
    output = pad_regions(raw, vad.pad, len(signal), sample_rate)
    for_windows = (
        output if window_pad == vad.pad else pad_regions(raw, window_pad, len(signal), sample_rate)
    )
    gate_padding = vad.pad_floor_db > 0 and vad.pad > 0  # no padding: nothing to gate
    if len(raw) and (vad.floor_db > 0 or gate_padding):
        hop, levels = floor_levels(signal, sample_rate)  # once, for both gates
        keep = np.ones(len(levels), dtype=bool)
        if vad.floor_db > 0:
            keep &= level_floor_mask(
                signal, vad.floor_db, sample_rate, vad.floor_quantile, vad.floor_block, levels
            )[0]
        if gate_padding:
            keep &= padding_floor_mask(
                signal, raw, vad.pad_floor_db, sample_rate, vad.floor_quantile, levels
            )[0]
        piece = to_samples(FLOOR_MIN_PIECE, sample_rate)
        output = gate_regions(output, keep, hop, piece, len(signal))
    return output, for_windows


def embed_chunked(
    signal: np.ndarray,
    bounds: np.ndarray,
    encoder: EmbeddingModel,
    config: EmbedConfig,
    sample_rate: int = 16000,
    context: float = 1.0,
) -> Embeddings:
    """Embed windows ``bounds`` of a long int16 or float signal, one chunk at a time.

    Windows are grouped by the chunk their start falls in; each group is embedded from a
    float32 copy of just the audio it needs plus ``context`` seconds on both sides (more
    than the encoder's receptive field), so the result does not depend on chunking.

    Returns
    -------
    embeddings : (num_windows, dim) float32, L2-normed
    """
    out = np.zeros((len(bounds), encoder.dim), dtype=np.float32)
    if len(bounds) == 0:
        return out
    chunk = to_samples(config.chunk, sample_rate)
    ctx = to_samples(context, sample_rate)
    group = bounds[:, 0] // max(chunk, 1)
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        lo = max(0, int(bounds[idx, 0].min()) - ctx)
        hi = min(len(signal), int(bounds[idx, 1].max()) + ctx)
        segment = as_float32(signal[lo:hi])
        out[idx] = encoder.embed_windows(
            segment, bounds[idx] - lo, batch_size=config.batch_size, chunk=config.chunk
        )
        report("embedding", hi / sample_rate, len(signal) / sample_rate)
    report("embedding", len(signal) / sample_rate, len(signal) / sample_rate)
    return out


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
    bounds = windows(regions, config, sample_rate)
    logger.info("embedding %d windows", len(bounds))
    return bounds, embed_chunked(waveform, bounds, encoder, config, sample_rate)
