"""Speaker timelines: one row per speaker, the reference above the hypothesis, and the
errors (missed speech, false alarm, speaker confusion) shaded where they happen.

Hypothesis speakers are matched to reference speakers with the mapping DER uses
(``diarize.scoring.optimal_mapping``) and drawn in the colour of their match, so a
correct hypothesis row looks like its reference row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diarize.errors import ConfigError, RTTMError
from diarize.types import Diarization
from diarize.vad import mask_runs

logger = logging.getLogger(__name__)

#: Resolution of the error regions (seconds); the turns themselves are drawn exactly.
ERROR_STEP = 0.01
ERROR_COLOURS = {"missed": "#d62728", "false alarm": "#ff7f0e", "confusion": "#9467bd"}


@dataclass(frozen=True)
class ErrorRegions:
    """Where each kind of error happens, as (start, end) pairs in seconds."""

    missed: tuple[tuple[float, float], ...]
    false_alarm: tuple[tuple[float, float], ...]
    confusion: tuple[tuple[float, float], ...]


def _activity(diarization: Diarization, speakers: list[str], num_frames: int) -> np.ndarray:
    """(num_speakers, num_frames) bool: who speaks in each ``ERROR_STEP`` frame."""
    active = np.zeros((len(speakers), num_frames), dtype=bool)
    row = {s: i for i, s in enumerate(speakers)}
    for t in diarization.turns:
        start, end = int(round(t.start / ERROR_STEP)), int(round(t.end / ERROR_STEP))
        active[row[t.speaker], start:end] = True
    return active


def _runs(mask: np.ndarray) -> tuple[tuple[float, float], ...]:
    """(num_frames,) bool -> the (start, end) seconds of each run of True."""
    starts, ends = mask_runs(mask)
    return tuple((s * ERROR_STEP, e * ERROR_STEP) for s, e in zip(starts, ends, strict=True))


def error_regions(
    reference: Diarization, hypothesis: Diarization, mapping: dict[str, str]
) -> ErrorRegions:
    """Missed, false-alarm and confusion regions (collar 0, overlap scored).

    With ``r`` reference and ``h`` hypothesis speakers active in a frame and ``c`` of them
    matched by ``mapping``, the frame holds ``max(0, r - h)`` missed, ``max(0, h - r)``
    false-alarm and ``min(r, h) - c`` confused speakers, the counts DER adds up
    (pyannote.metrics' DiarizationErrorRate).
    """
    end = max([t.end for t in (*reference.turns, *hypothesis.turns)], default=0.0)
    num_frames = int(np.ceil(end / ERROR_STEP)) + 1
    ref_speakers = reference.speakers
    hyp_speakers = hypothesis.speakers
    ref = _activity(reference, ref_speakers, num_frames)
    hyp = _activity(hypothesis, hyp_speakers, num_frames)
    r, h = ref.sum(axis=0), hyp.sum(axis=0)
    correct = np.zeros(num_frames, dtype=np.int64)
    for j, speaker in enumerate(hyp_speakers):
        match = mapping.get(speaker)
        if match in ref_speakers:
            correct += hyp[j] & ref[ref_speakers.index(match)]
    return ErrorRegions(
        missed=_runs(r > h),
        false_alarm=_runs(h > r),
        confusion=_runs(np.minimum(r, h) > correct),
    )


def _time_formatter(duration: float):
    from matplotlib.ticker import FuncFormatter

    if duration <= 120:
        return FuncFormatter(lambda x, _: f"{x:g}")
    if duration <= 3 * 3600:
        return FuncFormatter(lambda x, _: f"{int(x // 60)}:{int(x % 60):02d}")
    return FuncFormatter(lambda x, _: f"{int(x // 3600)}:{int(x % 3600 // 60):02d}:00")


def plot_timeline(
    hypothesis: Diarization,
    output: str | Path,
    reference: Diarization | None = None,
    title: str | None = None,
) -> Path:
    """Draw ``hypothesis`` (and ``reference`` above it, with the errors) to an image file.

    The format follows the suffix of ``output`` (png, svg, pdf). Needs matplotlib
    (``pip install -e ".[plot]"`` in the diarize folder).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise ConfigError(
            'plotting needs matplotlib: pip install -e ".[plot]" in the diarize folder'
        ) from None
    from diarize.scoring import der_components, optimal_mapping

    output = Path(output)
    supported = FigureCanvasAgg.get_supported_filetypes()
    if output.suffix.lower().lstrip(".") not in supported:
        raise ConfigError(
            f"{output}: cannot draw a {output.suffix or 'suffix-less'} file; "
            f"use one of {', '.join('.' + k for k in sorted(supported))}"
        )
    mapping = optimal_mapping(reference, hypothesis) if reference is not None else {}
    ref_speakers = reference.speakers if reference is not None else []
    # Hypothesis rows in the order of their matched reference speaker, unmatched last.
    order = {s: i for i, s in enumerate(ref_speakers)}
    hyp_speakers = sorted(
        hypothesis.speakers, key=lambda s: (order.get(mapping.get(s), len(order)), s)
    )
    palette = [
        "#1f77b4", "#2ca02c", "#17becf", "#8c564b", "#e377c2",
        "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39",
    ]  # fmt: skip
    colour = {s: palette[i % len(palette)] for i, s in enumerate(ref_speakers)}
    for s in hyp_speakers:
        if s in mapping:
            colour[f"hyp:{s}"] = colour[mapping[s]]
        else:
            colour[f"hyp:{s}"] = palette[(len(colour)) % len(palette)]

    rows: list[tuple[str, list[tuple[float, float]], str]] = []
    for s in ref_speakers:
        spans = [(t.start, t.duration) for t in reference.turns if t.speaker == s]
        rows.append((f"ref  {s}", spans, colour[s]))
    for s in hyp_speakers:
        spans = [(t.start, t.duration) for t in hypothesis.turns if t.speaker == s]
        label = f"hyp  {s}" + (f" → {mapping[s]}" if s in mapping else "")
        rows.append((label, spans, colour[f"hyp:{s}"]))
    errors = None
    if reference is not None:
        errors = error_regions(reference, hypothesis, mapping)
        for name, regions in zip(
            ERROR_COLOURS, (errors.missed, errors.false_alarm, errors.confusion), strict=True
        ):
            rows.append((name, [(s, e - s) for s, e in regions], ERROR_COLOURS[name]))

    duration = max(
        [hypothesis.duration, *(t.end for t in hypothesis.turns)]
        + ([reference.duration, *(t.end for t in reference.turns)] if reference else []),
    )
    duration = max(duration, 1.0)
    num_rows = max(len(rows), 1)
    figure = Figure(figsize=(14, 1.4 + 0.38 * num_rows), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for i, (_, spans, c) in enumerate(rows):
        y = num_rows - 1 - i
        ax.broken_barh(spans, (y - 0.38, 0.76), facecolors=c, edgecolor="none", zorder=2)
    if errors is not None and hyp_speakers:  # shade the errors behind the hypothesis rows
        top = num_rows - len(ref_speakers) - 0.5
        bottom = top - len(hyp_speakers)
        for name, regions in zip(
            ERROR_COLOURS, (errors.missed, errors.false_alarm, errors.confusion), strict=True
        ):
            spans = [(s, e - s) for s, e in regions]
            ax.broken_barh(
                spans,
                (bottom, top - bottom),
                facecolors=ERROR_COLOURS[name],
                alpha=0.18,
                edgecolor="none",
                zorder=1,
            )
    boundaries = []
    if ref_speakers:
        boundaries.append(num_rows - len(ref_speakers) - 0.5)
    if errors is not None:
        boundaries.append(2.5)
    for y in boundaries:
        ax.axhline(y, color="black", linewidth=0.8)
    ax.set_yticks(range(num_rows))
    ax.set_yticklabels([label for label, _, _ in reversed(rows)], fontsize=9)
    ax.set_ylim(-0.6, num_rows - 0.4)
    ax.set_xlim(0, duration)
    ax.xaxis.set_major_formatter(_time_formatter(duration))
    ax.set_xlabel("time (s)" if duration <= 120 else "time")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if not rows:
        ax.text(0.5, 0.5, "no speech", transform=ax.transAxes, ha="center", va="center")
    heading = title if title is not None else hypothesis.uri
    if reference is not None:
        c = der_components(reference, hypothesis)
        total = c["total"]
        if total > 0:
            heading += (
                f"   DER {100 * (c['missed'] + c['false_alarm'] + c['confusion']) / total:.1f}%"
                f" = missed {100 * c['missed'] / total:.1f} + false alarm "
                f"{100 * c['false_alarm'] / total:.1f} + confusion "
                f"{100 * c['confusion'] / total:.1f} (collar 0, overlap scored)"
            )
        ax.legend(
            handles=[Patch(color=c, label=n) for n, c in ERROR_COLOURS.items()],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=8,
            frameon=False,
        )
    ax.set_title(heading, fontsize=10, loc="left")
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.stem}.tmp{output.suffix}")
    try:
        figure.savefig(tmp)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def _pick(diarizations: dict[str, Diarization], uri: str | None, what: str) -> Diarization:
    if uri is not None:
        if uri not in diarizations:
            known = ", ".join(sorted(diarizations)) or "none"
            raise RTTMError(f"{what} has no file id {uri!r} (it has: {known})")
        return diarizations[uri]
    if not diarizations:
        raise RTTMError(f"{what} holds no speaker turns")
    if len(diarizations) != 1:
        known = ", ".join(sorted(diarizations))
        raise RTTMError(f"{what} holds several file ids; choose one with --uri ({known})")
    return next(iter(diarizations.values()))


def plot_source(
    source: str | Path,
    output: str | Path,
    reference: str | Path | None = None,
    uri: str | None = None,
    run_options=None,
) -> Path:
    """``diarize plot``: ``source`` is an RTTM file (plotted as is) or audio (diarized with
    ``run_options`` first); ``reference`` an RTTM file or folder holding the same file id."""
    from diarize.scoring import find_reference, read_rttm_source

    source = Path(source)
    if source.suffix.lower() == ".rttm" or source.is_dir():
        hypothesis = _pick(read_rttm_source(source), uri, str(source))
    else:
        from diarize.pipeline import Pipeline, RunOptions

        run_options = run_options or RunOptions()
        pipeline = Pipeline(run_options.build_config(), model=run_options.model)
        hypothesis = pipeline(source, uri=uri)
    ref = None
    if reference is not None:
        references = read_rttm_source(reference)
        ref = find_reference(references, hypothesis.uri)
        if ref is None and len(references) == 1:
            ref = next(iter(references.values()))  # one recording: whatever its file id
            logger.warning(
                "%s: scored against %s, the only file id in %s",
                hypothesis.uri,
                ref.uri,
                reference,
            )
        elif ref is None:
            ref = _pick(references, hypothesis.uri, str(reference))
    return plot_timeline(hypothesis, output, ref)
