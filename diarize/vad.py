"""Speech activity detection: waveform -> frame speech probabilities -> speech regions.

The signal is never trimmed: :func:`detect_speech` returns half-open ``[start, end)`` sample
ranges into the caller's waveform, and :func:`speech_probability` one probability per frame.

Methods (``VADConfig.method``)

``"silero"``
    The Silero VAD network (STFT, four conv blocks, one LSTM cell; MIT licence) as the ONNX file
    ``silero_vad_16k_sequence.onnx`` that the ``silero-vad`` wheel ships, copied into models/
    (that package depends on torch; nothing is downloaded), run with ONNX Runtime. The package
    runs the network 32 ms at a time; this layout of it runs the convolutional part, which only
    ever sees one 576-sample frame, batched over a whole chunk and the LSTM along the frames, in
    one call per chunk: the package's own probabilities (to ~1e-5), several times faster.
``"spectral"``
    Long-term spectral divergence (LTSD; Ramirez et al., 2004, "Efficient voice activity
    detection algorithms using long-term speech information") over 24 log-spaced bands against
    an adaptive per-band noise floor, with a threshold that adapts to the recording's own LTSD
    range, combined with harmonicity (the normalised autocorrelation peak in the 50-400 Hz
    pitch range). No dependency beyond numpy/scipy.
``"energy"``
    Frame log-energy against an adaptive noise floor and speech level (percentiles over the
    surrounding 30 s); speech starts 70 % of the way from the one to the other. The simplest
    baseline.
``"webrtc"``
    The WebRTC GMM detector (``webrtcvad`` module, from ``webrtcvad-wheels``), aggressiveness 3,
    30 ms frames; its decisions are 0/1 "probabilities".

Frame geometry: frame ``i`` stands for samples ``[i * step, (i + 1) * step)`` (``step`` in
seconds, see :data:`FRAME_STEP`: 10 ms for energy/spectral, 30 ms for webrtc, 32 ms for silero).

Regions from probabilities (:func:`binarize`): hysteresis (a run starts above ``threshold`` and
ends below ``threshold - hysteresis``), then pauses shorter than ``min_silence`` are bridged,
then runs shorter than ``min_speech`` are dropped, then each region is padded by ``pad`` on both
sides (clipped to the signal) and overlapping regions are merged.

The pipeline then takes out of its (padded) output regions what sits at the recording's own
level floor (:func:`level_floor_mask`, :func:`gate_regions`; ``VADConfig.floor_db`` and
``floor_quantile``): frames whose level, averaged over 0.3 s, is within ``floor_db`` of the
level the quietest ``floor_quantile`` of the recording stays under, unless the recording has
no steady background (its 5 % quantile more than 6 dB above its 0.5 %). Noise the detector
calls speech (babble, steady coloured noise between the turns) sits at that floor. With
``VADConfig.pad_floor_db`` the padding alone is held to a stricter rule
(:func:`padding_floor_mask`): it keeps only frames whose level, averaged over 50 ms, is more
than ``pad_floor_db`` above that floor, whether or not the background is steady.

Within one call, long inputs are processed ``VADConfig.chunk`` seconds at a time, and the
result does not depend on the chunk length: the frame features of one chunk see the samples
they need from its neighbours, the Silero LSTM state is carried across chunks, and the adaptive
noise floors are computed from the (small) frame-level features of the whole input. The
pipeline itself (:func:`diarize.embed.speech_regions`) calls the detector on pieces of
``VADConfig.chunk`` seconds with 5 s of context on both sides, so that a multi-hour int16
recording is never converted to float32 whole; there each piece starts afresh.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from diarize.audio import resample
from diarize.config import VADConfig
from diarize.errors import ConfigError, ModelError
from diarize.features import moving_average
from diarize.filters import StreamingFilter
from diarize.types import Regions

logger = logging.getLogger(__name__)

METHODS = ("silero", "spectral", "energy", "webrtc")

#: seconds per probability frame, for each method
FRAME_STEP = {"silero": 0.032, "spectral": 0.010, "energy": 0.010, "webrtc": 0.030}

_SILERO_RATE = 16000


class SpeechProbability(NamedTuple):
    """Frame-level speech posteriors.

    Attributes
    ----------
    step : float
        Seconds per frame; frame ``i`` covers ``[i * step, (i + 1) * step)``.
    probs : (num_frames,) np.ndarray, float32 in [0, 1]
        ``num_frames = ceil(duration / step)``; the last frame may reach past the signal.
    """

    step: float
    probs: np.ndarray

    @property
    def times(self) -> np.ndarray:
        """(num_frames,) frame centres in seconds."""
        return (np.arange(len(self.probs)) + 0.5) * self.step


def speech_probability(
    waveform: np.ndarray, config: VADConfig, sample_rate: int = 16000
) -> SpeechProbability:
    """Frame-level speech probabilities of a mono waveform.

    Parameters
    ----------
    waveform : (num_samples,) np.ndarray
        Mono audio, float in about [-1, 1] or 16-bit PCM (int16); it is not modified, and only
        one chunk at a time is converted to float32.
    config : VADConfig
        ``method`` picks the detector, ``chunk`` bounds the memory used at once.
    sample_rate : int
        Rate of ``waveform`` in Hz.

    Returns
    -------
    SpeechProbability
        ``(step, probs)`` with ``step`` in seconds (:data:`FRAME_STEP`).
    """
    waveform = _check_waveform(waveform)
    if config.method not in METHODS:
        raise ConfigError(f"unknown VAD method {config.method!r}; known: {', '.join(METHODS)}")
    if not config.chunk > 0:
        raise ConfigError(f"[vad] chunk must be positive, got {config.chunk}")
    if config.method == "silero":
        if config.lowpass_hz >= _SILERO_RATE / 2:
            raise ConfigError(
                f"[vad] lowpass_hz must be below {_SILERO_RATE // 2}, got {config.lowpass_hz}"
            )
        if sample_rate != _SILERO_RATE:  # once, for both listens
            waveform = resample(_to_float(waveform), sample_rate, _SILERO_RATE)
        probs = _silero_probs(waveform, config.chunk, config.input_gain_db)
        if config.lowpass_hz > 0:
            low = _silero_probs(waveform, config.chunk, config.input_gain_db, config.lowpass_hz)
            if config.lowpass_gate_db > 0:
                level = _band_levels(waveform, config.lowpass_hz, config.chunk)[: len(low)]
                floor = np.quantile(level, LOWPASS_GATE_QUANTILE)
                low = np.where(level <= floor + config.lowpass_gate_db, low, probs)
            probs = np.maximum(probs, low)
    elif config.method == "webrtc":
        probs = _webrtc_probs(waveform, sample_rate, config.chunk)
    elif config.method == "energy":
        probs = _energy_probs(waveform, sample_rate, config.chunk)
    else:
        probs = _spectral_probs(waveform, sample_rate, config.chunk)
    return SpeechProbability(FRAME_STEP[config.method], probs.astype(np.float32, copy=False))


def detect_speech(waveform: np.ndarray, config: VADConfig, sample_rate: int = 16000) -> Regions:
    """Speech regions of a mono waveform.

    Parameters
    ----------
    waveform : (num_samples,) np.ndarray
        Mono audio, float or int16 (as for :func:`speech_probability`); it is neither
        trimmed nor modified.
    config : VADConfig
    sample_rate : int
        Rate of ``waveform`` in Hz.

    Returns
    -------
    regions : (num_regions, 2) np.ndarray, int64
        Sorted, non-overlapping, half-open ``[start, end)`` sample indices into ``waveform``;
        shape (0, 2) when nothing is speech.
    """
    waveform = _check_waveform(waveform)
    if len(waveform) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    step, probs = speech_probability(waveform, config, sample_rate)
    return binarize(probs, step, len(waveform), config, sample_rate)


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n,) bool -> the start and end indices (end exclusive) of each run of True, as two
    (num_runs,) int64 arrays."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def binarize(
    probs: np.ndarray,
    step: float,
    num_samples: int,
    config: VADConfig,
    sample_rate: int = 16000,
) -> Regions:
    """Frame probabilities -> regions (hysteresis, bridging, dropping, padding; module doc).

    Parameters
    ----------
    probs : (num_frames,) np.ndarray
        Frame ``i`` covers ``[i * step, (i + 1) * step)`` seconds.
    step : float
        Seconds per frame.
    num_samples : int
        Length of the signal; regions are clipped to ``[0, num_samples)``.

    Returns
    -------
    regions : (num_regions, 2) np.ndarray, int64
    """
    _check_postprocessing(config)
    onset = config.threshold
    offset = config.threshold - config.hysteresis
    probs = np.asarray(probs, dtype=np.float64)
    active = _hysteresis(probs, onset, offset)
    # Run boundaries in frames, then in seconds.
    first, last = mask_runs(active)
    starts, ends = first * step, last * step
    duration = num_samples / sample_rate
    ends = np.minimum(ends, duration)
    if len(starts):
        # Bridge short pauses first, so that a word split by a short pause is not dropped.
        gaps = starts[1:] - ends[:-1]
        keep = np.concatenate([[True], gaps >= config.min_silence])
        starts = starts[keep]
        ends = ends[np.concatenate([keep[1:], [True]])]
        long_enough = (ends - starts) >= config.min_speech
        starts, ends = starts[long_enough], ends[long_enough]
    regions = np.stack(
        [np.round(starts * sample_rate), np.round(ends * sample_rate)], axis=1
    ).astype(np.int64)
    return pad_regions(regions, config.pad, num_samples, sample_rate)


#: level floor gate (:func:`level_floor_mask`): 10-ms frames, levels averaged over 0.3 s
FLOOR_HOP = 0.01
FLOOR_SMOOTH = 0.3
FLOOR_MIN_PIECE = 0.1
#: padding gate (:func:`padding_floor_mask`): levels averaged over 50 ms
PAD_SMOOTH = 0.05
#: the recording must have a steady background: when its 5 % quantile of the averaged
#: levels is more than 6 dB above its 0.5 % quantile, there is no stretch of background to
#: speak of (talk without pauses; the quietest frames are dips between words) and nothing
#: is gated
FLOOR_STEADY_QUANTILES = (0.005, 0.05)
FLOOR_STEADY_DB = 6.0


def frame_levels(
    signal: np.ndarray, hop: int, chunk: int = 960_000, floor: float = 1e-10
) -> np.ndarray:
    """(ceil(len / hop),) mean-square level in dB of each ``hop``-sample frame of a float or
    int16 signal (full scale 1 or 32768; the last frame zero-padded), about ``chunk``
    samples converted at a time; ``floor`` is added to each mean square (-100 dB)."""
    num_frames = -(-len(signal) // hop)
    out = np.empty(num_frames)
    for first, last in _chunks(num_frames, max(1, chunk // hop)):
        frames = _frames(signal, first, last, hop, hop).astype(np.float64)
        out[first:last] = 10.0 * np.log10(np.mean(frames**2, axis=1) + floor)
    return out


def level_floor_mask(
    signal: np.ndarray,
    floor_db: float,
    sample_rate: int = 16000,
    quantile: float = 0.005,
    block: float = 0.0,
    levels: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Frames louder than the recording's own floor: (num_frames,) bool and the frame hop in
    samples.

    The level of each 10-ms frame, averaged (in dB) over 0.3 s, is compared with the
    ``quantile`` of those averages (the floor: the level the quietest stretches stay under,
    the background when there are pauses); frames more than ``floor_db`` above it are True.
    The floor is local: frames in one block of ``block`` seconds are compared with the floor
    of that block and half a block either side (a long recording's rooms and levels change;
    0 = one floor for the recording). A block without a steady background
    (:data:`FLOOR_STEADY_DB`) keeps all its frames. ``levels``: the frame levels of
    :func:`floor_levels`, when the caller already has them.
    """
    hop, levels = floor_levels(signal, sample_rate, levels)
    n = len(levels)
    if n == 0:
        return np.zeros(0, dtype=bool), hop
    smooth = _smooth_levels(levels, FLOOR_SMOOTH)
    size = max(0, int(round(block / FLOOR_HOP))) or n  # 0: one block
    keep = np.ones(n, dtype=bool)
    for b0 in range(0, n, size):
        around = smooth[max(0, b0 - size // 2) : min(n, b0 + size + size // 2)]
        lowest, steady, floor = np.quantile(around, [*FLOOR_STEADY_QUANTILES, quantile])
        if steady - lowest <= FLOOR_STEADY_DB:
            keep[b0 : b0 + size] = smooth[b0 : b0 + size] > floor + floor_db
    return keep, hop


def floor_levels(
    signal: np.ndarray, sample_rate: int, levels: np.ndarray | None = None
) -> tuple[int, np.ndarray]:
    """The frame hop (samples) and level (dB) of each 10-ms frame of ``signal``, what both
    level gates read (``levels``, when given, is taken as those levels)."""
    hop = max(1, int(round(FLOOR_HOP * sample_rate)))
    return hop, frame_levels(signal, hop) if levels is None else levels


def _smooth_levels(levels: np.ndarray, seconds: float) -> np.ndarray:
    return moving_average(levels[:, None], max(1, int(round(seconds / FLOOR_HOP))))[:, 0]


def padding_floor_mask(
    signal: np.ndarray,
    speech: Regions,
    margin_db: float,
    sample_rate: int = 16000,
    quantile: float = 0.005,
    levels: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Frames that padding may cover: (num_frames,) bool and the frame hop in samples.

    True inside ``speech`` (the detector's own regions, samples) and wherever the level of
    the 10-ms frames, averaged over :data:`PAD_SMOOTH` seconds, is more than ``margin_db``
    above the recording's floor (the ``quantile`` of the levels averaged over 0.3 s, as in
    :func:`level_floor_mask`; one floor for the recording): padding keeps the soft onsets
    and word ends it is there for, and not the silence of a pause around them. ``levels``:
    as in :func:`level_floor_mask`.
    """
    hop, levels = floor_levels(signal, sample_rate, levels)
    if len(levels) == 0:
        return np.zeros(0, dtype=bool), hop
    floor = np.quantile(_smooth_levels(levels, FLOOR_SMOOTH), quantile)
    keep = _smooth_levels(levels, PAD_SMOOTH) > floor + margin_db
    for start, end in np.asarray(speech, dtype=np.int64).reshape(-1, 2):
        keep[start // hop : -(-end // hop)] = True
    return keep, hop


def gate_regions(
    regions: Regions, keep: np.ndarray, hop: int, min_piece: int, num_samples: int
) -> Regions:
    """The parts of ``regions`` (samples) where ``keep`` (one flag per ``hop`` samples) is
    True, pieces shorter than ``min_piece`` samples dropped."""
    regions = np.asarray(regions, dtype=np.int64).reshape(-1, 2)
    if len(regions) == 0:
        return regions
    starts, ends = mask_runs(keep)
    runs = np.stack([starts * hop, np.minimum(ends * hop, num_samples)], axis=1)
    out = []
    for a, b in regions:
        i, j = np.searchsorted(runs[:, 1], a, side="right"), np.searchsorted(runs[:, 0], b)
        for s, e in runs[i:j]:
            s, e = max(s, a), min(e, b)
            if e - s >= max(min_piece, 1):
                out.append((s, e))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def pad_regions(
    regions: Regions, pad: float, num_samples: int, sample_rate: int = 16000
) -> Regions:
    """Widen sorted regions by ``pad`` seconds on both sides, clip them to the signal
    ``[0, num_samples)`` and merge those that then touch or overlap."""
    if pad < 0:
        raise ValueError(f"pad must be >= 0 seconds, got {pad}")
    widen = int(round(pad * sample_rate))
    regions = np.asarray(regions, dtype=np.int64).reshape(-1, 2) + np.array([-widen, widen])
    regions = np.clip(regions, 0, num_samples)
    return merge_regions(regions[regions[:, 1] > regions[:, 0]])


def _check_waveform(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float or int16 array, not copied: each chunk is converted when it is analysed."""
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"expected a mono (num_samples,) waveform, got shape {waveform.shape}")
    if waveform.dtype != np.int16 and not np.issubdtype(waveform.dtype, np.floating):
        raise ValueError(f"expected float or int16 samples, got {waveform.dtype}")
    return waveform


def _to_float(samples: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] from float or 16-bit PCM samples."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) * np.float32(1.0 / 32768.0)
    return samples.astype(np.float32, copy=False)


def _check_postprocessing(config: VADConfig) -> None:
    if not 0.0 <= config.hysteresis <= config.threshold:
        raise ConfigError(
            f"[vad] hysteresis must be in [0, threshold={config.threshold}], "
            f"got {config.hysteresis}"
        )
    for name in ("min_speech", "min_silence", "pad"):
        if getattr(config, name) < 0:
            raise ConfigError(f"[vad] {name} must be >= 0 seconds, got {getattr(config, name)}")


def _hysteresis(probs: np.ndarray, onset: float, offset: float) -> np.ndarray:
    """(num_frames,) bool: on from the first frame above ``onset`` until one below ``offset``."""
    rising = probs > onset
    falling = probs < offset
    decided = rising | falling
    # The state of a frame is the decision of the last frame that made one (off at the start).
    last = np.maximum.accumulate(np.where(decided, np.arange(len(probs)), -1))
    return np.where(last >= 0, rising[np.maximum(last, 0)], False)


def merge_regions(regions: np.ndarray) -> np.ndarray:
    """Merge touching/overlapping regions sorted by start."""
    if len(regions) < 2:
        return regions.reshape(-1, 2)
    new = np.concatenate([[True], regions[1:, 0] > np.maximum.accumulate(regions[:-1, 1])])
    group = np.cumsum(new) - 1
    out = np.zeros((group[-1] + 1, 2), dtype=np.int64)
    out[:, 0] = regions[new, 0]
    np.maximum.at(out[:, 1], group, regions[:, 1])
    return out


# --------------------------------------------------------------------------- framing


def _frames(waveform: np.ndarray, first: int, last: int, hop: int, win: int) -> np.ndarray:
    """(last - first, win) windows centred on frames ``first..last-1`` (zeros outside)."""
    # Frame i is centred on the middle of [i * hop, (i + 1) * hop).
    begin = first * hop + hop // 2 - win // 2
    end = (last - 1) * hop + hop // 2 - win // 2 + win
    segment = np.zeros(end - begin, dtype=np.float32)
    lo, hi = max(begin, 0), min(end, len(waveform))
    if hi > lo:
        segment[lo - begin : hi - begin] = _to_float(waveform[lo:hi])
    return np.lib.stride_tricks.sliding_window_view(segment, win)[::hop]


def _chunks(num_frames: int, frames_per_chunk: int):
    for first in range(0, num_frames, frames_per_chunk):
        yield first, min(first + frames_per_chunk, num_frames)


def _frames_per_chunk(chunk: float, step: float) -> int:
    return max(1, int(round(chunk / step)))


# --------------------------------------------------------------------------- adaptive floors

# The noise floor of a frame is a low percentile of the feature over the ~30 s around it:
# low enough to sit in the pauses even when they are rare, local enough to follow a
# recording whose level drifts. It is computed in 1-s blocks to stay cheap on hours of audio.
# The speech level (energy, and the LTSD of the spectral method) is a high percentile taken
# the same way.
_LEVEL_BLOCK = 1.0  # seconds
_LEVEL_SPAN = 31  # blocks in the sliding window
_FLOOR_QUANTILES = (10.0, 20.0)  # percent: within each block, then over the blocks
_SPEECH_QUANTILES = (95.0, 80.0)


def _adaptive_level(
    values: np.ndarray, step: float, quantiles: tuple[float, float] = _FLOOR_QUANTILES
) -> np.ndarray:
    """values (num_frames, num_features) -> per-frame running level, same shape."""
    num_frames = len(values)
    if num_frames == 0:
        return values.copy()
    per_block = max(1, int(round(_LEVEL_BLOCK / step)))
    num_blocks = -(-num_frames // per_block)
    # A short last block is filled up with its own last frame.
    padded = np.concatenate(
        [values, np.repeat(values[-1:], num_blocks * per_block - num_frames, axis=0)]
    )
    from scipy.ndimage import percentile_filter

    blocks = np.percentile(padded.reshape(num_blocks, per_block, -1), quantiles[0], axis=1)
    span = min(_LEVEL_SPAN, 2 * num_blocks - 1)
    level = percentile_filter(blocks, quantiles[1], size=(span, 1), mode="reflect")
    return np.repeat(level, per_block, axis=0)[:num_frames]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# --------------------------------------------------------------------------- energy

_ENERGY_WIN = 0.025  # seconds
# Speech starts at a fraction of the way from the noise floor to the speech level, so the
# margin follows the signal-to-noise ratio, but never less than a few dB.
_ENERGY_FRACTION = 0.7
_ENERGY_MIN_MARGIN = 6.0  # dB
_ENERGY_SLOPE = 3.0  # dB per unit of logit
_ABSOLUTE_SILENCE = -80.0  # dBFS; nothing below this level is speech, whatever the floor


def _frame_log_energy(waveform: np.ndarray, sample_rate: int, chunk: float) -> np.ndarray:
    hop = int(round(FRAME_STEP["energy"] * sample_rate))
    win = int(round(_ENERGY_WIN * sample_rate))
    num_frames = -(-len(waveform) // hop)
    out = np.empty(num_frames)
    for first, last in _chunks(num_frames, _frames_per_chunk(chunk, FRAME_STEP["energy"])):
        frames = _frames(waveform, first, last, hop, win).astype(np.float64)
        out[first:last] = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return out


def _energy_probs(waveform: np.ndarray, sample_rate: int, chunk: float) -> np.ndarray:
    energy = _frame_log_energy(waveform, sample_rate, chunk)
    step = FRAME_STEP["energy"]
    floor = np.maximum(_adaptive_level(energy[:, None], step)[:, 0], _ABSOLUTE_SILENCE)
    speech = _adaptive_level(energy[:, None], step, _SPEECH_QUANTILES)[:, 0]
    margin = np.maximum(_ENERGY_FRACTION * (speech - floor), _ENERGY_MIN_MARGIN)
    return _sigmoid((energy - floor - margin) / _ENERGY_SLOPE)


# --------------------------------------------------------------------------- spectral

_SPECTRAL_WIN = 0.032  # seconds (512 samples at 16 kHz)
_SPECTRAL_BANDS = 24  # log-spaced bands between the edges below
_SPECTRAL_FMIN = 100.0  # Hz
_SPECTRAL_FMAX = 7000.0  # Hz
_LTSD_ORDER = 6  # frames either side over which the long-term spectral envelope is taken
_PITCH_MIN, _PITCH_MAX = 50.0, 400.0  # Hz
# logit = a * (LTSD - b) + c * (harmonicity - d), with a and c from a logistic fit of the two
# features to the speech/non-speech frames of 6 min of AMI meetings. The LTSD centre b follows
# the recording: a fraction of the way from its LTSD floor to its LTSD speech level (both
# running percentiles, as for the energy method), at least a few dB above the floor. A fixed
# centre fitted to those meetings (35 dB) lost half the speech at 0-20 dB SNR.
_LTSD_SCALE = 0.15  # 1 / dB
_LTSD_FRACTION = 0.8
_LTSD_MIN_MARGIN = 10.0  # dB
_HARMONICITY_SCALE, _HARMONICITY_CENTRE = 3.3, 0.35


def _band_matrix(n_fft: int, sample_rate: int) -> np.ndarray:
    """(n_fft // 2 + 1, num_bands) 0/1 matrix summing FFT bins into log-spaced bands."""
    fmax = min(_SPECTRAL_FMAX, 0.48 * sample_rate)
    edges = np.geomspace(_SPECTRAL_FMIN, fmax, _SPECTRAL_BANDS + 1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    band = np.searchsorted(edges, freqs, side="right") - 1
    matrix = np.zeros((len(freqs), _SPECTRAL_BANDS), dtype=np.float32)
    inside = (band >= 0) & (band < _SPECTRAL_BANDS)
    matrix[np.flatnonzero(inside), band[inside]] = 1.0
    # Narrow low bands may hold no bin: give each the nearest bin.
    for b in np.flatnonzero(matrix.sum(axis=0) == 0):
        centre = np.sqrt(edges[b] * edges[b + 1])
        matrix[np.argmin(np.abs(freqs - centre)), b] = 1.0
    return matrix


def _spectral_features(
    waveform: np.ndarray, sample_rate: int, chunk: float
) -> tuple[np.ndarray, np.ndarray]:
    """Band log-powers in dB (num_frames, num_bands) and harmonicity in [0, 1] (num_frames,)."""
    import scipy.fft

    hop = int(round(FRAME_STEP["spectral"] * sample_rate))
    win = int(round(_SPECTRAL_WIN * sample_rate))
    n_fft = 1 << (2 * win - 1).bit_length()  # zero padding: the autocorrelation is linear
    window = np.hanning(win).astype(np.float32)
    bands = _band_matrix(n_fft, sample_rate)
    # The autocorrelation is taken of the signal low-passed to a quarter of the sample rate and
    # sampled at half of it (the first quarter of the bins, inverse-transformed at half
    # length): pitch needs no more, and the inverse transform costs half as much.
    half = n_fft // 2
    lag_min = int(sample_rate / 2 / _PITCH_MAX)
    lag_max = int(sample_rate / 2 / _PITCH_MIN)
    num_frames = -(-len(waveform) // hop)
    log_power = np.empty((num_frames, _SPECTRAL_BANDS), dtype=np.float32)
    harmonicity = np.empty(num_frames, dtype=np.float32)
    for first, last in _chunks(num_frames, _frames_per_chunk(chunk, FRAME_STEP["spectral"])):
        frames = _frames(waveform, first, last, hop, win)
        frames = (frames - frames.mean(axis=1, keepdims=True)) * window
        spectrum = scipy.fft.rfft(frames, n=n_fft, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        log_power[first:last] = 10.0 * np.log10(power @ bands + 1e-10)
        # Harmonicity: the highest normalised autocorrelation (Wiener-Khinchin) at a pitch lag.
        acf = scipy.fft.irfft(power[:, : half // 2 + 1], n=half, axis=1)[:, : lag_max + 1]
        peak = acf[:, lag_min:].max(axis=1) / np.maximum(acf[:, 0], 1e-10)
        harmonicity[first:last] = peak.clip(0.0, 1.0)
    return log_power, harmonicity


def _spectral_probs(waveform: np.ndarray, sample_rate: int, chunk: float) -> np.ndarray:
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    log_power, harmonicity = _spectral_features(waveform, sample_rate, chunk)
    step = FRAME_STEP["spectral"]
    noise = _adaptive_level(log_power, step)
    # Long-term spectral envelope: per band, the largest power within +-_LTSD_ORDER frames;
    # its divergence from the noise floor, averaged over bands in dB.
    span = 2 * _LTSD_ORDER + 1
    envelope = maximum_filter1d(log_power, span, axis=0, mode="nearest")
    ltsd = np.mean(np.maximum(envelope - noise, 0.0), axis=1)
    voicing = uniform_filter1d(harmonicity, span, mode="nearest")
    floor = _adaptive_level(ltsd[:, None], step)[:, 0]
    level = _adaptive_level(ltsd[:, None], step, _SPEECH_QUANTILES)[:, 0]
    centre = floor + np.maximum(_LTSD_FRACTION * (level - floor), _LTSD_MIN_MARGIN)
    logit = _LTSD_SCALE * (ltsd - centre) + _HARMONICITY_SCALE * (voicing - _HARMONICITY_CENTRE)
    probs = _sigmoid(logit)
    loudness = 10.0 * np.log10(np.mean(10.0 ** (log_power / 10.0), axis=1))
    probs[loudness < _ABSOLUTE_SILENCE] = 0.0
    return probs


# --------------------------------------------------------------------------- webrtc

_WEBRTC_MODE = 3  # aggressiveness 0..3


def _webrtc_probs(
    waveform: np.ndarray, sample_rate: int, chunk: float, mode: int = _WEBRTC_MODE
) -> np.ndarray:
    try:
        import webrtcvad
    except ImportError:
        raise ConfigError(
            "VAD method 'webrtc' needs the webrtcvad module: pip install webrtcvad-wheels"
        ) from None
    if sample_rate not in (8000, 16000, 32000, 48000):
        waveform = resample(_to_float(waveform), sample_rate, 16000)
        sample_rate = 16000
    hop = int(round(FRAME_STEP["webrtc"] * sample_rate))
    num_frames = -(-len(waveform) // hop)
    vad = webrtcvad.Vad(mode)
    probs = np.empty(num_frames, dtype=np.float32)
    for first, last in _chunks(num_frames, _frames_per_chunk(chunk, FRAME_STEP["webrtc"])):
        pcm = np.zeros((last - first) * hop, dtype=np.int16)
        piece = waveform[first * hop : last * hop]
        if piece.dtype == np.int16:
            pcm[: len(piece)] = piece
        else:
            pcm[: len(piece)] = np.round(np.clip(piece, -1.0, 32767 / 32768) * 32768)
        data, size = pcm.tobytes(), 2 * hop
        probs[first:last] = [
            vad.is_speech(data[i * size : (i + 1) * size], sample_rate) for i in range(last - first)
        ]
    return probs


# --------------------------------------------------------------------------- silero

_SILERO_HOP = 512  # samples per probability at 16 kHz
_SILERO_CONTEXT = 64  # samples of the previous frame that the network also sees
#: Quantile of a recording's 32-ms levels above ``[vad] lowpass_hz`` taken as the level of
#: its background there, for ``[vad] lowpass_gate_db``.
LOWPASS_GATE_QUANTILE = 0.1
_SILERO_STATE = 128  # LSTM state size
_SILERO_MAX_FRAMES = 1024  # frames per call of the network
#: The Silero VAD 16 kHz network in the layout that runs a whole sequence of frames at once
#: (``silero_vad_16k_sequence.onnx`` of the silero-vad 6.2.3 wheel, MIT licence; copied into
#: models/ with its licence, sha256 in models/README.md).
SILERO_MODEL = "silero_vad_16k_sequence.onnx"
_SILERO_INPUTS = {
    "input": [None, _SILERO_HOP + _SILERO_CONTEXT],
    "h": [1, 1, _SILERO_STATE],
    "c": [1, 1, _SILERO_STATE],
}

_silero_lock = threading.Lock()
_silero_cache: dict[str, object] = {}


def silero_model_path() -> Path:
    """Path of the Silero VAD ONNX file shipped in models/."""
    from diarize.encoder import MODELS_DIR

    path = MODELS_DIR / SILERO_MODEL
    if not path.is_file():
        raise ModelError(
            f"{path}: the Silero VAD model is missing from models/; "
            'restore it, or choose [vad] method = "spectral" or "energy"'
        )
    return path


def _silero_session():
    """The ONNX Runtime session of the Silero network, loaded once per process, on one
    thread: the network is too small to gain from intra-op threads, and when other processes
    keep the cores busy, threads waiting on each other make it many times slower."""
    with _silero_lock:
        if "session" not in _silero_cache:
            from diarize.encoder import onnx_session

            path = silero_model_path()
            session = onnx_session(path, num_threads=1)
            shapes = {
                i.name: [d if isinstance(d, int) else None for d in i.shape]
                for i in session.get_inputs()
            }
            if shapes != _SILERO_INPUTS:
                raise ModelError(
                    f"{path}: not the Silero sequence network diarize expects (inputs {shapes})"
                )
            _silero_cache["session"] = session
            logger.debug("loaded Silero VAD from %s", path)
        return _silero_cache["session"]


def _silero_frames_per_call(chunk: float) -> int:
    """32-ms frames worked on at once: ``chunk`` seconds, but at most ~33 s whatever the
    chunk (the network's intermediate arrays grow with the frames of a call, tens of MB for
    300 s, and its LSTM state carries over anyway)."""
    return min(_frames_per_chunk(chunk, FRAME_STEP["silero"]), _SILERO_MAX_FRAMES)


class _ChunkedFilter:
    """A 6th-order Butterworth filter (``btype`` "lowpass" or "highpass") run over a signal
    chunk by chunk, in order: :meth:`through` filters the samples not filtered yet, up to
    ``end``, and returns them after the last ``keep`` filtered samples before them (zeros
    before the signal), as one float32 array (:class:`diarize.filters.StreamingFilter`)."""

    def __init__(self, cutoff_hz: float, sample_rate: int, keep: int, btype: str = "lowpass"):
        self.filter = StreamingFilter(6, cutoff_hz, btype, sample_rate)
        self.sos = self.filter.sos
        self.tail = np.zeros(keep, dtype=np.float32)
        self.done = 0

    def through(self, waveform: np.ndarray, end: int) -> np.ndarray:
        new = self.filter(_to_float(waveform[self.done : end]))
        out = np.concatenate([self.tail, new.astype(np.float32)])
        self.tail = out[len(out) - len(self.tail) :]
        self.done = max(self.done, end)
        return out


def _band_levels(waveform: np.ndarray, cutoff_hz: float, chunk: float) -> np.ndarray:
    """Level in dB of what lies above ``cutoff_hz`` (a 6th-order Butterworth high-pass, its
    state carried from chunk to chunk) in each 32-ms frame of a 16 kHz signal: one value per
    Silero probability, frame ``i`` the samples ``512 i`` to ``512 (i + 1)`` (zeros past the
    end). The mean square of a full-scale sine is -3 dB."""
    highpass = _ChunkedFilter(cutoff_hz, _SILERO_RATE, 0, "highpass")
    num_frames = -(-len(waveform) // _SILERO_HOP)
    levels = np.empty(num_frames, dtype=np.float32)
    per_call = _silero_frames_per_call(chunk)
    for first, last in _chunks(num_frames, per_call):
        filtered = highpass.through(waveform, min(last * _SILERO_HOP, len(waveform)))
        # floor -120 dB: resampled telephone audio leaves only leakage of -80 to -115 dB here
        levels[first:last] = frame_levels(filtered, _SILERO_HOP, floor=1e-12)
    return levels


def _silero_probs(
    waveform: np.ndarray, chunk: float, gain_db: float = 0.0, lowpass_hz: float = 0.0
) -> np.ndarray:
    """One probability per 512 samples of a 16 kHz signal (32 ms), the package's own framing.

    Frame ``i`` is the network's input of the package's 32-ms loop: the 64 samples before it
    and its own 512 (zeros outside the signal). The network's convolutions see one frame at a
    time and its LSTM runs along the frames, so a chunk of frames is one call, the LSTM state
    carried from chunk to chunk: the package's probabilities to ~1e-5. With ``lowpass_hz``,
    of the signal through a 6th-order Butterworth low-pass (causal, its state carried from
    chunk to chunk like the LSTM's, so the chunking changes nothing).
    """
    lowpass = _ChunkedFilter(lowpass_hz, _SILERO_RATE, _SILERO_CONTEXT) if lowpass_hz else None
    session = _silero_session()
    gain = np.float32(10.0 ** (gain_db / 20.0))
    num_frames = -(-len(waveform) // _SILERO_HOP)
    probs = np.empty(num_frames, dtype=np.float32)
    h = np.zeros((1, 1, _SILERO_STATE), dtype=np.float32)
    c = np.zeros((1, 1, _SILERO_STATE), dtype=np.float32)
    width = _SILERO_HOP + _SILERO_CONTEXT
    per_call = _silero_frames_per_call(chunk)
    for first, last in _chunks(num_frames, per_call):
        begin = first * _SILERO_HOP - _SILERO_CONTEXT
        segment = np.zeros((last - first) * _SILERO_HOP + _SILERO_CONTEXT, dtype=np.float32)
        lo, hi = max(begin, 0), min(last * _SILERO_HOP, len(waveform))
        if lowpass is None:
            segment[lo - begin : hi - begin] = _to_float(waveform[lo:hi])
        else:
            filtered = lowpass.through(waveform, hi)  # samples begin .. hi
            segment[: len(filtered)] = filtered
        if gain_db:
            segment *= gain
        frames = np.lib.stride_tricks.sliding_window_view(segment, width)[::_SILERO_HOP]
        out, h, c = session.run(None, {"input": np.ascontiguousarray(frames), "h": h, "c": c})
        probs[first:last] = out
    return probs
