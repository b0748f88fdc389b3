"""How loud the speech detector hears the recording: Silero's input gain across domains.

    python -m benchmarks.vad_gain                  # -> benchmarks/reports/VAD-GAIN.md
    python -m benchmarks.vad_gain --gains 0,6 --out report.md

The Silero network is not level-invariant: on a recording with loud noise it can find next to
no speech at the level the file is stored at and most of it 6 dB louder (the test-other file
with coloured noise at 6.9 dB SNR: 1 % of its frames above the detector's threshold as
stored, 51 % at +6 dB). ``[vad] input_gain_db`` adds a fixed gain to what Silero hears (after
quiet recordings are raised, ``diarize.audio.raise_quiet``); nothing else in the pipeline
hears it. This runs the whole pipeline (package defaults otherwise) at several gains on the
domains of ``benchmarks.crossdomain``, on its tuning set, and on the tuning set through the
telephone channel of the so762-8k domain.

Choice rule (the one of ``benchmarks.crossdomain``): among the gains that lose no domain by
more than 1 point against 0 dB, the one with the lowest mean over the four domains. The
tuning sets are reported beside, as a check that never saw the domains.

DER from pyannote.metrics (``diarize.scoring``), collar 0 with overlap scored, corpus totals
per set; miss and FA are in % of the reference speaker time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der

REPORT = der.ROOT / "benchmarks" / "reports" / "VAD-GAIN.md"
DOMAINS = ("ami", "so762", "so762-8k", "testother")
GAINS = (0.0, 3.0, 4.5, 6.0, 7.5, 9.0)


def pick(rows: dict[float, dict[str, dict]], domains=DOMAINS) -> float:
    """The gain chosen by the rule of the module doc (``rows[gain][set]["der"]``; 0 dB must
    be among them)."""
    base = rows[0.0]
    allowed = [
        g for g, r in rows.items() if all(r[d]["der"] <= base[d]["der"] + 0.01 for d in domains)
    ]
    return min(allowed, key=lambda g: (np.mean([rows[g][d]["der"] for d in domains]), g))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gains", default=",".join(f"{g:g}" for g in GAINS))
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    gains = sorted({float(g) for g in args.gains.split(",") if g} | {0.0})
    log = der.log_stderr
    import torch

    torch.set_num_threads(1)
    from dataclasses import replace

    from diarize.config import PipelineConfig
    from diarize.pipeline import Pipeline

    tic = time.perf_counter()
    cmd = " ".join(["python -m benchmarks.vad_gain", *(argv or sys.argv[1:])])
    header = der.report_header("Speech detector input gain across domains", cmd)
    sets = cd.sets_with_tuning(DOMAINS, log)
    if sets is None:
        return 1
    sets["tuning-8k"] = cd.telephone_tuning_items(log)
    names = [*DOMAINS, "tuning", "tuning-8k"]
    base = PipelineConfig()
    rows: dict[float, dict[str, dict]] = {}
    for gain in gains:
        config = replace(base, vad=replace(base.vad, input_gain_db=gain))
        pipeline = Pipeline(config)
        for name in names:
            log(f"[{name}] {gain:g} dB")
            scores = der.run_set(pipeline, sets[name], False, log, f"{gain:g} dB")
            rows.setdefault(gain, {})[name] = scores.summary()
    chosen = pick(rows)
    elapsed = time.perf_counter() - tic

    def cell(s):
        return (
            f"{100 * s['der']:.1f} ({100 * s['missed']:.1f} / {100 * s['false_alarm']:.1f} / "
            f"{100 * s['confusion']:.1f})"
        )

    lines = header + [
        der.run_time_line(elapsed),
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        f"Chosen by the rule: **{chosen:g} dB**.",
        "",
        "DER % (miss / FA / confusion), collar 0; mean over the four domains",
        "",
        "| gain | " + " | ".join(names[:4]) + " | mean | " + " | ".join(names[4:]) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for gain, r in rows.items():
        mean = np.mean([r[d]["der"] for d in DOMAINS])
        lines.append(
            f"| {gain:g} dB | "
            + " | ".join(cell(r[d]) for d in DOMAINS)
            + f" | **{100 * mean:.1f}** | "
            + " | ".join(cell(r[n]) for n in names[4:])
            + " |"
        )
    log(f"writing {args.out}: {chosen:g} dB ({elapsed / 60:.1f} min)")
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
