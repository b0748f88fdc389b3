"""Scoring against reference RTTM: the one module that imports pyannote.metrics.

Collar convention: ``collar`` is pyannote.metrics' TOTAL width around each reference
boundary; ``collar=0.5`` equals NIST md-eval's ``-c 0.25``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from diarize.types import Diarization


def _uem_timeline(uem: Sequence[tuple[float, float]] | None, uri: str):
    if uem is None:
        return None
    from pyannote.core import Segment, Timeline

    return Timeline([Segment(s, e) for s, e in uem], uri=uri)


def der_components(
    reference: Diarization,
    hypothesis: Diarization,
    collar: float = 0.0,
    skip_overlap: bool = False,
    uem: Sequence[tuple[float, float]] | None = None,
) -> dict[str, float]:
    """DER components in seconds for one file: total, missed, false alarm, confusion."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    details = metric(
        reference.to_annotation(),
        hypothesis.to_annotation(),
        uem=_uem_timeline(uem, reference.uri),
        detailed=True,
    )
    return {
        "total": float(details["total"]),
        "missed": float(details["missed detection"]),
        "false_alarm": float(details["false alarm"]),
        "confusion": float(details["confusion"]),
    }


def der_report(
    references: Mapping[str, Diarization],
    hypothesis: Diarization,
    uem: Sequence[tuple[float, float]] | None = None,
) -> str:
    """One line: DER (collar 0, overlap scored) of ``hypothesis`` against its reference."""
    ref = references.get(hypothesis.uri)
    if ref is None:
        return f"{hypothesis.uri}: no reference turns for this file id in the RTTM"
    c = der_components(ref, hypothesis, uem=uem)
    total = max(c["total"], 1e-9)
    der = (c["missed"] + c["false_alarm"] + c["confusion"]) / total
    return (
        f"{hypothesis.uri}: DER {100 * der:.1f}% (collar 0, overlap scored) = "
        f"missed {100 * c['missed'] / total:.1f}% + false alarm "
        f"{100 * c['false_alarm'] / total:.1f}% + confusion {100 * c['confusion'] / total:.1f}%"
    )
