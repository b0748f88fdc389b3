"""Simulated conversations with an exact reference: turn-taking, overlap, noise and rooms.

Each file mixes two to six speakers taken from a folder of single-speaker recordings
(``<source>/<speaker>/*.flac``; by default LibriSpeech test-other, whose speakers the encoder
never trained on). What is labelled speech is decided on the CLEAN source, before any mixing:
an energy detector splits every source recording into speech segments on a 10 ms grid, so its
leading and trailing silence and every pause of ``min_pause`` seconds or more inside it are not
speech. The reference RTTM is then written from the sample positions at which those segments
land in the mixture; every boundary falls on a 1 ms grid (16 samples), so RTTM's millisecond
precision is exact.

How a file is built (all draws from ``np.random.default_rng([seed, file_index])``):

1. Speakers: ``num_speakers`` drawn uniformly in ``[min_speakers, max_speakers]``; each gets a
   share of the talk (Dirichlet, alpha 2) and a level (+-5 dB around -26 dBFS, +-1.5 dB per turn).
2. Turns: consecutive speech segments of one source recording, about as long as a log-normal
   target (median 3.5 s). After a turn the floor goes back to the previous speaker half of the
   time (back-and-forth runs), stays with the same speaker after a pause 10 % of the time, and
   otherwise goes to another speaker in proportion to the shares.
3. Timing: the silence between turns is a floor-transfer gap, log-normal with a 0.35 s median
   (plus an occasional long pause of 1.5-5 s). Some speaker changes start early instead; their
   overlap lengths share one scale that is solved for so that the file's overlap fraction (time
   with two or more talkers / time with at least one) matches a target drawn uniformly in
   ``overlap``. A speaker never overlaps themself.
4. Room: one per file, the same for every speaker: a real impulse response from ``rir_dir``
   (half of the files, when given) or a simulated room (exponentially decaying noise tail with an
   RT60 of 0.15-0.7 s; each speaker's direct-to-reverberant ratio differs, as their places do).
   Impulse responses are aligned on their direct path, so the labels need no shift.
5. Noise, at an SNR drawn uniformly in ``snr_db`` (power of the reverberant speech over the
   labelled samples against the noise power over the whole file): real recordings from
   ``noise_dir`` when given, babble built from eight streams of speakers absent from the file,
   and coloured noise (spectral slope 1/f^0..2), one or two of them per file.

The same seed and inputs give byte-identical files (numpy and scipy only, no threads).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

from diarize.audio import write_wav
from diarize.errors import AudioError, ConfigError
from diarize.rttm import format_rttm, write_atomic
from diarize.types import Diarization, Turn
from diarize.vad import mask_runs

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: samples per frame of the energy detector on the clean sources (10 ms)
FRAME_SAMPLES = 160
#: every boundary in a mixture is a multiple of this many samples (1 ms)
GRID_SAMPLES = 16
AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".opus", ".mp3")
#: data folder next to the repository (../shared/data), used for the defaults
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_SOURCE = DATA_DIR / "train" / "librispeech" / "librispeech_test-other"
DEFAULT_NOISE = DATA_DIR / "noise"
DEFAULT_RIR = DATA_DIR / "rir"

#: speech level every speaker's level is drawn around (dBFS, RMS over labelled samples)
REFERENCE_LEVEL_DB = -26.0


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Durations in seconds unless named otherwise."""

    num_files: int = 15
    minutes: float = 2.5  # length of each file; each one is drawn within +-20 % of it
    seed: int = 0
    min_speakers: int = 2
    max_speakers: int = 6
    overlap: tuple[float, float] = (0.0, 0.2)  # range of the per-file overlap fraction
    snr_db: tuple[float, float] = (5.0, 20.0)  # range of the per-file SNR
    min_pause: float = 0.3  # silences this long inside a source recording are not speech
    prefix: str = "sim"  # file ids are <prefix>-s<seed>-<index>
    # "tail": a decaying noise tail (real responses from rir_dir for half of the files);
    # "image": shoebox rooms by the image-source method, no real responses (a room model
    # unlike the encoder's augmentation, for tests on conditions it never met)
    room: str = "tail"
    rt60: tuple[float, float] = (0.15, 0.7)  # range of the per-file reverberation time
    # talkers of file i: speaker_counts[i % len(speaker_counts)] (empty: drawn uniformly in
    # [min_speakers, max_speakers])
    speaker_counts: tuple[int, ...] = ()

    def check(self) -> None:
        """Raise ``ConfigError`` on impossible values."""
        if self.num_files < 1:
            raise ConfigError(f"num_files must be at least 1, got {self.num_files}")
        if not self.minutes > 0:
            raise ConfigError(f"minutes must be positive, got {self.minutes}")
        if not 1 <= self.min_speakers <= self.max_speakers:
            raise ConfigError(
                f"need 1 <= min_speakers <= max_speakers, got {self.min_speakers} and "
                f"{self.max_speakers}"
            )
        lo, hi = self.overlap
        if not 0.0 <= lo <= hi < 1.0:
            raise ConfigError(f"overlap range must satisfy 0 <= low <= high < 1, got {lo}-{hi}")
        if self.snr_db[0] > self.snr_db[1]:
            raise ConfigError(f"SNR range {self.snr_db[0]}-{self.snr_db[1]} dB is reversed")
        if self.min_pause <= 0:
            raise ConfigError(f"min_pause must be positive, got {self.min_pause}")
        if any(not 1 <= n for n in self.speaker_counts):
            raise ConfigError(f"speaker_counts must be positive, got {self.speaker_counts}")
        if self.room not in ("tail", "image"):
            raise ConfigError(f"room must be 'tail' or 'image', got {self.room!r}")
        if not 0.05 <= self.rt60[0] <= self.rt60[1]:
            raise ConfigError(f"rt60 range must satisfy 0.05 <= low <= high, got {self.rt60}")


@dataclass(frozen=True)
class Recording:
    """One clean single-speaker source recording and its speech segments."""

    speaker: str
    name: str
    waveform: np.ndarray  # (num_samples,) float32
    segments: np.ndarray  # (num_segments, 2) int64 [start, end) samples


@dataclass(frozen=True)
class Placement:
    """A stretch ``[source_start, source_end)`` of a recording placed at ``start`` (samples)."""

    speaker: str
    recording: str
    source_start: int
    source_end: int
    start: int


@dataclass
class Conversation:
    """One simulated file: the mixture, its parts and its exact reference."""

    uri: str
    waveform: np.ndarray  # (num_samples,) float32, speech + noise
    speech: np.ndarray  # (num_samples,) float32, reverberant speech of all speakers
    noise: np.ndarray  # (num_samples,) float32, scaled to the file's SNR
    dry: np.ndarray  # (num_samples,) float32, speech before the room
    segments: list[tuple[int, int, str]]  # labelled speech (start, end, speaker) in samples
    placements: list[Placement]
    info: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.waveform) / SAMPLE_RATE

    def reference(self) -> Diarization:
        turns = tuple(
            sorted(Turn(s / SAMPLE_RATE, e / SAMPLE_RATE, spk) for s, e, spk in self.segments)
        )
        return Diarization(uri=self.uri, turns=turns, duration=self.duration)


# --- clean sources ---------------------------------------------------------------------------


def speech_segments(
    waveform: np.ndarray,
    min_pause: float = 0.3,
    min_speech: float = 0.06,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Speech segments of a CLEAN single-speaker recording (energy detector, 10 ms frames).

    A frame is speech when its energy exceeds both the recording's floor (5th percentile)
    + 15 dB and its peak (99th percentile) - 35 dB. Pauses shorter than ``min_pause`` are
    bridged, then runs shorter than ``min_speech`` are dropped. Boundaries are multiples of
    :data:`FRAME_SAMPLES`.

    Returns
    -------
    segments : (num_segments, 2) int64 [start, end) samples
    """
    x = np.asarray(waveform, dtype=np.float64)
    num_frames = len(x) // FRAME_SAMPLES
    if num_frames == 0:
        return np.zeros((0, 2), dtype=np.int64)
    frames = x[: num_frames * FRAME_SAMPLES].reshape(num_frames, FRAME_SAMPLES)
    energy = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    threshold = max(np.percentile(energy, 5) + 15.0, np.percentile(energy, 99) - 35.0)
    active = energy > threshold
    runs = zip(*mask_runs(active), strict=True)
    min_pause_frames = int(round(min_pause * sample_rate / FRAME_SAMPLES))
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < min_pause_frames:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    min_speech_frames = int(round(min_speech * sample_rate / FRAME_SAMPLES))
    kept = [(a, b) for a, b in merged if b - a >= min_speech_frames]
    return np.asarray(kept, dtype=np.int64).reshape(-1, 2) * FRAME_SAMPLES


def _read_mono(path: Path) -> np.ndarray:
    """Any soundfile-readable file -> mono float32 at 16 kHz (polyphase resampling)."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types
        raise AudioError(f"{path}: cannot read audio ({exc})") from None
    x = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        g = math.gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x.astype(np.float64), SAMPLE_RATE // g, int(rate) // g)
    return np.ascontiguousarray(x, dtype=np.float32)


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def load_sources(source: str | Path, min_pause: float = 0.3) -> dict[str, list[Recording]]:
    """Read every recording under ``source``: {speaker: recordings sorted by name}.

    The speaker of a file is its parent folder's name below ``source``, or, for files directly
    in ``source``, the part of its name before the first ``-`` or ``_`` (LibriSpeech and
    Speech Commands naming).
    """
    source = Path(source)
    if not source.is_dir():
        raise ConfigError(f"{source}: source folder not found (pass --source DIR)")
    out: dict[str, list[Recording]] = {}
    for path in _audio_files(source):
        rel = path.relative_to(source)
        speaker = rel.parts[0] if len(rel.parts) > 1 else path.stem.replace("_", "-").split("-")[0]
        waveform = _read_mono(path)
        segments = speech_segments(waveform, min_pause)
        if len(segments) == 0:
            logger.warning("%s: no speech found, skipped", path)
            continue
        out.setdefault(speaker, []).append(Recording(speaker, path.stem, waveform, segments))
    if len(out) < 2:
        raise ConfigError(f"{source}: need recordings of at least two speakers, found {len(out)}")
    return dict(sorted(out.items()))


def load_folder(folder: str | Path | None) -> list[tuple[str, np.ndarray]]:
    """(name, mono 16 kHz float32) of every audio file in ``folder`` (none when None)."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: folder not found")
    out = []
    for path in _audio_files(folder):
        x = _read_mono(path)
        if len(x) and np.any(x):
            out.append((path.name, x))
    return out


# --- turns and timing ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Turn:
    speaker: str
    recording: Recording
    source_start: int  # excerpt of the recording that is placed
    source_end: int
    labels: np.ndarray  # (n, 2) labelled speech, relative to source_start
    gain: float

    @property
    def span(self) -> int:
        """Samples from the first labelled sample to the last."""
        return int(self.labels[-1, 1] - self.labels[0, 0])


@dataclass(frozen=True)
class _Transition:
    same_speaker: bool
    gap: float  # seconds of silence when the turn does not overlap
    overlaps: bool  # a candidate for an early start
    weight: float  # relative length of its overlap


def _grid(seconds: float) -> int:
    """Seconds -> samples, on the 1 ms grid."""
    return int(round(seconds * SAMPLE_RATE / GRID_SAMPLES)) * GRID_SAMPLES


class _Cursor:
    """Walks through a speaker's recordings (shuffled per file) segment by segment."""

    def __init__(self, recordings: list[Recording], rng: np.random.Generator):
        self.recordings = [recordings[i] for i in rng.permutation(len(recordings))]
        self.index = 0
        self.segment = 0

    def take(self, target: float, margin: int) -> tuple[Recording, int, int, np.ndarray]:
        """Consecutive segments of the current recording spanning about ``target`` seconds.

        Returns the recording, the excerpt [start, end) and its labels relative to start.
        The excerpt keeps up to ``margin`` samples of the source's own silence on each side,
        never reaching halfway into a neighbouring pause.
        """
        rec = self.recordings[self.index]
        seg = rec.segments
        first = self.segment
        last = first
        while last + 1 < len(seg) and seg[last, 1] - seg[first, 0] < target * SAMPLE_RATE:
            last += 1
        if seg[last, 1] - seg[first, 0] > target * SAMPLE_RATE and last > first:
            last -= 1  # the first segment alone may be longer than the target; others not
        lo = 0 if first == 0 else (seg[first - 1, 1] + seg[first, 0]) // 2
        hi = len(rec.waveform) if last + 1 == len(seg) else (seg[last, 1] + seg[last + 1, 0]) // 2
        start = int(max(lo, seg[first, 0] - margin))
        end = int(min(hi, seg[last, 1] + margin))
        # Keep label offsets on the 1 ms grid: segment boundaries are on the 10 ms grid.
        start -= start % GRID_SAMPLES
        labels = seg[first : last + 1] - start
        if last + 1 < len(seg):
            self.segment = last + 1
        else:
            self.index = (self.index + 1) % len(self.recordings)
            self.segment = 0
        return rec, start, end, labels


def _plan(
    rng: np.random.Generator,
    speakers: list[str],
    sources: dict[str, list[Recording]],
    total_samples: int,
    overlap_target: float,
) -> tuple[list[_Turn], list[_Transition]]:
    """Draw turns (who, what) and transitions until well past ``total_samples``."""
    k = len(speakers)
    # Unequal shares of the talk, but nobody below a third of an equal share.
    share = 0.7 * rng.dirichlet(np.full(k, 2.0)) + 0.3 / k
    level = rng.uniform(-5.0, 5.0, size=k)
    cursors = {spk: _Cursor(sources[spk], rng) for spk in speakers}
    margin = _grid(0.08)
    # More candidates for early starts when more overlap is wanted; their lengths are scaled.
    p_overlap = min(0.9, 0.1 + 2.5 * overlap_target) if overlap_target > 0 else 0.0
    turns: list[_Turn] = []
    transitions: list[_Transition] = []
    # Everybody speaks once early on (in random order); then the floor passes as below.
    opening = [int(i) for i in rng.permutation(k)]
    current = opening[0]
    previous: int | None = None
    planned = 0
    while planned < 1.5 * total_samples:
        target = float(np.clip(rng.lognormal(np.log(3.5), 0.7), 0.6, 20.0))
        rec, start, end, labels = cursors[speakers[current]].take(target, margin)
        gain_db = REFERENCE_LEVEL_DB + level[current] + rng.normal(0.0, 1.5)
        turns.append(_Turn(speakers[current], rec, start, end, labels, float(10 ** (gain_db / 20))))
        planned += turns[-1].span
        # Who talks next, and how the floor passes.
        u = rng.uniform()
        if len(turns) < k:
            nxt = opening[len(turns) % k]
        elif k == 1 or u < 0.1:
            nxt = current
        elif previous is not None and previous != current and u < 0.55:
            nxt = previous
        else:
            p = share.copy()
            p[current] = 0.0
            nxt = int(rng.choice(k, p=p / p.sum()))
        if nxt == current:
            gap = rng.uniform(0.4, 1.5)
        elif rng.uniform() < 0.05:
            gap = rng.uniform(1.5, 5.0)
        else:
            gap = float(np.clip(rng.lognormal(np.log(0.35), 0.7), 0.05, 4.0))
        overlaps = nxt != current and rng.uniform() < p_overlap
        transitions.append(_Transition(nxt == current, gap, overlaps, rng.uniform(0.25, 1.25)))
        planned += _grid(gap)
        previous, current = current, nxt
    return turns, transitions


def _place(
    turns: list[_Turn],
    transitions: list[_Transition],
    scale: float,
    lead: int,
    limit: int,
    min_pause: int,
) -> list[int]:
    """Start sample (of the first labelled sample) of each turn that ends before ``limit``.

    ``scale`` (seconds) multiplies every candidate's overlap weight; an early start never
    reaches back more than 85 % of the previous turn nor closer than 0.2 s to its start, and
    a speaker's own turns stay ``min_pause`` apart.
    """
    starts: list[int] = []
    floor_end = lead
    last_end: dict[str, int] = {}
    for i, turn in enumerate(turns):
        if i == 0:
            start = lead
        else:
            tr = transitions[i - 1]
            prev = turns[i - 1]
            if tr.overlaps and scale > 0:
                # A short turn may fall entirely inside the previous one (an interjection).
                o = min(_grid(scale * tr.weight), int(0.85 * prev.span))
                start = floor_end - o
            else:
                start = floor_end + _grid(tr.gap)
            start = max(start, starts[-1] + _grid(0.2))
            if turn.speaker in last_end:
                start = max(start, last_end[turn.speaker] + min_pause)
            start -= start % GRID_SAMPLES
        end = start + turn.span
        if end > limit:
            break
        starts.append(start)
        floor_end = max(floor_end, end)
        last_end[turn.speaker] = end
    return starts


def _label_segments(turns: list[_Turn], starts: list[int]) -> list[tuple[int, int, str]]:
    out = []
    for turn, start in zip(turns, starts, strict=False):
        offset = start - int(turn.labels[0, 0])
        out.extend((int(a) + offset, int(b) + offset, turn.speaker) for a, b in turn.labels)
    return sorted(out)


def overlap_fraction(segments: list[tuple[int, int, str]]) -> float:
    """Time with two or more active speakers / time with at least one."""
    events: list[tuple[int, int]] = []
    for start, end, _ in segments:
        events += [(start, 1), (end, -1)]
    events.sort()
    active = 0
    last = 0
    speech = overlap = 0
    for t, delta in events:
        if active >= 1:
            speech += t - last
        if active >= 2:
            overlap += t - last
        active += delta
        last = t
    return overlap / speech if speech else 0.0


def _solve_overlap(
    turns: list[_Turn],
    transitions: list[_Transition],
    target: float,
    allowed: tuple[float, float],
    lead: int,
    limit: int,
    min_pause: int,
) -> tuple[list[int], float]:
    """The overlap scale whose placement comes closest to the target fraction, preferring
    placements whose fraction lies in ``allowed``."""
    best: tuple[float, list[int], float] | None = None
    for scale in np.linspace(0.0, 6.0, 121):
        starts = _place(turns, transitions, float(scale), lead, limit, min_pause)
        frac = overlap_fraction(_label_segments(turns, starts))
        err = abs(frac - target) + (0.0 if allowed[0] <= frac <= allowed[1] else 1.0)
        if best is None or err < best[0] - 1e-12:
            best = (err, starts, frac)
        if target == 0.0:
            break
    assert best is not None
    if not allowed[0] <= best[2] <= allowed[1]:
        logger.warning(
            "overlap %.3f is outside the requested %.3f-%.3f", best[2], allowed[0], allowed[1]
        )
    return best[1], best[2]


# --- rooms and noise -------------------------------------------------------------------------


def _align_rir(rir: np.ndarray) -> np.ndarray:
    """Drop what comes before the direct path (the peak) and scale the peak to 1."""
    peak = int(np.argmax(np.abs(rir)))
    out = rir[peak:].astype(np.float64)
    return out / out[0]


def _simulated_rir(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """Direct path + exponentially decaying Gaussian tail (-60 dB at ``rt60``), with early
    reflections arriving after 2-8 ms; the tail energy sets the direct-to-reverberant ratio."""
    length = int(1.2 * rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    delay = int(rng.uniform(0.002, 0.008) * SAMPLE_RATE)
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60)
    tail[:delay] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(tail**2), 1e-12))
    tail[0] = 1.0
    return tail


#: speed of sound (m/s)
SOUND_SPEED = 343.0
#: image sources are placed up to this delay after the direct path (s); a noise tail follows
IMAGE_SECONDS = 0.08


def _image_rir(
    rng: np.random.Generator, rt60: float, room: np.ndarray, mic: np.ndarray
) -> np.ndarray:
    """Response from a random place 0.7-2.5 m from ``mic`` in a shoebox ``room`` (x, y, z
    metres) to ``mic``.

    Image-source method (Allen and Berkley, "Image method for efficiently simulating
    small-room acoustics", JASA 65(4), 1979): the image of the source at
    ``(1 - 2q) * src + 2 n L`` on each axis (q in {0, 1}, n integer) has met ``|n - q| + |n|``
    walls of that axis and arrives after its distance / c with amplitude beta^walls / distance.
    The wall reflection coefficient ``beta = sqrt(1 - alpha)`` comes from Sabine's formula
    RT60 = 0.161 V / (S alpha). Images up to ``IMAGE_SECONDS`` after the direct path, then a
    Gaussian tail that continues their decay (-60 dB at ``rt60``). Aligned on the direct path
    (peak 1).
    """
    # A talker 0.7-2.5 m from the microphone, as around a table, kept 0.3 m from the walls.
    for _ in range(100):
        direction = rng.standard_normal(3)
        direction[2] *= 0.2
        src = mic + rng.uniform(0.7, 2.5) * direction / np.linalg.norm(direction)
        if np.all(src > 0.3) and np.all(src < room - 0.3):
            break
    else:
        src = rng.uniform(0.3, room - 0.3)
    volume = float(np.prod(room))
    surface = 2.0 * float(room[0] * room[1] + room[0] * room[2] + room[1] * room[2])
    alpha = min(0.95, 0.161 * volume / (surface * rt60))
    beta = np.sqrt(1.0 - alpha)
    direct = float(np.linalg.norm(src - mic))
    reach = direct + IMAGE_SECONDS * SOUND_SPEED
    axes = []
    for d in range(3):
        n_max = int(np.ceil(reach / (2.0 * room[d]))) + 1
        n = np.arange(-n_max, n_max + 1)
        pos = np.concatenate([src[d] + 2 * n * room[d], -src[d] + 2 * n * room[d]])
        walls = np.concatenate([np.abs(n) * 2, np.abs(n - 1) + np.abs(n)])
        axes.append((pos - mic[d], walls))
    (dx, wx), (dy, wy), (dz, wz) = axes
    dist = np.sqrt(dx[:, None, None] ** 2 + dy[None, :, None] ** 2 + dz[None, None, :] ** 2)
    walls = wx[:, None, None] + wy[None, :, None] + wz[None, None, :]
    dist, walls = dist.ravel(), walls.ravel()
    near = dist <= reach
    dist, walls = dist[near], walls[near]
    delay = np.round((dist - direct) / SOUND_SPEED * SAMPLE_RATE).astype(np.int64)
    length = int(1.2 * rt60 * SAMPLE_RATE)
    rir = np.zeros(max(length, int(IMAGE_SECONDS * SAMPLE_RATE) + 1))
    np.add.at(rir, delay, beta**walls * direct / dist)
    # The tail: Gaussian noise whose envelope continues the images' energy decay.
    start = int(IMAGE_SECONDS * SAMPLE_RATE)
    last = rir[start - int(0.02 * SAMPLE_RATE) : start]
    level = np.sqrt(np.mean(last**2)) if np.any(last) else 0.0
    t = np.arange(len(rir) - start) / SAMPLE_RATE
    rir[start:] += level * rng.standard_normal(len(t)) * np.exp(-6.9078 * t / rt60)
    return rir / rir[0]


def _reverberate(dry: np.ndarray, rir: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Convolve, keep the original length, restore the level over the labelled samples."""
    wet = fftconvolve(dry, rir)[: len(dry)]
    ref = np.sqrt(np.mean(dry[mask] ** 2)) if mask.any() else 1.0
    got = np.sqrt(np.mean(wet[mask] ** 2)) if mask.any() else 1.0
    return wet * (ref / max(got, 1e-12))


def _coloured(rng: np.random.Generator, num_samples: int, slope: float) -> np.ndarray:
    """Gaussian noise with a 1/f^slope power spectrum, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(num_samples))
    f = np.fft.rfftfreq(num_samples, 1.0 / SAMPLE_RATE)
    spec *= 1.0 / np.maximum(f, 20.0) ** (slope / 2)
    x = np.fft.irfft(spec, n=num_samples)
    return x / max(np.sqrt(np.mean(x**2)), 1e-12)


def _loop(rng: np.random.Generator, pieces: list[np.ndarray], num_samples: int) -> np.ndarray:
    """Random excerpts of ``pieces`` end to end (20 ms cross-fades) up to ``num_samples``."""
    out = np.zeros(num_samples)
    fade = int(0.02 * SAMPLE_RATE)
    pos = 0
    while pos < num_samples:
        x = pieces[int(rng.integers(len(pieces)))]
        x = x / max(np.sqrt(np.mean(x.astype(np.float64) ** 2)), 1e-12)
        a = int(rng.integers(0, max(1, len(x) - 2 * SAMPLE_RATE)))
        piece = x[a:].astype(np.float64)
        n = min(len(piece), num_samples - pos)
        piece = piece[:n].copy()
        ramp = min(fade, n // 2)
        if ramp > 0:
            piece[:ramp] *= np.linspace(0.0, 1.0, ramp)
            piece[n - ramp :] *= np.linspace(1.0, 0.0, ramp)
        out[pos : pos + n] += piece
        pos += max(n - ramp, 1)
    return out


def _noise(
    rng: np.random.Generator,
    num_samples: int,
    real: list[tuple[str, np.ndarray]],
    babble_sources: list[Recording],
) -> tuple[np.ndarray, list[str]]:
    """One or two noise kinds mixed, unit RMS; returns the noise and a description."""
    kinds = ["real", "babble", "coloured"] if real else ["babble", "coloured"]
    probs = np.array([0.45, 0.25, 0.3]) if real else np.array([0.45, 0.55])
    primary = str(rng.choice(kinds, p=probs))
    parts = [(primary, 1.0)]
    if rng.uniform() < 0.5:
        parts.append(("coloured", 10 ** (-rng.uniform(6.0, 12.0) / 20)))
    total = np.zeros(num_samples)
    names = []
    for kind, weight in parts:
        if kind == "real":
            x = _loop(rng, [w for _, w in real], num_samples)
            names.append("real")
        elif kind == "babble":
            voices = [r.waveform for r in babble_sources]
            x = sum(_loop(rng, voices, num_samples) for _ in range(8))
            names.append("babble")
        else:
            slope = float(rng.uniform(0.0, 2.0))
            x = _coloured(rng, num_samples, slope)
            names.append(f"coloured(1/f^{slope:.1f})")
        x = x / max(np.sqrt(np.mean(x**2)), 1e-12)
        total += weight * x
    return total / max(np.sqrt(np.mean(total**2)), 1e-12), names


# --- one conversation --------------------------------------------------------------------------


def simulate_conversation(
    uri: str,
    sources: dict[str, list[Recording]],
    config: SimulationConfig,
    rng: np.random.Generator,
    noises: list[tuple[str, np.ndarray]] = (),
    rirs: list[tuple[str, np.ndarray]] = (),
    num_speakers: int | None = None,
) -> Conversation:
    """Build one conversation (see the module docstring for every step); ``num_speakers``
    fixes the number of talkers instead of drawing it."""
    names = list(sources)
    hi = min(config.max_speakers, len(names))
    lo = min(config.min_speakers, hi)
    if num_speakers is None:
        num_speakers = int(rng.integers(lo, hi + 1))
    else:
        num_speakers = lo = hi = min(num_speakers, len(names))
    speakers = sorted(names[i] for i in rng.choice(len(names), num_speakers, replace=False))
    duration = config.minutes * 60.0 * rng.uniform(0.8, 1.2)
    total = _grid(duration)
    lead = _grid(rng.uniform(0.3, 1.5))
    tail = _grid(rng.uniform(0.5, 1.5))
    target = float(rng.uniform(*config.overlap))
    turns, transitions = _plan(rng, speakers, sources, total, target)
    min_pause = _grid(config.min_pause)
    starts, frac = _solve_overlap(
        turns, transitions, target, config.overlap, lead, total - tail, min_pause
    )
    turns = turns[: len(starts)]
    if not turns:
        raise ConfigError(f"{uri}: {config.minutes} min is too short for a single turn")
    heard = len({turn.speaker for turn in turns})
    if heard < lo:
        raise ConfigError(
            f"{uri}: {config.minutes} min holds turns of {heard} talker(s), fewer than the "
            f"minimum of {lo}; make the conversations longer"
        )
    segments = _label_segments(turns, starts)
    num_samples = max(e for _, e, _ in segments) + tail
    placements = []
    dry = {spk: np.zeros(num_samples) for spk in speakers}
    for turn, start in zip(turns, starts, strict=True):
        offset = start - int(turn.labels[0, 0])
        x = turn.recording.waveform[turn.source_start : turn.source_end].astype(np.float64)
        mask = np.zeros(len(x), dtype=bool)
        for a, b in turn.labels:
            mask[a:b] = True
        x = x * (turn.gain / max(np.sqrt(np.mean(x[mask] ** 2)), 1e-12))
        a = max(offset, 0)
        dry[turn.speaker][a : offset + len(x)] += x[a - offset : num_samples - offset]
        placements.append(
            Placement(
                turn.speaker,
                turn.recording.name,
                turn.source_start + a - offset,
                turn.source_end,
                a,
            )
        )
    masks = {spk: np.zeros(num_samples, dtype=bool) for spk in speakers}
    for s, e, spk in segments:
        masks[spk][s:e] = True
    # The room.
    if config.room == "image":
        rt60 = float(rng.uniform(*config.rt60))
        dims = np.array([rng.uniform(3.5, 10.0), rng.uniform(3.0, 8.0), rng.uniform(2.4, 4.0)])
        mic = np.array([dims[0] / 2, dims[1] / 2, 0.8]) + rng.uniform(-1.0, 1.0, 3) * [
            dims[0] / 4,
            dims[1] / 4,
            0.05,
        ]
        room = {"kind": "image", "rt60": round(rt60, 3), "size": [round(x, 2) for x in dims]}
        rir_of = {spk: _image_rir(rng, rt60, dims, mic) for spk in speakers}
    elif rirs and rng.uniform() < 0.5:
        name, rir = rirs[int(rng.integers(len(rirs)))]
        room = {"kind": "real", "rir": name}
        rir_of = {spk: _align_rir(rir) for spk in speakers}
    else:
        rt60 = float(rng.uniform(*config.rt60))
        room = {"kind": "simulated", "rt60": round(rt60, 3)}
        rir_of = {spk: _simulated_rir(rng, rt60, rng.uniform(0.0, 10.0)) for spk in speakers}
    speech = np.zeros(num_samples)
    for spk in speakers:
        speech += _reverberate(dry[spk], rir_of[spk], masks[spk])
    any_speech = np.any(np.stack(list(masks.values())), axis=0)
    # The noise.
    others = [r for spk in names if spk not in speakers for r in sources[spk]]
    noise, noise_kinds = _noise(
        rng, num_samples, list(noises), others or [r for v in sources.values() for r in v]
    )
    snr = float(rng.uniform(*config.snr_db))
    speech_power = np.mean(speech[any_speech] ** 2)
    noise = noise * np.sqrt(speech_power / 10 ** (snr / 10))
    mixture = speech + noise
    peak = np.max(np.abs(mixture))
    scale = min(1.0, 0.9 / peak) if peak > 0 else 1.0
    info = {
        "uri": uri,
        "duration": round(num_samples / SAMPLE_RATE, 3),
        "speakers": sorted({spk for _, _, spk in segments}),
        "overlap_target": round(target, 4),
        "overlap": round(frac, 4),
        "snr_db": round(snr, 2),
        "room": room,
        "noise": noise_kinds,
        "turns": len(turns),
    }
    dry_sum = np.sum(np.stack(list(dry.values())), axis=0)
    return Conversation(
        uri=uri,
        waveform=(mixture * scale).astype(np.float32),
        speech=(speech * scale).astype(np.float32),
        noise=(noise * scale).astype(np.float32),
        dry=(dry_sum * scale).astype(np.float32),
        segments=segments,
        placements=placements,
        info=info,
    )


# --- a whole set on disk -----------------------------------------------------------------------


def simulate(
    out_dir: str | Path,
    config: SimulationConfig = SimulationConfig(),
    source: str | Path | None = None,
    noise_dir: str | Path | None = None,
    rir_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write ``config.num_files`` simulated conversations under ``out_dir``.

    Layout: ``wav/<uri>.wav`` (16 kHz, 16-bit), ``rttm/<uri>.rttm``, ``uem/<uri>.uem``,
    ``all.lst`` (one uri per line), ``all.rttm``, ``all.uem`` and ``simulation.json`` (the
    configuration and what was drawn for every file). Returns that summary.
    """
    config.check()
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else DEFAULT_SOURCE
    sources = load_sources(source, config.min_pause)
    noises = load_folder(noise_dir)
    rirs = load_folder(rir_dir)
    for sub in ("wav", "rttm", "uem"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    files = []
    all_rttm, all_uem = [], []
    for index in range(config.num_files):
        uri = f"{config.prefix}-s{config.seed}-{index:03d}"
        rng = np.random.default_rng([config.seed, index])
        counts = config.speaker_counts
        count = counts[index % len(counts)] if counts else None
        conv = simulate_conversation(uri, sources, config, rng, noises, rirs, count)
        wav = out_dir / "wav" / f"{uri}.wav"
        write_wav(wav, conv.waveform, SAMPLE_RATE)
        rttm = format_rttm(conv.reference())
        uem = f"{uri} 1 0.000 {conv.duration:.3f}\n"
        write_atomic(out_dir / "rttm" / f"{uri}.rttm", rttm)
        write_atomic(out_dir / "uem" / f"{uri}.uem", uem)
        all_rttm.append(rttm)
        all_uem.append(uem)
        files.append(conv.info)
        if progress is not None:
            i = conv.info
            progress(
                f"{uri}: {i['duration']:.0f} s, {len(i['speakers'])} speakers, overlap "
                f"{100 * i['overlap']:.1f} %, SNR {i['snr_db']:.1f} dB, {i['room']['kind']} room, "
                f"noise {'+'.join(i['noise'])}"
            )
    write_atomic(out_dir / "all.lst", "".join(f"{f['uri']}\n" for f in files))
    write_atomic(out_dir / "all.rttm", "".join(all_rttm))
    write_atomic(out_dir / "all.uem", "".join(all_uem))
    cfg = asdict(config)
    summary = {
        "config": cfg,
        "source": source.name,
        "noise": [name for name, _ in noises],
        "rir": [name for name, _ in rirs],
        "total_minutes": round(sum(f["duration"] for f in files) / 60, 2),
        "files": files,
    }
    write_atomic(out_dir / "simulation.json", json.dumps(summary, indent=1) + "\n")
    return summary
