"""A foreground-talker detector as a gate on the speech detector, across the crossdomain domains.

    python -m diarize.train.overlap --data \\
        ../shared/data/train/librispeech/librispeech_train-clean-100 runs/so762/train.lst \\
        ../shared/data/train/picovoice-s2i --noise ../shared/data/noise --rir ../shared/data/rir \\
        --out runs/fg/fg.onnx --steps 2500 --short-p 0.5 --min-talkers 1
    python -m benchmarks.speech_gate --model runs/fg/fg.onnx   # -> reports/SPEECH-GATE.md

On the simulated domains the speech detector's false alarm lies mostly in the pauses between
and within turns, more in babble noise than in coloured noise (``benchmarks.false_alarm``).
The detector trained above (the overlap detector's network and mixtures, with frames where
at least one placed recording talks as targets, babble being background) gives every 10-ms
frame the probability that a talker is in the foreground. Here the speech detector's regions
(before padding) are kept only where that probability, smoothed over 0.1 s, passes a
threshold for 0.1 s or more, and pieces shorter than ``[vad] min_speech`` are dropped;
everything else is the package default. The first row is the package without the gate.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "SPEECH-GATE.md"
DOMAINS = ["ami", "so762", "so762-8k", "testother"]


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The intersection of two sorted lists of disjoint [start, end) regions."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def gate(detector, threshold: float):
    """While active, the pipeline's speech regions are cut to the detector's foreground."""
    from diarize.config import OverlapConfig
    from diarize.overlap import overlap_probability, overlap_regions

    config = dataclasses.replace(OverlapConfig(), threshold=threshold)

    def make(original):
        def gated(signal, vad, sample_rate=16000, *args, **kwargs):
            raw = original(signal, vad, sample_rate, *args, **kwargs)
            if len(raw) == 0:
                return raw
            probs = overlap_probability(np.asarray(signal), raw, detector, sample_rate)
            kept = intersect(raw, overlap_regions(probs, config))
            return kept[(kept[:, 1] - kept[:, 0]) >= vad.min_speech * sample_rate]

        return gated

    return der.speech_detection_replaced(make)


def main(argv: list[str] | None = None) -> int:
    from diarize.overlap import OverlapDetector
    from diarize.pipeline import Pipeline

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the foreground detector (ONNX)")
    parser.add_argument("--thresholds", default="0.1,0.2,0.3,0.5")
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    log = der.log_stderr
    tic = time.perf_counter()
    cmd = " ".join(["python -m benchmarks.speech_gate", *(argv or sys.argv[1:])])
    sets, _ = cd.domain_sets(DOMAINS, log)
    if not sets:
        log("nothing to run: no domain's data found")
        return 1
    detector = OverlapDetector.load(args.model)
    # after the detector's load, so that the machine line names its runtime
    header = der.report_header("Foreground-talker gate on the speech detector", cmd)
    rows: dict[str, dict[str, dict]] = {}
    thresholds = [None, *(float(t) for t in args.thresholds.split(",") if t)]
    for t in thresholds:
        name = "no gate (package)" if t is None else f"gate at {t:g}"
        context = contextlib.nullcontext() if t is None else gate(detector, t)
        with context:
            pipeline = Pipeline()
            for domain, items in sets.items():
                log(f"[{domain}] {name}")
                rows.setdefault(name, {})[domain] = der.run_set(
                    pipeline, items, False, log, name
                ).summary()
    lines = [
        *header,
        f"- detector: `{args.model}`",
        f"- run time: {(time.perf_counter() - tic) / 60:.1f} min",
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        "DER (%), collar 0, overlap scored:",
        "",
        *cd.summary_table(list(sets), rows),
        "",
        "False alarm (%) per domain: "
        + "; ".join(
            f"{name}: "
            + ", ".join(f"{d} {100 * s['false_alarm']:.1f}" for d, s in by_domain.items())
            for name, by_domain in rows.items()
        ),
    ]
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
