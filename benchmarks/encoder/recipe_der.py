"""Diarization error of several encoder checkpoints on the same four sets, one table.

Extras: `train` (the checkpoints it scores) and `score`.

    python -m benchmarks.encoder.recipe_der NAME=CHECKPOINT... [--out FILE.md]

Each CHECKPOINT is a calibrated encoder (``diarize fit-backend`` or
``models/fit_backend.sh``: its own PLDA and learned thresholds); every one runs the shipped
pipeline with its defaults and its own learned cosine threshold. Sets: ``dev/ami`` (12 real
meeting excerpts), the simulated benchmark set (``diarize simulate`` seed 0, 15 files of
2.5 min), a second simulated set (seed 2, same settings) and the simulated tuning set (seed 1,
6 files of 2 min); simulated sets are generated into ``scratch/bench/`` when absent, speakers of
LibriSpeech test-other. DER from ``diarize.scoring`` (pyannote.metrics), corpus totals: collar 0
with overlap scored, and pyannote ``collar=0.5`` (0.25 s each side) with ``skip_overlap=True``.
Needs ../shared/data; a set whose data is absent is skipped with a message.

It exists to compare training recipes and seeds: the speech detector is the same for every
checkpoint, so rows differ only in the encoder and its back end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.der import (
    DATA,
    Scores,
    ensure_simulated,
    load_set,
    log_stderr,
    report_header,
    tuning_simulation,
    write_report,
)
from diarize.scoring import der_components


def sets(log) -> dict[str, list]:
    from diarize.simulate import SimulationConfig

    out = {}
    ami = DATA / "dev" / "ami"
    if (ami / "all.lst").exists():
        out["dev/ami"] = load_set(ami)
    else:
        log(f"[ami] skipped: {ami} not found")
    for label, name, config in (
        ("sim s0", "sim", SimulationConfig()),
        ("sim s2", "sim", SimulationConfig(seed=2)),
        ("sim-tune s1", "simtune", tuning_simulation()),
    ):
        folder = ensure_simulated(name, config, log)
        if folder is not None:
            out[label] = load_set(folder)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=CHECKPOINT (calibrated)")
    parser.add_argument(
        "--thresholds",
        default="0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65",
        help="cosine thresholds for the second table (empty: none)",
    )
    parser.add_argument("--out", default=None, help="markdown output (default: print only)")
    args = parser.parse_args(argv)
    from diarize.encoder import load_encoder, sha256sum
    from diarize.pipeline import Pipeline

    grid = [float(t) for t in args.thresholds.split(",") if t.strip()]
    data = sets(log_stderr)
    if not data:
        log_stderr("nothing to run: no data set found")
        return 1
    names = list(data)
    command = "python -m benchmarks.encoder.recipe_der " + " ".join(args.models)
    lines = report_header("Diarization error by encoder checkpoint", command)
    lines += [
        "",
        "DER % (collar 0, overlap scored) / DER % (pyannote collar 0.5, overlap skipped); "
        "each checkpoint with its own learned cosine threshold.",
        "",
        "| encoder | threshold | " + " | ".join(names) + " | mean of the sets (collar 0) |",
        "|---|---|" + "---|" * (len(names) + 1),
    ]
    curves = []
    tic = time.perf_counter()
    for spec in args.models:
        name, _, path = spec.partition("=")
        pipeline = Pipeline(encoder=load_encoder(path))
        learned = pipeline.scorer(pipeline.config)[1]
        cells, ders, curve = [], [], []
        for items in data.values():
            scores = Scores()
            grid_sums = np.zeros((len(grid), 2))
            for item in items:
                t0, c0 = time.perf_counter(), time.process_time()
                analysis = pipeline.analyse(item.wav, uri=item.uri)
                hyp = pipeline.decide(analysis)
                scores.add(item, hyp, time.perf_counter() - t0, time.process_time() - c0)
                for i, threshold in enumerate(grid):
                    other = pipeline.decide(analysis, threshold=threshold)
                    c = der_components(item.reference, other, uem=item.uem)
                    grid_sums[i] += [c["total"], c["missed"] + c["false_alarm"] + c["confusion"]]
            s = scores.summary()
            ders.append(100 * s["der"])
            cells.append(f"{100 * s['der']:.1f} / {100 * s['der_c5']:.1f}")
            curve.append(100 * grid_sums[:, 1] / np.maximum(grid_sums[:, 0], 1e-9))
        mean = f"{sum(ders) / len(ders):.1f}"
        row = f"| {name} (`{sha256sum(path)[:12]}`) | {learned:.3f} | " + " | ".join(cells)
        lines.append(row + f" | {mean} |")
        log_stderr(lines[-1])
        curves.append((name, learned, curve))
    if grid:
        lines += [
            "",
            "DER % (collar 0, overlap scored) at fixed cosine thresholds "
            + ", ".join(f"{t:g}" for t in grid)
            + "; the lowest of each row in bold.",
            "",
            "| encoder | learned | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for name, learned, curve in curves:
            cells = []
            for values in curve:
                best = int(np.argmin(values))
                cells.append(
                    " ".join(
                        f"**{v:.1f}**" if i == best else f"{v:.1f}" for i, v in enumerate(values)
                    )
                )
            lines.append(f"| {name} | {learned:.3f} | " + " | ".join(cells) + " |")
    lines += ["", f"Total run time: {(time.perf_counter() - tic) / 60:.1f} min."]
    if args.out:
        write_report(Path(args.out), lines)
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
