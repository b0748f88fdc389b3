"""Audio input: any common file -> mono float32 waveform at the model rate.

wav/flac/ogg/mp3 are read with soundfile; anything else (m4a, mp4, webm, ...) with PyAV, which
the ``media`` extra installs.
Multi-channel audio is averaged to mono; other rates are resampled (windowed sinc, numpy).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from diarize.errors import AudioError, MissingExtraError
from diarize.types import Waveform

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au"}
AUDIO_SUFFIXES = _SOUNDFILE_SUFFIXES | {".m4a", ".mp4", ".webm", ".mkv", ".aac", ".wma", ".mov"}


def to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Seconds -> sample index (rounded to the nearest sample)."""
    return int(round(seconds * sample_rate))


def to_seconds(num_samples: int | float, sample_rate: int = SAMPLE_RATE) -> float:
    """Sample index -> seconds."""
    return float(num_samples) / sample_rate


def _mono(data: np.ndarray) -> np.ndarray:
    """(num_samples, num_channels) or (num_samples,) -> (num_samples,) float32."""
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.ascontiguousarray(data, dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _sinc_kernel(orig: int, new: int, width_zeros: int = 6, rolloff: float = 0.99):
    """(new, orig + 2 * width) float32 polyphase kernel and ``width``: windowed-sinc
    interpolation as torchaudio's ``resample`` builds it (``sinc_interp_hann``, 6 zero
    crossings, roll-off 0.99), for rates already divided by their gcd."""
    base = min(orig, new) * rolloff
    width = math.ceil(width_zeros * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    # torchaudio takes the output phases in float32 before adding them to the float64 grid
    phase = np.arange(0, -new, -1, dtype=np.float32)[:, None] / np.float32(new)
    t = (phase.astype(np.float64) + idx) * base
    t = np.clip(t, -width_zeros, width_zeros)
    window = np.cos(t * math.pi / width_zeros / 2) ** 2
    t *= math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    kernel *= window * (base / orig)
    return kernel.astype(np.float32), width


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int) -> Waveform:
    """Band-limited resampling of a mono float32 waveform: windowed-sinc interpolation, the
    algorithm and filter of torchaudio's ``resample`` (which it matches to float32 rounding),
    in numpy. ``ceil(len * new_rate / orig_rate)`` samples come out."""
    if orig_rate == new_rate:
        return np.ascontiguousarray(waveform, dtype=np.float32)
    gcd = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // gcd, int(new_rate) // gcd
    kernel, width = _sinc_kernel(orig, new)
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    length = len(x)
    target = math.ceil(new * length / orig)
    out = np.empty(target, dtype=np.float32)
    if target == 0:
        return out
    padded = np.concatenate([np.zeros(width, np.float32), x, np.zeros(width + orig, np.float32)])
    taps = kernel.shape[1]
    num_blocks = -(-target // new)
    # Output block j (new samples) is the kernel applied to the input from sample j * orig.
    if taps < 64:
        # Few taps (small integer ratios such as 8 -> 16 kHz): one pass per tap beats a
        # matrix product with a tiny inner dimension.
        res = np.empty((num_blocks, new), dtype=np.float32)
        span = num_blocks * orig
        for phase in range(new):
            acc = padded[0:span:orig] * kernel[phase, 0]
            for j in range(1, taps):
                acc += padded[j : j + span : orig] * kernel[phase, j]
            res[:, phase] = acc
        out[:] = res.reshape(-1)[:target]
        return out
    blocks = np.lib.stride_tricks.sliding_window_view(padded, taps)[::orig]
    step = max(1, (1 << 22) // taps)  # about 16 MB of input frames at a time
    for b0 in range(0, num_blocks, step):
        b1 = min(num_blocks, b0 + step)
        res = (blocks[b0:b1] @ kernel.T).reshape(-1)
        out[b0 * new : min(b1 * new, target)] = res[: min(b1 * new, target) - b0 * new]
    return out


def _reason(exc: Exception) -> str:
    """FFmpeg's own words for a failure, without its error number and the file name."""
    return getattr(exc, "strerror", None) or str(exc)


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError:
        if path.suffix.lower() in _SOUNDFILE_SUFFIXES:  # soundfile could not read it either
            raise AudioError(f"{path}: not a readable audio file") from None
        raise MissingExtraError(
            f"{path}: reading {path.suffix or 'such'} files needs PyAV (FFmpeg), which this "
            'installation lacks: pip install -e ".[media]" (the media extra) in the diarize '
            "folder; wav, flac, ogg, opus and mp3 need nothing more"
        ) from None

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({_reason(exc)})") from None
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioError(f"{path}: the file has no audio stream")
        stream = streams[0]
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        # Decode to float planar mono at the native rate: the resampler is ours.
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        pieces: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            reason = _reason(exc)
            raise AudioError(f"{path}: audio stream could not be decoded ({reason})") from None
    if not pieces:
        return np.zeros(0, dtype=np.float32), rate
    return np.concatenate(pieces).astype(np.float32, copy=False), rate


def info_duration(path: str | Path) -> float:
    """Duration in seconds without decoding everything (soundfile), or by decoding (PyAV)."""
    path = Path(path)
    try:
        import soundfile as sf

        meta = sf.info(str(path))
        return meta.frames / meta.samplerate
    except Exception:
        waveform, rate = _read_pyav(path)
        return len(waveform) / rate if rate else 0.0


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")


#: A WAV data chunk of this size was written by a program that did not know the length.
_UNKNOWN_WAV_SIZE = 0xFFFFFFFF


def _promised_frames(extra_info: str) -> int | None:
    """The number of frames a file's header declares, from libsndfile's log of it (WAV: the
    data chunk's size in blocks times the frames per block, one for PCM; AIFF and others:
    their frame count); None when the log does not say. Fewer frames in the file than this
    means it was cut short.

    libsndfile also notes harmless departures from the letter of the format, such as the
    odd-length data chunk of a 24- or 8-bit WAV with an odd number of frames ("should be
    an even number of bytes"): only the frame count tells truncation apart from those.
    """
    found: dict[str, int] = {}
    for line in extra_info.splitlines():
        key, sep, value = line.partition(":")
        number = value.split()[0] if sep and value.split() else ""
        key = key.strip()
        if key in ("data", "Block Align", "Samples/Block", "Frames") and number.isdigit():
            found.setdefault(key, int(number))  # the first: the header's own value
    if "data" in found and found.get("Block Align", 0) > 0:
        if found["data"] == _UNKNOWN_WAV_SIZE:
            return None
        return found["data"] // found["Block Align"] * found.get("Samples/Block", 1)
    return found.get("Frames")


def _soundfile_frames(path: Path) -> tuple[int, int] | None:
    """(frames, rate) when soundfile can open ``path``, else None."""
    if path.suffix.lower() not in _SOUNDFILE_SUFFIXES:
        return None
    try:
        import soundfile as sf

        meta = sf.info(str(path))
    except Exception as exc:  # LibsndfileError, RuntimeError, ...
        logger.debug("soundfile cannot open %s (%s); trying PyAV", path, exc)
        return None
    promised = _promised_frames(meta.extra_info)
    if promised is not None and promised > meta.frames:
        rate = max(meta.samplerate, 1)
        logger.warning(
            "%s: the header promises %.1f s of audio, the file holds less: truncated or "
            "damaged? Reading the %.1f s it holds",
            path,
            promised / rate,
            meta.frames / rate,
        )
    return int(meta.frames), int(meta.samplerate)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> int16 (rounded, clipped)."""
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write ``samples`` to ``path`` as a 16-bit PCM WAV file, atomically.

    ``samples`` is a mono ``(num_samples,)`` array, int16, or float within [-1, 1]
    (converted by libsndfile; clip first what may exceed it). The file is written as
    ``.NAME.PID.tmp`` in the same folder and renamed over ``path``: a run that dies leaves no
    partial WAV behind, and its leftover matches no ``*.wav`` pattern.
    """
    path = Path(path)
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"expected a mono (num_samples,) array, got shape {samples.shape}")
    import soundfile as sf

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        sf.write(str(tmp), samples, int(sample_rate), subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def as_float32(x: np.ndarray) -> Waveform:
    """int16 PCM or float -> float32 in [-1, 1] (a copy only when needed)."""
    if x.dtype == np.int16:
        return x.astype(np.float32) * np.float32(1.0 / 32768.0)
    return np.asarray(x, dtype=np.float32)


def load(path: str | Path, sample_rate: int = SAMPLE_RATE, dtype: str = "float32") -> np.ndarray:
    """Read ``path`` as mono audio at ``sample_rate``.

    ``dtype="int16"`` returns 16-bit PCM, half the memory of float32: what the pipeline
    keeps for multi-hour recordings. Files soundfile reads are decoded block by block into
    one preallocated array, so the whole signal never exists twice.

    Returns
    -------
    waveform : (num_samples,) np.ndarray, float32 in [-1, 1] or int16

    Raises
    ------
    AudioError
        The file is missing, is not audio, or holds no samples.
    """
    path = Path(path)
    _check_path(path)
    if dtype not in ("float32", "int16"):
        raise ValueError(f"dtype must be float32 or int16, got {dtype!r}")
    convert = to_pcm16 if dtype == "int16" else (lambda x: x)
    info = _soundfile_frames(path)
    if info is not None and info[0] > 0:
        frames, rate = info
        capacity = -(-frames * sample_rate // rate) + 1
        out = np.empty(capacity, dtype=dtype)
        filled = 0
        for block in stream(path, chunk=60.0, sample_rate=sample_rate):
            if not np.all(np.isfinite(block)):
                raise AudioError(f"{path}: audio contains NaN or infinite samples")
            n = min(len(block), capacity - filled)
            out[filled : filled + n] = convert(block[:n])
            filled += n
        if filled == 0:
            raise AudioError(f"{path}: no audio samples in file")
        logger.debug("read %s: %d frames at %d Hz", path, frames, rate)
        return out[:filled] if filled == capacity else out[:filled].copy()
    if info is not None:
        raise AudioError(f"{path}: no audio samples in file")
    data, rate = _read_pyav(path)
    if data.size == 0 or rate <= 0:
        raise AudioError(f"{path}: no audio samples in file")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    logger.debug("read %s: %d samples at %d Hz", path, data.size, rate)
    return convert(resample(data, rate, sample_rate))


def stream(
    path: str | Path, chunk: float = 120.0, sample_rate: int = SAMPLE_RATE
) -> Iterator[Waveform]:
    """Yield consecutive mono chunks of about ``chunk`` seconds, resampled to ``sample_rate``.

    Files soundfile can seek in are read block by block, so a multi-hour recording is never
    held in memory whole; other containers are decoded at once and then sliced.
    """
    path = Path(path)
    _check_path(path)
    try:
        import soundfile as sf

        if path.suffix.lower() not in _SOUNDFILE_SUFFIXES:
            raise ValueError("not a soundfile format")
        handle = sf.SoundFile(str(path))
    except Exception:
        waveform = load(path, sample_rate)
        step = to_samples(chunk, sample_rate)
        for start in range(0, len(waveform), step):
            yield waveform[start : start + step]
        return
    with handle:
        rate = handle.samplerate
        block = max(1, int(round(chunk * rate)))
        if rate == sample_rate:
            for data in handle.blocks(blocksize=block, dtype="float32", always_2d=True):
                yield _mono(data)
            return
        # Resample block by block. Each block is resampled together with `margin` samples of
        # left context and its last `margin` samples are held back until the next block, so
        # the sinc filter never sees an artificial edge inside the signal.
        gcd = math.gcd(rate, sample_rate)
        up, down = sample_rate // gcd, rate // gcd
        margin = down * max(1, int(0.05 * rate) // down)  # multiple of `down`, ~50 ms
        block = max(2 * margin, block - block % down)
        context = np.zeros(0, dtype=np.float32)
        pending = np.zeros(0, dtype=np.float32)
        while True:
            data = handle.read(block, dtype="float32", always_2d=True)
            last = data.shape[0] == 0 or handle.tell() >= handle.frames
            buf = np.concatenate([context, pending, _mono(data)])
            if buf.size == len(context):
                break
            res = resample(buf, rate, sample_rate)
            begin = len(context) * up // down
            if last:
                yield res[begin:]
                break
            end_in = len(buf) - margin
            yield res[begin : end_in * up // down]
            context = buf[end_in - margin : end_in]
            pending = buf[end_in:]


#: Telephone band edge (Hz): speech recorded at 8 kHz holds nothing above 4 kHz.
NARROWBAND_EDGE = 4000.0
#: Power above the edge relative to the power below it (over speech) under which a
#: recording counts as narrowband (-50 dB). Measured on the 33 recordings of the benchmark
#: sets (dev/ami, the simulated and tuning sets): -38 dB and above as they are, -62 dB and
#: below once passed through 8 kHz (torchaudio's or scipy's resampler).
NARROWBAND_RATIO = 1e-5


def telephone_band(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Waveform:
    """``waveform`` as an 8 kHz channel would carry it: resampled to 8 kHz and back."""
    return resample(resample(as_float32(waveform), sample_rate, 8000), 8000, sample_rate)


def high_band_ratio(
    waveform: np.ndarray,
    regions: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    max_frames: int = 2000,
    frame: int = 512,
) -> float:
    """Power from ``NARROWBAND_EDGE`` + 1.5 kHz (where a resampling filter's leak is small)
    to 0.95 Nyquist, over the power from 100 Hz to the edge, in up to ``max_frames`` frames
    spread evenly over the speech ``regions`` (samples, ``[start, end)``). NaN when there is
    no full frame of speech."""
    starts = [np.arange(s, e - frame + 1, frame) for s, e in regions if e - s >= frame]
    if not starts:
        return float("nan")
    starts = np.concatenate(starts)
    if len(starts) > max_frames:
        starts = starts[np.linspace(0, len(starts) - 1, max_frames).round().astype(np.int64)]
    frames = as_float32(waveform[starts[:, None] + np.arange(frame)[None, :]])
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    low = power[:, (freqs >= 100) & (freqs < NARROWBAND_EDGE)].sum()
    high = power[:, (freqs >= NARROWBAND_EDGE + 1500) & (freqs < 0.95 * sample_rate / 2)].sum()
    return float(high / max(low, 1e-20))


def native_rate(path: str | Path) -> int | None:
    """The sample rate ``path`` is stored at, read from its header (soundfile) or its first
    audio stream (PyAV) without decoding; None when neither can tell."""
    path = Path(path)
    try:
        import soundfile as sf

        return int(sf.info(str(path)).samplerate)
    except Exception:  # LibsndfileError, RuntimeError, ...
        pass
    try:
        import av

        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            rate = int(streams[0].rate or streams[0].codec_context.sample_rate or 0)
            return rate or None
    except Exception:  # no PyAV, not audio, no audio stream
        return None


def through_rate(
    waveform: np.ndarray, rate: int, sample_rate: int = SAMPLE_RATE, chunk: float = 60.0
) -> np.ndarray:
    """``waveform`` (at ``sample_rate``) resampled to ``rate`` and back with :func:`resample`,
    in pieces of about ``chunk`` seconds (each with context either side, so the pieces join
    as one pass over the whole signal would); int16 in, int16 out, else float32.

    Telephone audio stored at 16 kHz holds whatever the resampler that made the file left
    above 4 kHz; passed through 8 kHz again it holds what this package's resampler leaves,
    as a file stored at 8 kHz does once read."""
    if rate >= sample_rate:
        return waveform
    g = math.gcd(int(rate), int(sample_rate))
    unit = int(sample_rate) // g  # pieces start on samples that map to whole samples at rate
    margin = unit * max(1, -(-512 // unit))
    step = unit * max(1, int(chunk * sample_rate) // unit)
    n = len(waveform)
    out = np.empty(n, dtype=np.int16 if waveform.dtype == np.int16 else np.float32)
    for start in range(0, n, step):
        end = min(start + step, n)
        lo, hi = max(0, start - margin), min(n, end + margin)
        piece = resample(
            resample(as_float32(waveform[lo:hi]), sample_rate, rate), rate, sample_rate
        )
        piece = piece[start - lo : start - lo + end - start]
        out[start:end] = to_pcm16(piece) if out.dtype == np.int16 else piece
    return out


#: dB: a telephone-band file stored above the telephone rate is heard through that rate
#: (``[vad] narrowband_rate``) when the round trip (:func:`through_rate`) adds more than this
#: to its power just above half that rate (:func:`image_gain_db`): the file lacks the images
#: of its top band that a file stored at the telephone rate holds once read here, so a sharp
#: resampler made it. Over the 40 files of the five draws of the crossdomain telephone
#: domain: stored at 8 kHz and read here -2.9 to -2.1 dB; written at 16 kHz by scipy's
#: resample_poly +10.1 to +15.5, by FFmpeg's resampler +14.4 to +20.6.
IMAGE_GAIN_DB = 5.0


def image_gain_db(
    stored: np.ndarray,
    through: np.ndarray,
    rate: int,
    sample_rate: int = SAMPLE_RATE,
    frame: int = 512,
    max_frames: int = 2000,
) -> float:
    """How much more power ``through`` (``stored`` passed through ``rate``) holds than
    ``stored`` from 1.05 to 1.25 times half of ``rate`` (4.2-5 kHz for 8 kHz), in dB, over up
    to ``max_frames`` evenly spread frames; 0 when neither holds any."""
    n = min(len(stored), len(through)) // frame
    if n == 0:
        return 0.0
    starts = np.linspace(0, n - 1, min(n, max_frames)).round().astype(np.int64) * frame
    idx = starts[:, None] + np.arange(frame)[None, :]
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    band = (freqs >= 1.05 * rate / 2) & (freqs < 1.25 * rate / 2)
    window = np.hanning(frame)
    power = [
        float((np.abs(np.fft.rfft(as_float32(x[idx]) * window, axis=1)[:, band]) ** 2).sum())
        for x in (stored, through)
    ]
    if max(power) <= 0:
        return 0.0
    return float(10.0 * np.log10(max(power[1], 1e-30) / max(power[0], 1e-30)))


def heard_through(waveform: np.ndarray, rate: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``waveform`` (telephone-band audio stored at ``sample_rate``, above ``rate``) as the
    speech detector should hear it: passed through ``rate`` (:func:`through_rate`) when that
    round trip adds the images of the band below half of ``rate`` by more than
    :data:`IMAGE_GAIN_DB` (a sharp resampler made the file), else ``waveform`` itself, the
    same object. The decision is the file's as a whole."""
    candidate = through_rate(waveform, rate, sample_rate)
    if image_gain_db(waveform, candidate, rate, sample_rate) > IMAGE_GAIN_DB:
        return candidate
    return waveform


def is_narrowband(
    waveform: np.ndarray, regions: np.ndarray, sample_rate: int = SAMPLE_RATE
) -> bool:
    """True when the speech holds (almost) nothing above 4 kHz: telephone audio, whatever
    rate the file was stored at."""
    ratio = high_band_ratio(waveform, regions, sample_rate)
    return bool(ratio < NARROWBAND_RATIO)


#: Level (dBFS) that a quiet recording's loud samples (99.9th percentile of |x|) are raised
#: to before analysis: the speech detector misses, and the encoder confuses, speech that is
#: much quieter than what they were built on (a recording played back 20 dB quieter loses
#: speech and mixes voices up). Louder recordings are left as they are: lowering them bought
#: nothing measurable. Limits: at most MAX_GAIN_DB of gain, a peak of at most PEAK_LEVEL_DB,
#: and a recording within LEVEL_TOLERANCE_DB of the target is left as it is.
TARGET_LEVEL_DB = -12.0
MAX_GAIN_DB = 30.0
PEAK_LEVEL_DB = -1.0
LEVEL_TOLERANCE_DB = 0.5


def loud_level_db(waveform: np.ndarray, max_samples: int = 2_000_000) -> float:
    """99.9th percentile of |x| in dBFS (on an evenly strided subset of long signals);
    -inf for digital silence or an empty signal."""
    if len(waveform) == 0:
        return float("-inf")
    x = np.abs(as_float32(waveform[:: max(1, len(waveform) // max_samples)]))
    level = float(np.percentile(x, 99.9))
    return 20.0 * math.log10(level) if level > 0 else float("-inf")


def raise_quiet(waveform: np.ndarray, in_place: bool = False) -> tuple[np.ndarray, float]:
    """(waveform, gain in dB): a recording whose loud samples are quieter than
    ``TARGET_LEVEL_DB`` is scaled up towards it, by at most ``MAX_GAIN_DB`` and never past a
    peak of ``PEAK_LEVEL_DB``; it is returned as it is (gain 0) when the gain would be under
    ``LEVEL_TOLERANCE_DB``, when it is louder, or for digital silence. int16 input stays
    int16 (scaled in chunks); ``in_place`` scales the given array itself instead of a copy."""
    level = loud_level_db(waveform)
    if not math.isfinite(level) or TARGET_LEVEL_DB - level < LEVEL_TOLERANCE_DB:
        return waveform, 0.0  # silence, or loud enough: no full pass for the peak
    peak = max(abs(float(waveform.max())), abs(float(waveform.min())))
    if waveform.dtype == np.int16:
        peak /= 32768.0
    gain_db = min(TARGET_LEVEL_DB - level, MAX_GAIN_DB, PEAK_LEVEL_DB - 20.0 * math.log10(peak))
    if gain_db < LEVEL_TOLERANCE_DB:
        return waveform, 0.0
    gain = np.float32(10.0 ** (gain_db / 20.0))
    if waveform.dtype not in (np.int16, np.float32):
        return as_float32(waveform) * gain, gain_db
    out = waveform if in_place else np.empty_like(waveform)
    step = 1 << 22
    for a in range(0, len(waveform), step):
        chunk = waveform[a : a + step].astype(np.float32) * gain
        if waveform.dtype == np.int16:
            chunk = np.clip(np.rint(chunk), -32768, 32767).astype(np.int16)
        out[a : a + step] = chunk
    return out, gain_db
