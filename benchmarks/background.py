"""Background carving (``[resegment] background``) across domains, chosen on the tuning set.

    python -m benchmarks.background            # -> benchmarks/reports/BACKGROUND.md

The front half of the pipeline runs once per file of ``benchmarks.crossdomain``'s domains and
of its tuning set; the back half (clustering, resegmentation, carving) once per setting. The
carving takes out of the output the frames that the recording's own background model (MFCC
frames at least 0.3 s from any speech) explains better than its speech model
(``diarize.resegment.remove_background``). Its margin on the log-likelihood ratio, the
shortest run it cuts and the separation the two models need before anything is cut are
swept on the tuning set alone: the pick is the lowest tuning-set DER, and among settings
within 0.05 point of it the one that carves least (largest separation, then margin, then
shortest run). It is reported on every domain next to no carving and the package defaults.

Every figure is DER from pyannote.metrics (``diarize.scoring``), collar 0 with overlap
scored, corpus totals per domain; the mean weighs the four domains equally; in brackets the
missed / false-alarm / confusion parts.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import crossdomain as cd
from benchmarks import der
from benchmarks.vbx import analyse_sets, score

REPORT = der.ROOT / "benchmarks" / "reports" / "BACKGROUND.md"
DOMAINS = ("ami", "so762", "so762-8k", "testother")
MARGINS = (0.0, 2.0, 5.0)
MIN_RUNS = (0.1, 0.2, 0.4)
SEPARATIONS = (0.0, 5.0, 8.0)


def grid() -> list[dict]:
    """The settings swept on the tuning set: no carving, then margin x shortest run."""
    return [{"background": False}] + [
        {
            "background": True,
            "background_margin": m,
            "background_min_run": r,
            "background_separation": sep,
        }
        for sep, m, r in itertools.product(SEPARATIONS, MARGINS, MIN_RUNS)
    ]


def label(setting: dict) -> str:
    if not setting.get("background", True):
        return "no carving"
    return (
        f"margin {setting['background_margin']:g}, runs of {setting['background_min_run']:g} s, "
        f"separation {setting['background_separation']:g}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    log = der.log_stderr
    from diarize.config import ResegmentConfig, load_config
    from diarize.pipeline import Pipeline

    tic = time.perf_counter()
    sets = cd.sets_with_tuning(DOMAINS, log)
    if sets is None or not sets["tuning"]:
        log("needs ../shared/data (the crossdomain domains and tuning set)")
        return 1
    pipeline = Pipeline(load_config(None))
    # after the encoder's load, so that the machine line names its runtime
    header = der.report_header(
        "Background carving across domains", "python -m benchmarks.background"
    )
    if not pipeline.config.resegment.background:
        log("the analysis needs every MFCC frame: run with the carving on in the defaults")
        return 1
    analyses = analyse_sets(pipeline, sets, log)
    tuning = []
    for setting in grid():
        s = score(pipeline, analyses["tuning"], sets["tuning"], setting, section="resegment")
        tuning.append((s["der"], setting))
        log(f"[tuning] {label(setting)}: DER {100 * s['der']:.2f} %")
    # The lowest tuning-set DER; among settings within 0.05 point of it, the one that
    # carves least: the largest separation guard, then margin, then shortest run.
    lowest = min(d for d, _ in tuning)
    tied = [setting for d, setting in tuning if d <= lowest + 5e-4 and setting["background"]]
    best = max(
        tied,
        key=lambda s: (s["background_separation"], s["background_margin"], s["background_min_run"]),
        default=grid()[0],
    )
    defaults = ResegmentConfig()
    package = {
        "background": defaults.background,
        "background_margin": defaults.background_margin,
        "background_min_run": defaults.background_min_run,
        "background_separation": defaults.background_separation,
    }
    rows = [("no carving", grid()[0]), ("tuning-set pick", best), ("package defaults", package)]
    table = []
    for name, setting in rows:
        cells = {
            d: score(pipeline, analyses[d], sets[d], setting, section="resegment")
            for d in (*DOMAINS, "tuning")
        }
        mean = np.mean([cells[d]["der"] for d in DOMAINS])
        table.append(
            f"| {name}: {label(setting)} | "
            + " | ".join(
                f"{100 * cells[d]['der']:.1f} ({100 * cells[d]['missed']:.1f} / "
                f"{100 * cells[d]['false_alarm']:.1f} / {100 * cells[d]['confusion']:.1f})"
                for d in DOMAINS
            )
            + f" | **{100 * mean:.1f}** | {100 * cells['tuning']['der']:.1f} |"
        )
        log(table[-1])
    lines = [
        *header,
        der.run_time_line(time.perf_counter() - tic),
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        "## Domains",
        "",
        "| setting | " + " | ".join(DOMAINS) + " | mean | tuning set |",
        "|---|" + "---|" * (len(DOMAINS) + 2),
        *table,
        "",
        f"## Tuning set ({len(sets['tuning'])} files), every setting",
        "",
        "| setting | DER |",
        "|---|---|",
        *(f"| {label(s)} | {100 * d:.2f} |" for d, s in tuning),
    ]
    return der.write_report(Path(args.out), lines)


if __name__ == "__main__":
    sys.exit(main())
