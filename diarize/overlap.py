"""Overlapped speech: where two people talk at once, and who the second one is.

The pipeline's clustering and resegmentation give each speech frame one speaker. Where the
detector (a small convolutional network trained on mixtures of unlabeled recordings, see
:mod:`diarize.train.overlap`) finds two talkers, the frame gets a second speaker: the nearest
other speaker in time, the one the conversation was passing to or from. A recording with a
single speaker gets no second one.

The network runs through ONNX Runtime on the encoder's log-mel front end with a 3-s sliding
mean removed (:data:`OVERLAP_FEATURES`), so this module needs no torch.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from diarize.config import FeatureConfig, OverlapConfig
from diarize.errors import ModelError
from diarize.vad import mask_runs, pad_regions

logger = logging.getLogger(__name__)

#: The shipped detector, in models/.
OVERLAP_MODEL = "overlap-v2.onnx"
#: Its front end (the training module defines the same, from the same class).
OVERLAP_FEATURES = FeatureConfig(cmn_window=3.0)
#: Its frame grid: frame ``t`` is centred on sample ``FRAME_HOP * t + FRAME_OFFSET``.
FRAME_HOP = int(round(OVERLAP_FEATURES.frame_shift * OVERLAP_FEATURES.sample_rate))
FRAME_OFFSET = int(round(OVERLAP_FEATURES.frame_length * OVERLAP_FEATURES.sample_rate)) // 2
#: Frames per network call (30 s): long recordings are run in pieces with context each side.
_FRAMES_PER_CALL = 3000

_cache: dict[str, OverlapDetector] = {}
_lock = threading.Lock()


def overlap_model_path(path: str | Path = "") -> Path:
    from diarize.encoder import MODELS_DIR

    path = Path(path) if path else MODELS_DIR / OVERLAP_MODEL
    if not path.is_file():
        raise ModelError(
            f"{path}: the overlap detector is missing; restore it, or set [overlap] enabled = false"
        )
    return path


@dataclass
class OverlapDetector:
    """An exported detector: ``session`` (ONNX Runtime) and ``context`` frames each side."""

    session: object
    context: int

    @classmethod
    def load(cls, path: str | Path = "") -> OverlapDetector:
        """Loaded once per process and path."""
        path = overlap_model_path(path)
        key = str(path.resolve())
        with _lock:
            if key not in _cache:
                from diarize.encoder import onnx_session

                meta_path = path.with_suffix(".json")
                try:
                    meta = json.loads(meta_path.read_text(encoding="utf-8"))
                    context = int(meta["context_frames"])
                    features = FeatureConfig(**meta["features"])
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise ModelError(
                        f"{meta_path}: unreadable overlap detector sidecar ({exc})"
                    ) from None
                if features != OVERLAP_FEATURES:
                    raise ModelError(f"{path}: trained on another front end ({features})")
                _cache[key] = cls(onnx_session(path), context)
            return _cache[key]

    def logits(self, feats: np.ndarray) -> np.ndarray:
        """(num_frames, mel) normalised log-mel -> (num_frames,) logits, in calls of at most
        30 s with ``context`` frames of real input each side (as if run in one call)."""
        n = len(feats)
        out = np.empty(n, dtype=np.float32)
        c = self.context
        for first in range(0, n, _FRAMES_PER_CALL):
            last = min(first + _FRAMES_PER_CALL, n)
            lo, hi = max(first - c, 0), min(last + c, n)
            piece = np.ascontiguousarray(feats[None, lo:hi], dtype=np.float32)
            (logit,) = self.session.run(None, {"features": piece})
            out[first:last] = logit[0, first - lo : last - lo]
        return out


def overlap_probability(
    waveform: np.ndarray, regions: np.ndarray, detector: OverlapDetector, sample_rate: int = 16000
) -> np.ndarray:
    """Overlap probability of every 10-ms frame (frame ``t`` centred on sample
    ``FRAME_HOP t + FRAME_OFFSET``), computed inside the speech ``regions`` (with 1 s of audio
    each side) and 0 elsewhere."""
    from diarize.audio import as_float32
    from diarize.features import LogMel

    front = LogMel(OVERLAP_FEATURES)
    hop = front.hop_samples
    num_frames = front.num_frames(len(waveform))
    probs = np.zeros(num_frames, dtype=np.float32)
    for a, b in pad_regions(regions, 1.0, len(waveform), sample_rate):
        piece = as_float32(waveform[a:b])
        if len(piece) < front.win_samples:
            continue
        feats = front(piece[None])[0]
        p = 1.0 / (1.0 + np.exp(-detector.logits(feats)))
        f0 = a // hop  # a is not always a multiple of the hop: within 10 ms
        probs[f0 : f0 + len(p)] = p[: num_frames - f0]
    return probs


def overlap_frames(probs: np.ndarray, config: OverlapConfig, hop: int = FRAME_HOP) -> np.ndarray:
    """(num_frames,) bool: frames in runs of at least ``min_duration`` seconds where the
    smoothed probability exceeds the threshold."""
    p = np.asarray(probs, dtype=np.float64)
    width = max(int(round(config.smooth * OVERLAP_FEATURES.sample_rate / hop)), 1)
    if width > 1 and len(p) >= width:
        kernel = np.ones(width) / width
        p = np.convolve(p, kernel, mode="same")
    starts, ends = mask_runs(p > config.threshold)
    on = np.zeros(len(p), dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        if (e - s) * hop >= config.min_duration * OVERLAP_FEATURES.sample_rate:
            on[s:e] = True
    return on


def window_probability(
    probs: np.ndarray, bounds: np.ndarray, hop: int = FRAME_HOP, offset: int = FRAME_OFFSET
) -> np.ndarray:
    """(num_windows,) mean of ``probs`` over the frames (frame ``t`` centred on sample
    ``hop t + offset``) whose centre lies in each window's sample bounds [start, end); 0 for a
    window holding no frame centre."""
    p = np.asarray(probs, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(p)])
    b = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    first = np.clip(-((offset - b[:, 0]) // hop), 0, len(p))  # ceil((start - offset) / hop)
    last = np.clip((b[:, 1] - 1 - offset) // hop + 1, 0, len(p))
    last = np.maximum(last, first)
    return (cum[last] - cum[first]) / np.maximum(last - first, 1)


def near_turn_changes(
    segments: list[tuple[int, int, int]],
    num_frames: int,
    window: int,
    hop: int = FRAME_HOP,
    offset: int = FRAME_OFFSET,
) -> np.ndarray:
    """(num_frames,) bool: frames whose centre (sample ``hop t + offset``) lies at most
    ``window`` samples from a change of speaker.

    ``segments`` : (start, end, speaker) in samples, not overlapping. A change is where a
    segment is followed by one of another speaker; it lies half-way across the pause
    between them (at the shared edge when they touch), so after a pause longer than twice
    the window no frame of either segment is near it.
    """
    near = np.zeros(num_frames, dtype=bool)
    ordered = sorted(segments)
    for (_, end, a), (start, _, b) in zip(ordered[:-1], ordered[1:], strict=True):
        if a == b:
            continue
        change = (end + start) / 2
        # frames t with |hop t + offset - change| <= window
        first = max(math.ceil((change - window - offset) / hop), 0)
        last = math.floor((change + window - offset) / hop)
        near[first : last + 1] = True
    return near


def overlap_regions(
    probs: np.ndarray,
    config: OverlapConfig,
    hop: int = FRAME_HOP,
    offset: int = FRAME_OFFSET,
    segments: list[tuple[int, int, int]] | None = None,
    sample_rate: int = 16000,
) -> np.ndarray:
    """(num_regions, 2) int64 sample bounds of the runs of :func:`overlap_frames` (frame
    ``t`` centred on sample ``hop t + offset``, bounds half a hop either side).

    With ``segments`` (the single-speaker output) and ``config.turn_window`` > 0, only the
    frames within ``turn_window`` seconds of a change of speaker count, and those above
    ``config.anywhere_threshold`` wherever they are."""
    on = overlap_frames(probs, config, hop)
    if segments is not None and config.turn_window > 0:
        window = int(round(config.turn_window * sample_rate))
        on &= near_turn_changes(segments, len(on), window, hop, offset)
        if config.anywhere_threshold < 1:
            sure = replace(config, threshold=config.anywhere_threshold)
            on |= overlap_frames(probs, sure, hop)
    starts, ends = mask_runs(on)
    bounds = np.stack([starts, ends], axis=1) * hop + offset - hop // 2
    return np.clip(bounds, 0, None).astype(np.int64)


def second_speakers(
    segments: list[tuple[int, int, int]],
    overlaps: np.ndarray,
    max_distance: int,
) -> list[tuple[int, int, int]]:
    """Second-speaker segments for the ``overlaps`` (sample bounds).

    ``segments`` : (start, end, speaker) of the single-speaker pass, sorted, not overlapping.
    Each part of an overlap region that lies in a segment of speaker A gets the speaker whose
    nearest segment (other than A's) is closest in time, if that segment is at most
    ``max_distance`` samples away. Parts outside every segment get nothing.
    """
    if not segments or len(overlaps) == 0:
        return []
    seg = np.asarray(segments, dtype=np.int64)
    out: list[tuple[int, int, int]] = []
    for o_start, o_end in np.asarray(overlaps, dtype=np.int64):
        inside = np.flatnonzero((seg[:, 0] < o_end) & (seg[:, 1] > o_start))
        for i in inside:
            s, e = max(int(seg[i, 0]), int(o_start)), min(int(seg[i, 1]), int(o_end))
            if e <= s:
                continue
            others = seg[:, 2] != seg[i, 2]
            if not others.any():
                continue
            # Distance from the piece to each other speaker's segment (0 when they touch).
            gap = np.maximum(np.maximum(seg[:, 0] - e, s - seg[:, 1]), 0)
            gap = np.where(others, gap, np.iinfo(np.int64).max)
            j = int(np.argmin(gap))
            if gap[j] <= max_distance:
                out.append((s, e, int(seg[j, 2])))
    return out
