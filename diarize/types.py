"""Core value types shared by every stage of the pipeline.

Times are in seconds (floats); sample counts are ints named ``*_samples``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: mono waveform, float32, shape (num_samples,)
Waveform = npt.NDArray[np.float32]
#: speech regions in samples, int64, shape (num_regions, 2), half-open [start, end)
Regions = npt.NDArray[np.int64]
#: embeddings, float32, shape (num_windows, dim), rows L2-normalised
Embeddings = npt.NDArray[np.float32]
#: cluster labels, int64, shape (num_windows,)
Labels = npt.NDArray[np.int64]


@dataclass(frozen=True, order=True)
class Turn:
    """One speaker turn: ``speaker`` talks from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    speaker: str

    def __post_init__(self) -> None:
        if not (self.end >= self.start >= 0.0):
            raise ValueError(f"invalid turn [{self.start}, {self.end}] for {self.speaker!r}")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Diarization:
    """The result for one recording: who spoke when.

    Parameters
    ----------
    uri : str
        Recording identifier (the file stem), used as the RTTM file id.
    turns : tuple[Turn, ...]
        Turns sorted by start time.
    duration : float
        Length of the recording in seconds (0.0 when unknown).
    """

    uri: str
    turns: tuple[Turn, ...] = field(default_factory=tuple)
    duration: float = 0.0

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})

    @property
    def num_speakers(self) -> int:
        return len(self.speakers)

    def to_rttm(self) -> str:
        from diarize.rttm import format_rttm

        return format_rttm(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The turns as JSON (``indent=None``: on one line, for JSON Lines)."""
        payload = {
            "uri": self.uri,
            "duration": round(self.duration, 3),
            "speakers": self.speakers,
            "turns": [
                {"start": round(t.start, 3), "end": round(t.end, 3), "speaker": t.speaker}
                for t in self.turns
            ],
        }
        return json.dumps(payload, indent=indent, ensure_ascii=False) + "\n"

    def to_annotation(self):
        """Return the turns as a ``pyannote.core.Annotation``."""
        from diarize.errors import require

        require("pyannote.core", "Diarization.to_annotation")
        from pyannote.core import Annotation, Segment

        annotation = Annotation(uri=self.uri)
        for i, t in enumerate(self.turns):
            annotation[Segment(t.start, t.end), i] = t.speaker
        return annotation
