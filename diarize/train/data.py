"""Training audio and the positive-pair sampler of the self-supervised encoder.

A positive pair is two *disjoint* windows of the same recording, the second starting less than
``max_gap`` seconds after the first ends (nobody changes voice within half a second). Windows
that share samples let the encoder match the shared sound instead of the voice, so the views
never overlap. Negatives are the windows of the other recordings in the batch. Only windows
that hold speech are drawn: a frame counts as speech when its energy is within
``speech_floor_db`` of the recording's loud frames, and a window needs ``min_speech_fraction``
of such frames.

Sources are audio files (folders searched recursively, ``.lst``/``.txt`` lists, single files)
or *packs*: folders holding ``pack.json`` + ``audio.xz`` (8-bit mu-law, lzma-compressed) or
``audio.raw`` (the same codes uncompressed, quick to read), a compact copy of a corpus for
machines without audio decoders (see :func:`write_pack`).
"""

from __future__ import annotations

import json
import logging
import lzma
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diarize import audio as audio_io
from diarize.errors import AudioError, DiarizeError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_SAMPLES = 400  # 25 ms energy frames
HOP_SAMPLES = 160  # 10 ms
PACK_INDEX = "pack.json"
PACK_AUDIO = "audio.xz"
PACK_RAW = "audio.raw"
_MU = 255.0


class DataError(DiarizeError):
    """Training data is missing, unreadable or too short for the requested windows."""


@dataclass(frozen=True)
class Recording:
    """One training file: its name (for logs), mono 16 kHz samples and speech frames.

    ``speech`` : (num_frames,) bool, frame ``t`` covers samples [t * 160, t * 160 + 400).
    """

    name: str
    waveform: np.ndarray
    speech: np.ndarray

    @property
    def num_samples(self) -> int:
        return len(self.waveform)


# --- compact packs ------------------------------------------------------------------------------


def mulaw_encode(waveform: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> int8 mu-law (mu = 255), (num_samples,)."""
    x = np.clip(np.asarray(waveform, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(_MU * np.abs(x)) / np.log1p(_MU)
    return np.clip(np.round(y * 127.0), -127, 127).astype(np.int8)


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """int8 mu-law -> float32 in [-1, 1]."""
    y = np.asarray(codes, dtype=np.float64) / 127.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(_MU)) / _MU).astype(np.float32)


def write_pack(
    folder: str | Path, items: list[tuple[str, np.ndarray]], compress: bool = True
) -> Path:
    """Write ``items`` (name, mono 16 kHz float32) as a pack folder; names may hold ``/``.

    ``compress=False`` stores the mu-law codes as they are (``audio.raw``): about 1.5 times
    the size, read without the lzma step."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    codes = [mulaw_encode(w) for _, w in items]
    blob = np.concatenate(codes) if codes else np.zeros(0, np.int8)
    if compress:
        (folder / PACK_AUDIO).write_bytes(lzma.compress(blob.tobytes(), preset=6))
    else:
        (folder / PACK_RAW).write_bytes(blob.tobytes())
    index = {
        "sample_rate": SAMPLE_RATE,
        "encoding": "mulaw8-lzma" if compress else "mulaw8",
        "names": [name for name, _ in items],
        "num_samples": [len(c) for c in codes],
    }
    (folder / PACK_INDEX).write_text(json.dumps(index), encoding="utf-8")
    return folder


def is_pack(path: Path) -> bool:
    return path.is_dir() and (path / PACK_INDEX).is_file()


def read_pack(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """(name, float32 waveform) of every item of a pack."""
    folder = Path(folder)
    try:
        index = json.loads((folder / PACK_INDEX).read_text(encoding="utf-8"))
        if index.get("encoding") == "mulaw8":
            raw = (folder / PACK_RAW).read_bytes()
        else:
            raw = lzma.decompress((folder / PACK_AUDIO).read_bytes())
        blob = np.frombuffer(raw, dtype=np.int8)
    except (OSError, ValueError, lzma.LZMAError) as exc:
        raise DataError(f"{folder}: unreadable pack ({exc})") from None
    bounds = np.concatenate([[0], np.cumsum(index["num_samples"])])
    if bounds[-1] != len(blob):
        raise DataError(f"{folder}: pack index and audio disagree")
    return [
        (name, mulaw_decode(blob[a:b]))
        for name, a, b in zip(index["names"], bounds[:-1], bounds[1:], strict=True)
    ]


# --- reading sources ------------------------------------------------------------------------------


def list_sources(sources: list[str | Path]) -> list[Path]:
    """Audio files and pack folders under ``sources`` (folders are searched recursively)."""
    out: list[Path] = []
    for source in sources:
        path = Path(source)
        if is_pack(path):
            out.append(path)
        elif path.is_dir():
            packs = sorted(p.parent for p in path.rglob(PACK_INDEX))
            out.extend(packs)
            out.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix.lower() in audio_io.AUDIO_SUFFIXES
                and not any(p.is_relative_to(k) for k in packs)
            )
        elif path.suffix.lower() in (".lst", ".txt") and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = Path(line.strip())
                    out.append(item if item.is_absolute() else path.parent / item)
        elif path.is_file():
            out.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return out


def read_sources(sources: list[str | Path]) -> list[tuple[str, np.ndarray]]:
    """(name, mono 16 kHz float32) of every file or pack item under ``sources``."""
    items: list[tuple[str, np.ndarray]] = []
    for path in list_sources(sources):
        if is_pack(path):
            items.extend((f"{path.name}/{n}", w) for n, w in read_pack(path))
            continue
        try:
            items.append((str(path), audio_io.load(path, SAMPLE_RATE)))
        except AudioError as exc:
            logger.warning("skipping %s", exc)
    return items


def speech_frames(waveform: np.ndarray, floor_db: float = 30.0) -> np.ndarray:
    """(num_frames,) bool: frames within ``floor_db`` of the recording's loud frames (its
    95th-percentile frame energy) and above an absolute floor of -70 dBFS."""
    if len(waveform) < FRAME_SAMPLES:
        return np.zeros(0, dtype=bool)
    frames = np.lib.stride_tricks.sliding_window_view(waveform, FRAME_SAMPLES)[::HOP_SAMPLES]
    energy_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.percentile(energy_db, 95)
    return (energy_db > loud - floor_db) & (energy_db > -70.0)


def make_recordings(items: list[tuple[str, np.ndarray]], floor_db: float = 30.0) -> list[Recording]:
    out = []
    for name, waveform in items:
        waveform = np.ascontiguousarray(waveform, dtype=np.float32)
        out.append(Recording(name, waveform, speech_frames(waveform, floor_db)))
    return out


def load_recordings(sources: list[str | Path], floor_db: float = 30.0) -> list[Recording]:
    recordings = make_recordings(read_sources(sources), floor_db)
    if not recordings:
        raise DataError(f"no audio found under {', '.join(map(str, sources))}")
    return recordings


def load_grouped_recordings(
    sources: list[str | Path], floor_db: float = 30.0
) -> tuple[list[Recording], np.ndarray]:
    """Recordings of every source and, for each, the index of the source it came from
    ``(num_recordings,) int64`` (one group per corpus, for :class:`PairSampler`)."""
    recordings: list[Recording] = []
    groups: list[int] = []
    for g, source in enumerate(sources):
        part = make_recordings(read_sources([source]), floor_db)
        if not part:
            raise DataError(f"no audio found under {source}")
        recordings.extend(part)
        groups.extend([g] * len(part))
    return recordings, np.asarray(groups, dtype=np.int64)


# --- pair sampling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PairBatch:
    """Two views per row: ``first``/``second`` (batch, num_samples) float32, and each row's
    recording index ``source`` (batch,) int64 (rows of one recording are not negatives)."""

    first: np.ndarray
    second: np.ndarray
    source: np.ndarray


def _speech_starts(rec: Recording, window: int, min_fraction: float) -> np.ndarray:
    """Frame-aligned start samples (multiples of 160) of windows of ``window`` samples
    holding at least ``min_fraction`` speech frames."""
    num_win_frames = max((window - FRAME_SAMPLES) // HOP_SAMPLES + 1, 1)
    last_start = rec.num_samples - window
    if last_start < 0 or len(rec.speech) < num_win_frames:
        return np.zeros(0, dtype=np.int64)
    csum = np.concatenate([[0], np.cumsum(rec.speech)])
    num_starts = min(last_start // HOP_SAMPLES + 1, len(rec.speech) - num_win_frames + 1)
    t = np.arange(num_starts)
    frac = (csum[t + num_win_frames] - csum[t]) / num_win_frames
    return (t[frac >= min_fraction] * HOP_SAMPLES).astype(np.int64)


class PairSampler:
    """Draws batches of disjoint same-recording window pairs from distinct recordings.

    The state (the numpy generator) is a dict of primitives: :meth:`state` / :meth:`load_state`.
    """

    def __init__(
        self,
        recordings: list[Recording],
        max_gap: float = 0.5,
        min_speech_fraction: float = 0.5,
        seed: int = 0,
        groups: np.ndarray | None = None,
        group_weights: tuple[float, ...] | None = None,
    ):
        """``groups`` : (num_recordings,) int, optional. When given, every group (a corpus)
        gets an equal share of the draws, whatever its size; within a group recordings are
        weighted by their usable speech. Without it, all recordings are weighted by speech,
        so a large corpus dominates the batches. ``group_weights`` (one per group) makes the
        shares unequal: group g gets ``group_weights[g] / sum(group_weights)`` of the draws."""
        if not recordings:
            raise DataError("no training recordings")
        if groups is not None and len(groups) != len(recordings):
            raise DataError("one group per recording is needed")
        self.recordings = recordings
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.group_weights = None
        if group_weights is not None:
            if self.groups is None:
                raise DataError("group weights need groups")
            w = np.asarray(group_weights, dtype=np.float64)
            if len(w) <= int(self.groups.max()) or (w < 0).any() or w.sum() <= 0:
                raise DataError("one non-negative group weight per group is needed")
            self.group_weights = w
        self.max_gap_samples = int(round(max_gap * SAMPLE_RATE))
        self.min_speech_fraction = min_speech_fraction
        self.rng = np.random.default_rng(seed)
        self._cache: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}

    def state(self) -> dict:
        s = self.rng.bit_generator.state
        return {"bit_generator": s["bit_generator"], "json": json.dumps(s)}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = json.loads(state["json"])

    def _eligible(self, window: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Recordings that can give a pair of ``window``-sample windows, and for each the
        anchor starts that have a speech partner within the gap (either side)."""
        if window in self._cache:
            return self._cache[window]
        gap = self.max_gap_samples
        ids, anchors = [], []
        for i, rec in enumerate(self.recordings):
            starts = _speech_starts(rec, window, self.min_speech_fraction)
            if len(starts) < 2:
                continue
            # A partner start p for anchor a: a + window <= p < a + window + gap (after), or
            # the mirror before. Partners are searched in the sorted speech starts.
            lo = np.searchsorted(starts, starts + window, side="left")
            hi = np.searchsorted(starts, starts + window + gap, side="left")
            lo_b = np.searchsorted(starts, starts - window - gap, side="right")
            hi_b = np.searchsorted(starts, starts - window, side="right")
            ok = (hi > lo) | (hi_b > lo_b)
            if ok.any():
                ids.append(i)
                anchors.append(starts)
        result = (np.asarray(ids, dtype=np.int64), anchors)
        self._cache[window] = result
        return result

    def num_eligible(self, window: float) -> int:
        return len(self._eligible(int(round(window * SAMPLE_RATE)))[0])

    def sample(self, batch_size: int, window_samples: int) -> PairBatch:
        """``batch_size`` pairs of ``window_samples``-sample windows; recordings are drawn
        without replacement (weighted by their usable speech) while enough are eligible."""
        ids, starts_list = self._eligible(window_samples)
        if len(ids) == 0:
            raise DataError(
                f"no recording holds two disjoint speech windows of "
                f"{window_samples / SAMPLE_RATE:.2f} s within {self.max_gap_samples / SAMPLE_RATE}"
                " s of each other"
            )
        weights = np.array([len(s) for s in starts_list], dtype=np.float64)
        if self.groups is not None:
            group = self.groups[ids]
            totals = np.bincount(group, weights=weights)
            weights = weights / totals[group]
            if self.group_weights is not None:
                weights = weights * self.group_weights[group]
        # A source of weight 0 gives none: only recordings of positive weight can be drawn.
        replace = batch_size > int(np.count_nonzero(weights))
        picks = self.rng.choice(
            len(ids), size=batch_size, replace=replace, p=weights / weights.sum()
        )
        first = np.empty((batch_size, window_samples), dtype=np.float32)
        second = np.empty_like(first)
        gap = self.max_gap_samples
        for row, k in enumerate(picks):
            rec = self.recordings[ids[k]]
            starts = starts_list[k]
            while True:
                a = int(starts[self.rng.integers(len(starts))])
                after = starts[(starts >= a + window_samples) & (starts < a + window_samples + gap)]
                before = starts[
                    (starts + window_samples <= a) & (starts + window_samples > a - gap)
                ]
                partners = np.concatenate([after, before])
                if len(partners):
                    break
            b = int(partners[self.rng.integers(len(partners))])
            if self.rng.uniform() < 0.5:
                a, b = b, a
            first[row] = rec.waveform[a : a + window_samples]
            second[row] = rec.waveform[b : b + window_samples]
        return PairBatch(first, second, ids[picks].astype(np.int64))

    def windows(
        self, window_samples: int, step_samples: int, max_per_recording: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Speech windows of every recording on a grid (pseudo-labelling pools).

        Returns ``(source (num_windows,) int64, starts (num_windows,) int64)``.
        """
        src, out = [], []
        for i, rec in enumerate(self.recordings):
            starts = _speech_starts(rec, window_samples, self.min_speech_fraction)
            if len(starts) == 0:
                continue
            keep = [int(starts[0])]
            for s in starts[1:]:
                if s - keep[-1] >= step_samples:
                    keep.append(int(s))
            if max_per_recording is not None:
                keep = keep[:max_per_recording]
            src.extend([i] * len(keep))
            out.extend(keep)
        return np.asarray(src, dtype=np.int64), np.asarray(out, dtype=np.int64)
