"""Overlapped-speech detector, frame by frame, on the cross-domain sets.

    python -m benchmarks.overlap [--model models/overlap-v2.onnx]   # -> reports/OVERLAP.md

For every file of ``benchmarks.crossdomain``'s domains and of its tuning set, the detector's
probability of each 10-ms frame (computed over the whole file: no speech detector involved)
is compared with the reference: a frame is overlapped when two or more reference turns cover
its centre, and only frames inside the UEM count. Reported per domain at several thresholds
(after the pipeline's smoothing): precision, recall and F1 of the overlapped frames, and the
share of reference speech that is overlapped. The pipeline's threshold is chosen on the
tuning set alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "OVERLAP.md"
DOMAINS = ("ami", "so762", "so762-8k", "testother")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def reference_counts(item, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Talkers per frame (frame t centred at 0.01 t + 0.0125 s) and the UEM mask."""
    centres = np.arange(num_frames) * 0.01 + 0.0125
    count = np.zeros(num_frames, dtype=np.int64)
    for turn in item.reference.turns:
        count += (centres >= turn.start) & (centres < turn.end)
    inside = np.zeros(num_frames, dtype=bool)
    for start, end in item.uem:
        inside |= (centres >= start) & (centres < end)
    return count, inside


def file_probabilities(items, detector) -> list[tuple]:
    from diarize.overlap import overlap_probability

    out = []
    for item in items:
        waveform = cd.item_waveform(item)
        regions = np.array([[0, len(waveform)]], dtype=np.int64)
        probs = overlap_probability(waveform, regions, detector)
        count, inside = reference_counts(item, len(probs))
        out.append((probs, count, inside))
    return out


def scores(files, threshold: float) -> dict[str, float]:
    from diarize.config import OverlapConfig
    from diarize.overlap import overlap_frames

    config = dataclasses.replace(OverlapConfig(), threshold=threshold)
    tp = fp = fn = speech = over = 0
    for probs, count, inside in files:
        found = overlap_frames(probs, config)
        ref = (count >= 2) & inside
        hyp = found & inside
        tp += int((ref & hyp).sum())
        fp += int((hyp & ~ref).sum())
        fn += int((ref & ~hyp).sum())
        speech += int(((count >= 1) & inside).sum())
        over += int(ref.sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f1": 100 * f1,
        "overlap": 100 * over / max(speech, 1),
    }


def per_file_table(sets, data, threshold: float = 0.5) -> list[str]:
    """Simulated files one by one, with their noise and room (from simulation.json)."""
    lines = [
        "",
        f"Simulated files one by one at threshold {threshold:g}: overlapped share of the "
        "reference speech, precision and recall (%), and the file's noise and room",
        "",
        "| file | noise | RT60 (s) | overlap | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("so762", "testother"):
        for item, files in zip(sets[name], data[name], strict=True):
            meta = der.simulated_file(item)
            if meta is None:
                continue
            s = scores([files], threshold)
            lines.append(
                f"| {item.uri} | {' + '.join(meta['noise'])} | {meta['room']['rt60']:.2f} | "
                f"{s['overlap']:.0f} | {s['precision']:.0f} | {s['recall']:.0f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    from diarize.overlap import OverlapDetector, overlap_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    log = der.log_stderr
    tic = time.perf_counter()
    sets = cd.sets_with_tuning(DOMAINS, log)
    if sets is None:
        return 1
    detector = OverlapDetector.load(args.model)
    data = {}
    for name, items in sets.items():
        log(f"[{name}] overlap probabilities")
        data[name] = file_probabilities(items, detector)
    table = {name: {t: scores(files, t) for t in THRESHOLDS} for name, files in data.items()}
    best = max(THRESHOLDS, key=lambda t: table["tuning"][t]["f1"])
    lines = der.report_header("Overlapped-speech detector", "python -m benchmarks.overlap")
    path = overlap_model_path(args.model)
    lines += [
        f"- detector: `{path.relative_to(der.ROOT) if path.is_relative_to(der.ROOT) else path}`",
        f"- run time: {(time.perf_counter() - tic) / 60:.1f} min",
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        f"Threshold with the best F1 on the tuning set: **{best:g}**.",
        "",
        "precision / recall / F1 (%) of overlapped frames",
        "",
        "| threshold | " + " | ".join((*DOMAINS, "tuning")) + " |",
        "|---|" + "---|" * (len(DOMAINS) + 1),
    ]
    for t in THRESHOLDS:
        cells = [
            "{precision:.0f} / {recall:.0f} / {f1:.0f}".format(**table[name][t])
            for name in (*DOMAINS, "tuning")
        ]
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    lines += per_file_table(sets, data)
    lines += [
        "",
        "Overlapped share of the reference speech (%): "
        + ", ".join(f"{name} {table[name][best]['overlap']:.1f}" for name in table),
        "",
    ]
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
