"""Background carving (``[resegment] background``) across domains, chosen on the tuning set.

    python -m benchmarks.background            # -> benchmarks/reports/BACKGROUND.md

The front half of the pipeline runs once per file of ``benchmarks.crossdomain``'s domains and
of its tuning set; the back half (clustering, resegmentation, carving) once per setting. The
carving takes out of the output the frames that the recording's own background model (MFCC
frames at least a given distance from any output speech) explains better than its speech
model (``diarize.resegment.remove_background``). That distance, its margin on the
log-likelihood ratio, the shortest run it cuts and the separation the two models need before
anything is cut are swept on the tuning set alone: the pick is the lowest tuning-set DER, and
among settings within 0.05 point of it the one that carves least (largest separation, then
distance, margin, shortest run). It is reported on every domain next to no carving and the
package defaults, and replaces the defaults only if it lowers the domains' mean and raises no
domain's DER.

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
AWAYS = (0.0, 0.1, 0.2, 0.3)  # seconds between a background frame and the output speech
KEYS = ("background_away", "background_margin", "background_min_run", "background_separation")


def grid() -> list[dict]:
    """The settings swept on the tuning set: no carving, then every combination."""
    return [{"background": False}] + [
        {"background": True, **dict(zip(KEYS, values, strict=True))}
        for values in itertools.product(AWAYS, MARGINS, MIN_RUNS, SEPARATIONS)
    ]


def label(setting: dict) -> str:
    if not setting.get("background", True):
        return "no carving"
    return (
        f"{setting['background_away']:g} s away, margin {setting['background_margin']:g}, "
        f"runs of {setting['background_min_run']:g} s, "
        f"separation {setting['background_separation']:g}"
    )


def verdict(pick: dict[str, float], current: dict[str, float]) -> str:
    """Whether the tuning-set pick may replace the package defaults, from each setting's DER
    per domain (fractions): it must lower the domains' mean and raise no domain's DER by
    0.05 point or more (what the tables, rounded to 0.1, would show)."""
    change = {d: 100 * (pick[d] - current[d]) for d in current}
    mean = float(np.mean(list(change.values())))
    worse = [f"{d} by {v:.1f}" for d, v in change.items() if v >= 0.05]
    if mean > -0.05:
        return f"The tuning-set pick does not lower the mean ({mean:+.1f} points): not a default."
    if worse:
        return (
            f"The tuning-set pick lowers the mean by {-mean:.1f} points but raises "
            f"{', '.join(worse)}: not a default (no domain may get worse)."
        )
    return f"The tuning-set pick lowers the mean by {-mean:.1f} points and raises no domain."


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
    # carves least: the largest separation guard, then distance, margin, shortest run.
    lowest = min(d for d, _ in tuning)
    tied = [setting for d, setting in tuning if d <= lowest + 5e-4 and setting["background"]]
    order = ("background_separation", *KEYS[:3])
    best = max(tied, key=lambda s: tuple(s[k] for k in order), default=grid()[0])
    defaults = ResegmentConfig()
    package = {"background": defaults.background, **{k: getattr(defaults, k) for k in KEYS}}
    rows = [("no carving", grid()[0]), ("tuning-set pick", best), ("package defaults", package)]
    table = []
    ders: dict[str, dict[str, float]] = {}
    for name, setting in rows:
        cells = {
            d: score(pipeline, analyses[d], sets[d], setting, section="resegment")
            for d in (*DOMAINS, "tuning")
        }
        ders[name] = {d: cells[d]["der"] for d in DOMAINS}
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
        verdict(ders["tuning-set pick"], ders["package defaults"]),
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
