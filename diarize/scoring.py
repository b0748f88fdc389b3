"""Scoring against reference RTTM: the one module that imports pyannote.metrics.

pyannote.metrics and pyannote.core come with the ``score`` extra (``pip install -e
".[score]"``); reading and writing RTTM (:mod:`diarize.rttm`) needs neither.

Collar convention: ``collar`` is pyannote.metrics' TOTAL width around each reference
boundary; ``collar=0.5`` equals NIST md-eval's ``-c 0.25``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diarize.errors import RTTMError, require
from diarize.rttm import read_rttm, read_uem
from diarize.types import Diarization

logger = logging.getLogger(__name__)

# Without a UEM pyannote scores the union of both extents, and warns so on every call: the
# reports here say it once, in their header.
_UEM_APPROXIMATED = "'uem' was approximated"


def _uem_timeline(uem: Sequence[tuple[float, float]] | None, uri: str):
    if uem is None:
        return None
    require("pyannote.metrics", "scoring against a reference (diarize score, --ref)")
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
    require("pyannote.metrics", "scoring against a reference (diarize score, --ref)")
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_UEM_APPROXIMATED)
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


def find_reference(references: Mapping[str, Diarization], uri: str) -> Diarization | None:
    """The reference of file id ``uri``; RTTM file ids cannot hold spaces, so a reference
    written for "my call.wav" (``format_rttm``: ``my_call``) is found too."""
    return references.get(uri) or references.get(uri.replace(" ", "_"))


def der_report(
    references: Mapping[str, Diarization],
    hypothesis: Diarization,
    uem: Sequence[tuple[float, float]] | None = None,
) -> str:
    """One line: DER (collar 0, overlap scored) of ``hypothesis`` against its reference."""
    ref = find_reference(references, hypothesis.uri)
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


# --- corpus scoring (diarize score) ---------------------------------------------------------

#: What ``diarize batch`` writes next to the per-file RTTMs; skipped when reading a folder.
COMBINED_RTTM = "all.rttm"


def read_rttm_source(path: str | Path) -> dict[str, Diarization]:
    """Read an RTTM file, or every ``*.rttm`` under a folder (recursively).

    In a folder, an empty file ``<stem>.rttm`` stands for a recording with no speech (file
    id ``<stem>``); a top-level ``all.rttm`` (the combined file ``diarize batch`` writes)
    is skipped when other RTTM files are present. A file id found in two files is an
    error: their turns would otherwise be counted twice.
    """
    path = Path(path)
    if not path.is_dir():
        return read_rttm(path)
    files = sorted(
        p
        for p in path.rglob("*.rttm")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if len(files) > 1:
        files = [p for p in files if p != path / COMBINED_RTTM]
    if not files:
        raise RTTMError(f"{path}: no .rttm files in this folder")
    out: dict[str, Diarization] = {}
    origin: dict[str, Path] = {}
    for file in files:
        content = read_rttm(file) or {file.stem: Diarization(uri=file.stem)}
        for uri, diarization in content.items():
            if uri in out:
                raise RTTMError(
                    f"file id {uri!r} is in both {origin[uri]} and {file}; "
                    "keep one RTTM per recording in the folder"
                )
            out[uri] = diarization
            origin[uri] = file
    return out


def read_uem_source(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Read a UEM file, or every ``*.uem`` under a folder (recursively)."""
    path = Path(path)
    if not path.is_dir():
        return read_uem(path)
    out: dict[str, list[tuple[float, float]]] = {}
    for file in sorted(path.rglob("*.uem")):
        for uri, regions in read_uem(file).items():
            out.setdefault(uri, []).extend(regions)
    if not out:
        raise RTTMError(f"{path}: no .uem files in this folder")
    return out


@dataclass(frozen=True)
class Score:
    """Error components of one file, or of a corpus when added up.

    Times are seconds of the scored region (UEM, minus collars and, with ``skip_overlap``,
    overlapped speech). Rates are derived from the sums, so the corpus DER is the sum of the
    error seconds over the sum of reference speech, not a mean of per-file rates. A rate
    whose denominator is zero is ``None``.
    """

    uri: str
    status: str = "scored"  # or "no hypothesis" (reference only: all missed), "total"
    ref_speakers: int = 0  # in a corpus total: summed over files
    hyp_speakers: int = 0
    total: float = 0.0  # reference speech
    missed: float = 0.0
    false_alarm: float = 0.0
    confusion: float = 0.0
    jer_error: float = 0.0  # sum over reference speakers of their Jaccard error
    jer_speakers: float = 0.0  # number of reference speakers
    purity_correct: float = 0.0
    purity_total: float = 0.0  # hypothesis speech
    coverage_correct: float = 0.0
    coverage_total: float = 0.0  # reference speech

    def __add__(self, other: Score) -> Score:
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("uri", "status")
        }
        return Score(uri=self.uri, status=self.status, **sums)

    @staticmethod
    def _rate(numerator: float, denominator: float) -> float | None:
        return numerator / denominator if denominator > 0 else None

    @property
    def der(self) -> float | None:
        return self._rate(self.missed + self.false_alarm + self.confusion, self.total)

    @property
    def jer(self) -> float | None:
        return self._rate(self.jer_error, self.jer_speakers)

    @property
    def purity(self) -> float | None:
        return self._rate(self.purity_correct, self.purity_total)

    @property
    def coverage(self) -> float | None:
        return self._rate(self.coverage_correct, self.coverage_total)

    def row(self) -> dict[str, Any]:
        """The public fields: seconds, and rates as fractions (``None`` when undefined)."""
        return {
            "uri": self.uri,
            "status": self.status,
            "ref_speakers": self.ref_speakers,
            "hyp_speakers": self.hyp_speakers,
            "speech": round(self.total, 3),
            "missed": round(self.missed, 3),
            "false_alarm": round(self.false_alarm, 3),
            "confusion": round(self.confusion, 3),
            "der": _round(self.der),
            "jer": _round(self.jer),
            "purity": _round(self.purity),
            "coverage": _round(self.coverage),
        }


def _round(value: float | None, digits: int = 5) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class CorpusScore:
    """Per-file scores (sorted by file id), their total, and the files left out."""

    files: tuple[Score, ...]
    total: Score
    collar: float  # pyannote.metrics' TOTAL width, seconds
    skip_overlap: bool
    uem: bool  # scored regions from a UEM (else: union of reference and hypothesis extents)
    reference_only: tuple[str, ...] = ()  # scored against an empty hypothesis
    hypothesis_only: tuple[str, ...] = ()  # not scored

    @property
    def convention(self) -> str:
        collar = (
            f"collar {self.collar:g} s total width (md-eval -c {self.collar / 2:g})"
            if self.collar
            else "collar 0"
        )
        overlap = "overlap skipped" if self.skip_overlap else "overlap scored"
        region = "UEM" if self.uem else "no UEM: union of reference and hypothesis extents"
        return f"{collar}, {overlap}, {region}"

    def settings(self) -> dict[str, Any]:
        return {
            "collar": self.collar,
            "collar_md_eval": self.collar / 2,
            "skip_overlap": self.skip_overlap,
            "uem": self.uem,
            "convention": self.convention,
        }

    def to_json(self) -> str:
        payload = {
            "settings": self.settings(),
            "files": [s.row() for s in self.files],
            "total": self.total.row(),
            "reference_only": list(self.reference_only),
            "hypothesis_only": list(self.hypothesis_only),
        }
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        fields = list(self.total.row())
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for score in (*self.files, self.total):
            writer.writerow(score.row())
        return buffer.getvalue()

    def format_table(self) -> str:
        """A fixed-width table: per-file rates in % of that file's reference speech."""

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{100 * value:.1f}"

        def share(seconds: float, total: float) -> str:
            return pct(seconds / total) if total > 0 else ("-" if seconds == 0 else "inf")

        head = ("file", "ref", "hyp", "speech s", "miss %", "FA %", "conf %", "DER %")
        head += ("JER %", "purity %", "cover %")
        rows = []
        for s in (*self.files, self.total):
            rows.append(
                (
                    s.uri + (" *" if s.status == "no hypothesis" else ""),
                    str(s.ref_speakers) if s.status != "total" else "",
                    str(s.hyp_speakers) if s.status != "total" else "",
                    f"{s.total:.2f}",
                    share(s.missed, s.total),
                    share(s.false_alarm, s.total),
                    share(s.confusion, s.total),
                    pct(s.der) if s.total > 0 else share(s.false_alarm, 0.0),
                    pct(s.jer),
                    pct(s.purity),
                    pct(s.coverage),
                )
            )
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]

        def line(cells: tuple[str, ...]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
            return "  ".join((first, *rest)).rstrip()

        out = [f"# {self.convention}", line(head)]
        out += [line(r) for r in rows[:-1]]
        out.append("-" * len(line(head)))
        out.append(line(rows[-1]))
        if self.reference_only:
            out.append(f"* no hypothesis, counted as all missed: {', '.join(self.reference_only)}")
        if self.hypothesis_only:
            out.append(f"not scored (no reference): {', '.join(self.hypothesis_only)}")
        return "\n".join(out) + "\n"


def score_one(
    reference: Diarization,
    hypothesis: Diarization,
    uem: Sequence[tuple[float, float]] | None = None,
    collar: float = 0.0,
    skip_overlap: bool = False,
) -> Score:
    """DER components, JER, purity and coverage of one file (pyannote.metrics).

    ``collar`` is the TOTAL width around each reference boundary (md-eval's is half).
    """
    require("pyannote.metrics", "scoring against a reference (diarize score, --ref)")
    from pyannote.metrics.diarization import (
        DiarizationCoverage,
        DiarizationErrorRate,
        DiarizationPurity,
        JaccardErrorRate,
    )

    ref = reference.to_annotation()
    hyp = hypothesis.to_annotation()
    hyp.uri = ref.uri
    region = _uem_timeline(uem, reference.uri)
    options = {"collar": collar, "skip_overlap": skip_overlap}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_UEM_APPROXIMATED)
        metric = DiarizationErrorRate(**options)
        der = metric(ref, hyp, uem=region, detailed=True)
        jer = JaccardErrorRate(**options)(ref, hyp, uem=region, detailed=True)
        # pyannote's purity and coverage ignore the UEM, collar and skip_overlap they are
        # given: crop both sides to the region DER scores first, so all columns agree.
        ref_scored, hyp_scored = metric.uemify(ref, hyp, uem=region, **options)
        purity = DiarizationPurity()(ref_scored, hyp_scored, detailed=True)
        coverage = DiarizationCoverage()(ref_scored, hyp_scored, detailed=True)
    return Score(
        uri=reference.uri,
        ref_speakers=len(reference.speakers),
        hyp_speakers=len(hypothesis.speakers),
        total=float(der["total"]),
        missed=float(der["missed detection"]),
        false_alarm=float(der["false alarm"]),
        confusion=float(der["confusion"]),
        jer_error=float(jer["speaker error"]),
        jer_speakers=float(jer["speaker count"]),
        purity_correct=float(purity["correct"]),
        purity_total=float(purity["total"]),
        coverage_correct=float(coverage["correct"]),
        coverage_total=float(coverage["total"]),
    )


def score_corpus(
    references: Mapping[str, Diarization],
    hypotheses: Mapping[str, Diarization],
    uem: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    collar: float = 0.0,
    skip_overlap: bool = False,
) -> CorpusScore:
    """Score every file and add them up.

    A file id with a reference but no hypothesis is scored against an empty hypothesis
    (all its speech missed). One with a hypothesis but no reference is left out of every
    number (its false alarms cannot be placed without a reference or a UEM), except when the
    UEM lists it: then it is a recording without speech and its false alarms count.
    Both cases are logged as warnings and listed in the result.
    """
    references = dict(references)
    if uem is not None:  # a UEM-listed recording without reference turns has no speech
        for uri in set(uem) & set(hypotheses) - set(references):
            references[uri] = Diarization(uri=uri)
    reference_only = sorted(set(references) - set(hypotheses))
    hypothesis_only = sorted(set(hypotheses) - set(references))
    if reference_only:
        logger.warning(
            "%d reference file(s) have no hypothesis and count as all missed: %s",
            len(reference_only),
            ", ".join(reference_only),
        )
    if hypothesis_only:
        logger.warning(
            "%d hypothesis file(s) have no reference and are not scored: %s",
            len(hypothesis_only),
            ", ".join(hypothesis_only),
        )
    if not references:
        raise RTTMError("the reference has no files to score")
    scores = []
    for uri in sorted(references):
        region = None
        if uem is not None:
            region = uem.get(uri)
            if region is None:
                logger.warning("%s: not in the UEM; scoring the extent of its turns", uri)
            elif (
                not any(t.start < e and t.end > s for t in references[uri].turns for s, e in region)
                and references[uri].turns
            ):
                logger.warning("%s: its UEM regions hold none of its reference speech", uri)
        hypothesis = hypotheses.get(uri, Diarization(uri=uri))
        score = score_one(references[uri], hypothesis, region, collar, skip_overlap)
        if uri not in hypotheses:
            score = dataclasses.replace(score, status="no hypothesis")
        scores.append(score)
    total = sum(scores[1:], scores[0])
    total = dataclasses.replace(total, uri="TOTAL", status="total")
    return CorpusScore(
        files=tuple(scores),
        total=total,
        collar=collar,
        skip_overlap=skip_overlap,
        uem=uem is not None,
        reference_only=tuple(reference_only),
        hypothesis_only=tuple(hypothesis_only),
    )


def score_paths(
    reference: str | Path,
    hypothesis: str | Path,
    uem: str | Path | None = None,
    collar: float = 0.0,
    skip_overlap: bool = False,
) -> CorpusScore:
    """``diarize score``: RTTM files or folders of them, an optional UEM file or folder.

    Raises ``RTTMError`` when no hypothesis file id matches a reference one (or one the UEM
    lists): a DER of 100 % from names that do not line up (another naming, the wrong
    folder) is not a score.
    """
    if collar < 0:
        raise RTTMError(f"the collar must be >= 0 seconds, got {collar}")
    references = read_rttm_source(reference)
    hypotheses = read_rttm_source(hypothesis)
    uems = read_uem_source(uem) if uem is not None else None
    scored = set(references) | set(uems or ())  # a UEM-listed file id is a recording
    if references and not scored & set(hypotheses):
        raise RTTMError(
            f"none of the file ids of the hypothesis {hypothesis} ({_some(hypotheses)}) is in "
            f"the reference {reference} ({_some(references)}): nothing to score"
        )
    return score_corpus(references, hypotheses, uems, collar, skip_overlap)


def _some(ids: Mapping[str, Any], shown: int = 3) -> str:
    """A few of ``ids``, for a message: 'a, b, c and 4 more'; 'none' when empty."""
    names = sorted(ids)
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def optimal_mapping(reference: Diarization, hypothesis: Diarization) -> dict[str, str]:
    """Hypothesis speaker -> reference speaker, the one-to-one mapping DER uses (Hungarian
    assignment on overlap duration). Unmatched hypothesis speakers are absent."""
    require("pyannote.metrics", "scoring against a reference (diarize score, --ref)")
    from pyannote.metrics.diarization import DiarizationErrorRate

    if not reference.turns or not hypothesis.turns:
        return {}
    mapping = DiarizationErrorRate().optimal_mapping(
        reference.to_annotation(), hypothesis.to_annotation()
    )
    return {str(h): str(r) for h, r in mapping.items()}
