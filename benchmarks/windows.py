"""Can the encoder tell the speakers of one recording apart? Window-pair EER per data set.

Extras: none for the shipped model and MFCC statistics; `.pt` checkpoints and the random-weights
encoder need `train`, Resemblyzer `bench`.

    python -m benchmarks.windows                      # writes benchmarks/reports/WINDOWS.md
    python -m benchmarks.windows --checkpoint clean=runs/cpu-v1/encoder.pt

Diarization clusters the windows of one recording, so what matters is whether two windows of
the same recording are more alike when the same person speaks in both. For every recording
of dev/ami and of the simulated set, the pipeline's own speech regions and windows (default
configuration: 1.5 s windows every 0.25 s) are embedded by each encoder. A window is kept
when at least 90 % of its span has exactly one reference speaker, the same one throughout.
Every pair of kept windows of the same recording that do not overlap in time is a trial:
target when both windows have the same speaker. The equal error rate of cosine similarity
over all trials of a set (pooled over its recordings: one threshold for all, as the
clustering's stopping threshold is) is reported with the mean of the per-recording EERs
(each recording's own best threshold) and the mean similarity of target and non-target
pairs.

This is the question behind a diarization error rate, without the clustering, the
threshold and the resegmentation: an EER near 50 % means that no clustering can recover the
speakers from those embeddings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.der import (
    ROOT,
    Encoders,
    Item,
    Unavailable,
    dev_and_simulated_sets,
    ensure_simulated,
    fit_mfcc,
    load_set,
    report_header,
    tuning_simulation,
    write_report,
)
from benchmarks.der import (
    log_stderr as log,
)
from diarize.eer import compute_eer
from diarize.types import Diarization

OUT = ROOT / "benchmarks" / "reports" / "WINDOWS.md"
FRAME = 0.01  # seconds: grid on which the reference is read
PURITY = 0.9  # share of a window's frames that must hold its one speaker


def frame_speakers(reference: Diarization, num_frames: int) -> np.ndarray:
    """(num_frames,) index of the one active reference speaker; -1 for none, -2 for overlap."""
    names = sorted({t.speaker for t in reference.turns})
    count = np.zeros(num_frames, dtype=np.int64)
    who = np.full(num_frames, -1, dtype=np.int64)
    for turn in reference.turns:
        a = max(0, int(round(turn.start / FRAME)))
        b = min(num_frames, int(round(turn.end / FRAME)))
        count[a:b] += 1
        who[a:b] = names.index(turn.speaker)
    return np.where(count > 1, -2, np.where(count == 0, -1, who))


def window_speakers(bounds: np.ndarray, speakers: np.ndarray, sample_rate: int) -> np.ndarray:
    """(num_windows,) the speaker of each window when it is pure enough, else -1."""
    out = np.full(len(bounds), -1, dtype=np.int64)
    for i, (start, end) in enumerate(bounds):
        a = int(start / sample_rate / FRAME)
        b = max(a + 1, int(end / sample_rate / FRAME))
        span = speakers[a:b]
        values = span[span >= 0]
        if len(values) < PURITY * len(span):
            continue
        top = np.bincount(values).argmax()
        if np.count_nonzero(values == top) >= PURITY * len(span):
            out[i] = top
    return out


def trials(bounds: np.ndarray, embeddings: np.ndarray, labels: np.ndarray, plda=None):
    """Scores of target and non-target pairs of non-overlapping labelled windows: cosine, or
    the log-likelihood ratios of ``plda`` (a :class:`diarize.backend.PLDA`)."""
    keep = labels >= 0
    x = embeddings[keep].astype(np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    lab, b = labels[keep], bounds[keep]
    if len(x) < 2:
        return np.zeros(0), np.zeros(0)
    i, j = np.triu_indices(len(x), 1)
    disjoint = (b[j, 0] >= b[i, 1]) | (b[i, 0] >= b[j, 1])
    i, j = i[disjoint], j[disjoint]
    if plda is None:
        scores = np.einsum("nd,nd->n", x[i], x[j])
    else:
        scores = plda.score_pairs(x[i], x[j])
    same = lab[i] == lab[j]
    return scores[same], scores[~same]


def equal_error_rate(target: np.ndarray, nontarget: np.ndarray) -> float:
    """EER (0..1) of target and non-target scores (``diarize.eer.compute_eer``); NaN when a
    kind of trial is missing."""
    if len(target) == 0 or len(nontarget) == 0:
        return float("nan")
    scores = np.concatenate([target, nontarget])
    labels = np.concatenate([np.ones(len(target), bool), np.zeros(len(nontarget), bool)])
    return compute_eer(scores, labels)[0]


def evaluate(encoder, items: list[Item], plda=None) -> dict[str, dict]:
    """Results by scoring: "cosine", and "PLDA" with ``plda``; the recordings are analysed
    once."""
    from diarize.pipeline import Pipeline

    pipeline = Pipeline(encoder=encoder)
    sr = pipeline.sample_rate
    scorings = {"cosine": None} if plda is None else {"cosine": None, "PLDA": plda}
    pairs: dict[str, tuple[list, list, list]] = {k: ([], [], []) for k in scorings}
    windows = kept = 0
    for item in items:
        analysis = pipeline.analyse(item.wav, uri=item.uri)
        speakers = frame_speakers(item.reference, int(np.ceil(item.duration / FRAME)) + 1)
        labels = window_speakers(analysis.bounds, speakers, sr)
        windows += len(labels)
        kept += int(np.count_nonzero(labels >= 0))
        for name, backend in scorings.items():
            target, nontarget, per_recording = pairs[name]
            t, n = trials(analysis.bounds, analysis.embeddings, labels, backend)
            target.append(t)
            nontarget.append(n)
            if len(t) and len(n):
                per_recording.append(equal_error_rate(t, n))
    out = {}
    for name, (target, nontarget, per_recording) in pairs.items():
        t, n = np.concatenate(target), np.concatenate(nontarget)
        out[name] = {
            "eer": equal_error_rate(t, n),
            "eer_recordings": float(np.mean(per_recording)) if per_recording else float("nan"),
            "recordings": len(per_recording),
            "target": float(t.mean()) if len(t) else float("nan"),
            "nontarget": float(n.mean()) if len(n) else float("nan"),
            "num_target": len(t),
            "num_nontarget": len(n),
            "windows": windows,
            "kept": kept,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: shipped)")
    parser.add_argument(
        "--encoders",
        default="shipped,mfcc,random,resemblyzer",
        help="comma-separated: shipped, mfcc, random, resemblyzer",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another encoder checkpoint to measure (repeatable)",
    )
    args = parser.parse_args(argv)

    from diarize.backend import model_plda
    from diarize.encoder import load_encoder, set_num_threads, sha256sum

    set_num_threads(1)
    sets = dev_and_simulated_sets(log)
    if not sets:
        return 1

    encoders = Encoders(args.model, log)
    chosen: list[tuple[str, object, str]] = []
    for name in [n for n in args.encoders.split(",") if n]:
        try:
            enc = encoders.get(name)
        except Unavailable as exc:
            log(f"[{name}] skipped: {exc}")
            continue
        if not getattr(enc, "fitted", True):  # the fallback MFCC baseline needs statistics
            tune = ensure_simulated("simtune", tuning_simulation(), log)
            if tune is None:
                log(f"[{name}] skipped: no simulated tuning set to fit its standardisation on")
                continue
            fit_mfcc(enc, load_set(tune))
        chosen.append((name, enc, encoders.notes.get(name, "")))
    for spec in args.checkpoint:
        name, _, path = spec.partition("=")
        if not path or not Path(path).is_file():
            parser.error(f"--checkpoint {spec!r}: expected NAME=PATH to an existing checkpoint")
        chosen.append((name, load_encoder(path), f"`{path}` (sha256 {sha256sum(path)[:12]})"))

    results: dict[tuple[str, str], dict] = {}
    rows: list[str] = []
    for set_name, items in sets.items():
        for name, enc, _ in chosen:
            log(f"[{set_name}] {name}")
            by_scoring = evaluate(enc, items, model_plda(enc))
            for scoring, result in by_scoring.items():
                row = name if scoring == "cosine" else f"{name}, {scoring}"
                results[set_name, row] = result
                rows += [row] if row not in rows else []

    lines = [
        *report_header(
            "Window-pair speaker discrimination within each recording",
            "python -m benchmarks.windows" + "".join(f" --checkpoint {c}" for c in args.checkpoint),
        ),
        "",
        "Windows of the default pipeline (its VAD, 1.5 s windows every 0.25 s); a window is "
        f"labelled when at least {PURITY:.0%} of it holds one reference speaker, the same one. "
        "Trials: pairs of labelled, non-overlapping windows of the same recording. **EER**: "
        "equal error rate of cosine similarity (of the log-likelihood ratios of the model's PLDA "
        'back end in the rows "..., PLDA") over all trials of the set pooled, in %; 50 % = '
        "chance. **per-recording EER**: mean over the recordings that have both kinds of "
        "trials of each one's own EER.",
        "",
        "Encoders:",
        "",
    ]
    lines += [f"- `{name}`: {note}" for name, _, note in chosen if note]
    for set_name in sets:
        r0 = results[set_name, chosen[0][0]] if chosen else None
        lines += ["", f"## {set_name}", ""]
        if r0 is not None:
            lines += [
                f"{len(sets[set_name])} recordings; {r0['kept']} of {r0['windows']} windows "
                f"labelled; {r0['num_target']} target and {r0['num_nontarget']} non-target "
                f"trials; {r0['recordings']} recordings have both kinds.",
                "",
            ]
        lines += [
            "| encoder | EER % | per-recording EER % | mean score, same speaker "
            "| mean score, different speakers |",
            "|---|---|---|---|---|",
        ]
        for name in rows:
            r = results[set_name, name]
            lines.append(
                f"| {name} | **{100 * r['eer']:.1f}** | {100 * r['eer_recordings']:.1f} "
                f"| {r['target']:.2f} | {r['nontarget']:.2f} |"
            )
    return write_report(args.out, lines)


if __name__ == "__main__":
    raise SystemExit(main())
